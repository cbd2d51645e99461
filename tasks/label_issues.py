"""Clean before multiplying: likely label errors, outliers and near-duplicate clusters in train.

Run by the bias stage, because what it finds changes the plan the bias stage writes:
suspects get no variants (or leave train for the quarantine), and a cluster of
near-copies counts once when a class is sized. The check uses the evaluate stage's own
model and features (tasks/evaluate.py), so "likely wrong" means what the baseline model
can tell, and image/audio feature rows come from the same memo evaluate fills.

- Label issues: out-of-fold predicted probabilities on the train split (stratified
  folds, seeded from the run seed; on dense features the logistic regression's C is the
  one of evaluate's C, /10 and /100 whose probabilities have the lowest log loss against
  the given labels: REGULARISATION_STEPS), then cleanlab's ``find_label_issues`` with
  ``filter_by="low_self_confidence"`` (confident learning estimates how many labels are
  wrong; that many with the lowest self-confidence are flagged) and
  ``rank.get_label_quality_scores`` (self-confidence: the out-of-fold probability of the
  given label; low is suspect). The suggested label is the class the out-of-fold model
  finds most likely. Of cleanlab's filters this one had the best precision at a recall
  of 0.8 or more on flipped digits, fortunes and breast cancer (benchmarks/label_issues.py).
- Outliers: cleanlab's ``OutOfDistribution`` (mean distance to the 10 nearest neighbours
  in the standardised features; for text, which has no fixed feature vector, its
  pred_probs method). Flagged when the distance is far out (Tukey: above Q3 + 3 IQR).
- Near-duplicate clusters: explore's own measures (sha256 for exact copies, the image
  perceptual-hash distance, the text word-3-gram Jaccard), within each class; a sample
  joins the cluster of the first sample (by sample_id) it is a near copy of, so chains of
  small differences never merge a whole class into one cluster.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks.label_findings import SUSPECT_COLUMNS, Findings  # noqa: F401  (re-exported)
from augmill.tasks.modalities import get_modality
from augmill.tasks.params import Params
from augmill.tasks.samples import SharedMapper, in_this_process
from augmill.tasks.seeding import stream_int

OUTLIER_FENCE_IQR = 3.0
# The outliers' 10 nearest neighbours come from scikit-learn's chunked distances, whose chunk
# defaults to 1 GB (`working_memory`): at 20,000 images the check peaked at 2.7 GB for that
# alone (#24). Smaller chunks give the same distances (each row's are computed alike). A chunk
# is held about four times at once (the distances, their clipped copy, the neighbour order), so
# 64 MB chunks still cost ~250 MB at 20,000 images; 16 MB ones ~65 MB, for ~2 s more there.
NEIGHBOUR_MEMORY_MB = 16
# A model that can barely tell the classes apart disagrees with right labels as often as with
# wrong ones: its suspects are listed, but acted on only when its out-of-fold balanced accuracy
# is at least halfway from chance (1/classes) to perfect. (The text demo's model, at macro-F1
# 0.25 on four topics, would otherwise leave the smallest classes with no source to augment.)
MIN_SKILL = 0.5


# The check's logistic regression picks its own regularisation per dataset (dense features): the
# evaluate stage's C, and 10 and 100 times stronger. With few samples per feature (the 16x16
# pixels of a 140-image set) evaluate's C overfits, so its out-of-fold probabilities are near 0
# or 1 even where it is wrong, and a clean sample it gets wrong looks as mislabelled as a flip
# (issue #22: precision 0.59 on the LFW faces, its false positives plain faces and non-faces).
# The strength kept is the one whose out-of-fold probabilities score best (log loss, a proper
# scoring rule) against the given labels: no flips known, nothing tuned to a set. TF-IDF text
# keeps evaluate's C (its check already had precision 0.995); the CNN has no C.
REGULARISATION_STEPS = (1.0, 0.1, 0.01)


def fold_count(labels: np.ndarray, params: Params) -> int:
    """bias.label_check_folds, but no more than the smallest class has rows (and at least 2)."""
    return max(2, min(params.bias.label_check_folds, int(pd.Series(labels).value_counts().min())))


def regularisation_grid(kind: str, params: Params, steps: tuple[float, ...] = REGULARISATION_STEPS
                        ) -> list[float | None]:
    """The C values the check tries (None: the model as evaluate makes it, no choice)."""
    if kind != "dense" or params.evaluate.model == "cnn":
        return [None]
    return [params.evaluate.C * step for step in steps]


def out_of_fold_choice(values: np.ndarray, kind: str, labels: np.ndarray, classes: list[str], params: Params,
                       map_shared: SharedMapper = in_this_process, steps: tuple[float, ...] = REGULARISATION_STEPS
                       ) -> tuple[np.ndarray, float | None]:
    """P(class | sample) for every train row from a model that never saw the row (k folds, each
    fitted where ``map_shared`` runs it: flows.executors.shared_mapper's workers or Dask; the same
    numbers), at the regularisation with the lowest log loss against the given labels, and its C
    (None: evaluate's model as it is).
    ``steps``: the multiples of evaluate.C tried ((1.0,): evaluate's model alone, as before #22's choice)."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=fold_count(labels, params), shuffle=True,
                               random_state=stream_int(params.seed, "label_issues"))
    column = {label: i for i, label in enumerate(classes)}
    split = list(splitter.split(np.zeros(len(labels)), labels))
    grid = regularisation_grid(kind, params, steps)
    fitted_folds = map_shared(fold_probabilities, (values, kind, labels, params),
                              [(fit_rows, held_rows, strength) for strength in grid for fit_rows, held_rows in split])
    given = np.array([column[label] for label in labels])
    best: tuple[float, np.ndarray, float | None] | None = None
    for k, strength in enumerate(grid):
        probabilities = np.zeros((len(labels), len(classes)))
        for (_, held_rows), (fitted, predicted) in zip(split, fitted_folds[k * len(split):(k + 1) * len(split)],
                                                       strict=True):
            probabilities[np.ix_(held_rows, [column[c] for c in fitted])] = predicted
        loss = log_loss(given, np.clip(probabilities, 1e-12, 1.0), labels=list(range(len(classes))))
        if best is None or loss < best[0]:  # a tie keeps the weaker regularisation (tried first)
            best = (loss, probabilities, strength)
    return best[1], best[2]


