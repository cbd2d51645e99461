"""Reproducing a dataset version through a DVC remote: a fresh clone of the commit gets
the exact data with `dvc pull`, without running the pipeline again."""

from __future__ import annotations

import shutil

import pytest

from tests.project import commit, file_hashes, new_project, run, stages_run

pytestmark = pytest.mark.e2e


def test_a_fresh_clone_at_the_version_commit_pulls_the_exact_dataset(tmp_path):
    origin = new_project(tmp_path / "origin", {"prepare": {"max_per_class": 8}})
    run(["dvc", "repro"], origin)
    remote = tmp_path / "remote"
    # The remote is configured in .dvc/config and committed, so every clone knows where the data is.
    run(["dvc", "remote", "add", "-d", "local", str(remote)], origin)
    run(["dvc", "push"], origin)
    commit(origin, "dataset version")
    version = run(["git", "rev-parse", "HEAD"], origin).stdout.strip()
    (origin / "NOTES.md").write_text("a later commit, so that the clone has to check the version out\n")
    commit(origin, "later work")
    # Only the remote has the data now: the clone cannot borrow it from the original's cache.
    shutil.rmtree(origin / ".dvc" / "cache")

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    run(["git", "checkout", "-q", version], clone)
    assert not (clone / "data" / "final").exists()
    run(["dvc", "pull"], clone)

    final = file_hashes(clone / "data" / "final")
    assert "manifest.parquet" in final and len(final) > 10
    assert final == file_hashes(origin / "data" / "final")
    assert file_hashes(clone / "data" / "raw") == file_hashes(origin / "data" / "raw")
    assert (clone / "dvc.lock").read_bytes() == (origin / "dvc.lock").read_bytes()
    assert "up to date" in run(["dvc", "status"], clone).stdout
    # No re-run needed: DVC finds every stage of the pulled version up to date.
    assert stages_run(run(["dvc", "repro"], clone).stdout) == set()
    assert run(["git", "status", "--porcelain"], clone).stdout.strip() == ""
