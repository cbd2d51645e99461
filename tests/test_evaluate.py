"""The evaluate stage on a tiny real project (the digits demo, real augment, GX
validation and merge), run in-process: the numbers are computed, so the tests check
their structure and consistency, and that a forced regression is caught."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import f1_score

from augmill.flows.stages import run_stage
from augmill.tasks import evaluate, paths
from augmill.tasks.evaluate import AugmentationRegressed, repeat_rows
from augmill.tasks.params_load import load_params
from augmill.tasks.stats import PairedDifference, verdict_of
from tests.project import REPO, SMALL_DEMO, merge_dicts

PIPELINE = ("prepare", "explore", "bias", "augment", "validate", "merge", "evaluate")
# Upside-down digits (a 6 labelled as what looks like a 9) drowned in noise, with every
# validation bound open so they reach the merged train split: augmentation that must hurt.
DESTROY = {
    "augment": {"policy": [{"name": "rotate", "p": 1.0, "angle": [170, 190]},
                           {"name": "gaussian_noise", "p": 1.0, "sigma": [90, 110]}]},
    "validate": {"min_content_kept": 0.0, "max_fill_fraction": 1.0, "min_photometric_similarity": -1.0,
                 "min_difference": 0.0, "min_std": 0.0, "max_saturated_fraction": 1.0,
                 "max_rejection_rate": 1.0},
}


@contextlib.contextmanager
def project_here(root: Path, updates: dict | None = None):
    """A project folder (params.yaml, expectations/) as the working directory."""
    root.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(merge_dicts(merge_dicts(params, SMALL_DEMO), updates or {})))
    if not (root / "expectations").exists():
        shutil.copytree(REPO / "expectations", root / "expectations")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        yield load_params()


def run_pipeline(root: Path, updates: dict | None = None, stages=PIPELINE):
    with project_here(root, updates) as params:
        for name in stages:
            run_stage(name, params)
    return params


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    run_pipeline(root)
    return root


def test_report_structure_and_consistency(demo):
    report = json.loads((demo / paths.EVALUATE_REPORT).read_text())
    final = pd.read_parquet(demo / paths.FINAL_MANIFEST)
    seeds = report["setup"]["seeds"]
    test_rows = int((final["split"] == "test").sum())
    train = final[final["split"] == "train"]
    assert seeds == 5 and report["setup"]["test_rows"] == test_rows
    assert report["setup"]["train_rows"] == {"baseline": int((train["origin"] == "original").sum()), "augmented": len(train)}
    assert report["setup"]["train_rows"]["augmented"] > report["setup"]["train_rows"]["baseline"]
    for model in ("baseline", "augmented"):
        for metric in ("accuracy", "macro_f1", "balanced_accuracy"):
            summary = report[model][metric]
            values = np.array(summary["per_seed"])
            assert len(values) == seeds and ((0 <= values) & (values <= 1)).all()
            assert summary["mean"] == pytest.approx(values.mean(), abs=1e-4)
            assert summary["std"] == pytest.approx(values.std(ddof=1), abs=1e-4)
        # Accuracy is a share of the test rows: each per-seed value is a count / test_rows.
        counts = np.array(report[model]["accuracy"]["per_seed"]) * test_rows
        assert np.abs(counts - counts.round()).max() < 0.01
    # Different subsamples per seed: there is a spread to compare the difference with.
    assert report["baseline"]["accuracy"]["std"] > 0 or report["augmented"]["accuracy"]["std"] > 0
    for metric, difference in report["difference"].items():
        paired = np.array(report["augmented"][metric]["per_seed"]) - np.array(report["baseline"][metric]["per_seed"])
        assert difference["mean"] == pytest.approx(paired.mean(), abs=2e-4)
        assert difference["repeats_better"] == int((paired > 5e-5).sum())
        assert difference["low"] <= difference["mean"] <= difference["high"]
        assert difference["verdict"] == ("better" if difference["low"] > 0 else "worse" if difference["high"] < 0
                                         else "no measurable difference")
    primary = report["difference"][report["primary_metric"]]
    assert report["verdict"] == primary["verdict"] and report["worse"] == (primary["verdict"] == "worse")
    assert f"{primary['mean']:+.4f}" in report["statement"]
    assert f"[{primary['low']:+.4f}, {primary['high']:+.4f}]" in report["statement"]
    assert report["confidence"]["level"] == 0.95 and "paired bootstrap" in report["confidence"]["method"]
    # The test size per class is the final manifest's; the small demo is too small to tell a difference.
    test_labels = final.loc[final["split"] == "test", "label"].astype(str)
    assert {row["label"]: row["rows"] for row in report["test_size"]["per_class"]} == test_labels.value_counts().to_dict()
    assert report["test_size"]["rows"] == test_rows and report["test_size"]["fewest_per_class"] < 30
    if report["verdict"] == "no measurable difference":
        assert report["too_small_to_tell"] and "the test split is too small to tell" in report["statement"]
    # Chance level: the most frequent original train class, always predicted, scored by scikit-learn.
    originals = train.loc[train["origin"] == "original", "label"].astype(str)
    labels = [row["label"] for row in report["per_class_recall"]]
    majority = max(labels, key=lambda label: ((originals == label).sum(), -labels.index(label)))
    assert report["chance"]["majority_label"] == majority
    assert report["chance"]["macro_f1"]["majority_class"] == pytest.approx(
        f1_score(test_labels, [majority] * test_rows, labels=labels, average="macro", zero_division=0), abs=1e-4)
    assert report["chance"]["accuracy"]["uniform_guessing"] == pytest.approx(1 / len(labels), abs=1e-4)


def test_per_class_recall_plot_and_report_page(demo):
    report = json.loads((demo / paths.EVALUATE_REPORT).read_text())
    final = pd.read_parquet(demo / paths.FINAL_MANIFEST)
    labels = [row["label"] for row in report["per_class_recall"]]
    assert sorted(labels, key=int) == sorted(final["label"].unique(), key=int)
    table = pd.read_csv(demo / paths.PER_CLASS_RECALL, dtype={"label": str})
    assert table["label"].tolist() == labels
    assert table["augmented"].tolist() == [row["augmented"]["mean"] for row in report["per_class_recall"]]
    assert (demo / paths.PER_CLASS_RECALL_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (demo / paths.REPORT_PAGE).read_text()
    assert report["statement"].split(":")[0] in page and "Does augmentation help?" in page
    primary = report["difference"][report["primary_metric"]]
    assert f"[{primary['low']:+.4f}, {primary['high']:+.4f}]" in page and "paired bootstrap" in page
    assert f"{report['chance']['macro_f1']['uniform_guessing']:.4f}" in page


def test_evaluate_is_deterministic(demo):
    before = (demo / paths.EVALUATE_REPORT).read_bytes(), (demo / paths.REPORT_PAGE).read_bytes()
    run_pipeline(demo, stages=("evaluate",))
    assert ((demo / paths.EVALUATE_REPORT).read_bytes(), (demo / paths.REPORT_PAGE).read_bytes()) == before


def test_destroyed_variants_are_reported_as_worse_and_can_fail_the_stage(demo, tmp_path, caplog):
    root = tmp_path / "destroyed"
    (root / "data" / "interim").mkdir(parents=True)
    shutil.copytree(demo / "data" / "raw", root / "data" / "raw")
    for name in ("raw_manifest.parquet", "plan.json"):
        shutil.copy(demo / "data" / "interim" / name, root / "data" / "interim" / name)
    run_pipeline(root, DESTROY, stages=("augment", "validate", "merge"))

    with caplog.at_level(logging.WARNING, logger="augmill.evaluate"):
        run_pipeline(root, DESTROY, stages=("evaluate",))
    report = json.loads((root / paths.EVALUATE_REPORT).read_text())
    assert report["worse"] and report["verdict"] == "worse" and report["regression"]
    assert report["difference"]["macro_f1"]["high"] < 0, report["difference"]
    assert "Augmentation made the model worse" in caplog.text and "better" not in report["statement"]
    assert "Augmentation made the model worse" in (root / paths.REPORT_PAGE).read_text()

    failing = merge_dicts(DESTROY, {"evaluate": {"fail_on_regression": True}})
    with pytest.raises(AugmentationRegressed, match="evaluate.fail_on_regression is true"):
        run_pipeline(root, failing, stages=("evaluate",))
    # Still written, so the user can see why.
    assert json.loads((root / paths.EVALUATE_REPORT).read_text())["worse"]
    # A tolerance the interval does not lie wholly below lets it through, still called worse.
    tolerance = -report["difference"]["macro_f1"]["high"] + 0.01
    run_pipeline(root, merge_dicts(failing, {"evaluate": {"tolerance": tolerance}}), stages=("evaluate",))
    tolerated = json.loads((root / paths.EVALUATE_REPORT).read_text())
    assert tolerated["verdict"] == "worse" and not tolerated["regression"]


def _interval(low: float, high: float, test_halfwidth: float = 0.01) -> PairedDifference:
    return PairedDifference(metric="macro_f1", difference=(low + high) / 2, low=low, high=high, level=0.95,
                            verdict=verdict_of(low, high), test_halfwidth=test_halfwidth, training_halfwidth=0.001,
                            test_rows=400, repeats=5, resamples=2000)


@pytest.mark.parametrize(("low", "high", "fewest", "words", "regression"), [
    (0.01, 0.05, 40, "Augmentation made the model better", False),
    (-0.05, -0.01, 40, "Augmentation made the model worse", True),
    (-0.01, 0.05, 40, "No measurable difference between the models", False),
    (-0.012, 0.008, 40, "No measurable difference between the models", False),
])
def test_three_verdicts_in_three_wordings(low, high, fewest, words, regression):
    side = {"mean": 0.5, "std": 0.01}
    chance = {"majority_class": 0.1, "uniform_guessing": 0.2}
    size = {"rows": 400, "fewest_per_class": fewest}
    result = evaluate.verdict(_interval(low, high), "macro_f1", 0.0, side, side, size, chance)
    assert result["statement"].startswith(words + ":")
    others = set(evaluate.WORDING.values()) - {words}
    assert not any(other in result["statement"] for other in others)
    assert result["regression"] is regression and result["worse"] is regression
    assert f"[{low:+.4f}, {high:+.4f}]" in result["statement"] and "0.2000 (uniform guessing)" in result["statement"]
    # A wide interval from the test sample alone (or a small class) is named, with the split's size.
    small = evaluate.verdict(_interval(low, high, test_halfwidth=0.5), "macro_f1", 0.0, side, side, size, chance)
    named = ("the test split is too small to tell (400 test samples, 40 in the smallest class "
             "and the test sample alone leaves ±0.5000")
    assert (named in small["statement"]) == words.startswith("No measurable")
    # The tolerance moves only the regression: an interval wholly below -tolerance.
    assert not evaluate.verdict(_interval(low, high), "macro_f1", 0.05, side, side, size, chance)["regression"]


def test_both_models_at_chance_are_named():
    chance = {"majority_class": 0.1, "uniform_guessing": 0.2}
    size = {"rows": 10, "fewest_per_class": 1}
    result = evaluate.verdict(_interval(-0.2, 0.1), "macro_f1", 0.0, {"mean": 0.08, "std": 0.02},
                              {"mean": 0.02, "std": 0.0}, size, chance)
    assert result["verdict"] == "no measurable difference" and result["both_at_chance"]
    assert "both models score at or below chance" in result["statement"]
    assert "too small to tell (10 test samples, 1 in the smallest class under 30;" in result["statement"]


def _frame(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sample_id", "source_id", "split", "label", "origin"])


def test_each_repeat_pairs_variants_with_their_sources():
    rows = [(f"s{i}", f"s{i}", "train", str(i % 2), "original") for i in range(20)]
    rows += [(f"s{i}-aug000", f"s{i}", "train", str(i % 2), "augmented") for i in range(20)]
    rows += [(f"syn{i}", f"syn{i}", "train", "1", "synthetic") for i in range(10)]
    train = _frame(rows)
    for repeat in range(3):
        baseline, augmented = repeat_rows(train, 0.5, seed=7, repeat=repeat)
        kept = set(train.loc[baseline, "sample_id"])
        assert len(kept) == 10 and (train.loc[baseline, "origin"] == "original").all()
        assert (baseline <= augmented).all()
        chosen = train[augmented & (train["origin"] == "augmented")]
        assert set(chosen["source_id"]) == kept  # every kept source brings its variant, no other does
        assert (train[augmented]["origin"] == "synthetic").sum() == 5
    first, second = repeat_rows(train, 0.5, 7, 0)[0], repeat_rows(train, 0.5, 7, 1)[0]
    assert (first != second).any() and (first == repeat_rows(train, 0.5, 7, 0)[0]).all()


def test_tfidf_baseline_and_missing_hook(monkeypatch):
    words = {"0": "good great fine lovely", "1": "bad awful poor dreadful"}
    rows = []
    for i in range(40):
        label = str(i % 2)
        rows.append((f"t{i}", f"t{i}", "test" if i >= 30 else "train", label, "original"))
    final = _frame(rows).assign(text=lambda f: [words[label] + f" film {i}" for i, label in enumerate(f["label"])])
    text_modality = SimpleNamespace(BASELINE="tfidf", baseline_features=lambda frame, params: frame["text"].tolist())
    monkeypatch.setattr(evaluate, "get_modality", lambda name: text_modality)
    params = load_params(REPO / "params.yaml")
    report = evaluate.evaluate(final, params)
    assert report["baseline"]["accuracy"]["mean"] == 1.0 and report["setup"]["model"].endswith("TF-IDF features")

    monkeypatch.setattr(evaluate, "get_modality", lambda name: SimpleNamespace())
    with pytest.raises(ValueError, match="modality has no baseline_features hook"):
        evaluate.evaluate(final, params)


def test_nothing_to_measure_is_skipped_not_failed():
    params = load_params(REPO / "params.yaml")
    rows = [(f"s{i}", f"s{i}", "train", str(i % 2), "original") for i in range(8)]
    report = evaluate.evaluate(_frame(rows + [("v0", "v0", "val", "0", "original")]), params)
    assert report["verdict"] == "skipped" and report["statement"].startswith("skipped: no test split")
    assert not report["worse"] and not report["regression"]
    one_class = _frame([(f"s{i}", f"s{i}", "train" if i < 6 else "test", "0", "original") for i in range(9)])
    report = evaluate.evaluate(one_class, params)
    assert report["verdict"] == "skipped" and "1 class(es)" in report["skipped"]


@pytest.mark.e2e
def test_a_train_only_folder_runs_to_a_recorded_version(tmp_path):
    """The issue-18 case: train/<label>/<file>, no val or test. Every stage runs, evaluate says it
    skipped, `augmill run` exits 0 and records the version in dvc.lock."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from tests.project import new_project, run, stages_run

    root = new_project(tmp_path / "train_only", {"prepare": {"dataset": "none"}, "data": {"raw_dir": "data/user"}})
    digits = load_digits()
    for label in (0, 1, 2):
        folder = root / "data" / "user" / "train" / str(label)
        folder.mkdir(parents=True)
        for index in np.flatnonzero(digits.target == label)[:20]:
            Image.fromarray((digits.images[index] * 15).astype("uint8"), "L").resize((24, 24)).save(folder / f"{index}.png")
    result = run(["augmill", "run"], root)
    output = result.stdout + result.stderr
    assert "evaluate: skipped: no test split" in output
    report = json.loads((root / paths.EVALUATE_REPORT).read_text())
    assert report["verdict"] == "skipped" and report["skipped"].startswith("no test split")
    assert "Evaluate skipped: no test split" in (root / paths.REPORT_PAGE).read_text()
    final = pd.read_parquet(root / paths.FINAL_MANIFEST)
    assert set(final["split"]) == {"train"} and (final["origin"] != "original").any()  # the dataset was made
    # Recorded: dvc.lock has every stage, and DVC finds nothing left to do.
    assert "evaluate" in yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert stages_run(run(["dvc", "repro"], root).stdout) == set()