def fold_probabilities(shared: tuple, rows: tuple[np.ndarray, np.ndarray, float | None]
                       ) -> tuple[list[str], np.ndarray]:
    """One fold at one regularisation: the model fitted on its fit rows, its classes and its
    probabilities for the held rows."""
    from augmill.tasks.evaluate import make_model, one_math_thread

    values, kind, labels, params = shared
    fit_rows, held_rows, strength = rows
    if strength is not None:
        params = params.model_copy(update={"evaluate": params.evaluate.model_copy(update={"C": strength})})
    with one_math_thread(), warnings.catch_warnings():
        # A class smaller than the folds, or a solver at its iteration cap: the estimate is still usable.
        warnings.simplefilter("ignore")
        # values[rows] are fresh copies: standardised in place, no second copy of the fold (#24).
        model = make_model(kind, params, in_place=True).fit(values[fit_rows], labels[fit_rows])
        return list(model.classes_), model.predict_proba(values[held_rows])


def label_suspects(train: pd.DataFrame, probabilities: np.ndarray, classes: list[str]) -> pd.DataFrame:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    given = train["label"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
    # n_jobs=1: no process pool inside a stage, and the same result on every machine.
    flagged = find_label_issues(given, probabilities, filter_by="low_self_confidence", n_jobs=1)
    scores = get_label_quality_scores(given, probabilities)
    suggested = probabilities.argmax(axis=1)
    frame = pd.DataFrame({
        "sample_id": train["sample_id"].to_numpy(), "path": train["path"].to_numpy(),
        "sha256": train["sha256"].to_numpy(), "given_label": train["label"].astype(str).to_numpy(),
        "suggested_label": np.asarray(classes, dtype=object)[suggested],
        "score": np.round(scores, 6), "suggested_probability": np.round(probabilities.max(axis=1), 6)})
    return frame[flagged].sort_values(["score", "sample_id"]).reset_index(drop=True)[SUSPECT_COLUMNS]


def far_outliers(train: pd.DataFrame, values: np.ndarray, kind: str, probabilities: np.ndarray,
                 classes: list[str], memory_mb: int = NEIGHBOUR_MEMORY_MB, overwrite: bool = False) -> pd.DataFrame:
    """Train rows far from their 10 nearest neighbours. ``overwrite``: ``values`` (dense) may be
    standardised in place (the caller's last use of them: no second copy of the features)."""
    import sklearn
    from cleanlab.outlier import OutOfDistribution

    columns = ["sample_id", "path", "label", "distance"]
    if len(train) <= 11:  # the 10 nearest neighbours need more rows than that
        return pd.DataFrame(columns=columns)
    detector = OutOfDistribution()
    if kind == "tfidf":
        given = train["label"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
        scores = detector.fit_score(pred_probs=probabilities, labels=given, verbose=False)
    else:
        from sklearn.preprocessing import StandardScaler

        with sklearn.config_context(working_memory=memory_mb):
            scaled = StandardScaler(copy=not overwrite).fit_transform(values)
            scores = detector.fit_score(features=scaled, verbose=False)
    distance = -np.log(np.clip(scores, 1e-300, None))
    q1, q3 = np.percentile(distance, [25, 75])
    far = distance > q3 + OUTLIER_FENCE_IQR * (q3 - q1)
    frame = pd.DataFrame({"sample_id": train["sample_id"].to_numpy(), "path": train["path"].to_numpy(),
                          "label": train["label"].astype(str).to_numpy(), "distance": np.round(distance, 4)})
    return frame[far].sort_values(["distance", "sample_id"], ascending=[False, True]).reset_index(drop=True)


def near_pairs(train: pd.DataFrame, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """Explore's near-duplicate measure for the modality: the pairs' positions in ``train``, as two
    arrays (arrays: 20,000 look-alike images make ~800,000 pairs, #24); none for the others."""
    modality = params.data.modality
    if modality == "image" and "phash" in train:
        from augmill.tasks.modalities.image.modality import near_duplicate_pairs

        first, second, _ = near_duplicate_pairs(train, params.explore.near_duplicate_distance)
        return first, second
    if modality == "text":
        from augmill.tasks.modalities.text.measures import near_duplicate_pairs

        pairs = near_duplicate_pairs(train["text"].tolist(), params.text.near_duplicate_jaccard)
        return np.array([i for i, _, _ in pairs], dtype=np.int64), np.array([j for _, j, _ in pairs], dtype=np.int64)
    return np.empty(0, np.int64), np.empty(0, np.int64)


def duplicate_clusters(train: pd.DataFrame, params: Params) -> list[list[str]]:
    """Clusters (2+ samples, one class) of exact or near copies; see the module docstring."""
    train = train.sort_values("sample_id").reset_index(drop=True)
    labels, ids = train["label"].astype(str).to_numpy(), train["sample_id"].to_numpy()
    first, second = near_pairs(train, params)
    # Each sample's earlier near copies: the pairs ordered by their later sample, then the earlier one.
    later, earlier_of = np.maximum(first, second), np.minimum(first, second)
    order = np.lexsort((earlier_of, later))
    later, earlier_of = later[order], earlier_of[order]
    bounds = np.searchsorted(later, np.arange(len(train) + 1))
    first_of_content: dict[str, int] = {}
    leader = np.arange(len(train))
    for i, sha in enumerate(train["sha256"]):
        if sha in first_of_content and labels[first_of_content[sha]] == labels[i]:
            leader[i] = leader[first_of_content[sha]]
            continue
        first_of_content.setdefault(sha, i)
        earlier = [k for k in earlier_of[bounds[i]:bounds[i + 1]].tolist() if leader[k] == k and labels[k] == labels[i]]
        if earlier:
            leader[i] = earlier[0]
    groups: dict[int, list[str]] = {}
    for i, lead in enumerate(leader):
        groups.setdefault(int(lead), []).append(str(ids[i]))
    return [members for _, members in sorted(groups.items()) if len(members) > 1]


def distinct_counts(train: pd.DataFrame, clusters: list[list[str]]) -> dict[str, int]:
    counts = {str(k): int(v) for k, v in train["label"].value_counts().sort_index().items()}
    label_of = dict(zip(train["sample_id"], train["label"].astype(str), strict=True))
    for members in clusters:
        counts[label_of[members[0]]] -= len(members) - 1
    return counts


def check(train: pd.DataFrame, params: Params, map_shared: SharedMapper = in_this_process) -> Findings:
    """All three checks on the usable train rows of the raw manifest."""
    from augmill.tasks.evaluate import features_for

    train = train.sort_values("sample_id").reset_index(drop=True)
    clusters = duplicate_clusters(train, params)
    counts = distinct_counts(train, clusters)
    classes = sorted(train["label"].astype(str).unique())
    empty = pd.DataFrame(columns=SUSPECT_COLUMNS)
    no_outliers = pd.DataFrame(columns=["sample_id", "path", "label", "distance"])
    if len(classes) < 2:
        return Findings(empty, no_outliers, clusters, counts,
                        skipped=f"the train split has {len(classes)} class(es); a label check needs at least 2")
    sizes = train["label"].astype(str).value_counts()
    if sizes.min() < 2:  # such a class cannot be predicted out of fold: each of its samples would look wrong
        return Findings(empty, no_outliers, clusters, counts,
                        skipped=f"class(es) {sorted(sizes.index[sizes < 2])} have a single train sample; a label "
                                "check needs at least 2 per class")
    if params.data.targets != "none":
        return Findings(empty, no_outliers, clusters, counts,
                        skipped="an annotated image's label is its rarest object class, not a label to check")
    if not hasattr(get_modality(params.data.modality), "baseline_features"):
        return Findings(empty, no_outliers, clusters, counts,
                        skipped=f"the {params.data.modality} modality has no baseline_features hook (no model to ask)")
    # The logistic regression, whatever evaluate.model says: it gives probabilities (the CNN predicts labels
    # only) and bias depends on evaluate.C and max_iter, not on the model.
    params = params.model_copy(update={"evaluate": params.evaluate.model_copy(update={"model": "linear"})})
    # A table's hook learns its columns from the train rows it is given (else from the files on disk).
    table = {"train": train} if params.data.modality == "tabular" else {}
    values, kind = features_for(train, params, folder=Path(params.data.raw_dir), **table)
    labels = train["label"].astype(str).to_numpy()
    probabilities, strength = out_of_fold_choice(values, kind, labels, classes, params, map_shared)
    setup = {"model": "the evaluate stage's (logistic regression on "
                      + ("TF-IDF features)" if kind == "tfidf" else "standardised features)"),
             "C": params.evaluate.C if strength is None else strength,
             "C_chosen_from": [c for c in regularisation_grid(kind, params) if c is not None],
             "folds": fold_count(labels, params),
             "label_issues": "cleanlab.filter.find_label_issues (low_self_confidence), scores: "
                             "cleanlab.rank.get_label_quality_scores (self_confidence)",
             "outliers": "cleanlab.outlier.OutOfDistribution ("
                         + ("pred_probs" if kind == "tfidf" else "10-NN distance in standardised features")
                         + f"), flagged above Q3 + {OUTLIER_FENCE_IQR:g} IQR",
             "near_duplicates": "explore's measures within each class (sha256; image perceptual hash; text "
                                "word-3-gram Jaccard), leader clustering"}
    skill, weak = model_skill(labels, probabilities, classes)
    setup["out_of_fold_balanced_accuracy"] = skill
    outliers = far_outliers(train, values, kind, probabilities, classes, overwrite=True)  # values' last use
    del values
    return Findings(label_suspects(train, probabilities, classes), outliers, clusters, counts, setup, not_acted_on=weak)


def model_skill(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> tuple[float, str | None]:
    """The out-of-fold balanced accuracy against the given labels, and why the suspects are not
    to be acted on (None when the model is skilled enough; see MIN_SKILL)."""
    from sklearn.metrics import balanced_accuracy_score

    score = float(balanced_accuracy_score(labels, np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]))
    chance = 1 / len(classes)
    needed = chance + MIN_SKILL * (1 - chance)
    if score >= needed:
        return round(score, 4), None
    return round(score, 4), (f"the evaluate model's out-of-fold balanced accuracy is {score:.3f}, too close to chance "
                             f"({chance:.3f}) for its disagreement to mean a wrong label (acted on from {needed:.3f}); "
                             "the suspects are listed only: none is quarantined or kept from augmenting")
