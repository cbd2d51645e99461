"""evaluate's per-file feature rows, memoized (execution.cache): an incremental run decodes
only the files it has not seen. Used by the file-based modalities' baseline_features hooks.

A row is found by the file's bytes (sha256) and suffix (which may pick the decoder), under
a salt that holds everything else shaping it (knobs, code, library versions). Rows are
stored in batches, one pack (.npz) per run that computed any, not one file per row:
creating a file costs 0.15-0.5 ms here, a third of decoding a small image, so per-row
files would slow a full run down by up to half; reading a pack of 40,000 rows is ~0.05 s.
Packs live in .augmill/cache/v2/evaluate/SALT/, outside every DVC output.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from augmill.tasks.cache import CACHE_ROOT
from augmill.tasks.io import sha256_file, write_bytes_atomic

# More packs than this (many small incremental runs) are joined into one on the next write.
MAX_PACKS = 8


class RowPacks:
    def __init__(self, salt: str, dtype, width: int, root: Path = CACHE_ROOT / "evaluate"):
        self.folder, self.dtype, self.width = root / salt, np.dtype(dtype), width
        self.rows: dict[str, np.ndarray] = {}
        self.loaded: list[Path] = []

    def load(self) -> None:
        for path in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
            try:
                with np.load(path, allow_pickle=False) as pack:
                    keys, rows = pack["keys"], pack["rows"]
            except (OSError, ValueError, KeyError):  # vanished (another run joined it) or unreadable: a miss
                continue
            if rows.dtype == self.dtype and rows.shape == (len(keys), self.width):
                self.rows.update(zip(keys.tolist(), rows, strict=True))
                self.loaded.append(path)

    def save(self, new: dict[str, np.ndarray]) -> None:
        """One pack of the new rows; or, past MAX_PACKS, one of every row, replacing the old packs."""
        join = len(self.loaded) >= MAX_PACKS
        chosen = self.rows | new if join else new
        keys = np.array(sorted(chosen), dtype=str)
        rows = np.stack([chosen[k] for k in keys.tolist()]).astype(self.dtype, copy=False)
        buffer = io.BytesIO()
        np.savez(buffer, keys=keys, rows=rows)
        data = buffer.getvalue()
        # Named by content: two runs making the same pack write the same file.
        write_bytes_atomic(self.folder / f"{hashlib.sha256(data).hexdigest()[:32]}.npz", data)
        for path in self.loaded if join else []:
            path.unlink(missing_ok=True)


def memoized_file_rows(folder: Path, frame, salt: str, row_of: Callable[[Path], np.ndarray], width: int,
                       dtype, enabled: bool) -> np.ndarray:
    """One row per frame row (``path`` relative to folder, ``sha256`` its bytes' hash), from
    the memo where it has the row, else ``row_of(path)``.

    Lookups trust the manifest's sha256 (merge copies byte for byte and writes it with
    data/final/), which saves hashing every file; a new row is stored under the hash of the
    bytes actually decoded, so a manifest out of step with its files can never plant a wrong row."""
    rows = np.empty((len(frame), width), dtype=dtype)
    packs = RowPacks(salt, rows.dtype, width)
    if enabled:
        packs.load()
    new: dict[str, np.ndarray] = {}
    hashes = frame["sha256"] if "sha256" in frame else [None] * len(frame)
    for index, (relative, sha) in enumerate(zip(frame["path"], hashes, strict=True)):
        # Strings, not pathlib, until a file is decoded: a hit costs a few microseconds.
        path, suffix = os.path.join(folder, relative), os.path.splitext(relative)[1].lower()
        hashed = enabled and not (isinstance(sha, str) and sha)
        if hashed:  # no column, or an empty cell: hash the file itself
            sha = sha256_file(path)
        key = f"{sha}{suffix}"
        known = packs.rows.get(key, new.get(key)) if enabled else None
        if known is not None:
            rows[index] = known
            continue
        row = np.asarray(row_of(Path(path)), dtype=rows.dtype)
        if row.shape != (width,):  # numpy would broadcast a short row into the table without a word
            raise ValueError(f"{path}: a feature row of shape {row.shape}, expected ({width},)")
        if enabled:
            new[key if hashed else f"{sha256_file(path)}{suffix}"] = row
        rows[index] = row
    if new:
        packs.save(new)
    return rows
