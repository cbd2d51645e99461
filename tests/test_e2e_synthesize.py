"""End-to-end: the synthesize stage under a real `dvc repro` in a temporary git repo
(digits demo, small), with a VAE, adversarial examples and style transfer switched on.
Synthetic rows carry their lineage, the gates accept or quarantine each with a reason,
nothing is lost, and a forced re-run gives the same bytes. Plus: with synthesis off the
stage writes its empty outputs without PyTorch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.project import REPO, commit, lock_out_hashes, new_project, run, stages_run

pytestmark = pytest.mark.e2e

SYNTHESIS = {
    "synthesize": {"enabled": True, "generator": "vae", "share": 0.5, "epochs": 30,
                   "gates": {"max_rejection_rate": 1.0},  # a VAE trained on ~60 images: quarantine is expected
                   "adversarial": {"share": 0.25, "method": "pgd", "surrogate_epochs": 10},
                   "style": {"share": 0.25, "method": "statistics", "style_image": "styles/ink.png"}},
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    root = new_project(tmp_path_factory.mktemp("synthesize"), SYNTHESIS)
    (root / "styles").mkdir()
    ink = np.full((32, 32), 40, np.uint8)
    ink[6:26, 10:22] = 235  # a dark page with bright, heavy ink
    Image.fromarray(ink, "L").save(root / "styles/ink.png")
    commit(root, "style image")
    result = run(["dvc", "repro"], root)
    assert "synthesize" in stages_run(result.stdout)
    return root


def read(root: Path):
    synthetic = pd.read_parquet(root / "data/interim/synthetic.parquet")
    final = pd.read_parquet(root / "data/final/manifest.parquet")
    quarantine = pd.read_csv(root / "reports/quarantine.csv", keep_default_na=False)
    return synthetic, final, quarantine


def test_synthetic_rows_carry_their_lineage(project):
    synthetic, _, _ = read(project)
    ops = synthetic["ops"].map(lambda text: json.loads(text)[0])
    names = ops.map(lambda op: op["name"])
    assert set(names) == {"vae", "pgd", "style_statistics"}
    assert (synthetic["origin"] == "synthetic").all() and (synthetic["split"] == "train").all()
    card = json.loads((project / "data/interim/generator/card.json").read_text())
    vae = ops[names == "vae"]
    assert (vae.map(lambda op: op["params"]["model_sha256"]) == sha256(project / "data/interim/generator/vae.pt")).all()
    assert (vae.map(lambda op: op["params"]["training_run"]) == card["generator"]["training_run"]).all()
    assert (vae.map(lambda op: op["params"]["class"]) == synthetic.loc[names == "vae", "label"]).all()
    assert synthetic.loc[names == "vae", "seed"].notna().all() and synthetic.loc[names == "vae", "seed"].is_unique
    assert (synthetic.loc[names == "vae", "source_id"] == "").all()
    pgd = ops[names == "pgd"]
    surrogate = sha256(project / "data/interim/generator/surrogate.pt")
    assert all(op["params"]["surrogate_sha256"] == surrogate and op["params"]["epsilon"] == pytest.approx(8 / 255)
               and op["params"]["steps"] == 10 for op in pgd)
    styled = ops[names == "style_statistics"]
    assert all(op["params"]["style_sha256"] == sha256(project / "styles/ink.png") for op in styled)
    # Adversarial and styled rows come from train originals of their own class.
    raw = pd.read_parquet(project / "data/interim/raw_manifest.parquet").set_index("sample_id")
    attached = synthetic[names != "vae"]
    assert (raw.loc[attached["source_id"], "split"] == "train").all()
    assert (raw.loc[attached["source_id"], "label"].to_numpy() == attached["label"].to_numpy()).all()
    # Each file is what its row says.
    for row in synthetic.itertuples():
        assert sha256(project / "data/interim/synthetic" / row.path) == row.sha256


def test_counts_follow_the_plan_shares(project):
    synthetic, _, _ = read(project)
    plan = json.loads((project / "data/interim/plan.json").read_text())
    names = synthetic["ops"].map(lambda text: json.loads(text)[0]["name"])
    for label, entry in plan["classes"].items():
        of_class = names[synthetic["label"] == label]
        assert (of_class == "vae").sum() == int(0.5 * entry["new"] + 0.5)  # rounded half up
        assert len(of_class) == entry["new"]  # the three shares add up to 1


def test_every_synthetic_sample_is_accepted_or_quarantined_with_a_reason(project):
    synthetic, final, quarantine = read(project)
    accepted = final[final["origin"] == "synthetic"]
    rejected = quarantine[quarantine["sample_id"].isin(synthetic["sample_id"])]
    assert set(accepted["sample_id"]).isdisjoint(rejected["sample_id"])
    assert set(synthetic["sample_id"]) == set(accepted["sample_id"]) | set(rejected["sample_id"])
    assert (rejected["stage"] == "validate").all() and rejected["reason_code"].str.startswith("gate_").all()
    for row in rejected.itertuples():  # the reason names the file
        assert row.path.startswith("data/interim/synthetic/") and row.reason.startswith(row.path + ": ")
    merge = json.loads((project / "reports/merge.json").read_text())
    assert merge["synthetic"] == {"made": len(synthetic), "accepted": len(accepted), "rejected": len(rejected),
                                  "balanced": True}
    # Accepted files are in the final train split with their bytes and labels.
    assert (accepted["split"] == "train").all()
    made = synthetic.set_index("sample_id")
    for row in accepted.itertuples():
        assert sha256(project / "data/final" / row.path) == row.sha256 == made.loc[row.sample_id, "sha256"]
        assert row.label == made.loc[row.sample_id, "label"] and row.path.startswith(f"train/{row.label}/")


def test_gate_figures_are_in_the_validation_summary(project):
    summary = json.loads((project / "reports/validation.json").read_text())["synthetic"]
    synthetic, _, _ = read(project)
    assert summary["samples"] == len(synthetic) == summary["accepted"] + summary["quarantined"]
    generated = summary["generated"]
    assert 0.0 <= generated["fidelity"]["c2st_accuracy"] <= 1.0
    assert generated["feature_distance"]["ratio"] > 0
    assert 0.0 <= generated["label_fidelity"]["agreement"] <= 1.0
    assert generated["privacy"]["reference_distance"] > 0 and generated["privacy"]["exact_copies"] == 0
    adversarial = summary["adversarial"]
    assert adversarial["epsilon"]["outside_bound"] == 0 and adversarial["epsilon"]["max_linf"] <= 8 / 255 + 1e-6
    assert 0 <= adversarial["flipped_surrogate_prediction"] <= adversarial["samples"]
    assert summary["style"]["label_fidelity"]["agreement"] is not None
    # Adversarial examples are judged by their bound only: none is quarantined on this demo.
    names = synthetic["ops"].map(lambda text: json.loads(text)[0]["name"])
    _, final, _ = read(project)
    assert set(synthetic.loc[names == "pgd", "sample_id"]) <= set(final["sample_id"])


def test_a_forced_rerun_makes_the_same_bytes(project):
    before = lock_out_hashes(project)
    result = run(["dvc", "repro", "--force", "--single-item", "synthesize"], project)
    assert stages_run(result.stdout) == {"synthesize"}
    assert lock_out_hashes(project)["synthesize"] == before["synthesize"]
    assert run(["dvc", "status"], project).stdout.strip().endswith("up to date.")


def test_synthesis_off_writes_empty_outputs_without_torch(tmp_path):
    """The default pipeline must not need PyTorch: the stage runs with torch made unimportable."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    script = ("import sys\n"
              "class NoTorch:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] == 'torch':\n"
              "            raise ModuleNotFoundError('torch is not installed here', name=name)\n"
              "sys.meta_path.insert(0, NoTorch())\n"
              "from augmill.tasks.params_load import load_params\nfrom augmill.tasks import synthesize, validate\n"
              "from augmill.tasks.generative.checks import check_synthetic\n"
              "print(synthesize.run(load_params())); print(check_synthetic(load_params()))\n"
              "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["{'enabled': False}", "None", "False"]
    assert len(pd.read_parquet(tmp_path / "data/interim/synthetic.parquet")) == 0
    assert len(pd.read_parquet(tmp_path / "data/interim/synthetic_validated.parquet")) == 0
    assert list((tmp_path / "data/interim/synthetic").iterdir()) == []
    assert json.loads((tmp_path / "data/interim/generator/card.json").read_text()) == {"enabled": False}
