"""A library's exception inside a stage: where it belongs to one sample or one class it is
quarantined with the stage, the unit and the library's message, and the run goes on; where
it belongs to the whole run, the command stops with one line naming the stage."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from augmill.tasks import paths
from augmill.tasks.augment import Shard, augment_guarded
from tests.project import new_project, run
from tests.test_tabular_modality import REPO, make_params, table

BIN = Path(sys.executable).parent


def test_a_class_whose_generator_raises_is_quarantined_and_the_other_class_still_grows(tmp_path, monkeypatch):
    """A raw manifest holding inf (as an older explore let through) makes scikit-learn raise in
    SMOTE-NC for class 'yes' only: its planned rows become one augment_failed row naming the
    class and the error; class 'no' gets its rows; validate and merge carry the failure row."""
    from augmill.tasks import augment, bias, explore, merge, validate

    shutil.copytree(REPO / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    table(n=60, rare=16).to_csv(tmp_path / "raw/t.csv", index=False)
    params = make_params(tmp_path / "raw", split_column="split", id_column="id", factor=3.0,
                         policy=[{"name": "smotenc", "k_neighbors": 3}])
    # Small classes: many SMOTE rows sit close to a real row; the limit is not what is tested here.
    params = params.model_copy(update={"validate_": params.validate_.model_copy(update={"max_rejection_rate": 1.0})})
    explore.run(params)
    bias.run(params)
    clean = raw = pd.read_parquet(paths.RAW_MANIFEST)
    # The class's last row: SMOTE-NC for class 'no' borrows the first 'yes' row as its stand-in other class.
    poisoned = raw.index[(raw["label"] == "yes") & (raw["split"] == "train") & (raw["status"] == "ok")][-1]
    raw = raw.copy()
    raw.loc[poisoned, "income"] = np.inf
    raw.to_parquet(paths.RAW_MANIFEST, index=False)

    augment.run(params, map)
    made = pd.read_parquet(paths.AUGMENTED_MANIFEST)
    failed = made[made["augment_error"].fillna("") != ""]
    assert len(failed) == 1 and failed["label"].iloc[0] == "yes"
    error = failed["augment_error"].iloc[0]
    assert error.startswith("augment: class 'yes' (") and "ValueError" in error and "infinity" in error
    assert (made.loc[made["augment_error"].fillna("") == "", "label"] == "no").sum() > 0

    # The real rows clean again (validate's privacy distances would stop the run on inf: the
    # whole run's problem); the failure row must travel through validate and merge.
    clean.to_parquet(paths.RAW_MANIFEST, index=False)
    validate.run(params)
    validated = pd.read_parquet(paths.VALIDATED_MANIFEST).set_index("sample_id")
    row = validated.loc[failed["sample_id"].iloc[0]]
    assert row["status"] == "quarantined" and row["reason_code"] == "augment_failed" and row["reason"] == error
    report = merge.run(params)
    quarantine = pd.read_csv(paths.QUARANTINE, keep_default_na=False)
    assert (quarantine["reason_code"] == "augment_failed").sum() == 1 and report["accounting"]["balanced"]


def test_a_shard_of_sources_is_retried_source_by_source_to_find_the_failing_one():
    def augment_shard(shard, params):
        if any(s["source_id"] == "b" for s in shard.sources):
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        return [{"sample_id": f"{s['source_id']}-aug000", "source_id": s["source_id"]} for s in shard.sources]

    sources = tuple({"source_id": sid, "label": "cat", "variants": 2, "path": f"cat/{sid}.png"} for sid in "abc")
    rows = augment_guarded(SimpleNamespace(augment_shard=augment_shard), Shard(0, sources), None, per_source=True)
    assert [r["sample_id"] for r in rows] == ["a-aug000", "b-augment-failed", "c-aug000"]
    assert rows[1]["augment_error"] == ("augment: source cat/b.png: 2 new sample(s) planned, none made: "
                                        "LinAlgError: Matrix is not positive definite")


def test_a_machine_failure_is_not_quarantined_but_stops_the_run():
    def augment_shard(shard, params):
        raise OSError(28, "No space left on device")

    sources = ({"source_id": "a", "label": "cat", "variants": 1},)
    try:
        augment_guarded(SimpleNamespace(augment_shard=augment_shard), Shard(0, sources), None, per_source=True)
    except OSError as error:
        assert error.errno == 28
    else:
        raise AssertionError("an OSError must stop the run")


def test_a_failure_of_the_whole_run_is_one_line_naming_the_stage(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data/interim").mkdir(parents=True)
    (tmp_path / "data/interim/raw_manifest.parquet").write_bytes(b"garbage")  # pyarrow's own error
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    for stage, expected in (("bias", "augmill: error: stage bias: Could not open Parquet input source "
                                     "'data/interim/raw_manifest.parquet'"),
                            ("validate", "augmill: error: stage validate: data/interim/augmented.parquet is missing")):
        result = subprocess.run([str(BIN / "augmill"), "stage", stage], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and result.stderr.startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_under_augmill_run_the_last_line_names_the_stage(tmp_path):
    """Through the Prefect flow too (the exception crosses the task and flow runs): exit 1 and
    one line naming the stage. (Prefect's own log of the failed runs is printed above it.)"""
    root = new_project(tmp_path / "project", {
        "data": {"modality": "tabular", "raw_dir": "data/user"}, "prepare": {"dataset": "none"},
        "tabular": {"files": ["absent.csv"], "label_column": "y"}, "augment": {"policy": [{"name": "smote"}]}})
    (root / "data/user").mkdir(parents=True)
    result = run(["augmill", "run"], root, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ("augmill: error: stage explore: tabular.files: no file absent.csv "
                                                      "in data.raw_dir data/user")