def test_repeats_in_worker_processes_give_the_same_bytes(demo):
    """execution.workers only decides where the repeats run: 1 and 2 workers write the same report."""
    written = {}
    for workers in (2, 1):
        run_pipeline(demo, {"execution": {"workers": workers}}, stages=("evaluate",))
        written[workers] = (demo / paths.EVALUATE_REPORT).read_bytes(), (demo / paths.PER_CLASS_RECALL).read_bytes()
    assert written[1] == written[2]
    assert len(json.loads(written[2][0])["baseline"]["macro_f1"]["per_seed"]) == load_params(
        demo / "params.yaml").evaluate.seeds  # every repeat came back, in order


def test_in_place_standardising_gives_the_same_scores_and_leaves_the_shared_rows_alone():
    """run_repeat standardises its fresh copies in place (#24: one copy of the train rows, not two):
    the same scores and predictions as the copying scaler, and the shared features unchanged."""
    rng = np.random.default_rng(11)
    rows = [(f"s{i:02d}", f"s{i:02d}", "train", str(i % 3), "original") for i in range(60)]
    rows += [(f"s{i:02d}-aug000", f"s{i:02d}", "train", str(i % 3), "augmented") for i in range(60)]
    train = _frame(rows)
    y_train, y_test = train["label"].to_numpy(dtype=str), np.array([str(i % 3) for i in range(30)])
    x_train = rng.normal(size=(120, 8)) * 5 + 3 + y_train.astype(float)[:, None]
    x_test = rng.normal(size=(30, 8)) * 5 + 3 + y_test.astype(float)[:, None]
    shared = evaluate.Repeats(train, x_train, y_train, x_test, y_test, ["0", "1", "2"], "dense",
                              load_params(REPO / "params.yaml"))
    before = (x_train.copy(), x_test.copy())
    arms = evaluate.run_repeat(shared, 0)
    assert np.array_equal(x_train, before[0]) and np.array_equal(x_test, before[1])
    for name, mask in zip(("baseline", "augmented"), repeat_rows(train, shared.params.evaluate.subsample,
                                                                 shared.params.seed, 0), strict=True):
        copying = evaluate.make_model("dense", shared.params)
        assert copying.steps[0][1].copy and not evaluate.make_model("dense", shared.params, in_place=True).steps[0][1].copy
        scores, converged, predicted = evaluate.fit_and_score(copying, x_train[mask], y_train[mask], x_test, y_test,
                                                              shared.labels)
        assert arms[name][0] == scores and arms[name][1] == converged and np.array_equal(arms[name][2], predicted)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every library runs on one thread anyway")
def test_one_math_thread_limits_the_blas_scikit_learn_brings_in_a_fresh_process():
    # A fresh process, as `augmill stage evaluate` under `dvc repro`: scikit-learn not imported yet.
    # With a plain threadpool_limits(1) entered first, SciPy's BLAS loaded inside the block ran on
    # every core (its sums differ by thread count: other bytes than `augmill run` at 20,000 images).
    probe = ("from augmill.tasks.evaluate import one_math_thread\n"
             "from threadpoolctl import threadpool_info\n"
             "with one_math_thread():\n"
             "    print(max(lib['num_threads'] for lib in threadpool_info()))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")})
    assert result.stdout.strip() == "1"
