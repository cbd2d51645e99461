"""augmill verify and the environment record: pure comparisons, then real runs of a small
project (real git worktrees, real DVC, real Prefect) with an honest and a tampered version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from augmill.flows.versions import (
    ENVIRONMENT_RECORD,
    OutputDifference,
    differing_outputs,
    is_new_version,
    output_hashes,
    record_environment_if_new,
)
from augmill.tasks.environment import describe_difference, differences, gather
from tests.project import commit, new_project, run

LOCK = """schema: '2.0'
stages:
  explore:
    cmd: augmill stage explore
    deps:
    - path: tasks/explore.py
      hash: md5
      md5: 11111111111111111111111111111111
    outs:
    - path: data/interim/raw_manifest.parquet
      hash: md5
      md5: aaaa
    - path: reports/explore.json
      hash: md5
      md5: bbbb
  augment:
    cmd: augmill stage augment
    outs:
    - path: data/interim/augmented
      hash: md5
      md5: cccc.dir
"""


def test_output_hashes_are_the_outs_of_every_stage_not_the_deps():
    assert output_hashes(LOCK) == {("explore", "data/interim/raw_manifest.parquet"): "aaaa",
                                   ("explore", "reports/explore.json"): "bbbb",
                                   ("augment", "data/interim/augmented"): "cccc.dir"}
    assert output_hashes(None) == {} and output_hashes("") == {}


def test_differing_outputs_names_changed_missing_and_added_outputs():
    committed = output_hashes(LOCK)
    recomputed = {**committed, ("augment", "data/interim/augmented"): "dddd.dir", ("bias", "data/interim/plan.json"): "eeee"}
    del recomputed[("explore", "data/interim/raw_manifest.parquet")]
    assert differing_outputs(committed, committed) == []
    assert differing_outputs(committed, recomputed) == [
        OutputDifference("augment", "data/interim/augmented", "cccc.dir", "dddd.dir", "dvc.lock"),
        OutputDifference("bias", "data/interim/plan.json", None, "eeee", "dvc.lock"),
        OutputDifference("explore", "data/interim/raw_manifest.parquet", "aaaa", None, "dvc.lock")]


def test_a_committed_file_that_is_not_what_dvc_lock_says_differs():
    committed = output_hashes(LOCK)
    # The lock agrees with the recomputation, the file committed in git does not: a clone gets that file.
    found = differing_outputs(committed, committed, {"reports/explore.json": "ffff"})
    assert found == [OutputDifference("explore", "reports/explore.json", "ffff", "bbbb", "git")]
    assert "(the file committed in git)" in found[0].describe()
    assert differing_outputs(committed, committed, {"reports/explore.json": "bbbb"}) == []


def test_a_new_version_is_a_change_of_output_hashes():
    committed = output_hashes(LOCK)
    assert not is_new_version(committed, dict(committed))
    assert is_new_version({}, committed)
    assert is_new_version(committed, {**committed, ("explore", "reports/explore.json"): "0000"})


def test_the_environment_is_rewritten_for_a_new_version_only(tmp_path):
    (tmp_path / "dvc.lock").write_text(LOCK)
    recorded = output_hashes(LOCK)
    record = tmp_path / ENVIRONMENT_RECORD
    assert record_environment_if_new(recorded, tmp_path)  # the version has no record yet
    assert differences(json.loads(record.read_text()), gather()) == []
    record.write_text("the committed record\n")
    assert not record_environment_if_new(recorded, tmp_path)  # reproduced: the committed record stays
    assert record.read_text() == "the committed record\n"
    assert record_environment_if_new({**recorded, ("explore", "reports/explore.json"): "0000"}, tmp_path)
    assert json.loads(record.read_text())["python"]["version"] == ".".join(map(str, sys.version_info[:3]))


def test_environment_differences_are_the_leaves_that_differ():
    recorded = {"python": {"version": "3.11.7"}, "libraries": {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93"},
                "cpu": {"simd_flags": ["avx2", "avx512f", "avx512bw"]}}
    current = {"python": {"version": "3.11.7"}, "libraries": {"numpy": "2.4.6", "opencv-python-headless": "5.1.0.95",
                                                               "torch": None},
               "cpu": {"simd_flags": ["avx2", "sha_ni"]}}
    found = differences(recorded, current)
    assert found == [("cpu.simd_flags", ["avx2", "avx512f", "avx512bw"], ["avx2", "sha_ni"]),
                     ("libraries.opencv-python-headless", "5.0.0.93", "5.1.0.95")]
    assert describe_difference(*found[0]) == "cpu.simd_flags: only recorded: avx512f avx512bw; only here: sha_ni"
    assert describe_difference(*found[1]) == "libraries.opencv-python-headless: 5.0.0.93 -> 5.1.0.95"
    assert differences(recorded, recorded) == []


def test_the_gathered_environment_names_python_libraries_codecs_and_cpu(tmp_path):
    import cv2
    import numpy
    import PIL

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 avx512f vmx\n\n"
                       "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 avx512f vmx\n")
    environment = gather(cpuinfo)
    assert environment["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert environment["libraries"]["numpy"] == numpy.__version__
    assert environment["libraries"]["pillow"] == PIL.__version__
    assert environment["libraries"]["opencv-python-headless"].startswith(cv2.__version__)
    assert environment["codecs"]["pillow.zlib"] and environment["codecs"]["libsndfile"]
    assert environment["cpu"]["model"] == "Test CPU 9000"
    assert environment["cpu"]["simd_flags"] == ["sse2", "avx2", "avx512f"]  # vmx, fpu: not a code path choice
    assert environment["cpu"]["opencv"]["features"] == cv2.getCPUFeaturesLine()
    json.dumps(environment)  # the record is JSON


def test_augmill_environment_prints_what_a_version_records(tmp_path, monkeypatch):
    from augmill.flows.stages import OPENBLAS_KERNELS

    printed = run([sys.executable, "-m", "augmill.flows.cli", "environment"], tmp_path).stdout  # no project needed
    monkeypatch.setenv("OPENBLAS_CORETYPE", OPENBLAS_KERNELS)  # as augmill's process pins it before numpy loads
    assert json.loads(printed)["blas"] == {"openblas_coretype": OPENBLAS_KERNELS}
    assert differences(json.loads(printed), gather()) == []


# ---- real runs ----------------------------------------------------------------------------------------------


def augmill(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "augmill.flows.cli", *args], root, check=check, timeout=1200)


def worktrees(root: Path) -> list[str]:
    return [line for line in run(["git", "worktree", "list", "--porcelain"], root).stdout.splitlines()
            if line.startswith("worktree ")]


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """A project whose HEAD (branch main) is an honest version, and a tag `tampered`: the
    same version with a hand-edited report, one altered hash in dvc.lock and a recorded
    environment that claims another numpy."""
    root = new_project(tmp_path_factory.mktemp("verify") / "project")
    augmill(root, "run")
    commit(root, "dataset version")
    explore = root / "reports/explore.json"
    explore.write_text(explore.read_text().replace("{", '{\n  "edited": "by hand",', 1))
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    plan = next(out for out in lock["stages"]["bias"]["outs"] if out["path"] == "data/interim/plan.json")
    plan["md5"] = "0" * 32
    (root / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    record = json.loads((root / ENVIRONMENT_RECORD).read_text())
    record["libraries"]["numpy"] = "1.0.0"
    (root / ENVIRONMENT_RECORD).write_text(json.dumps(record, indent=2))
    commit(root, "tampered version")
    run(["git", "tag", "tampered"], root)
    run(["git", "reset", "-q", "--hard", "HEAD~1"], root)
    return root


@pytest.mark.e2e
def test_a_run_that_records_a_version_records_its_environment(versions):
    recorded = json.loads(run(["git", "show", f"main:{ENVIRONMENT_RECORD}"], versions).stdout)
    assert differences(recorded, gather()) == []
    assert ENVIRONMENT_RECORD not in (versions / "dvc.lock").read_text()  # git's, not a DVC output


@pytest.mark.e2e
def test_verify_recomputes_an_honest_version_byte_identical(versions):
    result = augmill(versions, "verify")
    assert result.returncode == 0
    assert "byte-identical" in result.stdout
    assert worktrees(versions) == [f"worktree {versions}"]  # the temporary worktree is gone
    scratch = Path(result.stdout.split(" in ", 1)[1].split()[0])
    assert scratch.name == "worktree" and not scratch.parent.exists()
    assert run(["git", "status", "--porcelain"], versions).stdout == ""


@pytest.mark.e2e
def test_verify_names_each_tampered_output_and_the_environment_difference(versions):
    import numpy

    result = augmill(versions, "verify", "tampered", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "byte-identical" not in result.stdout
    lines = result.stdout.splitlines()
    differing = [line.strip() for line in lines if line.startswith("  ") and " -> " in line]
    committed = output_hashes((versions / "dvc.lock").read_text())
    assert f"bias data/interim/plan.json: {'0' * 32} -> {committed[('bias', 'data/interim/plan.json')]}" in differing
    assert any(line.startswith("explore reports/explore.json: ") and "(the file committed in git)" in line
               and line.endswith(committed[("explore", "reports/explore.json")]) for line in differing)
    assert f"libraries.numpy: 1.0.0 -> {numpy.__version__}" in differing
    assert len(differing) == 3, result.stdout  # nothing else differs
    assert worktrees(versions) == [f"worktree {versions}"]


@pytest.mark.e2e
def test_verify_refuses_what_is_not_a_version(versions):
    result = augmill(versions, "verify", "no-such-rev", check=False)
    assert result.returncode == 1 and "'no-such-rev' is not a commit" in result.stderr
    first = run(["git", "rev-list", "--max-parents=0", "HEAD"], versions).stdout.strip()
    result = augmill(versions, "verify", first, check=False)  # the project before any run: no dvc.lock
    assert result.returncode == 1 and "has no dvc.lock" in result.stderr
    assert worktrees(versions) == [f"worktree {versions}"]
