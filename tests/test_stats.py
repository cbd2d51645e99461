"""tasks/stats.py on synthetic predictions whose truth is known: a real gain on a large
test set is found, the same gain on a tiny one is not, equal models are rarely called
different (at most the chosen level, plus a binomial margin), and the chance levels and
scores are those scikit-learn gives."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.stats import binom
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from augmill.tasks import stats

SKLEARN = {"accuracy": lambda y, p, labels: accuracy_score(y, p),
           "macro_f1": lambda y, p, labels: f1_score(y, p, labels=labels, average="macro", zero_division=0),
           "balanced_accuracy": lambda y, p, labels: balanced_accuracy_score(y, p)}


def synthetic(seed: int, rows: int, classes: int, baseline_accuracy: float, candidate_accuracy: float,
              repeats: int = 3):
    """Truth and (repeats, rows) predictions of two models. Each test sample has a difficulty shared by
    both models (so they err on the same samples, as real models do); each training repeat adds its own
    noise. A model's expected accuracy is its given accuracy."""
    rng = np.random.default_rng(seed)
    labels = [f"c{k}" for k in range(classes)]
    truth_codes = np.arange(rows) % classes
    difficulty = rng.random(rows)

    def predictions(accuracy: float) -> np.ndarray:
        correct = difficulty + 0.1 * rng.standard_normal((repeats, rows)) < accuracy
        wrong = (truth_codes + 1 + rng.integers(0, classes - 1, size=(repeats, rows))) % classes
        return np.array(labels, dtype=object)[np.where(correct, truth_codes, wrong)]

    truth = np.array(labels, dtype=object)[truth_codes]
    return truth, predictions(baseline_accuracy), predictions(candidate_accuracy), labels


def test_a_real_gain_on_a_large_test_set_is_better_and_its_interval_covers_the_true_gain():
    truth, baseline, candidate, labels = synthetic(1, rows=2000, classes=10, baseline_accuracy=0.70,
                                                   candidate_accuracy=0.78, repeats=5)
    result = stats.paired_bootstrap(truth, baseline, candidate, labels, "accuracy", level=0.95, seed=3)
    assert result.verdict == "better" and result.low > 0
    assert result.low < 0.08 < result.high
    assert result.test_rows == 2000 and result.repeats == 5
    macro = stats.paired_bootstrap(truth, baseline, candidate, labels, "macro_f1", seed=3)
    assert macro.verdict == "better" and not stats.too_small_to_tell(macro, fewest_per_class=200)
    # The reverse comparison is "worse", with the interval mirrored.
    reverse = stats.paired_bootstrap(truth, candidate, baseline, labels, "accuracy", seed=3)
    assert reverse.verdict == "worse" and reverse.high < 0
    assert reverse.difference == pytest.approx(-result.difference)


def test_the_same_gain_on_a_tiny_test_set_is_no_measurable_difference_and_too_small_to_tell():
    truth, baseline, candidate, labels = synthetic(1, rows=10, classes=10, baseline_accuracy=0.70,
                                                   candidate_accuracy=0.78, repeats=5)
    result = stats.paired_bootstrap(truth, baseline, candidate, labels, "macro_f1", seed=3)
    assert result.verdict == "no measurable difference" and result.low <= 0 <= result.high
    assert stats.too_small_to_tell(result, fewest_per_class=1)


def test_equal_models_are_called_different_at_most_at_the_chosen_level():
    level, datasets = 0.90, 200  # 0.90: more false positives per dataset, so a loose interval would show
    verdicts = []
    for seed in range(datasets):
        truth, baseline, candidate, labels = synthetic(seed, rows=300, classes=5, baseline_accuracy=0.75,
                                                       candidate_accuracy=0.75)
        verdicts.append(stats.paired_bootstrap(truth, baseline, candidate, labels, "macro_f1", level=level,
                                               seed=seed, resamples=1000).verdict)
    false_positives = sum(v != "no measurable difference" for v in verdicts)
    # At most the level's error rate, plus the binomial margin of 200 trials (99.9% quantile).
    assert false_positives <= binom.ppf(0.999, datasets, 1 - level), false_positives
    assert set(verdicts) <= set(stats.VERDICTS)


