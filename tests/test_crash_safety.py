"""Faults: a run killed (SIGKILL) at chosen moments leaves no half-written file in any
output, and the next run produces exactly what an uninterrupted run produces; a
second run on a busy workspace refuses instead of corrupting it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from augmill.flows.workspace_lock import workspace_lock
from tests.project import environment, lock_out_hashes, new_project, run, stages_run

pytestmark = pytest.mark.e2e

PARAMS = {"prepare": {"max_per_class": 40}, "execution": {"workers": 2, "shard_size": 16}}
OUTPUT_DIRS = ("data/raw", "data/interim/augmented", "data/final")


def assert_no_partial_file(root: Path) -> None:
    for folder in OUTPUT_DIRS:
        for path in (root / folder).rglob("*") if (root / folder).exists() else []:
            if path.is_file():
                assert ".tmp-" not in path.name, f"temporary file left in an output: {path}"
                if path.suffix == ".png":
                    with Image.open(path) as image:
                        image.load()  # raises on a truncated file
                elif path.suffix == ".parquet":
                    pd.read_parquet(path)


# Chosen moments (tasks/faults.py): a file complete in the scratch folder but not yet renamed into
# its output, or just renamed, mid-way through augment's variants, merge's copies, the final
# manifest and the last stage's report. Each is reached whatever the machine's speed.
PAUSE_POINTS = ("data/interim/augmented:5:before", "data/interim/augmented:40:after", "data/final:10:before",
                "data/final:60:after", "data/final/manifest.parquet:1:before", "reports/evaluate.json:1:before")


def kill_at(project: Path, point: str, marker: Path) -> None:
    """Run `dvc repro` until it pauses at ``point``, then SIGKILL its whole process group."""
    marker.unlink(missing_ok=True)
    env = environment() | {"AUGMILL_PAUSE_AT": point, "AUGMILL_PAUSE_MARKER": str(marker)}
    process = subprocess.Popen(["dvc", "repro"], cwd=project, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not marker.exists():
            assert process.poll() is None, f"dvc repro ended ({process.returncode}) without reaching {point}"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_sigkill_at_chosen_points_then_rerun_gives_identical_outputs(tmp_path):
    reference = new_project(tmp_path / "reference", PARAMS)
    run(["dvc", "repro"], reference)
    expected = lock_out_hashes(reference)

    project = new_project(tmp_path / "killed", PARAMS)
    for point in PAUSE_POINTS:
        kill_at(project, point, tmp_path / "paused")
        assert_no_partial_file(project)

    run(["dvc", "repro"], project)
    assert_no_partial_file(project)
    assert lock_out_hashes(project) == expected


def test_a_second_run_on_a_busy_workspace_refuses(tmp_path):
    project = new_project(tmp_path / "busy", {"prepare": {"max_per_class": 8}})
    with workspace_lock("test holding the workspace", root=project):
        result = run(["augmill", "stage", "prepare"], project, check=False)
        assert result.returncode == 1
        assert "in use by augmill test holding the workspace" in result.stderr
        assert not (project / "data/raw").exists()
        refused = run(["dvc", "repro"], project, check=False)
        assert refused.returncode != 0 and "in use" in refused.stdout + refused.stderr
    # Released: the same command now runs.
    assert stages_run(run(["dvc", "repro"], project).stdout) >= {"prepare", "merge"}


def test_a_dvc_lock_left_empty_gets_a_message_saying_what_to_do(tmp_path):
    project = new_project(tmp_path / "empty-lock", {"prepare": {"max_per_class": 8}})
    (project / "dvc.lock").write_text("")  # as DVC leaves it when killed while rewriting it
    result = run(["augmill", "run"], project, check=False)
    assert result.returncode == 1
    assert "dvc.lock" in result.stderr and "git checkout dvc.lock" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "data/raw").exists()  # refused before any work
