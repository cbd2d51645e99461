"""augmill tune: the candidates, the search logic, and real searches on small demo projects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from augmill.tasks import stats, tune
from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import load_params, parse_params
from tests.project import REPO, new_project, run

DESTRUCTIVE = "augment.policy=[{name: solarize, p: 1.0, threshold: [0, 0]}]"  # every pixel inverted


# ---- pure logic ------------------------------------------------------------------

def test_scaled_entry_moves_each_range_from_no_change():
    entry = {"name": "x", "p": 0.5, "angle": [-12, 12], "factor": [0.8, 1.2], "sigma": [2.0, 8.0], "fill": 0}
    assert tune.scaled_entry(entry, 0.5) == {"name": "x", "p": 0.5, "angle": [-6.0, 6.0], "factor": [0.9, 1.1],
                                             "sigma": [1.0, 4.0], "fill": 0}
    assert tune.scaled_entry(entry, 1.5)["factor"] == [0.7, 1.3]


def test_candidates_hold_none_current_presets_splits_ablations_and_a_grid():
    policy = load_params(REPO / "params.yaml").augment.policy
    found = {c.name: c for c in tune.candidates(policy, "image")}
    assert found["none"].policy is None and found["current"].policy == policy
    assert sum(c.kind == "preset" for c in found.values()) == len(tune.PRESETS)
    ablations = [c for c in found.values() if c.kind == "ablation"]
    assert len(ablations) == len(policy)
    for candidate in ablations:
        assert len(candidate.policy) == len(policy) - 1 and all(entry in policy for entry in candidate.policy)
    assert {c.name for c in found.values() if c.kind == "magnitude"} == {f"magnitude x{s}" for s in tune.MAGNITUDE_SCALES}
    assert {c.name for c in found.values() if c.kind == "split"} == {"geometric only", "photometric only"}


def test_a_scaled_policy_the_catalogue_refuses_is_left_out():
    policy = [{"name": "random_resized_crop", "p": 1.0, "scale": [0.2, 1.0]}]  # x1.5, x2: scale below 0
    names = {c.name for c in tune.candidates(policy, "image")}
    assert "magnitude x0.5" in names and "magnitude x1.5" not in names and "magnitude x2.0" not in names


def _interval(low: float, high: float) -> stats.PairedDifference:
    return stats.PairedDifference("macro_f1", (low + high) / 2, low, high, 0.95, stats.verdict_of(low, high),
                                  0.0, 0.0, 10, 2, 100)


def test_clear_losers_lie_wholly_below_the_best_lower_end():
    intervals = {"best": _interval(0.02, 0.10), "close": _interval(-0.01, 0.05), "loser": _interval(-0.30, 0.01)}
    assert tune.clear_losers(intervals) == {"loser"}
    assert tune.clear_losers({"alone": _interval(-0.5, -0.1)}) == set()


def test_recommend_takes_the_largest_better_difference_or_none():
    rows = [{"name": "none"}, {"name": "a", "interval": {"verdict": "better", "difference": 0.02}},
            {"name": "b", "interval": {"verdict": "better", "difference": 0.05}},
            {"name": "c", "interval": {"verdict": "no measurable difference", "difference": 0.09}}]
    assert tune.recommend(rows)["name"] == "b"
    assert tune.recommend(rows[:1] + rows[3:]) is None


def test_tune_params_are_checked():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["tune"] = {"repeats": 2, "screen_repeats": 3}
    with pytest.raises(ParamsError, match="tune: .*screen_repeats"):
        parse_params(raw)


def test_accept_keeps_the_comments_of_params_yaml(tmp_path):
    from augmill.flows.tune import accept

    params_file = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params_file)
    accept({"preset": "randaugment", "n": 1, "m": 5}, params_file)
    text = params_file.read_text()
    assert "# Every knob of the pipeline." in text and "# decides the verdict" in text
    params = load_params(params_file)
    assert params.augment.policy == {"preset": "randaugment", "n": 1, "m": 5}
    before = yaml.safe_load((REPO / "params.yaml").read_text())
    after = yaml.safe_load(text)
    assert {k: v for k, v in after.items() if k != "augment"} == {k: v for k, v in before.items() if k != "augment"}


# ---- real searches ---------------------------------------------------------------

def _project(root: Path, prepare: dict) -> Path:
    new_project(root, {"prepare": prepare, "tune": {"repeats": 5, "screen_repeats": 2}})
    for stage in ("prepare", "explore", "bias"):
        run(["augmill", "stage", stage], root)
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """144 train, 60 val, 100 test digits after explore and bias."""
    return _project(tmp_path_factory.mktemp("tune") / "demo", {"max_per_class": 40})


@pytest.fixture(scope="module")
def wide_val(tmp_path_factory) -> Path:
    """Few train digits, a large val split: there augmentation helps beyond the spread."""
    return _project(tmp_path_factory.mktemp("tune") / "wide", {"max_per_class": 40, "val_fraction": 0.45,
                                                                 "test_fraction": 0.1})


def _copy(project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(project, tmp_path / "project", symlinks=True))


def _report(root: Path) -> dict:
    return json.loads((root / "reports" / "tune.json").read_text())


@pytest.mark.e2e
def test_tune_never_reads_the_test_split(demo, tmp_path):
    root = _copy(demo, tmp_path)
    manifest = pd.read_parquet(root / "data" / "interim" / "raw_manifest.parquet")
    test_files = [root / "data" / "raw" / p for p in manifest.loc[manifest["split"] == "test", "path"]]
    assert test_files and all(path.exists() for path in test_files)
    for path in test_files:  # a search that opened any of them would fail
        path.unlink()
    run(["augmill", "tune", "--set", "tune.max_candidates=3"], root)
    report = _report(root)
    assert report["split"] == "val" and report["validation_rows"] == int((manifest["split"] == "val").sum())
    assert all(row["status"] == "scored" or row["status"].startswith("stopped") for row in report["candidates"])
    assert "Policy search" in (root / "reports" / "index.html").read_text()


@pytest.mark.e2e
def test_a_destructive_policy_loses_early_and_none_is_recommended(demo, tmp_path):
    root = _copy(demo, tmp_path)
    before = (root / "params.yaml").read_bytes()
    result = run(["augmill", "tune", "--accept", "--set", DESTRUCTIVE, "--set", "tune.max_candidates=3"], root)
    report = _report(root)
    rows = {row["name"]: row for row in report["candidates"]}
    assert rows["current"]["interval"]["verdict"] == "worse"
    # Stopped after the screening repeats: it lies wholly below the best candidate's interval.
    assert rows["current"]["status"].startswith("stopped") and rows["current"]["score"]["repeats"] == 2
    assert rows["none"]["score"]["repeats"] == 5
    assert all(row.get("interval", {}).get("verdict") != "better" for row in report["candidates"])
    assert report["recommended"] is None and report["statement"].startswith("none recommended")
    assert "nothing to accept" in result.stdout
    assert (root / "params.yaml").read_bytes() == before


@pytest.mark.e2e
def test_accept_writes_the_winner_into_a_params_yaml_check_accepts(wide_val, tmp_path):
    root = _copy(wide_val, tmp_path)
    before = yaml.safe_load((root / "params.yaml").read_text())
    run(["augmill", "tune", "--set", "tune.max_candidates=4"], root)
    assert yaml.safe_load((root / "params.yaml").read_text()) == before  # without --accept: unchanged
    result = run(["augmill", "tune", "--accept", "--set", "tune.max_candidates=4"], root)
    report = _report(root)
    assert report["recommended"] is not None, report["statement"]
    winner = next(row for row in report["candidates"] if row["name"] == report["recommended"]["name"])
    assert winner["interval"]["verdict"] == "better" and winner["interval"]["low"] > 0
    after = yaml.safe_load((root / "params.yaml").read_text())
    assert after["augment"]["policy"] == report["recommended"]["policy"] != before["augment"]["policy"]
    assert {k: v for k, v in after.items() if k != "augment"} == {k: v for k, v in before.items() if k != "augment"}
    assert "--accept: augment.policy" in result.stdout
    run(["augmill", "check"], root)


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.mark.e2e
def test_same_seed_same_report(demo, tmp_path):
    root = _copy(demo, tmp_path)
    reports = []
    for _ in range(2):
        run(["augmill", "tune", "--set", "tune.max_candidates=4"], root)
        reports.append(_without_times(_report(root)))
    assert reports[0] == reports[1]
    assert len(reports[0]["candidates"]) == 4 and reports[0]["candidates"][0]["score"]["repeats"] == 5


@pytest.mark.e2e
def test_no_candidate_starts_after_the_time_budget(demo, tmp_path, monkeypatch):
    from itertools import count

    from augmill.tasks.tune_search import search

    root = _copy(demo, tmp_path)
    monkeypatch.chdir(root)
    params = load_params(root / "params.yaml", ["tune.time_budget_seconds=3", "tune.max_candidates=4"])
    ticks = count()  # a clock that moves one second per reading: the first candidate reads it 3 times
    report = search(params, clock=lambda: float(next(ticks)))
    first, *rest = report["candidates"]
    assert first["name"] == "none" and first["score"]["repeats"] == 2  # its screening repeats only
    assert first["status"].endswith("time budget")
    assert len(rest) == 3 and all(row["status"] == "not run: time budget spent" and "score" not in row for row in rest)
    assert report["recommended"] is None
    assert "3 candidate(s) not run: tune.time_budget_seconds=3 was spent" in report["statement"]


@pytest.mark.e2e
def test_tune_with_the_cnn_is_repeatable(demo, tmp_path):
    pytest.importorskip("torch")
    root = _copy(demo, tmp_path)
    reports = []
    for _ in range(2):
        run(["augmill", "tune", "--set", "evaluate.model=cnn", "--set", "evaluate.cnn_epochs=5",
             "--set", "tune.max_candidates=2", "--set", "tune.repeats=2"], root)
        reports.append(_without_times(_report(root)))
    assert reports[0] == reports[1]
    assert reports[0]["model"].startswith("a small CNN")
    assert reports[0]["candidates"][1]["interval"]["repeats"] == 2


def test_optuna_magnitude_trials_are_seeded_and_skip_refused_scales():
    """tune.search: optuna: the scales asked of the seeded TPE sampler are the same for the same seed,
    each is scored before the next is asked, and a scale the catalogue refuses is not run."""
    pytest.importorskip("optuna")
    from augmill.tasks.tune_search import optuna_magnitudes

    params = load_params(REPO / "params.yaml", ["tune.search=optuna"])
    policy = [{"name": "random_resized_crop", "p": 1.0, "scale": [0.2, 1.0]}]  # from x1.25: a scale of 0 or below

    def trials(seed: int) -> list[str]:
        scored = []
        found = optuna_magnitudes(policy, params.model_copy(update={"seed": seed}), 8, set(), lambda: False,
                                  lambda c: scored.append(c.name) or float(c.policy[0]["scale"][0]))
        names = [c.name for c in found]
        assert names == scored  # each scored when it was asked
        return names

    first = trials(1)
    assert first == trials(1) and first != trials(2)
    assert 0 < len(first) < 8 and all(0.25 <= float(name.split("x")[1]) < 1.25 for name in first)  # some refused


@pytest.mark.e2e
def test_an_optuna_search_scores_its_magnitude_trials_with_the_rest(demo, tmp_path):
    pytest.importorskip("optuna")
    root = _copy(demo, tmp_path)
    run(["augmill", "tune", "--set", "tune.search=optuna", "--set", "tune.max_candidates=8",
         "--set", "augment.policy=[{name: rotate, p: 0.9, angle: [-12, 12]}]"], root)
    report = _report(root)
    assert report["magnitudes"].startswith("optuna")
    trials = [row for row in report["candidates"] if row["kind"] == "magnitude"]
    assert len(report["candidates"]) == 8 and len(trials) == 2
    assert all(row["score"]["repeats"] >= 2 and "interval" in row for row in trials)
    assert all(row["policy"][0]["angle"][1] == -row["policy"][0]["angle"][0] != 12 for row in trials)