def test_identical_predictions_have_a_zero_interval():
    truth, baseline, _, labels = synthetic(2, rows=200, classes=4, baseline_accuracy=0.6, candidate_accuracy=0.6)
    result = stats.paired_bootstrap(truth, baseline, baseline.copy(), labels, "balanced_accuracy", seed=1)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.verdict == "no measurable difference"
    assert not stats.too_small_to_tell(result, fewest_per_class=50)  # 0 is told exactly: no effect to detect


def test_the_training_spread_is_part_of_the_interval():
    truth, baseline, candidate, labels = synthetic(4, rows=400, classes=4, baseline_accuracy=0.6,
                                                   candidate_accuracy=0.65, repeats=1)
    one = stats.paired_bootstrap(truth, baseline, candidate, labels, "accuracy", seed=2)
    assert one.training_halfwidth == 0 and one.test_halfwidth > 0  # one repeat: no training spread to resample
    # Repeat 2 is the opposite comparison: the repeats disagree, and the interval widens to hold that.
    both = stats.paired_bootstrap(truth, np.vstack([baseline, candidate]), np.vstack([candidate, baseline]), labels,
                                  "accuracy", seed=2)
    assert both.difference == pytest.approx(0) and both.training_halfwidth > 0.02
    assert both.high - both.low > one.high - one.low


def test_deterministic_in_the_seed_and_no_global_random_state():
    truth, baseline, candidate, labels = synthetic(5, rows=100, classes=3, baseline_accuracy=0.6,
                                                   candidate_accuracy=0.65)
    np.random.seed(0)
    first = stats.paired_bootstrap(truth, baseline, candidate, labels, "macro_f1", seed=9)
    np.random.seed(1)
    assert stats.paired_bootstrap(truth, baseline, candidate, labels, "macro_f1", seed=9) == first
    other = stats.paired_bootstrap(truth, baseline, candidate, labels, "macro_f1", seed=10)
    assert (other.low, other.high) != (first.low, first.high) and other.difference == first.difference
    # Several metrics in one pass draw the same resamples as one metric alone.
    assert stats.paired_bootstraps(truth, baseline, candidate, labels, seed=9)["macro_f1"] == first


def test_scores_are_scikit_learns():
    rng = np.random.default_rng(0)
    labels = [f"c{k}" for k in range(6)]
    warnings.simplefilter("ignore")  # balanced accuracy warns when a prediction names a class absent from the truth
    for _ in range(30):
        rows = int(rng.integers(3, 40))
        truth = rng.choice(labels[: rng.integers(1, 7)], rows)
        predicted = rng.choice(labels[: rng.integers(1, 7)], rows)
        for metric, reference in SKLEARN.items():
            assert stats.score(metric, truth, predicted, labels) == pytest.approx(reference(truth, predicted, labels))
    with pytest.raises(ValueError, match="not in the label list"):
        stats.score("accuracy", ["a"], ["z"], ["a", "b"])


def test_chance_levels_on_a_known_set():
    labels = ["a", "b"]
    truth = ["a", "a", "a", "b"]
    chance = stats.chance_levels(truth, train_labels=["b", "a", "a"], labels=labels)
    assert chance["majority_label"] == "a"
    assert chance["accuracy"] == {"majority_class": 0.75, "uniform_guessing": 0.5}
    # F1 of "a" when always predicted: 2*3 / (4 + 3); "b" never predicted: 0.
    assert chance["macro_f1"]["majority_class"] == round((6 / 7) / 2, 4)
    assert chance["balanced_accuracy"] == {"majority_class": 0.5, "uniform_guessing": 0.5}
    # Ties go to the first label; a label absent from train is never the majority.
    assert stats.majority_label(["b", "a"], ["a", "b", "c"]) == "a"


@pytest.mark.parametrize(("truth", "labels"), [(["a", "a", "a", "b"], ["a", "b"]),
                                               (["a", "b", "b", "c", "c"], ["a", "b", "c"]),
                                               (["a", "a", "b"], ["a", "b", "c"])])  # "c": a label absent from test
def test_uniform_guessing_is_the_exact_expectation_over_every_guess(truth, labels):
    guesses = list(itertools.product(labels, repeat=len(truth)))  # each equally likely
    for metric, reference in SKLEARN.items():
        warnings.simplefilter("ignore")
        expected = np.mean([reference(truth, list(guess), labels) for guess in guesses])
        assert stats.uniform_guessing(metric, truth, labels) == pytest.approx(expected)
