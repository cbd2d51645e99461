"""`augmill init` then `augmill run`, with no edits, through the real CLI (real git, DVC,
Prefect and GX), on a tiny dataset in every layout of every modality init reads: each run
ends with exit 0, a test split the model was scored on, and a recorded version (dvc.lock)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests import init_datasets
from tests.project import run

pytestmark = pytest.mark.e2e


def init_and_run(project: Path, *init_args: str) -> dict:
    made = run(["augmill", "init", *init_args], project)
    assert "next: augmill run" in made.stdout, made.stdout
    ran = run(["augmill", "run"], project, timeout=900)
    assert "pipeline finished" in ran.stdout
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"params", "explore", "bias", "synthesize", "augment", "validate", "merge", "evaluate"}
    merge = json.loads((project / "reports/merge.json").read_text())
    assert merge["final_by_split"].get("test", 0) > 0 and merge["accounting"]["balanced"]
    headline = json.loads((project / "reports/metrics.json").read_text())
    assert {"delta", "baseline", "augmented", "train_before", "train_after"} <= set(headline)
    assert headline["train_after"] > headline["train_before"]
    # The version is committable as it stands: nothing outside DVC's and git's reach was left untracked.
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "first version"], project)
    assert run(["dvc", "status", "-q"], project, check=False).returncode == 0
    return yaml.safe_load((project / "params.yaml").read_text())


def test_image_folder_with_splits(tmp_path):
    init_datasets.image_folder(tmp_path, {"train": 8, "val": 5, "test": 5})
    params = init_and_run(tmp_path)
    assert params["data"]["raw_dir"] == "data/input" and not params["data"].get("split", {}).get("resplit_train")
    assert not any(op["name"].endswith("flip") for op in params["augment"]["policy"])


def test_train_only_image_folder_gets_a_held_out_split(tmp_path):
    init_datasets.image_folder(tmp_path, {"train": 12})
    params = init_and_run(tmp_path)
    assert params["data"]["split"]["resplit_train"] is True


def test_csv_manifest_in_a_subfolder(tmp_path):
    init_datasets.image_manifest(tmp_path / "shapes")
    params = init_and_run(tmp_path, "shapes")
    assert params["data"]["raw_dir"] == "shapes" and params["data"]["manifest_csv"] == "shapes/labels.csv"


def test_text_train_test_pair(tmp_path):
    init_datasets.text_pair(tmp_path)
    params = init_and_run(tmp_path)
    assert params["data"]["modality"] == "text"
    assert params["text"]["files"] == {"train": "train.csv", "test": "test.csv"}
    assert params["augment"]["policy"][0]["name"] == "synonym_replacement"


def test_text_jsonl_without_splits(tmp_path):
    init_datasets.text_jsonl(tmp_path / "reviews")
    params = init_and_run(tmp_path, "reviews/reviews.jsonl")
    assert (params["text"]["text_column"], params["text"]["label_column"]) == ("body", "sentiment")


def test_table_with_categorical_columns_gets_smotenc(tmp_path):
    init_datasets.table_with_categoricals(tmp_path)
    params = init_and_run(tmp_path)
    assert params["tabular"]["label_column"] == "target"
    assert params["augment"]["policy"][0]["name"] == "smotenc"


def test_audio_folder(tmp_path):
    init_datasets.audio_folder(tmp_path)
    params = init_and_run(tmp_path)
    assert params["data"]["modality"] == "audio"


def test_a_policy_that_does_not_fit_is_one_line_and_stops_before_any_work(tmp_path):
    init_datasets.table_with_categoricals(tmp_path)
    run(["augmill", "init"], tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["augment"]["policy"] = [{"name": "smote", "p": 1.0}]  # the user's own policy, as in issue 18
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    refused = run(["augmill", "run"], tmp_path, check=False)
    assert refused.returncode == 1
    errors = [line for line in refused.stderr.splitlines() if "augment.policy[0]" in line]
    assert len(errors) == 1 and errors[0].startswith("augmill: error:") and "smotenc" in errors[0]
    assert "Traceback" not in refused.stderr + refused.stdout
    assert not (tmp_path / "data/interim/augmented.parquet").exists()
    verbose = run(["augmill", "run", "--verbose"], tmp_path, check=False)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr + verbose.stdout
