"""Quality gates for synthetic samples, on feature vectors (encoding.py): numpy and
scikit-learn only, so validate runs them without PyTorch.

Each gate returns batch figures and, per synthetic sample, pass or fail with a reason
code and a message:

- fidelity (classifier two-sample test, C2ST): a logistic regression learns to tell real
  train samples from synthetic ones, scored out of fold. Class mix is balanced by sample
  weights, so 0.5 is chance whatever the plan's class shares. The batch fails above
  max_c2st_accuracy; a sample the classifier calls synthetic with probability at least
  max_detect_probability fails alone.
- feature distance: Frechet distance between Gaussian fits of real and synthetic features
  (PCA fitted on the real train set; pretrained Inception features cannot be downloaded
  here), divided by the same distance between two halves of the real train set.
- label fidelity: a classifier trained on the real train split must predict the label a
  sample was generated for.
- privacy: a sample's distance to the closest real sample, against the real train
  samples' own nearest-neighbour distances: a near copy of a real sample fails.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from augmill.tasks.seeding import generator


@dataclass
class GateResult:
    name: str
    figures: dict
    passed: np.ndarray  # bool, one per synthetic sample
    codes: list[str] = field(default_factory=list)  # "" where passed
    reasons: list[str] = field(default_factory=list)  # "" where passed

    @classmethod
    def all_pass(cls, name: str, n: int, figures: dict) -> GateResult:
        return cls(name, figures, np.ones(n, dtype=bool), [""] * n, [""] * n)


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def _quantiles(values) -> dict:
    values = np.asarray(values, dtype=float)
    if not len(values):
        return {}
    return {name: _round(np.quantile(values, q), 6) for name, q in
            (("min", 0), ("p05", 0.05), ("median", 0.5), ("p95", 0.95), ("max", 1))}


def pca_features(real: np.ndarray, others: list[np.ndarray], components: int, seed: int) -> list[np.ndarray]:
    """PCA fitted on the real train vectors only, applied to them and to the others."""
    from sklearn.decomposition import PCA

    k = max(1, min(components, real.shape[0] - 1, real.shape[1]))
    pca = PCA(n_components=k, svd_solver="full", random_state=seed).fit(real)
    return [pca.transform(real), *(pca.transform(x) if len(x) else np.empty((0, k)) for x in others)]


def _balanced_weights(classes: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Each (class, origin) cell gets the same total weight: class mix and batch sizes cancel out."""
    weights = np.zeros(len(classes))
    cells = {(c, o) for c, o in zip(classes, origin, strict=True)}
    for c, o in cells:
        mask = (classes == c) & (origin == o)
        weights[mask] = 1.0 / mask.sum()
    return weights * len(classes) / weights.sum()


# ---- fidelity: classifier two-sample test ---------------------------------------------


