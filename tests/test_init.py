"""`augmill init`'s inspection and refusals, the held-out split it asks for, the user's
dvc.yaml it writes, the headline metrics, and user errors versus crashes (fast: no pipeline run)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from augmill.flows.cli import main
from augmill.flows.errors import is_user_error, one_line
from augmill.flows.init import render_params, user_dvc_yaml
from augmill.tasks.headline import evaluate_figures, merge_figures, write_headline
from augmill.tasks.ingest import assign_splits
from augmill.tasks.inspect_data import InitError, inspect
from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import parse_params
from tests import init_datasets
from tests.project import BIN, REPO


def test_two_plausible_label_columns_are_not_guessed(tmp_path):
    table = pd.DataFrame({"x": np.arange(20.0), "label": ["a", "b"] * 10, "target": ["c", "d", "e", "f"] * 5})
    table.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InitError, match="--label-column"):
        inspect(tmp_path / "t.csv")
    chosen = inspect(tmp_path / "t.csv", label_column="target")
    assert chosen.section["label_column"] == "target" and any("--label-column" in line for line in chosen.report)
    with pytest.raises(InitError, match="'nope': no such column"):
        inspect(tmp_path / "t.csv", label_column="nope")


def test_a_label_chosen_by_its_values_says_why(tmp_path):
    pd.DataFrame({"x": np.arange(30.0), "kind": ["p", "q", "r"] * 10}).to_csv(tmp_path / "t.csv", index=False)
    found = inspect(tmp_path / "t.csv")
    assert found.section["label_column"] == "kind"
    assert any("only column with few distinct values (3)" in line for line in found.report)


def test_numeric_table_gets_smote_and_categorical_table_smotenc(tmp_path):
    init_datasets.table_with_categoricals(tmp_path / "mixed")
    numeric = tmp_path / "numeric"
    numeric.mkdir()
    pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) ** 0.5, "label": ["x", "y", "y", "y"] * 10}).to_csv(
        numeric / "n.csv", index=False)
    assert inspect(tmp_path / "mixed").policy[0]["name"] == "smotenc"
    assert inspect(numeric).policy[0]["name"] == "smote"


def test_every_layout_is_recognised_and_its_params_pass_the_check(tmp_path):
    makers = {"split": (lambda r: init_datasets.image_folder(r, {"train": 6, "val": 5, "test": 5}), "image", "split/label/file"),
              "flat": (lambda r: init_datasets.image_folder(r, None), "image", "label/file"),
              "manifest": (init_datasets.image_manifest, "image", "csv manifest"),
              "pair": (init_datasets.text_pair, "text", "files per split"),
              "jsonl": (init_datasets.text_jsonl, "text", "table file(s)"),
              "table": (init_datasets.table_with_categoricals, "tabular", "table file(s)"),
              "audio": (init_datasets.audio_folder, "audio", "label/file")}
    for name, (make, modality, layout) in makers.items():
        make(tmp_path / name)
        found = inspect(tmp_path / name)
        assert (found.modality, found.layout) == (modality, layout), name
        parse_params(yaml.safe_load(render_params(found, f"data/{name}", name, 1)), source=name)


def test_unreadable_files_are_listed(tmp_path):
    init_datasets.image_folder(tmp_path, {"train": 6, "test": 5})
    (tmp_path / "train/circle/broken.png").write_bytes(b"not a png")
    (tmp_path / "stray.png").write_bytes(b"")
    found = inspect(tmp_path)
    listed = next(line for line in found.report if line.startswith("could not read"))
    assert "train/circle/broken.png: unreadable" in listed and "stray.png: not inside a label folder" in listed


def test_an_empty_folder_and_no_dataset_are_one_clear_line(tmp_path):
    with pytest.raises(InitError, match="holds no files"):
        inspect(tmp_path)
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(InitError, match="found no images"):
        inspect(tmp_path)


def test_init_refuses_to_replace_params_without_force(tmp_path, monkeypatch, capsys):
    init_datasets.table_with_categoricals(tmp_path / "data")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # an existing project: init writes params.yaml only
    monkeypatch.chdir(tmp_path)
    assert main(["init", "data"]) == 1
    assert "augmill init --force" in capsys.readouterr().err
    assert (tmp_path / "params.yaml").read_text() == "seed: 1\n"
    assert main(["init", "data", "--force"]) == 0
    assert (tmp_path / "params.yaml.bak").read_text() == "seed: 1\n"
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["tabular"]["label_column"] == "target"
    assert (tmp_path / "dvc.yaml").read_text() == "stages: {}\n" and not (tmp_path / ".dvc").exists()


def test_resplit_train_draws_a_stratified_seeded_test_split_from_train():
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(40)], "sha256": [f"h{i}" for i in range(40)],
                          "label": ["a"] * 30 + ["b"] * 10, "split": ["train"] * 36 + ["val"] * 4, "status": "ok"})
    fractions = {"train": 0.8, "val": 0.0, "test": 0.2}
    assert (assign_splits(frame, fractions, 7)["split"] == frame["split"]).all()  # given splits are kept by default
    drawn = assign_splits(frame, {**fractions, "resplit_train": True}, 7)
    test = drawn[drawn["split"] == "test"]
    assert test["label"].value_counts().to_dict() == {"a": 6, "b": 1}  # 20 % of each class's train rows (30, 6)
    assert (drawn.loc[frame["split"] == "val", "split"] == "val").all()  # rows given as val stay val
    assert drawn.equals(assign_splits(frame, {**fractions, "resplit_train": True}, 7))
    assert not drawn.equals(assign_splits(frame, {**fractions, "resplit_train": True}, 8))


def test_user_dvc_yaml_has_no_demo_stage_and_no_code_deps():
    ours = yaml.safe_load((REPO / "dvc.yaml").read_text())
    theirs = yaml.safe_load(user_dvc_yaml((REPO / "dvc.yaml").read_text()))
    assert set(theirs["stages"]) == set(ours["stages"]) - {"prepare"}
    for name, stage in theirs["stages"].items():
        assert not any(str(dep).startswith(("tasks/", "flows/")) for dep in stage.get("deps", [])), name
        assert stage["outs"] == ours["stages"][name]["outs"] and stage.get("params") == ours["stages"][name].get("params")
        assert [d for d in ours["stages"][name]["deps"] if not d.startswith(("tasks/", "flows/"))] == stage["deps"]
    assert theirs["plots"] == ours["plots"]


def test_headline_has_the_figures_a_user_compares_delta_first(tmp_path):
    evaluate = {"primary_metric": "macro_f1", "baseline": {"macro_f1": {"mean": 0.5, "std": 0.02}},
                "augmented": {"macro_f1": {"mean": 0.6, "std": 0.03}},
                "difference": {"macro_f1": {"mean": 0.1, "std": 0.01, "low": 0.04, "high": 0.16}}}
    merge = {"train_before": {"samples": 10, "imbalance_ratio": 4.0}, "train_after": {"samples": 20, "imbalance_ratio": 1.0},
             "augmented": {"accepted": 10, "rejected": 2, "rejected_in_review": 1},
             "accounting": {"quarantined_raw": 3, "held_out_leaks": 1, "quarantined_label_issues": 2}}
    assert list(evaluate_figures(evaluate)) == ["delta", "delta_low", "delta_high", "baseline", "augmented", "spread"]
    assert evaluate_figures(evaluate)["spread"] == 0.01 and evaluate_figures(evaluate)["delta_low"] == 0.04
    assert evaluate_figures({"skipped": "no test split"}) == {}  # nothing measured: nothing claimed
    assert merge_figures(merge) == {"train_before": 10, "train_after": 20, "imbalance_before": 4.0,
                                    "imbalance_after": 1.0, "accepted": 10, "quarantined": 9}
    (tmp_path / "e.json").write_text(json.dumps(evaluate))
    (tmp_path / "m.json").write_text(json.dumps(merge))
    written = write_headline(tmp_path / "e.json", tmp_path / "m.json", tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text()) == written and next(iter(written)) == "delta"


def test_user_errors_are_told_apart_from_crashes():
    with pytest.raises(KeyError) as bug:
        merge_figures({})  # a KeyError out of augmill's own code is a bug: a crash, its traceback shown
    assert not is_user_error(bug.value)
    with pytest.raises(InitError) as told:
        inspect(REPO / "no-such-folder")
    assert is_user_error(told.value)
    with pytest.raises(ValueError) as library:
        np.zeros(2).reshape(3)
    assert not is_user_error(library.value)
    assert not is_user_error(KeyError("x"))
    assert one_line(ParamsError("params.yaml is invalid:\n  a: bad\n  b: worse")) == "params.yaml is invalid: a: bad; b: worse"


def test_bad_param_is_one_line_exit_1(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["augment"]["factor"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run([str(BIN / "augmill"), "check"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "augmill: error: params.yaml is invalid: augment.factor: Input should be greater than or equal to 1 (got 0)"]


def test_dvc_metrics_are_the_headline_only_and_the_full_reports_stay_outputs():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    names = [next(iter(item)) if isinstance(item, dict) else item
             for stage in stages.values() for item in stage.get("metrics", [])]
    assert names == ["reports/metrics.json"]
    outs = {next(iter(item)): item[next(iter(item))] for stage in stages.values() for item in stage.get("outs", [])
            if isinstance(item, dict)}
    for report in ("explore", "bias", "synthesize", "validation", "merge", "evaluate"):
        assert outs[f"reports/{report}.json"] == {"cache": False}  # git-tracked, read by the HTML report
