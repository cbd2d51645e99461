"""A content-addressed memo of per-item results, so that an incremental run
(a few new samples, one operator changed) redoes only the new work.

Keys hash everything that determines a result: the item's content (sha256),
the knobs that shape it, the source code that computes it, and the installed
versions of the libraries it runs (an upgrade may move bytes: OpenCV 5.0 -> 5.1
changed an augmented image). A hit returns
exactly what a fresh computation would (every computation here is
deterministic), so outputs stay byte-identical to a full run. The memo lives
in .augmill/cache, outside every DVC output; deleting it only costs time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from augmill.tasks.io import read_json, temporary_path, write_bytes_atomic

# Versioned: a change to what an entry holds (v2: key order kept) must not reuse older entries.
CACHE_ROOT = Path(".augmill") / "cache" / "v2"
_PACKAGE = Path(__file__).resolve().parent


def code_version(*patterns: str) -> str:
    """Hash of the source files (glob patterns under tasks/) that compute a result: new code, new keys.
    A pattern that matches nothing raises: a moved or renamed file would otherwise hash as nothing
    and leave stale entries in use."""
    digest = hashlib.sha256()
    for pattern in patterns:
        found = sorted(_PACKAGE.glob(pattern))
        if not found:
            raise FileNotFoundError(f"code_version: the pattern {pattern!r} matches no file under {_PACKAGE}")
        for path in found:
            digest.update(path.relative_to(_PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _libsndfile() -> str:
    import soundfile

    return soundfile.__libsndfile_version__


def _libjpeg() -> str:
    from PIL import features

    return str(features.version("jpg"))


# Native libraries a distribution may load from outside its own version number (a source build
# links the system's), reported beside it.
_NATIVE_VERSIONS = {"soundfile": ("libsndfile", _libsndfile), "pillow": ("libjpeg", _libjpeg)}


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, as pip or uv recorded it (None: not installed)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def library_versions(*distributions: str) -> dict[str, str]:
    """The installed version of each distribution (as pip or uv recorded it: importlib.metadata),
    plus the native libraries in _NATIVE_VERSIONS: part of every memo key, so that an upgrade or
    a downgrade recomputes instead of reusing results the old library made."""
    versions = {}
    for name in distributions:
        versions[name] = installed_version(name)
        if versions[name] is None:
            raise ModuleNotFoundError(f"{name} is not installed, and augmill's results depend on it "
                                      f"(pip install -e . installs it)", name=name)
        if name in _NATIVE_VERSIONS:
            native, version_of = _NATIVE_VERSIONS[name]
            versions[f"{name}:{native}"] = version_of()
    return versions


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
