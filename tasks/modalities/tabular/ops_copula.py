"""A Gaussian-copula synthesizer on numpy/scipy: whole new rows of one class.

Fit: each column's marginal (numbers: the sorted real values; categories: their
frequencies, a missing value counting as a category), the real rows mapped to
normal scores through those marginals, and the correlation of the scores,
shrunk towards the identity so that a class with fewer rows than columns still
gives a valid correlation matrix. Sample: correlated normal draws mapped back
through the marginals (numbers by interpolating the real values' quantiles, so
they stay within the class's range; categories by frequency interval). A
numeric column's missing values are drawn independently at the class's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from augmill.tasks.modalities.tabular.ops import ClassTable, Generated, TabularGenerator, _check_float
from augmill.tasks.ops.policy import register


def _numeric_scores(values: np.ndarray) -> np.ndarray:
    """Normal scores of a column from its ranks; a missing value scores 0 (the median)."""
    scores = np.zeros(len(values))
    present = ~np.isnan(values)
    if present.sum() > 1:
        from scipy.special import ndtri  # lazily, as in generate
        from scipy.stats import rankdata  # lazily: scipy.stats costs ~1 s to import in every stage process

        scores[present] = ndtri((rankdata(values[present]) - 0.5) / present.sum())
    return scores


def _category_bounds(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The codes seen (sorted) and the upper end of each one's frequency interval in [0, 1]."""
    seen, counts = np.unique(codes, return_counts=True)
    return seen, np.cumsum(counts) / counts.sum()


@register
@dataclass(frozen=True)
class GaussianCopula(TabularGenerator):
    """Marginals plus correlation, fitted per class; samples whole new rows."""

    name: ClassVar[str] = "gaussian_copula"
    # Weight of the identity in the correlation matrix: 0 keeps the measured correlations,
    # 1 treats the columns as independent. Some is needed when a class has few rows.
    shrinkage: float = 0.1

    def validate(self) -> None:
        _check_float(self, "shrinkage", 0.0, 1.0)

    def generate(self, table: ClassTable, n: int, seed: int) -> Generated:
        # Lazily: every policy build imports all operator modules, and scipy.special takes
        # ~0.2 s to import, which the stages of other modalities (images) paid for nothing.
        from scipy.special import ndtr, ndtri

        schema = table.schema
        numbers, codes = schema.numeric_matrix(table.rows), schema.category_codes(table.rows)
        if len(table.rows) < self.min_rows:
            raise ValueError(f"{self.name}: class {table.label!r} has {len(table.rows)} distinct train row(s); it needs 2")
        bounds = [_category_bounds(codes[:, j]) for j in range(codes.shape[1])]
        scores = [_numeric_scores(numbers[:, j]) for j in range(numbers.shape[1])]
        for j, (seen, upper) in enumerate(bounds):
            lower = np.concatenate([[0.0], upper[:-1]])
            middle = (lower + upper) / 2
            scores.append(ndtri(np.clip(middle[np.searchsorted(seen, codes[:, j])], 1e-9, 1 - 1e-9)))
        correlation = self._correlation(np.column_stack(scores))

        rng = np.random.default_rng(seed)
        draws = ndtr(rng.standard_normal((n, correlation.shape[0])) @ np.linalg.cholesky(correlation).T)
        missing = rng.random((n, numbers.shape[1]))
        new_numbers = np.empty((n, numbers.shape[1]))
        for j in range(numbers.shape[1]):
            present = np.sort(numbers[~np.isnan(numbers[:, j]), j])
            if len(present) == 0:
                new_numbers[:, j] = np.nan
                continue
            positions = draws[:, j] * (len(present) - 1)
            new_numbers[:, j] = np.interp(positions, np.arange(len(present)), present)
            new_numbers[missing[:, j] < np.isnan(numbers[:, j]).mean(), j] = np.nan
        new_codes = np.empty((n, codes.shape[1]), dtype=np.int64)
        for j, (seen, upper) in enumerate(bounds):
            index = np.minimum(np.searchsorted(upper, draws[:, numbers.shape[1] + j], side="right"), len(seen) - 1)
            new_codes[:, j] = seen[index]
        frame = schema.assemble(new_numbers, new_codes)
        # Not made from one row: the class's first row (by sample_id) stands as its source.
        params = {"shrinkage": self.shrinkage, "fitted_rows": len(table.rows)}
        return Generated(frame, [table.ids[0]] * n, [seed] * n, [dict(params, draw=i) for i in range(n)])

    def _correlation(self, scores: np.ndarray) -> np.ndarray:
        width = scores.shape[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            measured = np.corrcoef(scores, rowvar=False) if len(scores) > 1 else np.eye(width)
        measured = np.nan_to_num(np.atleast_2d(measured), nan=0.0)
        np.fill_diagonal(measured, 1.0)
        shrunk = (1 - self.shrinkage) * measured + self.shrinkage * np.eye(width)
        # Nearest positive-definite matrix (clip eigenvalues), rescaled to a unit diagonal.
        values, vectors = np.linalg.eigh(shrunk)
        fixed = vectors @ np.diag(np.maximum(values, 1e-6)) @ vectors.T
        scale = np.sqrt(np.diag(fixed))
        return fixed / np.outer(scale, scale)
