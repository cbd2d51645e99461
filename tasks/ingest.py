"""Find the user's samples and read each once: the raw manifest.

Inputs users have: an ImageFolder tree ``label/file`` or ``split/label/file``,
or a CSV ``path,label[,split]``. Nothing is dropped: a file that cannot be a
sample stays in the manifest with ``status = quarantined`` and a reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.imaging import UnreadableImage, channel_sums, load_image, perceptual_hash
from tasks.io import sha256_bytes, sha256_file
from tasks.ops.policy import stable_hash

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                  "validation": "val", "dev": "val", "test": "test", "testing": "test"}
MANIFEST_COLUMNS = [
    "sample_id", "source_id", "split", "label", "origin", "path", "sha256", "phash",
    "width", "height", "mode", "format", "status", "reason_code", "reason",
]


def sample_id_for(relative_path: str) -> str:
    """Readable and unique: the file stem, slugged, plus a hash of the whole path."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(relative_path).stem).strip("_")[:32] or "sample"
    return f"{stem}-{sha256_bytes(relative_path.encode('utf-8', 'surrogatepass'))[:10]}"


def _entry(path: str, label: str | None, split: str | None, code: str = "", reason: str = "") -> dict:
    return {"path": path, "label": label, "split": split, "reason_code": code, "reason": reason}


def discover_folder(root: Path) -> list[dict]:
    """Walk an ImageFolder tree; decide between ``split/label/file`` and ``label/file``."""
    top = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    has_splits = bool(top) and all(name.lower() in _SPLIT_ALIASES for name in top)
    entries = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue  # .DS_Store and friends are not samples
            relative = Path(dirpath, name).relative_to(root)
            parts = relative.parts
            rel = relative.as_posix()
            if has_splits and len(parts) >= 3:
                entries.append(_entry(rel, parts[1], _SPLIT_ALIASES[parts[0].lower()]))
            elif not has_splits and len(parts) >= 2:
                entries.append(_entry(rel, parts[0], None))
            else:
                expected = "split/label/file" if has_splits else "label/file"
                entries.append(_entry(rel, None, None, "no_label", f"{rel}: not inside a label folder (expected {expected})"))
    return entries


def discover_csv(csv_path: Path) -> list[dict]:
    """Read ``path,label[,split]``; rows with problems are kept with a reason."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ValueError(f"{csv_path}: cannot read as a UTF-8 CSV ({error})") from None
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {sorted(missing)}; expected path,label[,split]")
    entries = []
    for number, row in enumerate(table.itertuples(index=False), start=2):
        path, label = row.path.strip(), row.label.strip()
        split = getattr(row, "split", "").strip().lower() or None
        where = f"{csv_path}:{number}"
        if not path:
            entries.append(_entry(f"<row {number}>", label or None, None, "missing_path", f"{where}: empty path"))
        elif not label:
            entries.append(_entry(path, None, split, "missing_label", f"{where}: {path} has no label"))
        elif split is not None and split not in _SPLIT_ALIASES:
            entries.append(_entry(path, label, None, "invalid_split",
                                  f"{where}: split {split!r} is not one of {list(SPLITS)}"))
        else:
            entries.append(_entry(path, label, _SPLIT_ALIASES.get(split) if split else None))
    return entries


def resolve_inside(root: Path, relative: str) -> Path | None:
    """The file's real path if it lies inside root (symlinks followed), else None."""
    if Path(relative).is_absolute() or "\x00" in relative:
        return None
    real_root = root.resolve()
    candidate = (root / relative).resolve()
    return candidate if candidate.is_relative_to(real_root) else None


