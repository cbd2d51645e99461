"""Small file helpers every stage shares: atomic writes, deterministic JSON,
Parquet and CSV, and names that are safe to use as a folder on any OS."""

from __future__ import annotations

import filecmp
import functools
import hashlib
import json
import math
import os
import re
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from augmill.tasks import faults

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,63}")
_HASHED_SUFFIX = re.compile(r"-[0-9a-f]{8}$")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_name(text: str) -> str:
    """A file-system-safe, collision-free folder or file stem for any label or name.

    Plain names stay as they are; anything else (``../x``, ``CON``, unicode,
    slashes) becomes an ASCII slug plus a short hash of the original, so two
    different labels can never share a folder and no name can climb out of it.
    """
    stem = text.strip()
    if (
        _SAFE_NAME.fullmatch(stem)
        and stem == text
        and stem == stem.lower()  # "Cat" and "cat" must not share a folder on macOS or Windows
        and not _HASHED_SUFFIX.search(stem)  # nor can a label mimic another label's rewritten name
        and not stem.endswith((".", " "))
        and stem.split(".")[0].upper() not in _WINDOWS_RESERVED
    ):
        return stem
    slug = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_")[:40] or "x"
    return f"{slug}-{sha256_bytes(text.encode('utf-8', 'surrogatepass'))[:8]}"


SCRATCH = Path("data") / ".tmp"


@functools.lru_cache(maxsize=1024)
def _under_data(cwd: str, folder: Path) -> bool:
    # Cached per folder: resolving both paths on every write cost ~0.07 ms a file (augment
    # writes one per variant). The folder, not the file: the rename needs the folder's file system.
    return (Path(cwd) / folder).resolve().is_relative_to((Path(cwd) / SCRATCH.parent).resolve())


def temporary_path(path: Path) -> Path:
    """Where a file is written before its atomic rename. Under data/, whose folders
    are DVC directory outputs, that is data/.tmp (same file system, not an output),
    so no output folder ever holds a half-written file, even after a SIGKILL."""
    name = f".{path.name}.tmp-{os.getpid()}"
    if _under_data(os.getcwd(), path.parent):
        SCRATCH.mkdir(parents=True, exist_ok=True)  # every time: a stage start empties data/.tmp
        return SCRATCH / f"{sha256_bytes(str(path).encode('utf-8', 'surrogatepass'))[:16]}{name}"
    return path.with_name(name)


def _publish(tmp: Path, path: Path) -> None:
    """The one atomic step of every write: the rename (with the crash tests' seam around it)."""
    faults.at_write(path, "before")
    os.replace(tmp, path)
    faults.at_write(path, "after")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary sibling and rename, so a killed run never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        _publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave a stray file in an output folder
        raise


