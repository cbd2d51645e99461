"""evaluate: does augmentation help? The same small, fast model is trained twice,
on the original train split and on the merged train split (originals plus accepted
variants), and both are scored on the untouched test split of data/final/.

The model is fixed: standardised features into a logistic regression (scikit-learn).
Features come from the modality's hook

    baseline_features(frame: pandas.DataFrame, params) -> numpy.ndarray   (one row per final-manifest row)

(the bias stage's label check calls it with ``folder=`` data.raw_dir, and a table's with ``train=``)

or, when the modality module sets ``BASELINE = "tfidf"``, the hook returns raw texts
and a TF-IDF fitted on each model's train rows turns them into features.

One number is not enough to tell a gain from luck, so training repeats
``evaluate.seeds`` times, each on its own seeded, stratified subsample
(``evaluate.subsample``) of the original train sources: the baseline gets those
originals, the augmented model the same originals plus their variants (a paired
comparison). The repeats run in execution.workers processes, or on the Dask cluster
(execution.dask_address), gathered in repeat order: any worker count gives the same bytes.
The test split is a sample too, so the verdict's interval comes from a
paired bootstrap over the test rows and the repeats together (tasks/stats.py):
"better" or "worse" only when the interval excludes 0, else "no measurable
difference", naming a test split too small to tell. Means, spreads, the interval,
the test size per class and the chance levels go to reports/evaluate.json (a DVC
metric); per-class recall to a DVC plot. When the interval lies below
-``evaluate.tolerance`` the stage fails if ``evaluate.fail_on_regression`` is set.
Without a test split, or with one class to learn, it says "skipped" and the run goes
on. The report page is written last.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from augmill.tasks import paths, stats
from augmill.tasks.io import read_parquet, write_bytes_atomic, write_csv, write_json
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.params import Params
from augmill.tasks.png import figure_png
from augmill.tasks.report_plots import _sorted_labels, plt
from augmill.tasks.samples import SharedMapper, in_this_process
from augmill.tasks.seeding import generator, stream_int

METRICS = stats.METRICS
log = logging.getLogger("augmill.evaluate")


class AugmentationRegressed(RuntimeError):
    """The model trained on the merged train split scored worse than the baseline."""


# ---- data ------------------------------------------------------------------

def features_for(frame: pd.DataFrame, params: Params, folder=paths.FINAL, **hook_options) -> tuple[np.ndarray, str]:
    """The modality's features for every row, and their kind ("dense" or "tfidf"). Files are
    read under ``folder`` (data/final/; the bias stage's label check passes data.raw_dir);
    ``hook_options`` go to the hook as they are (a table's ``train`` rows)."""
    modality = get_modality(params.data.modality)
    hook = optional_hook(modality, "baseline_features")
    if hook is None:
        raise ValueError(f"evaluate: the {params.data.modality} modality has no baseline_features hook, so there is "
                         f"no baseline model for it yet; add one to tasks/modalities/{params.data.modality}.py")
    kind = "tfidf" if optional_hook(modality, "BASELINE") == "tfidf" else "dense"
    # evaluate's call stays (frame, params): a hook without the label check's keywords still works here.
    extra = hook_options | ({} if folder == paths.FINAL else {"folder": folder})
    values = hook(frame.reset_index(drop=True), params, **extra)
    values = np.asarray(values, dtype=object if kind == "tfidf" else np.float64)
    if len(values) != len(frame):
        raise ValueError(f"evaluate: baseline_features returned {len(values)} rows for {len(frame)} samples")
    return values, kind


def _stratified(frame: pd.DataFrame, fraction: float, rng: np.random.Generator) -> set[str]:
    """A share of each class's sample ids (at least one per class), in a seeded order."""
    kept: set[str] = set()
    for _, group in frame.groupby("label", sort=True):
        ids = np.array(sorted(group["sample_id"]), dtype=object)
        kept.update(rng.permutation(ids)[: max(1, round(fraction * len(ids)))])
    return kept


def repeat_rows(train: pd.DataFrame, fraction: float, seed: int, repeat: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``train`` of the baseline's and the augmented model's rows in one repeat.
    Variants follow their source; rows not made from a train original (synthetic ones)
    are drawn at the same rate, per class."""
    rng = generator(seed, "evaluate_rows", repeat)
    original = (train["origin"] == "original").to_numpy()
    originals = train[original]
    kept = _stratified(originals, fraction, rng)
    attached = train["source_id"].isin(set(originals["sample_id"])).to_numpy() & ~original
    unattached = train[~original & ~attached]
    kept_unattached = _stratified(unattached, fraction, rng) if len(unattached) else set()
    baseline = original & train["sample_id"].isin(kept).to_numpy()
    augmented = (baseline | (attached & train["source_id"].isin(kept).to_numpy())
                 | train["sample_id"].isin(kept_unattached).to_numpy())
    return baseline, augmented


# ---- model -----------------------------------------------------------------

def one_math_thread():
    """threadpool_limits(1) over every math library a fit uses. threadpoolctl limits the libraries
    loaded when it is entered, so scikit-learn (and the BLAS SciPy brings) is imported first: imported
    inside the block, that BLAS ran on every core, and its sums differ by thread count (at 20,000 images
    `augmill stage evaluate`, what `dvc repro` runs, wrote other bytes than `augmill run`, whose process
    had imported scikit-learn before)."""
    import sklearn.linear_model  # noqa: F401  (loads SciPy's BLAS before the limit is set)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def make_model(kind: str, params: Params, seed: int | None = None, in_place: bool = False):
    """The evaluate model (evaluate.model); ``seed``: the CNN's initialisation and batch order (the
    logistic regression's solver is deterministic and takes none). ``in_place``: the scaler
    standardises the arrays it is given in place rather than a copy (the same numbers; for callers
    that pass fresh copies, e.g. ``x[mask]``: at 20,000 images a copy of the train rows is ~50 MB, #24)."""
    if params.evaluate.model == "cnn" and kind == "dense":
        from augmill.tasks.cnn import SmallCNN

        return SmallCNN(params.evaluate.cnn_epochs, params.seed if seed is None else seed)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = LogisticRegression(C=params.evaluate.C, max_iter=params.evaluate.max_iter)
    first = TfidfVectorizer(sublinear_tf=True) if kind == "tfidf" else StandardScaler(copy=not in_place)
    return make_pipeline(first, classifier)


def repeat_seed(seed: int, repeat: int) -> int:
    """The model's own seed in one repeat: the same for the models compared in that repeat."""
    return stream_int(seed, "evaluate_model", repeat)


def model_description(kind: str, params: Params) -> str:
    if params.evaluate.model == "cnn" and kind == "dense":
        seen = optional_hook(get_modality(params.data.modality), "CNN_INPUT")
        return f"a small CNN ({params.evaluate.cnn_epochs} epochs, CPU) on {seen}"
    return "logistic regression on " + ("TF-IDF features" if kind == "tfidf" else "standardised features")


def soft_label_rows(x: np.ndarray, y: np.ndarray, soft: np.ndarray | None, weighted: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The training rows with their soft labels (MixUp/CutMix rows: tasks.ops.mixing): each such
    row once per label it holds, weighted by that label's share, when the model takes sample
    weights (``weighted``: the logistic regression); else (the CNN) once, with its heaviest
    label. Weights are None when no row is soft, so a run without mixing fits as before."""
    if soft is None or not any(isinstance(value, str) and value for value in soft):
        return x, y, None
    rows, labels, weights = [], [], []
    for index, value in enumerate(soft):
        shares = json.loads(value) if isinstance(value, str) and value else {str(y[index]): 1.0}
        if not weighted:
            shares = {max(shares, key=lambda label: (shares[label], label == str(y[index]))): 1.0}
        for label, share in shares.items():
            rows.append(index)
            labels.append(label)
            weights.append(share)
    return x[rows], np.asarray(labels, dtype=y.dtype if y.dtype.kind == "U" else object), (
        np.asarray(weights) if weighted else None)


def fit_and_score(model, x_train, y_train, x_test, y_test, labels: list[str],
                  soft: np.ndarray | None = None) -> tuple[dict, bool, np.ndarray]:
    """Scores on the test rows, whether the solver converged, and the predictions (for the interval).
    ``soft``: the training rows' soft labels (final manifest ``soft_label``), see soft_label_rows."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score

    weighted = hasattr(model, "steps")  # the sklearn pipeline; the CNN's fit takes no weights
    x_train, y_train, weights = soft_label_rows(x_train, y_train, soft, weighted)
    fit_options = {} if weights is None else {f"{model.steps[-1][0]}__sample_weight": weights}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x_train, y_train, **fit_options)
    predicted = model.predict(x_test)
    scores = {
        "accuracy": accuracy_score(y_test, predicted),
        "macro_f1": f1_score(y_test, predicted, labels=labels, average="macro", zero_division=0),
        "balanced_accuracy": balanced_accuracy_score(y_test, predicted),
        "recall": recall_score(y_test, predicted, labels=labels, average=None, zero_division=0).tolist(),
    }
    return scores, not any(issubclass(w.category, ConvergenceWarning) for w in caught), np.asarray(predicted, dtype=str)


# ---- statistics ------------------------------------------------------------

def _round(value: float) -> float:
    return round(float(value), 4)


def spread(values: list[float]) -> dict:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of per-seed values."""
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    return {"mean": _round(array.mean()), "std": _round(std), "per_seed": [_round(v) for v in array]}


def compare(baseline: list[float], augmented: list[float]) -> dict:
    """The paired per-repeat difference (augmented - baseline): its mean, spread and sign counts."""
    difference = np.asarray(augmented, dtype=float) - np.asarray(baseline, dtype=float)
    return {"mean": _round(difference.mean()), "std": spread(difference.tolist())["std"],
            # Paired: both models of a repeat saw the same originals, so this count is meaningful.
            "repeats_better": int((difference > 5e-5).sum()), "repeats_worse": int((difference < -5e-5).sum())}


def held_out_size(y_test: np.ndarray, labels: list[str]) -> dict:
    """The test split's size, per class as a list (so `dvc metrics show` keeps to the headline numbers)."""
    per_class = [{"label": label, "rows": int((y_test == label).sum())} for label in labels]
    present = [row["rows"] for row in per_class if row["rows"]]
    return {"rows": len(y_test), "fewest_per_class": min(present), "per_class": per_class}


WORDING = {"better": "Augmentation made the model better", "worse": "Augmentation made the model worse",
           "no measurable difference": "No measurable difference between the models"}


def verdict(interval: stats.PairedDifference, metric: str, tolerance: float, baseline: dict, augmented: dict,
            size: dict, chance: dict) -> dict:
    """The verdict in one of three wordings, with the interval that decides it and the chance level."""
    word = interval.verdict
    too_small = stats.too_small_to_tell(interval, size["fewest_per_class"])
    if word != "no measurable difference":
        why = ""
    elif too_small:
        rule = (f"under {stats.MIN_TEST_PER_CLASS}" if size["fewest_per_class"] < stats.MIN_TEST_PER_CLASS else
                f"and the test sample alone leaves ±{interval.test_halfwidth:.4f}, more than the difference")
        why = (f"; the test split is too small to tell ({size['rows']} test samples, {size['fewest_per_class']} in "
               f"the smallest class {rule}; telling needs a larger held-out test split)")
    else:
        why = "; the difference is within the uncertainty of the test sample and the training runs"
    at_chance = max(baseline["mean"], augmented["mean"]) <= max(chance["majority_class"], chance["uniform_guessing"])
    statement = (f"{WORDING[word]}: {metric} {baseline['mean']:.4f} ± {baseline['std']:.4f} (original train split) "
                 f"-> {augmented['mean']:.4f} ± {augmented['std']:.4f} (merged train split), difference "
                 f"{interval.difference:+.4f}, {interval.level:.0%} interval [{interval.low:+.4f}, {interval.high:+.4f}] "
                 f"(paired bootstrap over {interval.test_rows} test samples and {interval.repeats} training repeats){why}. "
                 f"Chance level: {chance['uniform_guessing']:.4f} (uniform guessing), {chance['majority_class']:.4f} "
                 f"(majority class){'; both models score at or below chance' if at_chance else ''}.")
    # A regression (what evaluate.fail_on_regression refuses): the whole interval below -tolerance.
    return {"verdict": word, "worse": word == "worse", "regression": interval.high < -tolerance,
            "too_small_to_tell": too_small, "both_at_chance": at_chance, "statement": statement}


def skipped(reason: str) -> dict:
    """The report when nothing can be measured on a valid dataset: the run goes on and says why."""
    return {"verdict": "skipped", "worse": False, "regression": False, "skipped": reason,
            "statement": f"skipped: {reason}. The dataset version is made; nothing was measured."}


# ---- repeats, in parallel ----------------------------------------------------

@dataclass(frozen=True)
class Repeats:
    """What every repeat reads (sent once to each worker): the train rows' lineage, the features
    and labels of both splits, and the settings."""
    train: pd.DataFrame
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: list[str]
    kind: str
    params: Params
    soft: np.ndarray | None = None  # the train rows' soft labels (MixUp/CutMix), see soft_label_rows


def run_repeat(shared: Repeats, repeat: int) -> dict[str, tuple[dict, bool, np.ndarray]]:
    """One paired repeat: the baseline and the augmented model on the repeat's seeded subsample.
    A function of (shared, repeat) alone, so any worker gives the same result."""
    params = shared.params
    masks = repeat_rows(shared.train, params.evaluate.subsample, params.seed, repeat)
    arms = {}
    # One BLAS thread: as fast for a model this small, no contention with the other workers, and the
    # same sums on any machine.
    with one_math_thread():
        for name, mask in zip(("baseline", "augmented"), masks, strict=True):
            # paired: both arms alike. In place: x_train[mask] is a fresh copy, and so is the test rows' (#24).
            model = make_model(shared.kind, params, seed=repeat_seed(params.seed, repeat), in_place=True)
            arms[name] = fit_and_score(model, shared.x_train[mask], shared.y_train[mask], shared.x_test.copy(),
                                       shared.y_test, shared.labels, None if shared.soft is None else shared.soft[mask])
    return arms


# ---- the stage -------------------------------------------------------------

def evaluate(final: pd.DataFrame, params: Params, map_shared: SharedMapper = in_this_process) -> dict:
    """The paired comparison; ``map_shared`` runs the repeats (flows.executors.shared_mapper: worker
    processes or Dask; here by default)."""
    settings = params.evaluate
    train = final[final["split"] == "train"].sort_values("sample_id").reset_index(drop=True)
    test = final[final["split"] == "test"].sort_values("sample_id").reset_index(drop=True)
    if test.empty:
        return skipped(f"no test split ({paths.FINAL_MANIFEST} has no test rows, and the test split is what both "
                       "models are scored on; give the input a test split or set data.split.test above 0)")
    originals = train[train["origin"] == "original"]
    if originals["label"].nunique() < 2:
        return skipped(f"the original train split has {originals['label'].nunique()} class(es), and a classifier "
                       "needs at least 2")
    values, kind = features_for(pd.concat([train, test], ignore_index=True), params)
    x_train, x_test = values[: len(train)], values[len(train):]
    y_train, y_test = train["label"].astype(str).to_numpy(), test["label"].astype(str).to_numpy()
    labels = _sorted_labels(set(y_train) | set(y_test))
    soft = train["soft_label"].to_numpy(dtype=object) if "soft_label" in train else None  # MixUp/CutMix rows
    shared = Repeats(train[["sample_id", "source_id", "origin", "label"]], x_train, y_train, x_test, y_test, labels, kind,
                     params, soft)
    runs: dict[str, list[dict]] = {"baseline": [], "augmented": []}
    predictions: dict[str, list[np.ndarray]] = {"baseline": [], "augmented": []}
    converged = True
    for arms in map_shared(run_repeat, shared, range(settings.seeds)):  # in repeat order
        for name, (scores, ok, predicted) in arms.items():
            runs[name].append(scores)
            predictions[name].append(predicted)
            converged &= ok
    if not converged:
        log.warning("evaluate: logistic regression did not converge in evaluate.max_iter=%d iterations for some "
                    "repeats; the scores may be a little low (raise evaluate.max_iter)", settings.max_iter)
    result = {name: {m: spread([r[m] for r in rows]) for m in METRICS} for name, rows in runs.items()}
    intervals = stats.paired_bootstraps(y_test, np.array(predictions["baseline"]), np.array(predictions["augmented"]),
                                        labels, METRICS, settings.confidence, params.seed)
    differences = {m: compare([r[m] for r in runs["baseline"]], [r[m] for r in runs["augmented"]])
                   | {key: value for key, value in intervals[m].as_dict().items()
                      if key in ("low", "high", "verdict", "test_halfwidth", "training_halfwidth")}
                   for m in METRICS}
    metric = settings.metric
    size = held_out_size(y_test, labels)
    chance = stats.chance_levels(y_test, originals["label"].astype(str).to_numpy(), labels)
    report = verdict(intervals[metric], metric, settings.tolerance, result["baseline"][metric],
                     result["augmented"][metric], size, chance[metric])
    report |= {
        "primary_metric": metric,
        "baseline": result["baseline"],
        "augmented": result["augmented"],
        "difference": differences,
        "confidence": {"method": stats.METHOD, "level": settings.confidence, "resamples": stats.RESAMPLES,
                       "references": stats.REFERENCES,
                       "too_small_rule": f"no measurable difference, and fewer than {stats.MIN_TEST_PER_CLASS} test "
                                         "samples in some class or a test-sample-only interval wider than the "
                                         "observed difference"},
        "test_size": size,
        "chance": chance,
        # A list, so `dvc metrics show` keeps to the headline numbers; the plot and the report show these.
        "per_class_recall": [
            {"label": label,
             "baseline": spread([r["recall"][i] for r in runs["baseline"]]),
             "augmented": spread([r["recall"][i] for r in runs["augmented"]]),
             "difference": compare([r["recall"][i] for r in runs["baseline"]],
                                   [r["recall"][i] for r in runs["augmented"]])["mean"]}
            for i, label in enumerate(labels)],
        "setup": {
            "model": model_description(kind, params),
            "features": optional_hook(get_modality(params.data.modality), "BASELINE_DESCRIPTION") or kind,
            "seeds": settings.seeds, "subsample": settings.subsample, "converged": converged,
            "train_rows": {"baseline": len(originals), "augmented": len(train)}, "test_rows": len(test),
            "classes": len(labels),
        },
    }
    soft_rows = int(sum(isinstance(v, str) and bool(v) for v in soft)) if soft is not None else 0
    if soft_rows:  # said only when there are any: a run without MixUp/CutMix reports as before
        report["setup"]["soft_labels"] = {
            "rows": soft_rows,
            "used_as": "each label at its weight (sample weights)" if kind != "dense" or params.evaluate.model != "cnn"
            else "the heaviest label only: the CNN's fit takes no sample weights"}
    return report


RECALL_COLUMNS = ["label", "baseline", "augmented", "baseline_std", "augmented_std", "difference"]


def recall_table(report: dict) -> pd.DataFrame:
    return pd.DataFrame([{"label": row["label"], "baseline": row["baseline"]["mean"],
                          "augmented": row["augmented"]["mean"], "baseline_std": row["baseline"]["std"],
                          "augmented_std": row["augmented"]["std"], "difference": row["difference"]}
                         for row in report.get("per_class_recall", [])], columns=RECALL_COLUMNS)


def recall_chart(table: pd.DataFrame, title: str) -> bytes:
    """Per-class test recall, baseline beside augmented, with the spread over seeds as error bars."""
    figure, axes = plt.subplots(figsize=(max(6.0, 0.55 * len(table) + 3), 4), dpi=100)
    positions = np.arange(len(table))
    for offset, (name, colour) in zip((-0.2, 0.2), (("baseline", "#8da0cb"), ("augmented", "#fc8d62")), strict=True):
        axes.bar(positions + offset, table[name], 0.4, yerr=table[f"{name}_std"], capsize=2, color=colour,
                 label=f"{name} (mean ± std over seeds)")
    axes.set_xticks(positions, [str(v)[:20] for v in table["label"]], rotation=45 if len(table) > 12 else 0)
    axes.set_ylim(0, 1.22)  # headroom for the legend above the bars
    axes.set_ylabel("recall on the test split")
    axes.set_xlabel("class")
    axes.set_title(title)
    axes.legend(loc="upper center", ncol=2, fontsize=8)
    figure.tight_layout()
    png = figure_png(figure)
    plt.close(figure)
    return png


def run(params: Params, map_shared: SharedMapper = in_this_process) -> dict:
    final = read_parquet(paths.FINAL_MANIFEST, "final manifest (stage merge)")
    rows_hook = optional_hook(get_modality(params.data.modality), "evaluation_rows")  # e.g. objects, not images
    rows = rows_hook(final, params) if rows_hook else None
    report = evaluate(final if rows is None else rows, params, map_shared)
    if rows is not None and "setup" in report:
        from augmill.tasks.modalities.image.annotated_final import PROXY_TASK

        report["setup"]["features"] = PROXY_TASK
    write_json(paths.EVALUATE_REPORT, report)
    table = recall_table(report)
    write_csv(table, paths.PER_CLASS_RECALL)
    title = "Test recall per class" if len(table) else "Test recall per class: evaluate skipped, nothing measured"
    write_bytes_atomic(paths.PER_CLASS_RECALL_PNG, recall_chart(table, title))
    if report["worse"]:
        log.warning("evaluate: WARNING: %s", report["statement"])
    else:
        print(f"evaluate: {report['statement']}")
    from augmill.tasks.report import build_report

    build_report(params)
    if report["regression"] and params.evaluate.fail_on_regression:
        raise AugmentationRegressed(
            f"evaluate: {report['statement']} evaluate.fail_on_regression is true, so this dataset version is refused. "
            f"Look at {paths.REPORT_PAGE} (gallery, per-class recall), soften augment.policy or reject the operators "
            "that hurt (augmill review reject op:NAME), or set evaluate.fail_on_regression: false.")
    if params.augment.policy == "auto" and report["worse"] and not params.evaluate.allow_worse:
        raise AugmentationRegressed(
            f"evaluate: augment.policy: auto chose a policy on the validation split ({paths.POLICY_CHOICE}) that made "
            f"the model worse on the test split: {report['statement']} This dataset version is refused; set "
            "evaluate.allow_worse: true to keep it, or write augment.policy yourself.")
    return report