class ChannelStats:
    """Running per-mode channel mean/std over the readable images."""

    def __init__(self) -> None:
        self._sums: dict[str, list] = {}

    def add(self, image) -> None:
        total, squares, count = channel_sums(image)
        entry = self._sums.setdefault(image.mode, [0.0, 0.0, 0])
        entry[0], entry[1], entry[2] = entry[0] + total, entry[1] + squares, entry[2] + count

    def summary(self) -> dict:
        result = {}
        for mode, (total, squares, count) in sorted(self._sums.items()):
            mean = np.asarray(total) / count
            std = np.sqrt(np.maximum(np.asarray(squares) / count - mean**2, 0.0))
            result[mode] = {"mean": [round(float(v), 4) for v in mean], "std": [round(float(v), 4) for v in std]}
        return result


def read_samples(root: Path, entries: Iterable[dict], max_pixels: int, stats: ChannelStats,
                 progress: Callable[[], None] = lambda: None) -> pd.DataFrame:
    """Read every discovered file once: hashes, size, mode; or the reason it cannot be used."""
    rows = []
    for entry in entries:
        row = dict.fromkeys(MANIFEST_COLUMNS, None) | entry
        row.update(sample_id=sample_id_for(entry["path"]), origin="original", status="ok")
        row["source_id"] = row["sample_id"]
        if not row["reason_code"]:
            _read_one(root, row, max_pixels, stats)
        if row["reason_code"]:
            row["status"] = "quarantined"
        rows.append(row)
        progress()
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    duplicated = frame["sample_id"].duplicated(keep="first")
    frame.loc[duplicated, ["status", "reason_code"]] = ["quarantined", "duplicate_entry"]
    frame.loc[duplicated, "reason"] = frame.loc[duplicated, "path"] + ": listed more than once"
    frame.loc[duplicated, "sample_id"] += "-dup" + frame.index[duplicated].astype(str)
    frame.loc[duplicated, "source_id"] = frame.loc[duplicated, "sample_id"]
    return frame


def _read_one(root: Path, row: dict, max_pixels: int, stats: ChannelStats) -> None:
    real = resolve_inside(root, row["path"])
    if real is None:
        row.update(reason_code="outside_root", reason=f"{row['path']}: resolves outside {root}; not read")
        return
    if not real.is_file():
        row.update(reason_code="missing_file", reason=f"{row['path']}: no such file under {root}")
        return
    try:
        loaded = load_image(real, max_pixels)
    except UnreadableImage as error:
        row.update(reason_code=error.code, reason=f"{row['path']}: {error.message.split(': ', 1)[-1]}")
        row["sha256"] = sha256_file(real)
        return
    except OSError as error:
        row.update(reason_code="unreadable_file", reason=f"{row['path']}: {error.strerror or error}")
        return
    image = loaded.image
    stats.add(image)
    row.update(sha256=sha256_file(real), phash=perceptual_hash(image), width=image.width,
               height=image.height, mode=loaded.source_mode, format=loaded.source_format)


def assign_splits(frame: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.DataFrame:
    """Give rows without a split one: stratified by label, deterministic in the seed,
    and leakage-free, because exact duplicates (same sha256) always share a split."""
    frame = frame.copy()
    todo = frame["split"].isna() & (frame["status"] == "ok")
    if not todo.any():
        return frame
    pending = frame[todo]
    # One decision per content hash; a duplicate group follows the label of its first member.
    groups = pending.sort_values("sample_id").groupby("sha256", sort=True).agg(label=("label", "first"), size=("sample_id", "size"))
    groups["order"] = [stable_hash(f"{seed}:{sha}") for sha in groups.index]
    decided: dict[str, str] = {}
    for _, members in groups.sort_values("order").groupby("label", sort=True):
        total = int(members["size"].sum())
        quota = {"test": round(total * fractions["test"]), "val": round(total * fractions["val"])}
        taken = {"test": 0, "val": 0}
        for sha, size in members["size"].items():
            split = next((s for s in ("test", "val") if taken[s] < quota[s]), "train")
            if split != "train":
                taken[split] += int(size)
            decided[sha] = split
    frame.loc[todo, "split"] = pending["sha256"].map(decided)
    return frame
