"""merge moves last run's data/final files back instead of copying them again, but only
when the result is exactly what a fresh copy would be, and never by linking (an edit of
data/final must not reach data/raw or the augment outputs); it and explore trust a recorded sha256
only while the file's stat signature is unchanged. Real files throughout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from augmill.tasks import paths
from augmill.tasks.cache import Memo
from augmill.tasks.ingest import read_samples
from augmill.tasks.io import HashRecord, copy_file_reusing, sha256_bytes
from augmill.tasks.merge import set_aside_final


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


def recorded(tmp_path, content: bytes = b"same bytes"):
    """A file merge wrote last time (data/final/train/a.jpg) and its record, then set aside."""
    (paths.FINAL / "train").mkdir(parents=True)
    (paths.FINAL / "train/a.jpg").write_bytes(content)
    HashRecord(tmp_path / "record.parquet").record(paths.FINAL, ["train/a.jpg"], [sha256_bytes(content)])
    set_aside_final()
    return HashRecord(tmp_path / "record.parquet"), paths.FINAL_PREVIOUS / "train/a.jpg"


def test_a_recorded_untouched_file_is_known_the_same_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record, previous = recorded(tmp_path)
    assert record.same("train/a.jpg", sha256_bytes(b"same bytes"), previous) is True
    assert record.same("train/a.jpg", sha256_bytes(b"new source"), previous) is False  # copied afresh
    assert record.same("train/b.jpg", sha256_bytes(b"same bytes"), previous) is None  # never written: compared
    inode = previous.stat().st_ino
    source = tmp_path / "raw.jpg"
    source.write_bytes(b"same bytes")
    copy_file_reusing(source, paths.FINAL / "train/a.jpg", previous,
                      same=record.same("train/a.jpg", sha256_bytes(b"same bytes"), previous))
    assert (paths.FINAL / "train/a.jpg").stat().st_ino == inode


@pytest.mark.parametrize("edit", ["same size, mtime set back", "replaced by a copy keeping the mtime"])
def test_a_file_edited_since_it_was_recorded_is_compared_and_copied_afresh(tmp_path, monkeypatch, edit):
    monkeypatch.chdir(tmp_path)
    record, previous = recorded(tmp_path)
    before = previous.stat()
    if edit == "same size, mtime set back":
        previous.write_bytes(b"SAME BYTES")
        os.utime(previous, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        other = tmp_path / "other.jpg"
        other.write_bytes(b"SAME BYTES")
        os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(other, previous)
    known = record.same("train/a.jpg", sha256_bytes(b"same bytes"), previous)
    assert known is None  # the signature changed: the record is not trusted
    source = tmp_path / "raw.jpg"
    source.write_bytes(b"same bytes")
    copy_file_reusing(source, paths.FINAL / "train/a.jpg", previous, same=known)
    assert (paths.FINAL / "train/a.jpg").read_bytes() == b"same bytes"


def test_an_unreadable_record_means_compare(tmp_path):
    (tmp_path / "record.parquet").write_bytes(b"not parquet")
    assert HashRecord(tmp_path / "record.parquet").same("train/a.jpg", "0" * 64, tmp_path / "a.jpg") is None


def raw_folder(tmp_path):
    (tmp_path / "raw/a").mkdir(parents=True)
    (tmp_path / "raw/a/x.bin").write_bytes(b"raw bytes")
    return tmp_path / "raw", [{"path": "a/x.bin", "label": "a", "split": "train", "reason_code": "", "reason": ""}]


def read_raw_hashes(root, entries) -> str:
    memo = (Memo("explore", root=Path("memo")), "salt")
    return read_samples(root, entries, lambda path: {}, memo=memo).loc[0, "sha256"]


def test_explore_takes_an_unchanged_raw_file_s_sha256_from_its_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root, entries = raw_folder(tmp_path)
    assert read_raw_hashes(root, entries) == sha256_bytes(b"raw bytes")
    record = HashRecord(paths.RAW_HASHES_RECORD)
    (key, (_, signature)), = record.known.items()
    record.save([key], ["recorded, not read"], [signature])  # the record is what answers, while the stat holds
    assert read_raw_hashes(root, entries) == "recorded, not read"


def test_explore_hashes_a_raw_file_edited_since_even_with_its_mtime_set_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root, entries = raw_folder(tmp_path)
    read_raw_hashes(root, entries)
    before = (root / "a/x.bin").stat()
    (root / "a/x.bin").write_bytes(b"RAW BYTES")
    os.utime(root / "a/x.bin", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert read_raw_hashes(root, entries) == sha256_bytes(b"RAW BYTES")
