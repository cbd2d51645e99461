"""Find the user's file-based samples (images, recordings) and read each once:
the raw manifest.

Inputs users have: an ImageFolder-style tree ``label/file`` or ``split/label/file``,
or a CSV ``path,label[,split]``. Nothing is dropped: a file that cannot be a
sample stays in the manifest with ``status = quarantined`` and a reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from augmill.tasks.cache import Memo, key_of
from augmill.tasks.io import HashRecord, sha256_bytes, sha256_file, stat_signature
from augmill.tasks.samples import UnusableSample
from augmill.tasks.seeding import rank

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                  "validation": "val", "dev": "val", "test": "test", "testing": "test"}
# Columns every modality's raw manifest has; a modality's reader adds its own after them.
MANIFEST_COLUMNS = ["sample_id", "source_id", "split", "label", "origin", "path", "sha256", "status", "reason_code", "reason"]


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
    except pd.errors.EmptyDataError:
        raise ValueError(f"{csv_path}: the file is empty; expected columns path,label[,split]") from None
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


FileReader = Callable[[Path], dict]


def read_samples(root: Path, entries: Iterable[dict], read_file: FileReader,
                 progress: Callable[[], None] = lambda: None, memo: tuple[Memo, str] | None = None) -> pd.DataFrame:
    """Read every discovered file once with the modality's ``read_file`` (which
    returns its measurements, or raises UnusableSample); nothing is dropped.
    With a ``(memo, salt)``, a file whose bytes were read before is not decoded again, and a file
    unchanged since the last run (its stat signature, as DVC's hash state) is not hashed again."""
    from augmill.tasks import paths

    hashes = HashRecord(paths.RAW_HASHES_RECORD) if memo is not None and memo[0].enabled else None
    hashed: dict[str, tuple[str, str]] = {}
    rows = []
    for entry in entries:
        row = dict.fromkeys(MANIFEST_COLUMNS, None) | entry
        row.update(sample_id=sample_id_for(entry["path"]), origin="original", status="ok")
        row["source_id"] = row["sample_id"]
        if not row["reason_code"]:
            _read_one(root, row, read_file, memo, hashes, hashed)
        if row["reason_code"]:
            row["status"] = "quarantined"
        rows.append(row)
        progress()
    if hashes is not None:
        hashes.save(list(hashed), [sha for sha, _ in hashed.values()], [signature for _, signature in hashed.values()])
    frame = pd.DataFrame(rows)
    frame = frame[MANIFEST_COLUMNS + [c for c in frame.columns if c not in MANIFEST_COLUMNS]]
    duplicated = frame["sample_id"].duplicated(keep="first")
    frame.loc[duplicated, ["status", "reason_code"]] = ["quarantined", "duplicate_entry"]
    frame.loc[duplicated, "reason"] = frame.loc[duplicated, "path"] + ": listed more than once"
    frame.loc[duplicated, "sample_id"] += "-dup" + frame.index[duplicated].astype(str)
    frame.loc[duplicated, "source_id"] = frame.loc[duplicated, "sample_id"]
    return frame


def _read_one(root: Path, row: dict, read_file: FileReader, memo: tuple[Memo, str] | None,
              hashes: HashRecord | None = None, hashed: dict | None = None) -> None:
    real = resolve_inside(root, row["path"])
    if real is None:
        row.update(reason_code="outside_root", reason=f"{row['path']}: resolves outside {root}; not read")
        return
    if not real.is_file():
        row.update(reason_code="missing_file", reason=f"{row['path']}: no such file under {root}")
        return
    try:
        row["sha256"] = _sha256_of(real, hashes, hashed)
        row.update(_read_memoized(real, row["sha256"], read_file, memo))
    except UnusableSample as error:
        row.update(reason_code=error.code, reason=f"{row['path']}: {error.message.split(': ', 1)[-1]}")
    except OSError as error:
        row.update(reason_code="unreadable_file", reason=f"{row['path']}: {error.strerror or error}")


def _sha256_of(real: Path, hashes: HashRecord | None, hashed: dict | None) -> str:
    """The file's sha256: recorded, when its stat signature is unchanged, else read. The signature
    is taken before the read: a file changed while it is read has another one next time."""
    if hashes is None:
        return sha256_file(real)
    info = os.lstat(real)
    sha = hashes.trusted(str(real), info) or sha256_file(real)
    hashed[str(real)] = sha, stat_signature(info)
    return sha


def _read_memoized(path: Path, sha256: str, read_file: FileReader, memo: tuple[Memo, str] | None) -> dict:
    if memo is None:
        return read_file(path)
    store, salt = memo
    key = key_of(salt, sha256)
    cached = store.get(key)
    if cached is None:
        try:
            cached = {"measured": read_file(path)}
        except UnusableSample as error:
            cached = {"unusable": [error.code, error.message]}
        store.put(key, cached)
    if "unusable" in cached:
        raise UnusableSample(*cached["unusable"])
    return cached["measured"]


def assign_splits(frame: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.DataFrame:
    """Give rows without a split one: stratified by label, deterministic in the seed,
    and leakage-free, because exact duplicates (same sha256) always share a split.
    With ``fractions["resplit_train"]``, rows in train are split again the same way."""
    frame = frame.copy()
    unsplit = frame["split"].isna() | ((frame["split"] == "train") & bool(fractions.get("resplit_train")))
    todo = unsplit & (frame["status"] == "ok")
    if not todo.any():
        return frame
    pending = frame[todo]
    # One decision per content hash; a duplicate group follows the label of its first member.
    by_content = pending.sort_values("sample_id").groupby("sha256", sort=True)
    groups = by_content.agg(label=("label", "first"), size=("sample_id", "size"))
    groups["order"] = [rank(seed, "split", sha) for sha in groups.index]
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


def read_file_dataset(raw_dir: str, manifest_csv: str | None, read_file: FileReader, fractions: dict[str, float],
                      seed: int, what: str = "reading", memo: tuple[Memo, str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Discover (folder tree or CSV), read every file, and give unsplit rows a split."""
    from augmill.tasks.progress import progress_bar

    root = Path(raw_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data.raw_dir: {root} is not a folder (set data.raw_dir in params.yaml)")
    if manifest_csv:
        entries, layout = discover_csv(Path(manifest_csv)), f"csv manifest {manifest_csv}"
    else:
        entries = discover_folder(root)
        layout = "split/label/file" if any(e["split"] for e in entries) else "label/file"
    if not entries:
        raise ValueError(f"data.raw_dir: {root} holds no files")
    with progress_bar(f"explore: {what}", len(entries)) as advance:
        frame = read_samples(root, entries, read_file, advance, memo)
    return assign_splits(frame, fractions, seed), {"root": str(root), "layout": layout}


def copy_into_final(originals: pd.DataFrame, accepted: pd.DataFrame, raw_dir: Path,
                    suffix: Callable[[str], str]) -> pd.DataFrame:
    """For file-based modalities: copy originals (byte for byte) and accepted variants into
    data/final/split/label/, each named by its sample_id (unique, and safe whatever the
    input names were); return both as one frame whose ``path`` is relative to data/final."""
    from augmill.tasks import paths
    from augmill.tasks.io import copy_file_reusing, safe_name

    originals = originals.assign(
        final_path=[f"{s}/{safe_name(lbl)}/{i}{suffix(p)}"
                    for s, lbl, i, p in originals[["split", "label", "sample_id", "path"]].itertuples(index=False)])
    accepted = accepted.assign(final_path="train/" + accepted["path"])
    written = HashRecord(paths.FINAL_FILES_RECORD)
    for origin, frame in ((lambda p: raw_dir / p, originals), (lambda p: paths.AUGMENTED_DIR / p, accepted)):
        for source_path, target, sha256 in zip(frame["path"], frame["final_path"], frame["sha256"], strict=True):
            previous = paths.FINAL_PREVIOUS / target
            copy_file_reusing(origin(source_path), paths.FINAL / target, previous,
                              same=written.same(target, sha256, previous))
    written.record(paths.FINAL, [*originals["final_path"], *accepted["final_path"]],
                   [*originals["sha256"], *accepted["sha256"]])
    frame = pd.concat([originals, accepted], ignore_index=True)
    frame["path"] = frame.pop("final_path")
    return frame
