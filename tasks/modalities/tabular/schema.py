"""The feature columns of a table, as learned from its real train rows: each
column's kind, dtype, range and category set. Generators work on numbers and
category codes; the schema turns those back into rows that keep the source's
types, ranges, category sets and integer-ness, and hashes rows canonically so
that the same values give the same sha256 whatever file or dtype they came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

NUMERIC_KINDS = ("numeric", "integer", "datetime")  # generated as numbers
CATEGORY_KINDS = ("boolean", "categorical")  # generated as category codes
MISSING = -1  # the category code of a missing value


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # numeric | integer | datetime | boolean | categorical
    dtype: str  # the pandas dtype synthetic values get, e.g. "float64", "Int64", "str"
    nullable: bool  # the real train rows have missing values in this column
    low: float | None = None  # numeric kinds: the train range (datetime: ns since the epoch)
    high: float | None = None
    categories: tuple = ()  # category kinds: the train category set, sorted
    step: float = 0.0  # integer: 1; datetime: the coarsest unit all train values are multiples of (ns)


def _is_bool(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series.dtype):
        return True
    values = series.dropna()
    return series.dtype == object and len(values) > 0 and all(isinstance(v, (bool, np.bool_)) for v in values)


def column_kind(series: pd.Series, declared_categorical: bool) -> str:
    if _is_bool(series):
        return "boolean"
    if declared_categorical:
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.dropna().to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        return "integer" if len(values) and np.all(np.mod(values, 1.0) == 0) else "numeric"
    return "categorical"


def datetime_ns(series: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch as floats, NaN for missing (timezone-naive columns)."""
    values = series.to_numpy(dtype="datetime64[ns]")
    out = values.astype("int64").astype(float)
    out[np.isnat(values)] = np.nan
    return out


def _datetime_step(ns: np.ndarray) -> float:
    ns = ns[~np.isnan(ns)]
    for unit in (86_400e9, 3_600e9, 60e9, 1e9, 1e6, 1e3):
        if len(ns) and np.all(np.mod(ns, unit) == 0):
            return unit
    return 1.0


def _sorted_categories(values) -> tuple:
    unique = pd.unique(pd.Series(values).dropna())
    return tuple(sorted((v.item() if hasattr(v, "item") else v for v in unique), key=lambda v: (type(v).__name__, v)))


