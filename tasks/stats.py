"""Is one classifier better than another on a test set? Pure statistics on per-sample
predictions, shared by evaluate (original vs merged train split, on test) and by a
policy search (baseline vs candidate, on validation).

The method is a two-level paired bootstrap (Efron & Tibshirani 1993, *An Introduction
to the Bootstrap*, ch. 13 percentile intervals; paired over test rows as in Koehn 2004).
Each resample draws the test rows with replacement, the same rows for both models, and
the training repeats with replacement; its statistic is the mean over the drawn repeats
of (candidate score - baseline score) on the drawn rows. The percentile interval of that
statistic therefore holds both sources of variance a benchmark has: the test sample and
the training run (Bouthillier et al. 2021, "Accounting for variance in machine learning
benchmarks"; Dietterich 1998 on why the training spread alone overclaims). Pairing
matters: two models err mostly on the same rows, and only the rows where they disagree
move the difference.

Deterministic: a generator derived from the caller's seed, no global random state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from augmill.tasks.seeding import generator

METHOD = ("paired bootstrap over test samples (the same rows for both models) and over the training repeats, "
          "percentile interval")
REFERENCES = ("Efron & Tibshirani 1993 (bootstrap percentile intervals); Koehn 2004 (paired bootstrap over test "
              "samples); Bouthillier et al. 2021 (test-sample and training variance together)")
RESAMPLES = 2000  # Efron & Tibshirani: 1000-2000 resamples for a percentile interval's ends
# Fewer test samples than this in some class: per-class scores (recall, F1) move in steps too coarse to tell a
# difference of a few points (one sample of 30 is 0.033), whatever the interval says.
MIN_TEST_PER_CLASS = 30
METRICS = ("accuracy", "macro_f1", "balanced_accuracy")
VERDICTS = ("better", "worse", "no measurable difference")
_CELLS_PER_CHUNK = 4_000_000  # resamples x test rows held at once: bounds memory for large test sets


@dataclass(frozen=True)
class PairedDifference:
    """candidate - baseline on one metric, with its interval and what it says."""

    metric: str
    difference: float          # mean over repeats of the paired difference on the actual test set
    low: float                 # the interval's ends
    high: float
    level: float
    verdict: str               # one of VERDICTS
    test_halfwidth: float      # half-width with the repeats held fixed: the test sample's share of the uncertainty
    training_halfwidth: float  # half-width with the test rows held fixed: the training runs' share
    test_rows: int
    repeats: int
    resamples: int

    def as_dict(self) -> dict:
        return {key: round(value, 4) if isinstance(value, float) and key != "level" else value
                for key, value in asdict(self).items()}


def verdict_of(low: float, high: float) -> str:
    """"better" only when the whole interval is above 0, "worse" only when below."""
    return "better" if low > 0 else "worse" if high < 0 else "no measurable difference"


# ---- scores from per-class counts -------------------------------------------

def _encode(values, labels: list[str], what: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    flat = np.asarray(values, dtype=object).ravel()
    unknown = sorted({str(v) for v in flat if v not in index})
    if unknown:
        raise ValueError(f"stats: {what} has labels not in the label list: {unknown[:5]}")
    return np.array([index[v] for v in flat], dtype=np.int64).reshape(np.shape(values))


def _one_hot(codes: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float64)[codes]


def scores_from_counts(metric: str, true_positive: np.ndarray, predicted: np.ndarray, support: np.ndarray) -> np.ndarray:
    """The metric from per-class counts (rows: resamples, columns: labels), as scikit-learn defines it:
    macro-F1 over every label with zero_division=0; balanced accuracy over the labels present in the truth."""
    if metric == "accuracy":
        return true_positive.sum(axis=1) / support.sum(axis=1)
    if metric == "balanced_accuracy":
        present = support > 0
        recall = np.where(present, true_positive / np.where(present, support, 1), 0.0)
        return recall.sum(axis=1) / present.sum(axis=1)
    if metric == "macro_f1":
        denominator = predicted + support
        f1 = np.where(denominator > 0, 2 * true_positive / np.where(denominator > 0, denominator, 1), 0.0)
        return f1.mean(axis=1)
    raise ValueError(f"stats: unknown metric {metric!r}; allowed: {list(METRICS)}")


def score(metric: str, truth, predicted, labels: list[str]) -> float:
    """One metric of one set of predictions (the same numbers as scikit-learn's)."""
    truth_hot = _one_hot(_encode(truth, labels, "the truth"), len(labels))
    predicted_hot = _one_hot(_encode(predicted, labels, "the predictions"), len(labels))
    counts = (truth_hot * predicted_hot).sum(0)[None], predicted_hot.sum(0)[None], truth_hot.sum(0)[None]
    return float(scores_from_counts(metric, *counts)[0])


# ---- the paired bootstrap ---------------------------------------------------

def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def paired_bootstrap(truth, baseline, candidate, labels: list[str], metric: str, level: float = 0.95,
                     seed: int = 0, resamples: int = RESAMPLES) -> PairedDifference:
    """candidate - baseline on ``metric``, with a ``level`` percentile interval.

    ``truth``: the N test labels. ``baseline``, ``candidate``: predicted labels, shape (N,) for
    one training run or (R, N) for R paired repeats (repeat r of both models shares its training
    draw). ``labels``: every label a score is averaged over (as scikit-learn's ``labels=``).
    A policy search: the candidate wins only when ``.verdict == "better"``."""
    return paired_bootstraps(truth, baseline, candidate, labels, (metric,), level, seed, resamples)[metric]


def paired_bootstraps(truth, baseline, candidate, labels: list[str], metrics=METRICS, level: float = 0.95,
                      seed: int = 0, resamples: int = RESAMPLES) -> dict[str, PairedDifference]:
    """``paired_bootstrap`` for several metrics at once, on the same resamples (one pass over the rows)."""
    if not 0 < level < 1:
        raise ValueError(f"stats: level must be between 0 and 1, got {level}")
    base_codes = np.atleast_2d(_encode(baseline, labels, "the baseline's predictions"))
    cand_codes = np.atleast_2d(_encode(candidate, labels, "the candidate's predictions"))
    truth_codes = _encode(truth, labels, "the truth")
    repeats, rows = base_codes.shape
    if cand_codes.shape != base_codes.shape or truth_codes.shape != (rows,) or rows == 0:
        raise ValueError(f"stats: predictions of shape {base_codes.shape} and {cand_codes.shape} do not pair with "
                         f"{truth_codes.shape[0]} test labels")
    classes = len(labels)
    truth_hot = _one_hot(truth_codes, classes)
    arms = [(_one_hot(c, classes), _one_hot(c, classes) * truth_hot)
            for codes in (base_codes, cand_codes) for c in codes]  # per arm and repeat: predicted, correct

    def differences(weights: np.ndarray) -> dict[str, np.ndarray]:
        """metric -> (repeats, resamples): candidate - baseline per repeat on each weighting of the test rows."""
        support = weights @ truth_hot
        counts = [(weights @ correct, weights @ predicted) for predicted, correct in arms]
        result = {}
        for metric in metrics:
            per_arm = np.array([scores_from_counts(metric, tp, predicted, support) for tp, predicted in counts])
            result[metric] = per_arm[repeats:] - per_arm[:repeats]
        return result

    point = {metric: values[:, 0] for metric, values in differences(np.ones((1, rows))).items()}
    rng = generator(seed, "bootstrap")
    repeat_draws = rng.multinomial(repeats, np.full(repeats, 1 / repeats), size=resamples)  # (resamples, repeats)
    both = {metric: np.empty(resamples) for metric in metrics}
    test_only = {metric: np.empty(resamples) for metric in metrics}
    chunk = max(1, _CELLS_PER_CHUNK // rows)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.integers(0, rows, size=(size, rows))
        drawn += np.arange(size)[:, None] * rows  # in place: a chunk is 32 MB (#24)
        counts = np.bincount(drawn.ravel(), minlength=size * rows)
        del drawn
        weights = counts.reshape(size, rows).astype(np.float64)
        del counts
        for metric, per_repeat in differences(weights).items():
            both[metric][start:start + size] = (repeat_draws[start:start + size] * per_repeat.T).sum(axis=1) / repeats
            test_only[metric][start:start + size] = per_repeat.mean(axis=0)
    results = {}
    for metric in metrics:
        low, high = _percentile_interval(both[metric], level)
        halfwidth = [(b - a) / 2 for a, b in (_percentile_interval(test_only[metric], level),
                                              _percentile_interval(repeat_draws @ point[metric] / repeats, level))]
        results[metric] = PairedDifference(
            metric=metric, difference=float(point[metric].mean()), low=low, high=high, level=level,
            verdict=verdict_of(low, high), test_halfwidth=halfwidth[0], training_halfwidth=halfwidth[1],
            test_rows=rows, repeats=repeats, resamples=resamples)
    return results


def too_small_to_tell(result: PairedDifference, fewest_per_class: int) -> bool:
    """The rule for "the test split is too small to tell": no measurable difference, and either some class
    has fewer than MIN_TEST_PER_CLASS test samples, or the test sample alone leaves an interval wider than
    the observed difference (so no difference of that size could be told apart on this split)."""
    return result.verdict == "no measurable difference" and (
        fewest_per_class < MIN_TEST_PER_CLASS or result.test_halfwidth > abs(result.difference))


# ---- chance level -------------------------------------------------------------

def majority_label(train_labels, labels: list[str]) -> str:
    """The class a constant predictor learns: the most frequent train label (ties: the first in ``labels``)."""
    values, counts = np.unique(np.asarray(train_labels, dtype=object).astype(str), return_counts=True)
    frequency = dict(zip(values, counts, strict=True))
    return max(labels, key=lambda label: (frequency.get(label, 0), -labels.index(label)))


def uniform_guessing(metric: str, truth, labels: list[str]) -> float:
    """The expected score of guessing each label with probability 1/K, computed exactly.

    Accuracy and balanced accuracy: 1/K. Macro-F1: class k with s true samples of N has
    F1 = 2X / (X + Y + s) with X ~ Bin(s, 1/K) hits and Y ~ Bin(N - s, 1/K) false alarms;
    given the Z = X + Y ~ Bin(N, 1/K) guesses of k, E[X | Z] = Z s / N, so
    E[F1] = sum_z P(Z = z) 2 z s / (N (z + s))."""
    from scipy.stats import binom

    classes = len(labels)
    truth_codes = _encode(truth, labels, "the truth")
    if metric in ("accuracy", "balanced_accuracy"):
        return 1 / classes
    if metric != "macro_f1":
        raise ValueError(f"stats: unknown metric {metric!r}; allowed: {list(METRICS)}")
    rows = len(truth_codes)
    guesses = np.arange(rows + 1)
    probability = binom.pmf(guesses, rows, 1 / classes)
    total = 0.0
    for support in np.bincount(truth_codes, minlength=classes):
        if support:
            total += float((probability * 2 * guesses * support / (rows * (guesses + support))).sum())
    return total / classes


def chance_levels(truth, train_labels, labels: list[str]) -> dict:
    """Every metric's score for the majority-class predictor and for uniform guessing."""
    majority = majority_label(train_labels, labels)
    constant = [majority] * len(truth)
    return {"majority_label": majority,
            **{metric: {"majority_class": round(score(metric, truth, constant, labels), 4),
                        "uniform_guessing": round(uniform_guessing(metric, truth, labels), 4)}
               for metric in METRICS}}
