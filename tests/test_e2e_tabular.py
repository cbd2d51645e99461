"""End-to-end for tables: the real pipeline under `dvc repro` in a temporary git repo,
on the breast-cancer demo (malignant made rare in train), checked against the
invariants of shared/DESIGN.md: nothing lost, labels preserved, no leakage, val/test
untouched, every SMOTE row replayable from its parents, and the same dvc.lock output
hashes with 1 and 3 workers. One full run only: each stage costs seconds of start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from augmill.tasks.modalities.tabular.ops import replay_row
from augmill.tasks.modalities.tabular.schema import TableSchema
from tests.project import lock_out_hashes, new_project, run, stages_run

pytestmark = pytest.mark.e2e

TABULAR = {
    "data": {"modality": "tabular"},
    "prepare": {"dataset": "breast_cancer", "max_per_class": 80},
    "tabular": {"files": ["breast_cancer.csv"], "label_column": "diagnosis", "split_column": "split",
                "id_column": "patient_id"},
    # factor 2: the water-filling plan gives both classes new rows, so there are two shards to spread.
    "augment": {"factor": 2.0, "policy": [{"name": "smote", "p": 0.75, "k_neighbors": 5},
                                          {"name": "gaussian_copula", "p": 0.25}]},
    "execution": {"workers": 1},
}
STAGES = ["prepare", "explore", "bias", "augment", "validate", "merge"]
FEATURES = 30


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = new_project(tmp_path_factory.mktemp("tabular"), TABULAR)
    assert set(STAGES) <= stages_run(run(["dvc", "repro", *STAGES], root).stdout)  # (and what they depend on)
    return root


def manifests(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (pd.read_parquet(root / "data/interim/raw_manifest.parquet"),
            pd.read_parquet(root / "data/final/manifest.parquet"),
            pd.read_csv(root / "reports/quarantine.csv", keep_default_na=False))


def test_nothing_lost(demo):
    raw, final, quarantine = manifests(demo)
    table = pd.read_csv(demo / "data/raw/breast_cancer.csv")
    assert len(raw) == len(table) == 122 and raw["path"].tolist() == [f"breast_cancer.csv:{i + 2}" for i in range(122)]
    originals = set(final.loc[final["origin"] == "original", "sample_id"])
    quarantined = set(quarantine["sample_id"])
    assert originals.isdisjoint(quarantined) and set(raw["sample_id"]) == originals | (quarantined & set(raw["sample_id"]))
    augmented = pd.read_parquet(demo / "data/interim/augmented.parquet")
    synthetic = set(final.loc[final["origin"] == "synthetic", "sample_id"])
    assert len(synthetic) > 0 and set(augmented["sample_id"]) == synthetic | (quarantined - set(raw["sample_id"]))
    assert (quarantine["reason"].str.len() > 0).all()
    merge = json.loads((demo / "reports/merge.json").read_text())
    assert merge["accounting"]["balanced"] and merge["accounting"]["raw_samples"] == 122


def test_labels_preserved_and_no_leakage(demo):
    raw, final, _ = manifests(demo)
    real = raw.set_index("sample_id")
    synthetic = final[final["origin"] == "synthetic"]
    assert (synthetic["split"] == "train").all()
    assert (synthetic["label"].to_numpy() == real.loc[synthetic["source_id"], "label"].to_numpy()).all()
    for ops, label in synthetic[["ops", "label"]].itertuples(index=False):
        for parent in json.loads(ops)[0]["params"].get("parents", []):
            assert real.loc[parent, "split"] == "train" and real.loc[parent, "label"] == label
    held_out = set(final.loc[final["split"] != "train", "sha256"])
    assert held_out.isdisjoint(final.loc[final["split"] == "train", "sha256"])


def test_val_and_test_untouched_and_types_kept(demo):
    raw, final, _ = manifests(demo)
    names = list(final.columns[-FEATURES:])
    assert final[names].dtypes.astype(str).tolist() == raw[names].dtypes.astype(str).tolist() == ["float64"] * FEATURES
    held_out = final[final["split"] != "train"].set_index("sample_id").sort_index()
    real = raw.set_index("sample_id").loc[held_out.index]
    pd.testing.assert_frame_equal(held_out[names], real[names])
    test_csv = pd.read_csv(demo / "data/final/test.csv")
    assert list(test_csv.columns) == ["sample_id", "origin", *names, "diagnosis"] and len(test_csv) == 40


def test_every_smote_row_replays_from_its_parents(demo):
    raw, final, _ = manifests(demo)
    train = raw[(raw["split"] == "train") & (raw["status"] == "ok")]
    schema = TableSchema.infer(train, list(final.columns[-FEATURES:]))
    real = raw.set_index("sample_id")
    smote = final[final["ops"].str.contains('"name": "smote"')]
    assert len(smote) > 20
    for row in smote.itertuples(index=False):
        replayed = replay_row(json.loads(row.ops)[0], real, schema)
        assert replayed.iloc[0].tolist() == list(row[-FEATURES:]), row.sample_id


def test_rebalancing_and_quality_reported(demo):
    bias = json.loads((demo / "reports/bias.json").read_text())
    merge = json.loads((demo / "reports/merge.json").read_text())
    assert bias["imbalance_ratio"] > 4 and merge["train_after"]["imbalance_ratio"] < 1.5
    summary = json.loads((demo / "reports/validation.json").read_text())
    fidelity = summary["tabular"]["fidelity"]["by_class"]
    assert set(fidelity) == {"benign", "malignant"} and all(c["score"] > 0.6 for c in fidelity.values())
    assert summary["tabular"]["privacy"]["exact_copies"] == 0
    assert "Class <code>malignant</code>" in (demo / "reports/gallery.html").read_text()


def test_same_outputs_with_three_workers(demo):
    """Only augment runs shards on workers: re-run it with 3 (each class's shard in its own
    process) and DVC must find the same output hashes, leaving the stages after it up to date."""
    before = lock_out_hashes(demo)
    params = yaml.safe_load((demo / "params.yaml").read_text())
    params["execution"]["workers"] = 3
    (demo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert stages_run(run(["dvc", "repro", "--force", "--single-item", "augment"], demo).stdout) == {"augment"}
    assert lock_out_hashes(demo) == before
    # params.yaml changed, so the params stage (a file dependency on it) re-runs; its shares are the same.
    assert stages_run(run(["dvc", "repro", *STAGES], demo).stdout) == {"params"}
