"""A real augmill project in a temporary git + DVC repo, for end-to-end tests.

The project's own dvc.yaml, params.yaml, expectations and code are copied in,
so the tests run exactly what a user runs: `dvc repro` and `augmill run`.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Small enough for CI, big enough to have every class in every split.
SMALL_DEMO = {"prepare": {"max_per_class": 16}, "execution": {"workers": 1}}


def merge_dicts(base: dict, updates: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_dicts(result[key], value)
        else:
            result[key] = value
    return result


def environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.invalid",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env.pop("PREFECT_API_URL", None)
    # Every stage of every test project checks that it read only the modality knobs its READ_BY
    # declares, i.e. that DVC re-runs it for every knob it reads (flows/stages.py).
    env["AUGMILL_CHECK_KNOBS"] = ".augmill/knobs_read.jsonl"
    return env


def run(args: list[str], cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def write_params(root: Path, updates: dict) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(merge_dicts(params, updates), sort_keys=False))


def new_project(root: Path, params: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    # reviews/decisions.csv: a dependency of merge; flows/stages.py: of every stage.
    for folder in ("tasks", "flows", "expectations", "reviews"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    write_params(root, merge_dicts(SMALL_DEMO, params or {}))
    run(["git", "init", "-q", "-b", "main"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    commit(root, "project")
    return root


def commit(root: Path, message: str) -> None:
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "--allow-empty", "-m", message], root)


def lock_out_hashes(root: Path) -> dict[str, dict[str, str]]:
    """stage -> {output path: md5}, from dvc.lock (params left out: they name workers etc.)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {stage: {out["path"]: out["md5"] for out in entry.get("outs", [])} for stage, entry in lock["stages"].items()}


def stages_run(output: str) -> set[str]:
    """Stage names `dvc repro` says it ran."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def file_hashes(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under folder: two trees are byte-identical iff these are equal."""
    import hashlib

    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}
