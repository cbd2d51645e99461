"""End to end through real `dvc repro` (issue #22): digits moved into the wrong class folder
are found by the bias stage's label check; with bias.label_issues=quarantine they leave
train for the quarantine and merge's accounting still balances; a reviewer's relabel
(reviews/decisions.csv, by sha256) is applied by the pipeline, the raw files untouched;
with report, suspects stay in train but get no variants."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.project import new_project, run, write_params

pytestmark = pytest.mark.e2e
SETTINGS = {"prepare": {"max_per_class": 24, "imbalance": 1.0}, "data": {"raw_dir": "mine"},
            "bias": {"label_issues": "quarantine"}}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mislabel(root: Path) -> dict[str, str]:
    """The demo's images copied to mine/, three train images moved to a wrong class folder (each to another class: two zeros
    labelled 1 would vouch for each other);
    returns sha256 -> the true label of each moved image."""
    run(["dvc", "repro", "prepare"], root)
    shutil.copytree(root / "data" / "raw", root / "mine")
    chosen = [(path, true, wrong) for true, wrong, count in (("0", "1", 1), ("6", "3", 1), ("7", "2", 1))
              for path in sorted((root / "mine" / "train" / true).iterdir())[:count]]
    for path, _, wrong in chosen:  # chosen first: a moved file is never chosen again
        path.rename(root / "mine" / "train" / wrong / path.name)
    return {sha256_of(path.parent.parent / wrong / path.name): true for path, true, wrong in chosen}


def test_mislabelled_images_quarantined_relabelled_and_never_augmented(tmp_path):
    root = new_project(tmp_path / "project", SETTINGS)
    moved = mislabel(root)
    run(["dvc", "repro"], root)

    suspects = pd.read_csv(root / "reports" / "label_issues.csv", dtype=str)
    assert len(set(suspects["sha256"]) & set(moved)) >= 2, suspects.to_string()
    quarantine = pd.read_csv(root / "reports" / "quarantine.csv", dtype=str)
    labelled = quarantine[quarantine["reason_code"] == "label_issue"]
    assert sorted(labelled["sample_id"]) == sorted(suspects["sample_id"])
    accounting = json.loads((root / "reports" / "merge.json").read_text())["accounting"]
    assert accounting["balanced"] and accounting["quarantined_label_issues"] == len(suspects)
    final = pd.read_parquet(root / "data" / "final" / "manifest.parquet")
    assert not set(final["sample_id"]) & set(suspects["sample_id"])
    page = (root / "reports" / "label_review.html").read_text()
    assert all(f"sha256:{sha}" in page for sha in suspects["sha256"]) and "data:image/png;base64," in page

    # The reviewer relabels one moved image; the rest stay suspects, now in report mode.
    sha = next(s for s in suspects["sha256"] if s in moved)
    run(["augmill", "review", "relabel", f"sha256:{sha}", "--label", moved[sha], "--reviewer", "test"], root)
    write_params(root, SETTINGS | {"bias": {"label_issues": "report"}})
    run(["dvc", "repro"], root)

    final = pd.read_parquet(root / "data" / "final" / "manifest.parquet")
    row = final[(final["sha256"] == sha) & (final["origin"] == "original")]
    assert row["label"].tolist() == [moved[sha]]
    assert (root / "data" / "final" / row["path"].iloc[0]).parent.name == moved[sha]
    assert sum(1 for p in (root / "mine").rglob("*.png") if sha256_of(p) == sha) == 1  # raw data not edited
    plan = json.loads((root / "data" / "interim" / "plan.json").read_text())
    assert [entry["to"] for entry in plan["relabelled"]] == [moved[sha]]
    remaining = pd.read_csv(root / "reports" / "label_issues.csv", dtype=str)
    assert sha not in set(remaining["sha256"]) and len(remaining)
    assert set(remaining["sample_id"]) <= set(final["sample_id"])  # report: kept in train
    augmented = pd.read_parquet(root / "data" / "interim" / "augmented.parquet")
    assert not set(augmented["source_id"]) & set(remaining["sample_id"])  # ... and never augmented
    assert json.loads((root / "reports" / "merge.json").read_text())["accounting"]["balanced"]