def fidelity_gate(real: np.ndarray, real_labels, synthetic: np.ndarray, synthetic_labels, *, max_c2st_accuracy: float,
                  max_detect_probability: float, pca_components: int, seed: int) -> GateResult:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    real_labels, synthetic_labels = np.asarray(real_labels, dtype=object), np.asarray(synthetic_labels, dtype=object)
    n = len(synthetic)
    # Only classes the batch has: real samples of other classes would be "real" by class alone.
    keep = np.isin(real_labels, np.unique(synthetic_labels)) if n else np.zeros(len(real), bool)
    real, real_labels = real[keep], real_labels[keep]
    figures = {"test": "classifier two-sample test (logistic regression, out of fold, class mix balanced)",
               "real_samples": int(len(real)), "synthetic_samples": n, "max_c2st_accuracy": max_c2st_accuracy,
               "max_detect_probability": max_detect_probability}
    splits = min(5, n, len(real))
    if splits < 2:
        return GateResult.all_pass("fidelity", n, figures | {"c2st_accuracy": None,
                                                            "note": "too few samples for a two-sample test"})
    # Folds stratified by (class, origin) where the cells are big enough, so every fold sees the class mix.
    cells = np.array([f"{c}|{o}" for c, o in zip(np.concatenate([real_labels, synthetic_labels]),
                                                  [0] * len(real) + [1] * n, strict=True)])
    # At most one component per 5 samples of the smaller side: a small class must not let the
    # classifier memorise its way to a high accuracy.
    k = max(2, min(pca_components, min(len(real), n) // 5))
    real_f, synthetic_f = pca_features(real, [synthetic], k, seed)
    # Each component and its square: a linear classifier on the components alone sees shifts of the
    # mean only, and would call noise with the real mean but the wrong spread "real".
    x = np.vstack([real_f, synthetic_f])
    x = np.hstack([x, x**2])
    y = np.r_[np.zeros(len(real), int), np.ones(n, int)]
    classes = np.concatenate([real_labels, synthetic_labels])
    weights = _balanced_weights(classes, y)
    folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed % 2**32)
    probability = np.zeros(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the least populated class has fewer members than n_splits"
        stratify = cells if np.unique(cells, return_counts=True)[1].max() >= splits else y
        fold_list = list(folds.split(x, stratify))
    for train_index, test_index in fold_list:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        model.fit(x[train_index], y[train_index], logisticregression__sample_weight=weights[train_index])
        probability[test_index] = model.predict_proba(x[test_index])[:, 1]
    correct = (probability >= 0.5) == (y == 1)
    accuracy = float(np.sum(weights * correct) / np.sum(weights))
    by_class = {}
    for label in sorted(set(synthetic_labels.tolist()), key=str):
        mask = classes == label
        by_class[str(label)] = _round(np.sum(weights[mask] * correct[mask]) / np.sum(weights[mask]))
    p_synthetic, p_real = probability[len(real):], probability[:len(real)]
    # A sample is flagged only if the classifier is surer it is synthetic than for 95% of the real
    # samples: where the classifier is unsure of everything (small classes), it flags nothing.
    threshold = max(max_detect_probability, float(np.quantile(p_real, 0.95)))
    figures |= {"c2st_accuracy": _round(accuracy), "c2st_accuracy_by_class": by_class, "folds": folds.n_splits,
                "pca_components": real_f.shape[1],
                "p_synthetic_of_synthetic": _quantiles(p_synthetic),
                "detect_threshold": _round(threshold),
                # The false-alarm scale of the per-sample test: real samples it would call synthetic.
                "real_share_above_detect_probability": _round(np.mean(p_real >= threshold))}
    batch_fails = accuracy > max_c2st_accuracy
    figures["batch_passed"] = not batch_fails
    codes, reasons = [], []
    for p in p_synthetic:
        if batch_fails:
            codes.append("gate_fidelity_batch")
            reasons.append(f"fidelity: a classifier tells this batch from real samples with accuracy {accuracy:.3f} > "
                           f"synthesize.gates.max_c2st_accuracy={max_c2st_accuracy}")
        elif p >= threshold:
            codes.append("gate_fidelity_detectable")
            reasons.append(f"fidelity: the real-vs-synthetic classifier calls this sample synthetic with probability "
                           f"{p:.3f} >= {threshold:.3f} (synthesize.gates.max_detect_probability={max_detect_probability}, "
                           "or more where real samples score that high)")
        else:
            codes.append("")
            reasons.append("")
    return GateResult("fidelity", figures, np.array([c == "" for c in codes], dtype=bool), codes, reasons)


# ---- fidelity: feature-distribution distance ---------------------------------------


def _weighted_moments(x: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    weights = weights / weights.sum()
    mean = weights @ x
    centred = x - mean
    return mean, (centred * weights[:, None]).T @ centred


def frechet_distance(a: np.ndarray, b: np.ndarray, weights_a=None, weights_b=None) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) of Gaussian fits (optionally weighted)."""
    from scipy.linalg import sqrtm

    mu_a, s_a = _weighted_moments(a, np.ones(len(a)) if weights_a is None else weights_a)
    mu_b, s_b = _weighted_moments(b, np.ones(len(b)) if weights_b is None else weights_b)
    root = sqrtm(s_a @ s_b)
    root = np.real(root)
    return float(max(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * root), 0.0))


def _mix_weights(labels: np.ndarray, target_share: dict) -> np.ndarray:
    """Weights that give ``labels`` the class shares of the synthetic batch."""
    weights = np.zeros(len(labels))
    for label, share in target_share.items():
        mask = labels == label
        if mask.any():
            weights[mask] = share / mask.sum()
    return weights


def feature_distance_gate(real: np.ndarray, real_labels, synthetic: np.ndarray, synthetic_labels, *,
                          max_ratio: float, pca_components: int, seed: int) -> GateResult:
    real_labels, synthetic_labels = np.asarray(real_labels, dtype=object), np.asarray(synthetic_labels, dtype=object)
    n = len(synthetic)
    keep = np.isin(real_labels, np.unique(synthetic_labels)) if n else np.zeros(len(real), bool)
    real, real_labels = real[keep], real_labels[keep]
    figures = {"test": "Frechet distance of PCA features (fitted on real train), relative to two halves of real train",
               "max_feature_distance_ratio": max_ratio}
    # Half of the real samples of each class; the other half is the reference.
    rng = generator(seed, "generative_gate")
    half = np.zeros(len(real), dtype=bool)
    for label in np.unique(real_labels):
        index = np.flatnonzero(real_labels == label)
        half[rng.permutation(index)[: len(index) // 2]] = True
    # As for the two-sample test: at most one dimension per 5 samples, or the covariances are noise.
    dims = min(pca_components, min(half.sum(), (~half).sum(), n) // 5)
    if dims < 2:
        return GateResult.all_pass("feature_distance", n, figures | {"ratio": None,
                                                                    "note": "too few samples for a Frechet distance"})
    real_f, synthetic_f = pca_features(real, [synthetic], dims, seed)
    values, counts = np.unique(synthetic_labels, return_counts=True)
    share = {v: c / n for v, c in zip(values, counts, strict=True)}
    a, b = real_f[half], real_f[~half]
    wa, wb = _mix_weights(real_labels[half], share), _mix_weights(real_labels[~half], share)
    distance = frechet_distance(a, synthetic_f, wa, None)
    reference = frechet_distance(a, b, wa, wb)
    ratio = distance / reference if reference > 0 else float("inf")
    figures |= {"pca_components": int(dims), "frechet_distance": _round(distance), "real_halves_distance": _round(reference),
                "ratio": _round(ratio) if np.isfinite(ratio) else None, "passed": bool(ratio <= max_ratio)}
    if ratio <= max_ratio:
        return GateResult("feature_distance", figures, np.ones(n, dtype=bool), [""] * n, [""] * n)
    reason = (f"fidelity: the batch's feature distribution is {ratio:.2f} times as far from the real one as two halves of "
              f"the real train set are from each other (> synthesize.gates.max_feature_distance_ratio={max_ratio})")
    return GateResult("feature_distance", figures, np.zeros(n, dtype=bool), ["gate_feature_distance"] * n, [reason] * n)


# ---- label fidelity ----------------------------------------------------------------


def fit_label_judge(real: np.ndarray, real_labels, seed: int, pca_components: int = 40):
    """The judge of label fidelity: PCA + standardised logistic regression on the real train split."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = max(1, min(pca_components, real.shape[0] - 1, real.shape[1]))
    model = make_pipeline(PCA(n_components=k, svd_solver="full", random_state=seed), StandardScaler(),
                          LogisticRegression(C=1.0, max_iter=3000))
    return model.fit(real, np.asarray(real_labels).astype(str))


def label_fidelity_gate(real: np.ndarray, real_labels, synthetic: np.ndarray, synthetic_labels, *,
                        min_agreement: float, seed: int, held_out: np.ndarray | None = None,
                        held_out_labels=None) -> GateResult:
    synthetic_labels = np.asarray(synthetic_labels).astype(str)
    n = len(synthetic)
    figures = {"test": "logistic regression trained on the real train split predicts the conditional label",
               "min_label_agreement": min_agreement}
    if len(np.unique(np.asarray(real_labels).astype(str))) < 2:
        return GateResult.all_pass("label_fidelity", n, figures | {"agreement": None, "note": "one class only"})
    judge = fit_label_judge(real, real_labels, seed)
    if held_out is not None and len(held_out):
        # How good the judge is on real data it has not seen: the scale for its verdicts.
        figures["judge_accuracy_on_held_out_real"] = _round(np.mean(judge.predict(held_out) ==
                                                                    np.asarray(held_out_labels).astype(str)))
    if not n:
        return GateResult.all_pass("label_fidelity", 0, figures | {"agreement": None})
    probabilities = judge.predict_proba(synthetic)
    classes = judge.classes_
    predicted = classes[np.argmax(probabilities, axis=1)]
    agree = predicted == synthetic_labels
    figures |= {"agreement": _round(agree.mean()),
                "agreement_by_class": {str(c): _round(agree[synthetic_labels == c].mean())
                                       for c in sorted(set(synthetic_labels.tolist()))}}
    figures["passed"] = bool(agree.mean() >= min_agreement)
    codes, reasons = [], []
    for ok, guess, row in zip(agree, predicted, probabilities, strict=True):
        codes.append("" if ok else "gate_label")
        reasons.append("" if ok else f"label fidelity: a classifier trained on real samples predicts {str(guess)!r} "
                                     f"(p={row.max():.2f}), not the label it was made for")
    return GateResult("label_fidelity", figures, agree.astype(bool), codes, reasons)


# ---- privacy --------------------------------------------------------------------


def nearest(reference: np.ndarray, queries: np.ndarray, skip_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of each query's nearest reference vector (Euclidean, exact)."""
    from sklearn.neighbors import NearestNeighbors

    k = 2 if skip_self else 1
    finder = NearestNeighbors(n_neighbors=min(k, len(reference)), algorithm="brute").fit(reference)
    distances, indices = finder.kneighbors(queries)
    column = min(k, len(reference)) - 1
    return distances[:, column], indices[:, column]


def privacy_gate(real_train: np.ndarray, synthetic: np.ndarray, *, reference_quantile: float, min_ratio: float,
                 real_all: np.ndarray | None = None, real_names: list[str] | None = None) -> GateResult:
    """``real_all`` (train, val and test; default the train set) is what a sample must not copy;
    the scale comes from the real train samples' distances to their nearest other train sample."""
    real_all = real_train if real_all is None else real_all
    n = len(synthetic)
    figures = {"test": "distance to the closest real sample vs real-to-real nearest-neighbour distances",
               "reference_quantile": reference_quantile, "min_privacy_ratio": min_ratio}
    if len(real_train) < 2:
        return GateResult.all_pass("privacy", n, figures | {"note": "fewer than two real train samples"})
    real_to_real, _ = nearest(real_train, real_train, skip_self=True)
    spacing = real_to_real[real_to_real > 0]  # exact duplicates in the data say nothing about its spacing
    reference = float(np.quantile(spacing, reference_quantile)) if len(spacing) else 0.0
    figures |= {"reference_distance": _round(reference, 6), "real_nearest_distance": _quantiles(real_to_real)}
    if not n:
        return GateResult.all_pass("privacy", 0, figures)
    closest, which = nearest(real_all, synthetic)
    ratio = closest / reference if reference > 0 else np.full(n, np.inf)
    failed = ratio < min_ratio
    figures |= {"synthetic_closest_distance": _quantiles(closest), "distance_ratio": _quantiles(ratio),
                "near_copies": int(failed.sum()), "exact_copies": int(np.sum(closest == 0))}
    codes, reasons = [], []
    for bad, d, r, i in zip(failed, closest, ratio, which, strict=True):
        name = real_names[i] if real_names is not None else f"real sample #{i}"
        codes.append("gate_privacy" if bad else "")
        reasons.append(f"privacy: a near copy of {name} (distance {d:.4f} is {r:.2f} x the real train "
                       f"{reference_quantile:.0%} nearest-neighbour distance {reference:.4f} < "
                       f"synthesize.gates.min_privacy_ratio={min_ratio})" if bad else "")
    return GateResult("privacy", figures, ~failed, codes, reasons)


def outlier_gate(real_train: np.ndarray, synthetic: np.ndarray, *, max_ratio: float) -> GateResult:
    """Fidelity per sample, the other side of privacy: a sample farther from every real train
    sample than max_ratio x the largest real-to-real nearest-neighbour distance is more isolated
    than any real sample (noise, a broken decode). The two-sample test misses such rare
    outliers when the rest of the batch is good, since it learns from the batch as a whole."""
    n = len(synthetic)
    figures = {"test": "distance to the closest real sample vs the largest real-to-real nearest-neighbour distance",
               "max_outlier_ratio": max_ratio}
    if len(real_train) < 2 or not n:
        return GateResult.all_pass("outlier", n, figures)
    real_to_real, _ = nearest(real_train, real_train, skip_self=True)
    largest = float(real_to_real.max())
    closest, _ = nearest(real_train, synthetic)
    ratio = closest / largest if largest > 0 else np.full(n, np.inf)
    failed = ratio > max_ratio
    figures |= {"largest_real_nearest_distance": _round(largest, 6), "ratio": _quantiles(ratio), "outliers": int(failed.sum())}
    reasons = [f"fidelity: {d:.4f} from the closest real sample, {r:.2f} x the largest real-to-real nearest-neighbour "
               f"distance {largest:.4f} > synthesize.gates.max_outlier_ratio={max_ratio}" if bad else ""
               for bad, d, r in zip(failed, closest, ratio, strict=True)]
    return GateResult("outlier", figures, ~failed, ["gate_fidelity_outlier" if bad else "" for bad in failed], reasons)


# ---- adversarial: the perturbation bound ------------------------------------------------


def epsilon_gate(sources: np.ndarray, perturbed: np.ndarray, epsilon: float) -> GateResult:
    """L-infinity distance of each perturbed vector to its source (both in [0, 1]) within epsilon."""
    n = len(perturbed)
    linf = np.max(np.abs(perturbed - sources), axis=1) if n else np.empty(0)
    ok = linf <= epsilon + 1e-6
    figures = {"test": "L-infinity distance to the source <= epsilon", "epsilon": _round(epsilon, 6),
               "max_linf": _round(linf.max(), 6) if n else None, "outside_bound": int((~ok).sum())}
    reasons = ["" if good else f"adversarial: L-infinity distance {d:.4f} to its source exceeds epsilon {epsilon:.4f}"
               for good, d in zip(ok, linf, strict=True)]
    return GateResult("epsilon", figures, ok, ["" if good else "gate_epsilon" for good in ok], reasons)


def combine(results: list[GateResult], n: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Per sample: passed every gate, the first failing gate's code, and all failing gates' messages."""
    passed = np.ones(n, dtype=bool)
    codes, reasons = [""] * n, [[] for _ in range(n)]
    for result in results:
        for i in np.flatnonzero(~result.passed):
            passed[i] = False
            codes[i] = codes[i] or result.codes[i]
            reasons[i].append(result.reasons[i])
    return passed, codes, ["; ".join(r) for r in reasons]
