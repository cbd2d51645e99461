"""How faithful and how private synthetic rows are.

Fidelity, per class, in the manner of SDMetrics' quality report: each column's
shape (Kolmogorov-Smirnov complement for numbers, total-variation complement for
categories) and each pair of numeric columns' trend (correlation similarity,
1 - |r_real - r_synthetic| / 2); the class score is the mean of the two.

Privacy: each synthetic row's distance to its closest real row (DCR), against
the real rows' own distances to their nearest other real row. Distances are
Gower-style: numbers scaled by the column's range, categories equal or not,
averaged over the columns, so 0 is an exact copy and 1 the widest possible gap.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from augmill.tasks.modalities.tabular.schema import NUMERIC_KINDS, ColumnSpec, TableSchema, datetime_ns


def _values(spec: ColumnSpec, column: pd.Series) -> np.ndarray:
    if spec.kind == "datetime":
        return datetime_ns(column)
    return column.to_numpy(dtype=float, na_value=np.nan)


def _category_text(column: pd.Series) -> pd.Series:
    return column.map(lambda v: repr(v.item() if isinstance(v, np.generic) else v), na_action="ignore").fillna("<missing>")


def column_shape(spec: ColumnSpec, real: pd.Series, synthetic: pd.Series) -> float | None:
    """1 - KS statistic (numbers), or 1 - total variation distance (categories, missing counted as one)."""
    if spec.kind in NUMERIC_KINDS:
        a, b = _values(spec, real), _values(spec, synthetic)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) == 0 or len(b) == 0:
            return None
        return round(1.0 - float(ks_2samp(a, b).statistic), 4)
    p = _category_text(real).value_counts(normalize=True)
    q = _category_text(synthetic).value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return round(1.0 - 0.5 * float(np.abs(p - q).sum()), 4)


def pair_trends(schema: TableSchema, real: pd.DataFrame, synthetic: pd.DataFrame) -> list[float]:
    """Correlation similarity of every pair of numeric columns with a defined correlation in both."""
    if len(schema.numeric) < 2:
        return []
    def correlations(frame):
        numbers = pd.DataFrame(schema.numeric_matrix(frame))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return numbers.corr().to_numpy()

    r, s = correlations(real), correlations(synthetic)
    upper = np.triu_indices(len(schema.numeric), k=1)
    a, b = r[upper], s[upper]
    defined = ~np.isnan(a) & ~np.isnan(b)
    return (1.0 - np.abs(a[defined] - b[defined]) / 2.0).tolist()


def class_fidelity(schema: TableSchema, real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    columns = {spec.name: column_shape(spec, real[spec.name], synthetic[spec.name]) for spec in schema.columns}
    shapes = [v for v in columns.values() if v is not None]
    trends = pair_trends(schema, real, synthetic)
    shape_score = float(np.mean(shapes)) if shapes else None
    trend_score = float(np.mean(trends)) if trends else None
    parts = [v for v in (shape_score, trend_score) if v is not None]
    return {"score": round(float(np.mean(parts)), 4) if parts else None,
            "column_shapes": None if shape_score is None else round(shape_score, 4),
            "column_pair_trends": None if trend_score is None else round(trend_score, 4),
            "real_rows": len(real), "synthetic_rows": len(synthetic), "columns": columns}


def fidelity_by_class(schema: TableSchema, real_train: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, dict]:
    return {str(label): class_fidelity(schema, real_train[real_train["label"] == label], group)
            for label, group in synthetic.groupby("label", sort=True)}


class DistanceSpace:
    """Rows as vectors whose Manhattan distance is the Gower distance: numbers
    (missing: the column median) divided by the column's range, categories one-hot
    at weight 1/2 (two differ by 1), all divided by the number of columns."""

    def __init__(self, schema: TableSchema, reference: pd.DataFrame):
        self.schema = schema
        numbers = schema.numeric_matrix(reference)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.low = np.nan_to_num(np.nanmin(numbers, axis=0)) if len(numbers) else np.zeros(numbers.shape[1])
            width = np.nanmax(numbers, axis=0) - self.low if len(numbers) else np.ones(numbers.shape[1])
            self.median = np.nan_to_num(np.nanmedian(numbers, axis=0)) if len(numbers) else np.zeros(numbers.shape[1])
        self.width = np.where(np.isfinite(width) & (width > 0), width, 1.0)
        self.categories = {spec.name: sorted(set(_category_text(reference[spec.name]))) for spec in schema.categorical}

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        numbers = self.schema.numeric_matrix(frame)
        numbers = np.where(np.isnan(numbers), self.median, numbers)
        parts = [(numbers - self.low) / self.width]
        for name, categories in self.categories.items():
            text = _category_text(frame[name])
            parts.append(0.5 * np.column_stack([(text == c).to_numpy(dtype=float) for c in categories]))
        return np.hstack(parts) / max(len(self.schema.columns), 1)


@dataclass
class PrivacyDistances:
    reference: float  # the chosen quantile of real rows' distances to their nearest other real row
    real_nearest: np.ndarray  # each distinct real row's distance to its nearest other real row
    closest: np.ndarray  # per synthetic row: distance to the closest real row
    closest_index: np.ndarray  # per synthetic row: position of that real row in the reference frame

    def ratios(self) -> np.ndarray:
        """closest / reference; an exact copy is 0 even when the reference is 0."""
        if self.reference > 0:
            return self.closest / self.reference
        return np.where(self.closest > 0, np.inf, 0.0)


def privacy_distances(schema: TableSchema, real: pd.DataFrame, synthetic: pd.DataFrame, quantile: float) -> PrivacyDistances:
    """DCR of each synthetic row to ``real`` (distinct rows: exact duplicates would make
    every real row's nearest neighbour distance 0)."""
    from sklearn.neighbors import NearestNeighbors

    space = DistanceSpace(schema, real)
    points = space.transform(real)
    index = NearestNeighbors(n_neighbors=min(2, len(points)), metric="manhattan").fit(points)
    if len(points) > 1:
        real_nearest = index.kneighbors(points)[0][:, 1]
        reference = float(np.quantile(real_nearest, quantile))
    else:
        real_nearest, reference = np.zeros(0), 0.0
    if len(synthetic):
        distance, position = index.kneighbors(space.transform(synthetic), n_neighbors=1)
        closest, closest_index = distance[:, 0], position[:, 0]
    else:
        closest, closest_index = np.zeros(0), np.zeros(0, dtype=int)
    return PrivacyDistances(reference, real_nearest, closest, closest_index)
