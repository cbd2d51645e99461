"""merge moves last run's data/final files back instead of copying them again, but only
when the result is exactly what a fresh copy would be, and never by linking (an edit of
data/final must not reach data/raw or the augment outputs). Real files throughout."""

from __future__ import annotations

import os

import pytest

from tasks import paths
from tasks.io import copy_file_reusing
from tasks.merge import set_aside_final


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source, previous, target = tmp_path / "raw/a.jpg", tmp_path / "old/a.jpg", tmp_path / "final/a.jpg"
    for path in (source, previous):
        path.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"same bytes")
    return source, previous, target


def test_identical_file_is_moved_back_not_linked(files):
    source, previous, target = files
    previous.write_bytes(b"same bytes")
    inode = previous.stat().st_ino
    copy_file_reusing(source, target, previous)
    assert target.read_bytes() == b"same bytes" and target.stat().st_ino == inode and not previous.exists()
    target.write_bytes(b"edited in data/final")  # in place: the source must not change
    assert source.read_bytes() == b"same bytes" and source.stat().st_nlink == 1


@pytest.mark.parametrize("kind", ["different bytes, same size", "hard-linked", "symlink", "executable"])
def test_anything_else_is_copied_afresh(files, kind):
    source, previous, target = files
    if kind == "different bytes, same size":
        previous.write_bytes(b"SAME BYTES")
    elif kind == "hard-linked":
        previous.write_bytes(b"same bytes")
        os.link(previous, previous.with_name("elsewhere.jpg"))
    elif kind == "symlink":
        previous.symlink_to(source)
    else:
        previous.write_bytes(b"same bytes")
        previous.chmod(0o755)
    before = os.lstat(previous).st_ino
    copy_file_reusing(source, target, previous)
    assert target.read_bytes() == b"same bytes" and not target.is_symlink()
    assert target.stat().st_ino not in (before, source.stat().st_ino) and not target.stat().st_mode & 0o111


def test_set_aside_starts_final_empty_and_keeps_the_last_one_aside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (paths.FINAL / "train/a").mkdir(parents=True)
    (paths.FINAL / "train/a/x.jpg").write_bytes(b"x")
    (paths.FINAL_PREVIOUS / "stale").mkdir(parents=True)  # left by a killed run: not reused
    set_aside_final()
    assert not paths.FINAL.exists()
    assert sorted(p.relative_to(paths.FINAL_PREVIOUS).as_posix() for p in paths.FINAL_PREVIOUS.rglob("*")) == \
        ["train", "train/a", "train/a/x.jpg"]
