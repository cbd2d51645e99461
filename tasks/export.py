"""`augmill export`: a dataset version written the way another ecosystem reads it, to a folder
outside the DVC outputs, with the manifest beside it.

- ``imagefolder`` (images, audio): ``split/label/file`` plus a ``metadata.csv`` per split with
  ``file_name`` and the lineage columns (``soft_label``: a MixUp/CutMix row's JSON ``{label:
  weight}``, empty for the others), the layout of Hugging Face's ``imagefolder`` /
  ``audiofolder`` builders and of torchvision's ``ImageFolder`` (which ignores the CSV);
- ``hf``: ``datasets.DatasetDict.save_to_disk`` (typed features, lineage kept; see
  tasks.loaders.hf_dataset), read back by ``datasets.load_from_disk``;
- ``csv`` and ``parquet``: one table per split (``train.csv`` ...), the manifest's rows with
  the text or the table's features. CSV cells are written as they are (no spreadsheet
  neutralising: this is data), read back exactly by ``pandas.read_csv(keep_default_na=False,
  na_values=[""])``.

Every format also gets ``manifest.parquet`` (the rows exported, all columns).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from augmill.tasks.loaders import FINAL, LoaderError, _read, feature_columns, hf_dataset, modality_of, read_manifest

FORMATS = ("imagefolder", "hf", "csv", "parquet")


def export(root: str | Path, out: str | Path, fmt: str, *, split=None, origin=None, rev: str | None = None) -> dict:
    """Write the version in ``root`` (at ``rev``) to ``out`` as ``fmt``; return what was written."""
    root, out = Path(root).resolve(), Path(out).resolve()
    if fmt not in FORMATS:
        raise LoaderError(f"--format: {fmt!r} is not one of {list(FORMATS)}")
    if out.is_relative_to(root / "data") or out == root:
        raise LoaderError(f"--out: {out} is inside the project's data/ (DVC outputs); export to a folder outside it")
    if out.exists() and any(out.iterdir()):
        raise LoaderError(f"--out: {out} exists and is not empty; choose a new folder")
    frame = read_manifest(root, rev=rev, split=split, origin=origin)
    modality = modality_of(frame)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "imagefolder":
        if modality not in ("image", "audio"):
            raise LoaderError(f"--format imagefolder: a {modality} dataset has no files; use csv, parquet or hf")
        _folders(root, out, frame, rev)
    elif fmt == "hf":
        hf_dataset(root, rev=rev, split=sorted(frame["split"].unique()), origin=origin).save_to_disk(str(out / "hf"))
    else:
        columns = [c for c in frame.columns if c not in ("path",)] if modality in ("text", "tabular") else list(frame)
        for name, rows in frame.groupby("split", sort=True):
            if fmt == "parquet":
                rows[columns].to_parquet(out / f"{name}.parquet", index=False)
            else:
                rows[columns].to_csv(out / f"{name}.csv", index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    frame.to_parquet(out / "manifest.parquet", index=False)
    return {"format": fmt, "modality": modality, "rows": len(frame), "out": str(out),
            "splits": {str(k): int(v) for k, v in frame["split"].value_counts().sort_index().items()},
            "features": feature_columns(frame) if modality == "tabular" else []}


def _folders(root: Path, out: Path, frame, rev: str | None) -> None:
    for name, rows in frame.groupby("split", sort=True):
        metadata = []
        for row in rows.itertuples():
            target = out / name / Path(row.path).relative_to(name) if Path(row.path).parts[0] == name \
                else out / name / row.path
            target.parent.mkdir(parents=True, exist_ok=True)
            source = root / FINAL / row.path
            if rev is None:
                shutil.copyfile(source, target)
            else:
                target.write_bytes(_read(root, f"{FINAL}/{row.path}", rev))
            metadata.append({"file_name": target.relative_to(out / name).as_posix(), "label": row.label,
                             **{key: getattr(row, key) for key in ("sample_id", "source_id", "origin", "ops", "seed",
                                                                   "sha256", "soft_label") if hasattr(row, key)}})
        with open(out / name / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(metadata[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(metadata)