def column_spec(series: pd.Series, declared_categorical: bool) -> ColumnSpec:
    kind = column_kind(series, declared_categorical)
    nullable = bool(series.isna().any())
    dtype = str(series.dtype)
    if kind in CATEGORY_KINDS:
        return ColumnSpec(series.name, kind, dtype, nullable, categories=_sorted_categories(series))
    values = datetime_ns(series) if kind == "datetime" else series.to_numpy(dtype=float, na_value=np.nan)
    present = values[~np.isnan(values)]
    low, high = (float(present.min()), float(present.max())) if len(present) else (None, None)
    step = 1.0 if kind == "integer" else _datetime_step(values) if kind == "datetime" else 0.0
    return ColumnSpec(series.name, kind, dtype, nullable, low, high, step=step)


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[ColumnSpec, ...]

    @classmethod
    def infer(cls, train: pd.DataFrame, feature_columns: list[str], categorical_columns=()) -> TableSchema:
        declared = set(categorical_columns)
        return cls(tuple(column_spec(train[name], name in declared) for name in feature_columns))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.kind in NUMERIC_KINDS]

    @property
    def categorical(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.kind in CATEGORY_KINDS]

    def spec(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    # ---- rows <-> numbers and codes -------------------------------------------

    def numeric_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows, numeric columns) floats, NaN where missing; datetimes as ns since the epoch."""
        columns = [datetime_ns(frame[c.name]) if c.kind == "datetime"
                   else frame[c.name].to_numpy(dtype=float, na_value=np.nan) for c in self.numeric]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def category_codes(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows, category columns) int codes into each column's sorted category set;
        MISSING for a missing value, and for a value outside the train set (val/test only)."""
        columns = []
        for spec in self.categorical:
            lookup = {value: code for code, value in enumerate(spec.categories)}
            values = frame[spec.name].to_numpy(dtype=object)
            codes = [MISSING if _missing(v) else lookup.get(plain_value(v), MISSING) for v in values]
            columns.append(np.array(codes, dtype=np.int64))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0), dtype=np.int64)

    def assemble(self, numbers: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
        """Rows in the source's types from generated numbers and codes: clipped to the
        train range, whole numbers rounded, datetimes rounded to the source's unit."""
        data = {}
        numeric_iter = iter(range(numbers.shape[1]))
        code_iter = iter(range(codes.shape[1]))
        for spec in self.columns:
            if spec.kind in NUMERIC_KINDS:
                data[spec.name] = self._numbers_to_column(spec, numbers[:, next(numeric_iter)])
            else:
                data[spec.name] = self._codes_to_column(spec, codes[:, next(code_iter)])
        return pd.DataFrame(data)

    def _numbers_to_column(self, spec: ColumnSpec, values: np.ndarray) -> pd.Series:
        values = np.asarray(values, dtype=float)
        if spec.low is not None:
            values = np.clip(values, spec.low, spec.high)
        if spec.step:
            values = np.rint(values / spec.step) * spec.step
        if spec.kind == "datetime":
            stamps = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
            present = ~np.isnan(values)
            stamps[present] = values[present].astype("int64").astype("datetime64[ns]")
            return pd.Series(stamps).astype(spec.dtype)
        series = pd.Series(values)
        if np.isnan(values).any() and spec.dtype.startswith(("int", "uint")):
            return series.astype("Int64")  # a missing value the source never had: kept, and caught by validate
        return series.astype(spec.dtype)

    def _codes_to_column(self, spec: ColumnSpec, codes: np.ndarray) -> pd.Series:
        values = [None if code == MISSING else spec.categories[code] for code in codes]
        series = pd.Series(values, dtype=object)
        if any(v is None for v in values) and spec.dtype in ("bool", "int64"):
            return series.astype("boolean" if spec.dtype == "bool" else "Int64")
        return series.astype(spec.dtype)

    def cast(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of ``frame`` in the schema's dtypes (e.g. after a Parquet round trip)."""
        frame = frame.copy()
        for spec in self.columns:
            column = frame[spec.name]
            if str(column.dtype) == spec.dtype:
                continue
            if column.isna().any() and spec.dtype in ("int64", "bool"):
                frame[spec.name] = column.astype("Int64" if spec.dtype == "int64" else "boolean")
            else:
                frame[spec.name] = column.astype(spec.dtype)
        return frame

    # ---- canonical content hash ---------------------------------------------------

    def row_hashes(self, frame: pd.DataFrame) -> list[str]:
        """sha256 of each row's feature values in a canonical text form: equal values give
        equal hashes whatever their dtype (5, 5.0 and "5.0" in a whole-number column)."""
        texts = [self._canonical(spec, frame[spec.name]) for spec in self.columns]
        header = json.dumps(self.names, ensure_ascii=False)
        return [hashlib.sha256((header + "\x1e" + "\x1f".join(parts)).encode("utf-8", "surrogatepass")).hexdigest()
                for parts in zip(*texts, strict=True)]

    @staticmethod
    def _canonical(spec: ColumnSpec, column: pd.Series) -> list[str]:
        # Depends on the values only, never on the kind inferred from them, so a
        # synthetic row and a real val/test row with the same values hash alike.
        if spec.kind in NUMERIC_KINDS:
            return _number_texts(datetime_ns(column) if spec.kind == "datetime"
                                 else column.to_numpy(dtype=float, na_value=np.nan))
        codes, uniques = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=True)
        texts = [json.dumps(plain_value(v), ensure_ascii=False, default=str) for v in uniques] + ["null"]
        return [texts[code] for code in codes]  # code -1 (missing) picks the last: "null"


def _number_texts(values: np.ndarray) -> list[str]:
    """Whole numbers as integers (5 and 5.0 both read "5"), others as Python's shortest repr."""
    texts = np.full(len(values), "null", dtype=object)
    whole = (np.abs(values) < 2**53) & (values == np.trunc(values))
    fraction = ~np.isnan(values) & ~whole
    texts[whole] = list(map(str, values[whole].astype(np.int64).tolist()))
    texts[fraction] = list(map(repr, (values[fraction] + 0.0).tolist()))  # + 0.0: -0.0 reads 0.0
    return texts.tolist()


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def plain_value(value):
    """numpy scalars as Python values, so 3 (int64) and 3 (int) are the same category."""
    return value.item() if isinstance(value, np.generic) else value
