"""End-to-end: the real pipeline under `dvc repro` in a temporary git repo,
checked against the invariants of shared/DESIGN.md."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from augmill.tasks.imaging import encode_image, load_image
from augmill.tasks.ops.policy import replay
from tests.project import commit, lock_out_hashes, new_project, run, stages_run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = new_project(tmp_path_factory.mktemp("demo"))
    result = run(["dvc", "repro"], root)
    assert stages_run(result.stdout) == {"prepare", "params", "explore", "bias", "synthesize", "augment", "validate", "merge",
                                         "evaluate"}
    return root


def final_manifest(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "data/final/manifest.parquet")


def test_nothing_lost(demo):
    raw_files = sorted(p.relative_to(demo / "data/raw").as_posix() for p in (demo / "data/raw").rglob("*") if p.is_file())
    final = final_manifest(demo)
    quarantine = pd.read_csv(demo / "reports/quarantine.csv")
    raw = pd.read_parquet(demo / "data/interim/raw_manifest.parquet")
    originals = final[final["origin"] == "original"]
    assert sorted(raw["path"]) == raw_files
    kept = set(originals["sample_id"])
    quarantined = set(quarantine["sample_id"])
    assert kept.isdisjoint(quarantined)
    assert set(raw["sample_id"]) == kept | (quarantined & set(raw["sample_id"]))
    # Every augmented sample is either in the final set or quarantined with a reason.
    augmented = pd.read_parquet(demo / "data/interim/augmented.parquet")
    accepted = set(final.loc[final["origin"] == "augmented", "sample_id"])
    assert set(augmented["sample_id"]) == accepted | (quarantined - set(raw["sample_id"]))
    assert quarantine["reason"].str.len().gt(0).all()
    merge = json.loads((demo / "reports/merge.json").read_text())
    assert merge["accounting"]["balanced"] and merge["accounting"]["raw_samples"] == len(raw_files)
    # Every row's file exists with the recorded hash.
    for row in final.itertuples():
        assert hashlib.sha256((demo / "data/final" / row.path).read_bytes()).hexdigest() == row.sha256


def test_labels_preserved_and_no_leakage(demo):
    final = final_manifest(demo)
    originals = final[final["origin"] == "original"].set_index("sample_id")
    augmented = final[final["origin"] == "augmented"]
    assert len(augmented) > 0
    assert (augmented["label"].to_numpy() == originals.loc[augmented["source_id"], "label"].to_numpy()).all()
    assert (originals.loc[augmented["source_id"], "split"] == "train").all()
    assert (augmented["split"] == "train").all()
    held_out = set(final.loc[final["split"] != "train", "sha256"])
    assert held_out.isdisjoint(final.loc[final["split"] == "train", "sha256"])


def test_val_and_test_untouched(demo):
    final = final_manifest(demo)
    raw = pd.read_parquet(demo / "data/interim/raw_manifest.parquet").set_index("sample_id")
    for row in final[final["split"] != "train"].itertuples():
        assert (demo / "data/final" / row.path).read_bytes() == (demo / "data/raw" / raw.loc[row.sample_id, "path"]).read_bytes()


def test_every_augmented_row_replays_to_the_same_bytes(demo):
    final = final_manifest(demo)
    raw = pd.read_parquet(demo / "data/interim/raw_manifest.parquet").set_index("sample_id")
    augmented = final[final["origin"] == "augmented"]
    for row in augmented.itertuples():
        source = load_image(demo / "data/raw" / raw.loc[row.source_id, "path"], 10**8).image
        image = replay(source, json.loads(row.ops), "image")
        stored = Image.open(demo / "data/final" / row.path)
        data = encode_image(image, stored.format)
        assert hashlib.sha256(data).hexdigest() == row.sha256, row.sample_id


def test_rebalancing_reduces_imbalance(demo):
    merge = json.loads((demo / "reports/merge.json").read_text())
    bias = json.loads((demo / "reports/bias.json").read_text())
    assert bias["imbalance_ratio"] > 2.5  # the demo is imbalanced on purpose
    assert merge["train_after"]["imbalance_ratio"] < bias["imbalance_ratio"] / 2
    assert merge["train_after"]["samples"] > merge["train_before"]["samples"]


def test_repro_again_runs_nothing_then_one_param_reruns_only_downstream(demo):
    lock_before = (demo / "dvc.lock").read_text()
    again = run(["dvc", "repro"], demo)
    assert stages_run(again.stdout) == set()
    assert (demo / "dvc.lock").read_text() == lock_before
    commit(demo, "first version")
    first_version = lock_out_hashes(demo)

    params = yaml.safe_load((demo / "params.yaml").read_text())
    params["augment"]["policy"][0]["angle"] = [-5, 5]
    (demo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = run(["dvc", "repro"], demo)
    # params re-reads the edited params.yaml (a file dependency); its shares hold no augment knob
    assert stages_run(changed.stdout) == {"params", "augment", "validate", "merge", "evaluate"}
    assert lock_out_hashes(demo)["augment"] != first_version["augment"]
    assert lock_out_hashes(demo)["explore"] == first_version["explore"]
    commit(demo, "second version")

    # Check out the older commit and recompute it from scratch: the same bytes as recorded then.
    run(["git", "checkout", "-q", "HEAD~1"], demo)
    rerun = run(["dvc", "repro", "--force"], demo)
    assert "augment" in stages_run(rerun.stdout)
    assert lock_out_hashes(demo) == first_version
    assert run(["git", "status", "--porcelain"], demo).stdout.strip() == ""
    run(["git", "checkout", "-q", "main"], demo)
    run(["dvc", "checkout", "-q"], demo)
