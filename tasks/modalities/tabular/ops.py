"""Tabular generators: class-level operators that make new rows of one class.

Unlike image or text operators, which change one sample at a time, these learn
from all the real train rows of a class (neighbours, marginals, correlations),
so their unit of work is the class: ``generate(table, n, seed)`` makes ``n`` new
rows from a ``ClassTable`` with one seeded generator, and is deterministic in
(table, n, seed). Each new row comes with its source, its seed and the concrete
parameters that made it (for SMOTE: the two parents and the weight).

- ``smote``, ``smotenc``, ``smoten``: imbalanced-learn's SMOTE family (MIT). The
  draws of imbalanced-learn's generation step are recorded, so each SMOTE row is
  ``base + weight * (neighbour - base)`` of its recorded parents, and ``replay_row``
  recomputes it. Numeric columns are scaled by powers of two before the
  neighbour search (so distances are not ruled by the widest column) and back
  after: exact in floating point, hence the replay matches bit for bit.
- ``gaussian_jitter``: Gaussian noise on the numeric columns of one real row,
  scaled to each column's spread in the class; categories kept.
- ``gaussian_copula`` (tasks/modalities/tabular/ops_copula.py): marginals plus correlation.

In ``augment.policy`` each entry's ``p`` is its share of a class's new rows
(shares in proportion to ``p``; all 1 by default: equal shares).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from augmill.tasks.modalities.tabular.schema import MISSING, TableSchema, plain_value
from augmill.tasks.ops.base import Operator, OperatorConfigError
from augmill.tasks.ops.policy import register
from augmill.tasks.seeding import rank, sample_seed, seed_32_bits


@dataclass(frozen=True)
class ClassTable:
    """What a generator learns from: the distinct real train rows of one class
    (sorted by sample_id; columns sample_id and the features), the other classes'
    train rows (SMOTEN's distance needs them; also columns label), and the schema."""

    label: str
    rows: pd.DataFrame
    others: pd.DataFrame
    schema: TableSchema
    train_spread: np.ndarray  # per numeric column, the whole train split's standard deviation

    @property
    def ids(self) -> list[str]:
        return self.rows["sample_id"].tolist()

    def spread(self) -> np.ndarray:
        """Each numeric column's standard deviation in the class (the train split's when the class has none)."""
        numbers = self.schema.numeric_matrix(self.rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: handled below
            spread = np.nanstd(numbers, axis=0) if len(numbers) > 1 else np.full(numbers.shape[1], np.nan)
        fallback = np.where(np.isfinite(self.train_spread), self.train_spread, 0.0)
        return np.where(np.isfinite(spread) & (spread > 0), spread, fallback)


@dataclass
class Generated:
    frame: pd.DataFrame  # the new rows' feature columns, in the source dtypes
    sources: list[str]  # per row: the real row it was made from
    seeds: list[int]  # per row: the seed of the generator that drew it
    params: list[dict]  # per row: concrete, JSON-safe parameters


class TabularGenerator(Operator):
    """A class-level generator: configured from params.yaml, used through ``generate``."""

    modality: ClassVar[str] = "tabular"
    min_rows: ClassVar[int] = 2  # distinct real rows a class needs
    needs: ClassVar[str] = "any"  # the column kinds it works on: numeric | mixed | categorical | any

    def fits(self, schema: TableSchema) -> str | None:
        """Why this generator cannot work on the table's columns, or None."""
        numeric, categorical = len(schema.numeric), len(schema.categorical)
        problem = {"numeric": categorical and f"the table has categorical columns {[c.name for c in schema.categorical]}",
                   "mixed": not (numeric and categorical) and "it needs numeric and categorical columns",
                   "categorical": numeric and f"the table has numeric columns {[c.name for c in schema.numeric]}",
                   "any": False}[self.needs]
        if not problem:
            return None
        suggestion = "smote" if not categorical else "smoten" if not numeric else "smotenc"
        return f"{self.name} does not fit this table: {problem}; use {suggestion} or gaussian_copula"

    def generate(self, table: ClassTable, n: int, seed: int) -> Generated:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, item: Any) -> dict[str, Any]:
        raise NotImplementedError(f"{self.name} makes rows of a whole class: use generate(), not sample/apply")

    def apply(self, item: Any, **params: Any) -> Any:
        raise NotImplementedError(f"{self.name} makes rows of a whole class: use generate() and replay_row()")


def _check_int(op: Operator, field: str, low: int, high: int) -> None:
    value = getattr(op, field)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OperatorConfigError(f"{op.name}.{field} must be an integer in [{low}, {high}], got {value!r}")


def _check_float(op: Operator, field: str, low: float, high: float, low_open: bool = False) -> None:
    value = getattr(op, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (low < value if low_open else low <= value) and value <= high):
        bracket = "(" if low_open else "["
        raise OperatorConfigError(f"{op.name}.{field} must be a number in {bracket}{low}, {high}], got {value!r}")
    object.__setattr__(op, field, float(value))


def split_among(n: int, weights: list[float]) -> list[int]:
    """n split in proportion to weights, largest remainders first (ties: earlier entry)."""
    total = sum(weights)
    if total <= 0:
        raise OperatorConfigError("augment.policy: at least one generator needs p > 0 (p is its share of the new rows)")
    exact = [n * w / total for w in weights]
    counts = [int(v) for v in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


# ---- the SMOTE family (imbalanced-learn) --------------------------------------------------


def _power_of_two_scale(spread: np.ndarray) -> np.ndarray:
    """Per column 2**k close to 1/spread: scaling by it (and back) is exact in floating point."""
    with np.errstate(divide="ignore"):
        exponent = np.where(spread > 0, -np.round(np.log2(np.where(spread > 0, spread, 1.0))), 0.0)
    return np.exp2(np.clip(exponent, -60, 60))


class _RecordDraws:
    """Mixin for imbalanced-learn's SMOTE and SMOTENC: keep the arguments of the
    generation step (which base row, which of its neighbours, which weight)."""

    def _generate_samples(self, X, nn_data, nn_num, rows, cols, steps, y_type=None, y=None):
        nn_num = np.asarray(nn_num)
        self.draws_ = {"base": np.asarray(rows).copy(), "neighbour": nn_num[rows, cols].copy(),
                       "weight": np.asarray(steps, dtype=float).ravel().copy(), "voters": nn_num[rows].copy()}
        return super()._generate_samples(X, nn_data, nn_num, rows, cols, steps, y_type, y)


def _imblearn_samplers():
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC
    from scipy.stats import mode
    from sklearn.utils import check_random_state

    class RecordingSMOTE(_RecordDraws, SMOTE):
        pass

    class RecordingSMOTENC(_RecordDraws, SMOTENC):
        pass

    class RecordingSMOTEN(SMOTEN):
        def _make_samples(self, X_class, klass, y_dtype, nn_indices, n_samples):
            # SMOTEN draws its base rows inside this method: draw them the same way (same
            # seeded RandomState) to record them, and check that they explain the output.
            base = check_random_state(self.random_state).choice(np.arange(X_class.shape[0]), size=n_samples, replace=True)
            X_new, y_new = super()._make_samples(X_class, klass, y_dtype, nn_indices, n_samples)
            expected = np.squeeze(mode(X_class[nn_indices[base]], axis=1, keepdims=True).mode, axis=1)
            if not np.array_equal(expected, X_new):
                raise RuntimeError("imbalanced-learn's SMOTEN no longer draws as recorded; this version is not supported")
            self.draws_ = {"base": base, "voters": np.asarray(nn_indices)[base].copy()}
            return X_new, y_new

    return {"smote": RecordingSMOTE, "smotenc": RecordingSMOTENC, "smoten": RecordingSMOTEN}


@dataclass(frozen=True)
class _SmoteFamily(TabularGenerator):
    # Neighbours each new row may be interpolated towards; a class with fewer distinct
    # rows uses all it has (k = rows - 1), recorded in each row's parameters.
    k_neighbors: int = 5

    def validate(self) -> None:
        _check_int(self, "k_neighbors", 1, 100)

    def generate(self, table: ClassTable, n: int, seed: int) -> Generated:
        rows, schema = table.rows, table.schema
        k = min(self.k_neighbors, len(rows) - 1)
        if k < 1:
            raise ValueError(f"{self.name}: class {table.label!r} has {len(rows)} distinct train row(s); it needs 2")
        if table.others.empty:
            raise ValueError(f"{self.name}: imbalanced-learn needs a second class in the train split")
        others = self._context(table)
        features, categorical, scale = self._encode(table, others)
        sampler = _imblearn_samplers()[self.name](k_neighbors=k, random_state=seed_32_bits(seed),
                                                  sampling_strategy={table.label: len(rows) + n},
                                                  **({"categorical_features": categorical} if self.name == "smotenc" else {}))
        labels = np.array([table.label] * len(rows) + others["label"].tolist(), dtype=object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            resampled, _ = sampler.fit_resample(features, labels)
        draws, new = sampler.draws_, np.asarray(resampled[len(features):])
        numbers = self._numbers(table, draws, new, scale)
        codes = new[:, len(schema.numeric):].astype(np.int64) if categorical else np.empty((n, 0), np.int64)
        ids = np.array(table.ids, dtype=object)
        params = [self._row_params(k, ids, draws, i, schema, codes) for i in range(n)]
        return Generated(schema.assemble(numbers, codes), ids[draws["base"]].tolist(), [seed] * n, params)

    def _context(self, table: ClassTable) -> pd.DataFrame:
        """The other classes' rows imbalanced-learn gets. SMOTE and SMOTE-NC look at the class's
        own rows only, but imbalanced-learn refuses a one-class target: one row of another class
        stands in for the rest (same output, tested), sparing work on the whole table. SMOTE-N's
        value-difference metric compares classes, so it gets them all."""
        return table.others if self.name == "smoten" else table.others.iloc[:1]

    def _encode(self, table: ClassTable, others: pd.DataFrame) -> tuple[np.ndarray, list[int], np.ndarray]:
        """Numbers (missing values: the class median, for the neighbour search only), scaled by
        powers of two, then category codes (MISSING is a category of its own)."""
        schema = table.schema
        frames = [table.rows, others]
        numbers = np.vstack([schema.numeric_matrix(f) for f in frames])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(numbers[: len(table.rows)], axis=0) if numbers.shape[1] else np.empty(0)
        numbers = np.where(np.isnan(numbers), np.where(np.isnan(median), 0.0, median), numbers)
        scale = _power_of_two_scale(table.spread())
        codes = np.vstack([schema.category_codes(f) for f in frames]).astype(float)
        features = np.hstack([numbers * scale, codes])
        return features, list(range(numbers.shape[1], features.shape[1])), scale

    def _numbers(self, table: ClassTable, draws: dict, new: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The new rows' numbers in the source's units; where a parent lacks a value the
        row takes the nearer parent's (weight < 0.5: the base row), missing or not."""
        width = len(table.schema.numeric)
        if "weight" not in draws:
            return np.empty((len(new), 0))
        numbers = new[:, :width].astype(float) / scale
        real = table.schema.numeric_matrix(table.rows)
        base, neighbour = real[draws["base"]], real[draws["neighbour"]]
        gap = np.isnan(base) | np.isnan(neighbour)
        nearer = np.where((draws["weight"] < 0.5)[:, None], base, neighbour)
        return np.where(gap, nearer, numbers)

    def _row_params(self, k: int, ids: np.ndarray, draws: dict, i: int, schema: TableSchema, codes: np.ndarray) -> dict:
        params = {"k_neighbors": k, "parents": [ids[draws["base"][i]]]}
        if "weight" in draws:
            params["parents"].append(ids[draws["neighbour"][i]])
            params["weight"] = float(draws["weight"][i])
        if schema.categorical:
            params["voters"] = ids[draws["voters"][i]].tolist()
        if self.name == "smotenc":
            # imbalanced-learn breaks a tied vote at random: the winners are recorded.
            params["categories"] = {spec.name: None if code == MISSING else plain_value(spec.categories[code])
                                    for spec, code in zip(schema.categorical, codes[i], strict=True)}
        return params


@register
@dataclass(frozen=True)
class Smote(_SmoteFamily):
    """SMOTE: interpolation between a row and one of its k nearest neighbours (numeric tables)."""

    name: ClassVar[str] = "smote"
    needs: ClassVar[str] = "numeric"


@register
@dataclass(frozen=True)
class SmoteNC(_SmoteFamily):
    """SMOTE-NC: numeric columns interpolated, categories by a vote of the base row's neighbours."""

    name: ClassVar[str] = "smotenc"
    needs: ClassVar[str] = "mixed"


@register
@dataclass(frozen=True)
class SmoteN(_SmoteFamily):
    """SMOTE-N: every column the most common category among a row and its neighbours
    (value-difference metric; categorical tables)."""

    name: ClassVar[str] = "smoten"
    needs: ClassVar[str] = "categorical"


# ---- Gaussian jitter -------------------------------------------------------------------------


@register
@dataclass(frozen=True)
class GaussianJitter(TabularGenerator):
    """A real row with Gaussian noise on its numeric columns, sigma = scale x the
    column's spread in the class; categories and missing values kept."""

    name: ClassVar[str] = "gaussian_jitter"
    min_rows: ClassVar[int] = 1
    scale: float = 0.1

    def validate(self) -> None:
        _check_float(self, "scale", 0.0, 2.0, low_open=True)

    def fits(self, schema: TableSchema) -> str | None:
        if not schema.numeric:
            return f"{self.name} does not fit this table: it has no numeric column to jitter; use smoten or gaussian_copula"
        return None

    def generate(self, table: ClassTable, n: int, seed: int) -> Generated:
        schema, ids = table.schema, table.ids
        order = sorted(range(len(ids)), key=lambda i: (rank(seed, "jitter_order", ids[i]), ids[i]))
        picks = [order[i % len(order)] for i in range(n)]
        sigma = self.scale * table.spread()
        numbers, codes = schema.numeric_matrix(table.rows), schema.category_codes(table.rows)
        seeds = [sample_seed(seed, ids[pick], i // len(order)) for i, pick in enumerate(picks)]
        noise = np.array([np.random.default_rng(s).standard_normal(len(sigma)) for s in seeds]).reshape(n, len(sigma))
        new = numbers[picks] + noise * sigma
        frame = schema.assemble(new, codes[picks])
        return Generated(frame, [ids[p] for p in picks], seeds, [{"scale": self.scale, "noise_seed": s} for s in seeds])


# ---- replay ----------------------------------------------------------------------------------


def replay_row(record: dict, real: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Recompute one SMOTE-family row from its recorded operator and the real rows it
    names (``real`` indexed by sample_id): the numbers from the parents and weight, the
    categories from the voters (SMOTE-N: their mode; SMOTE-NC: the recorded winners,
    checked to have won). Jitter rows: ``replay_jitter``; copula rows: regenerate the class."""
    name, params = record["name"], record["params"]
    if name not in ("smote", "smotenc", "smoten"):
        raise ValueError(f"replay_row replays the SMOTE family, not {name}")
    parents = schema.numeric_matrix(real.loc[params["parents"]])
    if "weight" in params:
        base, neighbour = parents[0], parents[1]
        numbers = base + params["weight"] * (neighbour - base)
        nearer = base if params["weight"] < 0.5 else neighbour
        numbers = np.where(np.isnan(base) | np.isnan(neighbour), nearer, numbers)[None, :]
    else:
        numbers = np.empty((1, 0))
    codes = np.empty((1, 0), np.int64)
    if schema.categorical:
        votes = schema.category_codes(real.loc[params["voters"]])
        codes = np.array([[_vote(votes[:, j], spec, params.get("categories")) for j, spec in enumerate(schema.categorical)]])
    return schema.assemble(numbers, codes)


def _vote(column_votes: np.ndarray, spec, recorded: dict | None) -> int:
    values, counts = np.unique(column_votes, return_counts=True)
    winners = values[counts == counts.max()]
    if recorded is None:
        # SMOTE-N: imbalanced-learn takes the mode of ordinal codes: a tie goes to the smallest code.
        return int(winners.min())
    chosen = recorded[spec.name]
    code = MISSING if chosen is None else spec.categories.index(chosen)
    if code not in winners:
        raise ValueError(f"recorded category {chosen!r} of {spec.name!r} did not win the voters' vote")
    return code


def replay_jitter(record: dict, source: pd.DataFrame, schema: TableSchema, spread: np.ndarray) -> pd.DataFrame:
    """A jittered row from its source row (one-row frame), recorded noise seed and the class spread."""
    params = record["params"]
    noise = np.random.default_rng(params["noise_seed"]).standard_normal(len(spread))
    return schema.assemble(schema.numeric_matrix(source) + noise * params["scale"] * spread, schema.category_codes(source))

