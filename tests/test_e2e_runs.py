"""End-to-end: determinism across runs, worker counts and orchestrators
(dvc repro vs the Prefect flow), and bad input handled without losing anything."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from tests.project import lock_out_hashes, new_project, run, stages_run

pytestmark = pytest.mark.e2e


def test_identical_outputs_across_runs_workers_and_prefect(tmp_path):
    one_worker = new_project(tmp_path / "one", {"execution": {"workers": 1}})
    run(["dvc", "repro"], one_worker)
    three_workers = new_project(tmp_path / "three", {"execution": {"workers": 3, "shard_size": 5}})
    run(["dvc", "repro"], three_workers)
    prefect = new_project(tmp_path / "prefect", {"execution": {"workers": 2, "shard_size": 7}})
    flow_run = run(["augmill", "run"], prefect)
    assert "augmill-pipeline" in flow_run.stderr + flow_run.stdout  # a real Prefect flow run

    reference = lock_out_hashes(one_worker)
    assert lock_out_hashes(three_workers) == reference
    assert lock_out_hashes(prefect) == reference
    # The flow recorded every stage in dvc.lock: DVC agrees nothing is left to do.
    assert stages_run(run(["dvc", "repro"], prefect).stdout) == set()
    # And a second run finds nothing stale: no flow run, as `dvc repro` runs nothing.
    again = run(["augmill", "run"], prefect)
    assert "every stage is up to date" in again.stdout
    assert "prepare skipped" in again.stdout and "merge skipped" in again.stdout
    assert "augmill-pipeline" not in again.stdout + again.stderr


def test_bad_params_refused_before_any_work(tmp_path):
    root = new_project(tmp_path / "bad", {"augment": {"factor": 0.5}, "bias": {"policy": "sometimes"}})
    result = run(["dvc", "repro"], root, check=False)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "augment.factor" in message and "greater than or equal to 1" in message
    assert "bias.policy" in message and "'rebalance'" in message
    assert not (root / "data/raw").exists() and not (root / "data/interim").exists()

    check = run(["augmill", "check"], root, check=False)
    assert check.returncode == 1 and "augment.factor" in check.stderr and len(check.stderr.strip().splitlines()) == 1


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_hostile_files_are_quarantined_and_the_run_goes_on(tmp_path):
    """A user's `label/file` tree without splits, with broken files among good ones."""
    root = new_project(tmp_path / "hostile", {"data": {"raw_dir": "data/user"}, "prepare": {"dataset": "none"}})
    digits = load_digits()
    user = root / "data/user"
    for index in range(120):
        label = str(digits.target[index])
        image = Image.fromarray((digits.images[index] * 15).astype("uint8"), "L").resize((24, 24))
        (user / label).mkdir(parents=True, exist_ok=True)
        (user / label / f"img {index}.png").write_bytes(_png(image))
    good = (user / "3" / "img 3.png").read_bytes()
    (user / "3" / "truncated.png").write_bytes(good[: len(good) // 2])
    (user / "3" / "notes.png").write_text("not an image at all")
    (user / "5" / "empty.png").write_bytes(b"")
    (user / "loose.png").write_bytes(good)  # not inside a label folder
    (user / "7" / "copy of 3.png").write_bytes((user / "7" / "img 7.png").read_bytes())  # exact duplicate

    result = run(["dvc", "repro"], root)
    assert {"explore", "augment", "merge"} <= stages_run(result.stdout)

    quarantine = pd.read_csv(root / "reports/quarantine.csv").set_index("path")
    expected = {"3/truncated.png": "corrupt", "3/notes.png": "not_an_image", "5/empty.png": "empty_file",
                "loose.png": "no_label"}
    for path, code in expected.items():
        assert quarantine.loc[path, "reason_code"] == code
        assert path in quarantine.loc[path, "reason"]
    explore = json.loads((root / "reports/explore.json").read_text())
    assert explore["dataset"]["samples"] == 125 and explore["dataset"]["quarantined"] == 4
    assert explore["exact_duplicates"]["groups"] == 1

    raw = pd.read_parquet(root / "data/interim/raw_manifest.parquet")
    duplicates = raw[raw["path"].isin(["7/img 7.png", "7/copy of 3.png"])]
    assert duplicates["split"].nunique() == 1  # exact duplicates never straddle splits
    assert set(raw.loc[raw["status"] == "ok", "split"]) == {"train", "val", "test"}
    merge = json.loads((root / "reports/merge.json").read_text())
    assert merge["accounting"] == {"raw_samples": 125, "final_originals": 121, "quarantined_raw": 4,
                                   "held_out_leaks": 0, "quarantined_label_issues": 0, "balanced": True}


def test_stage_names_match_dvc_yaml():
    import yaml

    from augmill.flows.stages import STAGE_NAMES

    stages = yaml.safe_load((Path(__file__).parents[1] / "dvc.yaml").read_text())["stages"]
    assert tuple(stages) == STAGE_NAMES


def lazy_imports_of(stage: str) -> list[str]:
    """What tasks/<stage>.py imports inside its functions (absolute imports), read from its source."""
    import ast

    tree = ast.parse((Path(__file__).parents[1] / "tasks" / f"{stage}.py").read_text())
    names = []
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.append(node.module)
    return names


def third_party_left_after_preload() -> list[str]:
    """Run in a fresh interpreter: preload every stage, then import what the stages import lazily."""
    import importlib
    import sys

    from augmill.flows.stages import STAGE_NAMES, preload

    preload(STAGE_NAMES).join()
    before = set(sys.modules)
    for stage in set(STAGE_NAMES) - {"synthesize"}:
        for name in lazy_imports_of(stage):
            if name.split(".")[0] != "distributed":
                importlib.import_module(name)
    return sorted({name.split(".")[0] for name in set(sys.modules) - before} - {"augmill"})


def test_preload_leaves_no_third_party_import_to_the_stages_functions():
    """`augmill run` imports the stale stages' modules while Prefect's server starts: after
    preload, what the stages import inside their functions must bring in no third-party
    package that preload missed (Great Expectations alone is 4.6 s). Left out: opt-in paths
    that a default run never takes (synthesize's PyTorch models, the Dask executor's `distributed`)."""
    import subprocess
    import sys

    assert "augmill.tasks.gx_validation" in lazy_imports_of("validate")  # the reader finds lazy imports
    code = "from tests.test_e2e_runs import third_party_left_after_preload as f; print(f())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).parents[1], check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", "add these to flows.stages.LAZY_IMPORTS"
