"""augment.policy: auto on real projects (DVC in a temp git repo): the augment stage chooses the
policy on the validation split, records the choice, reproduces it, and a choice that makes the
test split worse fails the run unless evaluate.allow_worse says otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageDraw

from tests.project import lock_out_hashes, new_project, run

pytestmark = pytest.mark.e2e

DESTRUCTIVE = [{"name": "solarize", "p": 1.0, "threshold": [0, 0]}]  # every pixel inverted
SMALL_SEARCH = {"repeats": 3, "screen_repeats": 2, "max_candidates": 2}  # none and the base policy


def _choice(root: Path) -> dict:
    return json.loads((root / "reports" / "policy_choice.json").read_text())


def _arrow(direction: str, rng: np.random.Generator) -> Image.Image:
    """A triangle pointing left or right, jittered, on a noisy grey background."""
    pixels = rng.normal(90, 12, (32, 32)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "L")
    dx, dy = rng.integers(-3, 4, 2)
    tip, base = (6 + dx, 26 + dx) if direction == "left" else (26 + dx, 6 + dx)
    ImageDraw.Draw(image).polygon([(tip, 16 + dy), (base, 5 + dy), (base, 27 + dy)], fill=int(rng.integers(200, 250)))
    return image


def arrows_project(root: Path, params: dict) -> Path:
    """Arrows whose label is their direction in train and test; in val the labels are swapped.
    Mirroring (hflip) then looks better on val (a model that cannot tell the directions apart beats
    one that tells them apart and is always contradicted) and is worse on test: the case where a
    policy chosen on val must not ship silently."""
    rng = np.random.default_rng(7)
    for split, count in (("train", 40), ("val", 24), ("test", 30)):
        for direction in ("left", "right"):
            label = {"left": "right", "right": "left"}[direction] if split == "val" else direction
            folder = root / "input" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                _arrow(direction, rng).save(folder / f"{direction}{index:03d}.png")
    return new_project(root, {"data": {"raw_dir": "input"}, "augment": {"policy": "auto"},
                              "tune": SMALL_SEARCH | {"base_policy": [{"name": "hflip", "p": 1.0}]}} | params)


def test_auto_chooses_on_val_records_the_choice_and_a_worse_version_fails(tmp_path):
    root = arrows_project(tmp_path / "arrows", {})
    failed = run(["dvc", "repro"], root, check=False)
    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if line.startswith("augmill: error")]
    assert len(errors) == 1 and "evaluate.allow_worse: true" in errors[0] and "policy: auto" in errors[0]
    choice = _choice(root)
    assert choice["chosen"] == "base" and choice["policy"] == [{"name": "hflip", "p": 1.0}]
    rows = {row["name"]: row for row in choice["search"]["candidates"]}
    assert rows["base"]["interval"]["verdict"] == "better" and choice["search"]["split"] == "val"
    evaluate = json.loads((root / "reports" / "evaluate.json").read_text())
    assert evaluate["verdict"] == "worse"
    augmented = pd.read_parquet(root / "data" / "interim" / "augmented.parquet")
    assert len(augmented) and all(json.loads(ops)[0]["name"] == "hflip" for ops in augmented["ops"])

    # The same params and seed: the same choice, the same bytes.
    before = lock_out_hashes(root)["augment"]
    run(["dvc", "repro", "-f", "-s", "augment"], root)
    assert lock_out_hashes(root)["augment"] == before

    # The user opts in: the version is made, and says it is worse.
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["evaluate"]["allow_worse"] = True
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro"], root)
    assert "worse" in result.stderr + result.stdout
    assert json.loads((root / "reports" / "evaluate.json").read_text())["verdict"] == "worse"


def test_a_written_policy_that_is_worse_still_ships_as_before(tmp_path):
    """The gate is for auto: a policy the user wrote keeps today's behaviour (a loud warning)."""
    root = arrows_project(tmp_path / "arrows", {"augment": {"policy": [{"name": "hflip", "p": 1.0}]}})
    result = run(["dvc", "repro"], root)
    assert json.loads((root / "reports" / "evaluate.json").read_text())["verdict"] == "worse"
    assert "WARNING" in result.stderr + result.stdout
    assert _choice(root)["policy_param"] == "as written"


def test_auto_choosing_none_makes_no_variants_and_says_so(tmp_path):
    root = new_project(tmp_path / "demo", {"augment": {"policy": "auto"},
                                           "tune": SMALL_SEARCH | {"base_policy": DESTRUCTIVE}})
    run(["dvc", "repro"], root)
    choice = _choice(root)
    assert choice["chosen"] is None and choice["policy"] == [] and choice["augmentation"] == "none"
    assert choice["search"]["statement"].startswith("none recommended")
    assert len(pd.read_parquet(root / "data" / "interim" / "augmented.parquet")) == 0
    final = pd.read_parquet(root / "data" / "final" / "manifest.parquet")
    assert set(final["origin"]) == {"original"}
    assert json.loads((root / "reports" / "evaluate.json").read_text())["verdict"] == "no measurable difference"
    page = (root / "reports" / "index.html").read_text()
    assert "this version&#39;s policy" in page or "this version's policy" in page
    assert choice["search"]["statement"] in page.replace("&#39;", "'")


TABLE = {"data": {"modality": "tabular"}, "prepare": {"dataset": "breast_cancer", "max_per_class": 60},
         "tabular": {"files": ["breast_cancer.csv"], "label_column": "diagnosis", "split_column": "split",
                     "id_column": "patient_id"},
         "augment": {"policy": [{"name": "smote", "p": 0.75, "k_neighbors": 5}, {"name": "gaussian_copula", "p": 0.25}]},
         "tune": {"repeats": 3, "screen_repeats": 2}}


def test_tune_searches_a_table_and_auto_uses_its_choice(tmp_path):
    """A table's shards are its classes and its rows hold their values: tune scores its candidates
    (the policy, each generator dropped) on val, and auto makes the version with what it chose."""
    root = new_project(tmp_path / "table", TABLE)
    for stage in ("prepare", "explore", "bias"):
        run(["augmill", "stage", stage], root)
    run(["augmill", "tune"], root)
    report = json.loads((root / "reports" / "tune.json").read_text())
    rows = {row["name"]: row for row in report["candidates"]}
    assert set(rows) == {"none", "current", "without smote#0", "without gaussian_copula#1"}
    assert all(row["score"]["repeats"] >= 2 and 0 < row["score"]["mean"] <= 1 for row in rows.values())
    assert all("interval" in row for name, row in rows.items() if name != "none")

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tune"]["base_policy"], params["augment"]["policy"] = params["augment"]["policy"], "auto"
    params["evaluate"]["allow_worse"] = True
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], root)
    choice = _choice(root)
    expected = report["recommended"]  # the same search (same params and seed) as augmill tune's
    assert choice["chosen"] == (None if expected is None else "base" if expected["name"] == "current" else expected["name"])
    made = pd.read_parquet(root / "data" / "interim" / "augmented.parquet")
    generators = {json.loads(ops)[0]["name"] for ops in made["ops"]}
    assert generators == {entry["name"] for entry in choice["policy"]}
