"""A content-addressed memo of per-item results, so that an incremental run
(a few new samples, one operator changed) redoes only the new work.

Keys hash everything that determines a result: the item's content (sha256),
the knobs that shape it, and the source code that computes it. A hit returns
exactly what a fresh computation would (every computation here is
deterministic), so outputs stay byte-identical to a full run. The memo lives
in .augmill/cache, outside every DVC output; deleting it only costs time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tasks.io import read_json, temporary_path, write_bytes_atomic

# Versioned: a change to what an entry holds (v2: key order kept) must not reuse older entries.
CACHE_ROOT = Path(".augmill") / "cache" / "v2"
_PACKAGE = Path(__file__).resolve().parent


def code_version(*patterns: str) -> str:
    """Hash of the source files (glob patterns under tasks/) that compute a result: new code, new keys."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(_PACKAGE.glob(pattern)):
            digest.update(path.relative_to(_PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def key_of(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class Memo:
    def __init__(self, name: str, enabled: bool = True, root: Path = CACHE_ROOT):
        self.folder = root / name
        self.enabled = enabled

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / key

    def get(self, key: str) -> Any | None:
        if not self.enabled:
            return None
        record = self._entry(key) / "value.json"
        return read_json(record) if record.exists() else None

    def put(self, key: str, value: Any) -> None:
        if self.enabled:
            # value.json is written last and atomically: it marks the entry complete.
            # Key order kept: a cached record must build the same table as a fresh one.
            text = json.dumps(value, default=_builtin)
            write_bytes_atomic(self._entry(key) / "value.json", text.encode("utf-8"))

    def put_file(self, key: str, name: str, source: Path) -> None:
        if self.enabled:
            _link_or_copy(source, self._entry(key) / name)

    def get_file(self, key: str, name: str, target: Path) -> None:
        _link_or_copy(self._entry(key) / name, target)


def _builtin(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard link when possible (free on one file system), else copy; atomic either way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(target)
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
