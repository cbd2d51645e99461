"""End-to-end: the human review loop under real `dvc repro` in a temporary git repo.
Rejecting an operator removes exactly its variants from data/final/, and DVC re-runs
merge and evaluate only (and bias, which reads the file's label decisions: its plan comes
out the same, so augment and validate do not re-run): the review is a new dataset version."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.project import commit, lock_out_hashes, new_project, run, stages_run

pytestmark = pytest.mark.e2e
OPERATOR = "gaussian_noise"


def test_rejecting_an_operator_removes_exactly_its_variants_and_reruns_merge_and_evaluate(tmp_path):
    root = new_project(tmp_path / "review")
    assert "evaluate" in stages_run(run(["dvc", "repro"], root).stdout)
    commit(root, "first version")
    first_lock = lock_out_hashes(root)
    before = pd.read_parquet(root / "data/final/manifest.parquet").set_index("sample_id")
    validated = pd.read_parquet(root / "data/interim/validated.parquet")
    accepted = validated[validated["status"] == "accepted"]
    made_with = {sid for sid, ops in zip(accepted["sample_id"], accepted["ops"], strict=True)
                 if OPERATOR in [op["name"] for op in json.loads(ops)]}
    assert 0 < len(made_with) < len(accepted)  # the test would prove nothing otherwise

    run(["augmill", "review", "reject", f"op:{OPERATOR}", "--note", "grain looks fake", "--reviewer", "ann"], root)
    repro = run(["dvc", "repro"], root)
    assert stages_run(repro.stdout) == {"bias", "merge", "evaluate"}

    after = pd.read_parquet(root / "data/final/manifest.parquet").set_index("sample_id")
    assert set(before.index) - set(after.index) == made_with
    assert set(after.index) <= set(before.index)
    kept = after.index
    assert (after.loc[kept, "sha256"] == before.loc[kept, "sha256"]).all()
    for sample_id in made_with:
        assert not (root / "data/final" / before.loc[sample_id, "path"]).exists()
    quarantine = pd.read_csv(root / "reports/quarantine.csv", dtype=str, keep_default_na=False)
    reviewed = quarantine[quarantine["stage"] == "review"]
    assert set(reviewed["sample_id"]) == made_with
    assert (reviewed["reason_code"] == "review_rejected").all()
    assert reviewed["reason"].str.contains("grain looks fake").all() and reviewed["reason"].str.contains("ann").all()
    merge = json.loads((root / "reports/merge.json").read_text())
    assert merge["augmented"]["rejected_in_review"] == len(made_with) and merge["accounting"]["balanced"]
    evaluate = json.loads((root / "reports/evaluate.json").read_text())
    assert evaluate["setup"]["train_rows"]["augmented"] == int((after["split"] == "train").sum())
    assert "rejected in review" in (root / "reports/index.html").read_text()

    # Only merge's and evaluate's outputs changed; the upstream stages are the same version.
    lock = lock_out_hashes(root)
    assert {stage for stage in lock if lock[stage] != first_lock[stage]} == {"merge", "evaluate"}
    changed = {line[3:] for line in run(["git", "status", "--porcelain"], root).stdout.splitlines()}
    assert {"reviews/decisions.csv", "dvc.lock", "reports/index.html", "reports/evaluate.json"} <= changed
