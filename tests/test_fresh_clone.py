"""The committed dataset version reproduces: a fresh clone of HEAD, then `augmill run` as
README's command 1 does (no memo, no DVC cache, no data), leaves `git status` clean:
dvc.lock, every report git tracks and the environment record come out unchanged.

It runs the whole demo (minutes). AUGMILL_CLONE_SOURCE names another repository to clone
(default: this one), e.g. a scratch clone whose version was just recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.project import BIN, REPO, environment, run

SOURCE = Path(os.environ.get("AUGMILL_CLONE_SOURCE", REPO))


@pytest.mark.e2e
def test_a_fresh_clone_reproduces_the_committed_version(tmp_path):
    head = run(["git", "rev-parse", "HEAD"], SOURCE).stdout.strip()
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "--no-checkout", str(SOURCE), str(clone)], tmp_path)
    run(["git", "checkout", "-q", "--detach", head], clone)
    env = environment()
    env["PYTHONPATH"] = str(clone)  # the clone's code, as `pip install -e .` in the clone would run it
    result = _augmill_run(clone, env)
    assert result.returncode == 0, result.stdout + result.stderr
    status = run(["git", "status", "--porcelain"], clone).stdout
    assert status == "", f"{head[:12]} does not reproduce here:\n{status}\n" + run(["git", "diff", "--stat"], clone).stdout


def _augmill_run(clone: Path, env: dict):
    import subprocess

    return subprocess.run([str(BIN / "augmill"), "run"], cwd=clone, env=env, capture_output=True, text=True, timeout=3600)