def copy_file_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(target)
    try:
        shutil.copyfile(source, tmp)
        _publish(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def copy_file_reusing(source: Path, target: Path, previous: Path, same: bool | None = None) -> None:
    """copy_file_atomic, except that when ``previous`` (this file in the last run's output, set
    aside) holds the very same bytes, it is moved to target instead: no write, and DVC, whose hash
    state is keyed by inode, mtime and size, need not hash it again. A move, never a link, so an
    edit of the output can never reach the source; and only a plain, unshared, non-executable
    file, so the result is what a fresh copy would be. ``same``: whether ``previous`` is known to
    hold the source's bytes (HashRecord: what the last run wrote, unchanged since by its stat);
    None: unknown, the bytes are compared."""
    try:
        kept = os.lstat(previous)
    except FileNotFoundError:
        kept = None
    if (kept is not None and stat.S_ISREG(kept.st_mode) and kept.st_nlink == 1 and not kept.st_mode & 0o111
            and (filecmp.cmp(source, previous, shallow=False) if same is None else same)):
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(previous, target)
    else:
        copy_file_atomic(source, target)


def stat_signature(info: os.stat_result) -> str:
    """What changes whenever a file's bytes may have: DVC's own hash state trusts inode, mtime and
    size; the ctime is added, which no tool can set back (a copy keeping the mtime still changes it)."""
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"


class HashRecord:
    """Files' sha256 by their stat signature, as DVC's hash state keeps md5s, in one Parquet file
    outside every DVC output (.augmill/): a file whose signature is unchanged since it was recorded
    holds the recorded bytes, so it need not be read again. Keys are paths. A missing or unreadable
    record only means files are read, as without it.

    Merge records what it wrote into data/final/ (the sha256 from its manifest: the bytes' hash for
    the file-based modalities): a file set aside unchanged, whose source has the same sha256, is
    moved back unread. Explore records the raw files it hashed."""

    def __init__(self, path: Path):
        self.path = path
        try:
            frame = pd.read_parquet(path, columns=["path", "sha256", "signature"])
            self.known = dict(zip(frame["path"], zip(frame["sha256"], frame["signature"], strict=True), strict=True))
        except (OSError, ValueError, KeyError):
            self.known = {}

    def trusted(self, key: str, info: os.stat_result) -> str | None:
        """The recorded sha256 of the file at ``key`` when ``info`` (its lstat now) is the recorded signature."""
        known = self.known.get(key)
        return known[0] if known is not None and known[1] == stat_signature(info) else None

    def same(self, key: str, sha256: str, previous: Path) -> bool | None:
        """True: ``previous`` holds the bytes of sha256; False: it holds others; None: unknown."""
        known = self.known.get(key)
        if known is None:
            return None
        if known[0] != sha256:
            return False
        try:
            return True if self.trusted(key, os.lstat(previous)) else None
        except FileNotFoundError:
            return None

    def save(self, keys: list[str], sha256s: list[str], signatures: list[str]) -> None:
        write_parquet(pd.DataFrame({"path": keys, "sha256": sha256s, "signature": signatures}), self.path)

    def record(self, root: Path, relatives: list[str], sha256s: list[str]) -> None:
        """The files as they are now under root (after the merge wrote them)."""
        self.save(relatives, sha256s, [stat_signature(os.lstat(root / r)) for r in relatives])


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return value


def write_json(path: Path, payload: Any) -> None:
    text = json.dumps(_json_safe(payload), indent=2, ensure_ascii=False, allow_nan=False)
    write_bytes_atomic(path, (text + "\n").encode("utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        frame.reset_index(drop=True).to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        _publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_parts(frames: Iterable[pd.DataFrame], path: Path, columns: list[str],
                        row_group_rows: int = 2048) -> int:
    """Write a table that arrives in parts without ever holding all of it; return its rows.

    Each part is spooled to a scratch file as it comes; then the parts' types are unified
    (a column all blank in one part is typed by the others) and copied into ``path`` in
    row groups of exactly ``row_group_rows``, so the file's bytes depend on the rows and
    their order only, never on how they were cut into parts (shard size, workers)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spool = Path(f"{temporary_path(path)}.parts")
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir(parents=True)
    parts: list[Path] = []
    try:
        for frame in frames:
            parts.append(spool / f"{len(parts):06d}.parquet")
            table = pa.Table.from_pandas(frame.reindex(columns=columns), preserve_index=False)
            pq.write_table(table, parts[-1], compression="none")
        if not parts:
            write_parquet(pd.DataFrame(columns=columns), path)
            return 0
        schema = pa.unify_schemas([pq.read_schema(part).remove_metadata() for part in parts],
                                  promote_options="permissive")
        tmp, rows = temporary_path(path), 0
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            waiting = schema.empty_table()
            for part in parts:
                waiting = pa.concat_tables([waiting, pq.read_table(part).replace_schema_metadata(None).cast(schema)])
                while len(waiting) >= row_group_rows:
                    writer.write_table(waiting.slice(0, row_group_rows))
                    waiting = waiting.slice(row_group_rows)
                    rows += row_group_rows
            if len(waiting):
                writer.write_table(waiting)
                rows += len(waiting)
        _publish(tmp, path)
        return rows
    finally:
        shutil.rmtree(spool, ignore_errors=True)
        if parts:  # a failed join leaves no half-written file in the scratch folder
            temporary_path(path).unlink(missing_ok=True)


def read_parquet(path: Path, what: str, exclude: Iterable[str] = (), filters: list | None = None,
                 sort_by: str | None = None) -> pd.DataFrame:
    """The table at ``path`` (``what``: which stage writes it, for the error), without the
    ``exclude`` columns, only the rows that pass pyarrow ``filters``, sorted by ``sort_by``."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is missing: run the stage that writes the {what} first")
    if not (exclude or sort_by):
        return pd.read_parquet(path, filters=filters)
    import pyarrow.parquet as pq

    excluded = set(exclude)
    columns = [name for name in pq.read_schema(path).names if name not in excluded]
    table = pq.read_table(path, columns=columns, filters=filters)
    # Sorted in Arrow (UTF-8 byte order, i.e. code point order, as Python's): one copy, no Python strings.
    return (table.sort_by(sort_by) if sort_by else table).to_pandas()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas (CSV injection) in text that came from data."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """A report meant for a spreadsheet (reports/*.csv, reviews/decisions.csv): a cell
    starting with = + - @, a tab or a CR gets a leading ' so no spreadsheet runs it.
    Never for a dataset file: that would change its values (``write_data_csv``)."""
    safe = frame.apply(lambda column: column.map(csv_cell)) if len(frame) else frame
    _write_csv_text(safe, path)


def write_data_csv(frame: pd.DataFrame, path: Path) -> None:
    """A dataset file (data/final/*.csv, a demo's data/raw table): every value exactly as in
    the manifest, formula-like or not, so the CSV and the Parquet give a training script the
    same labels and values (floats written as their shortest repr read back bit for bit).
    Read back with ``pd.read_csv(path, keep_default_na=False, na_values=[""])``, so that
    only a blank cell is missing ("NA" or "null" in a category stays text)."""
    _write_csv_text(frame, path)


def _write_csv_text(frame: pd.DataFrame, path: Path) -> None:
    # RFC 4180 line ends: then a cell holding a bare \r is quoted too and cannot split a row.
    text = frame.to_csv(index=False, lineterminator="\r\n")
    write_bytes_atomic(path, text.encode("utf-8"))
