"""What `augmill init` finds in a user's folder or file, and the params that fit it.

Pure inspection: files are read (headers of images and recordings, whole tables),
nothing is written. The result names the modality, the layout, the sections of
params.yaml that describe it, the default policy that fits it, and, line by line,
what was found and why each choice was made. Ambiguity (two plausible label
columns) is an error naming the flag that resolves it, never a silent guess.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from augmill.tasks.ingest import _SPLIT_ALIASES, discover_csv, discover_folder

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac"}
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson"}
TABULAR_SUFFIXES = {".csv", ".parquet", ".pq"}  # what the tabular modality reads
# Column names that say "this is the target", lower-cased.
LABEL_NAMES = ("label", "labels", "target", "class", "y", "category", "sentiment", "outcome", "diagnosis", "species")
SPLIT_NAMES = ("split", "fold", "subset", "set", "partition")
MAX_LABEL_CLASSES = 50

# Geometric and colour changes that keep the class of almost any image; no flips (a mirrored
# digit, letter or road sign is another class: the user turns them on knowingly).
IMAGE_POLICY = [
    {"name": "rotate", "p": 0.9, "angle": [-12, 12]},
    {"name": "random_resized_crop", "p": 0.7, "scale": [0.8, 1.0], "ratio": [0.9, 1.1]},
    {"name": "scale", "p": 0.4, "factor": [0.9, 1.1]},
    {"name": "brightness", "p": 0.5, "factor": [0.8, 1.2]},
    {"name": "contrast", "p": 0.5, "factor": [0.8, 1.2]},
    {"name": "gaussian_noise", "p": 0.3, "sigma": [2.0, 8.0]},
]
# EDA (Wei & Zou 2019) with alpha 0.1, their setting for small datasets, and contractions.
TEXT_POLICY = [
    {"name": "synonym_replacement", "p": 0.5, "alpha": [0.1, 0.1]},
    {"name": "random_insertion", "p": 0.3, "alpha": [0.1, 0.1]},
    {"name": "random_swap", "p": 0.3, "alpha": [0.1, 0.1]},
    {"name": "random_deletion", "p": 0.3, "alpha": [0.1, 0.1]},
    {"name": "sentence_shuffle", "p": 0.2},
    {"name": "contractions", "p": 0.3, "alpha": [0.5, 1.0]},
]
# Mild changes of timing, pitch, level and noise; add_noise last, so its SNR is the output's.
AUDIO_POLICY = [
    {"name": "time_shift", "p": 0.5, "shift": [-0.1, 0.1]},
    {"name": "time_stretch", "p": 0.4, "rate": [0.85, 1.15]},
    {"name": "pitch_shift", "p": 0.4, "semitones": [-2.0, 2.0]},
    {"name": "gain", "p": 0.5, "gain_db": [-6.0, 6.0]},
    {"name": "add_noise", "p": 0.5, "snr_db": [10.0, 30.0]},
]


class InitError(ValueError):
    """The input cannot be described without the user's help; the message names the flag or file."""


@dataclass
class Finding:
    modality: str
    layout: str
    raw_dir: Path                 # the folder the params' paths are relative to
    data: dict = field(default_factory=dict)      # params data: section, beyond modality and raw_dir
    section: dict = field(default_factory=dict)   # the modality's own section (text:, tabular:)
    policy: list[dict] = field(default_factory=list)
    augment: dict = field(default_factory=dict)   # other augment keys
    report: list[str] = field(default_factory=list)  # what was found and why, one line each


def _counts_line(frame: pd.DataFrame) -> list[str]:
    by_split = Counter(frame["split"].fillna("(none)"))
    by_class = Counter(frame["label"])
    classes = ", ".join(f"{label} {count}" for label, count in sorted(by_class.items(), key=lambda kv: str(kv[0]))[:20])
    more = f", ... ({len(by_class)} in all)" if len(by_class) > 20 else ""
    splits = ", ".join(f"{name} {by_split[name]}" for name in ("train", "val", "test") if by_split[name])
    splits += f"{', ' if splits else ''}{by_split['(none)']} without a split" if by_split["(none)"] else ""
    return [f"samples: {len(frame)} ({splits})", f"classes: {len(by_class)}: {classes}{more}"]


def _split_plan(splits: set[str], finding: Finding, where: str) -> None:
    """Make sure the run has a test split: draw one (stratified, seeded, recorded in data.split)."""
    if "test" in splits:
        finding.report.append(f"splits: {', '.join(s for s in ('train', 'val', 'test') if s in splits)} as given by {where}")
        return
    if not splits:
        finding.data["split"] = {"train": 0.7, "val": 0.15, "test": 0.15}
        finding.report.append(f"splits: none in {where}: train/val/test 70/15/15 drawn per class "
                              "(data.split: stratified, seeded, exact duplicates kept together)")
        return
    val = 0.0 if "val" in splits else 0.15
    finding.data["split"] = {"train": round(1 - 0.15 - val, 2), "val": val, "test": 0.15, "resplit_train": True}
    drawn = "test" if "val" in splits else "val and test"
    finding.report.append(f"splits: {', '.join(sorted(splits))} only, no test split: {drawn} drawn from train, 15 % each "
                          "per class (data.split.resplit_train: stratified, seeded, recorded)")


# ---- image and audio folders --------------------------------------------------------------------

def _header_problem(path: Path, modality: str) -> str | None:
    """Why a file is not a readable sample, from its header only (fast on large folders)."""
    suffixes = IMAGE_SUFFIXES if modality == "image" else AUDIO_SUFFIXES
    if path.suffix.lower() not in suffixes:
        return f"not {'an image' if modality == 'image' else 'a WAV/FLAC recording'} ({path.suffix or 'no extension'})"
    try:
        if modality == "image":
            from PIL import Image

            with Image.open(path) as image:
                image.size  # noqa: B018 - reading the header is the check
        else:
            import soundfile

            soundfile.info(str(path))
    except Exception as error:  # noqa: BLE001 - any failure means explore will quarantine it
        return f"unreadable ({type(error).__name__})"
    return None


def _file_samples(root: Path, entries: list[dict], modality: str, layout: str, finding: Finding) -> None:
    frame = pd.DataFrame(entries)
    problems = {}
    for entry in entries:
        if entry["reason_code"]:
            problems[entry["path"]] = entry["reason"].split(": ", 1)[-1]
        else:
            problem = _header_problem(root / entry["path"], modality)
            if problem:
                problems[entry["path"]] = problem
    usable = frame[~frame["path"].isin(problems)]
    if usable.empty:
        raise InitError(f"{root}: no readable {'images' if modality == 'image' else 'recordings'} found "
                        f"({len(entries)} file(s), none usable); expected {layout}")
    finding.report.append(f"found: {modality} files, layout {layout}")
    finding.report += _counts_line(usable)
    if problems:
        listed = "; ".join(f"{path}: {why}" for path, why in list(problems.items())[:5])
        more = f"; ... ({len(problems)} in all)" if len(problems) > 5 else ""
        finding.report.append(f"could not read {len(problems)} file(s) (explore quarantines them with the reason): "
                              f"{listed}{more}")
    _split_plan({s for s in usable["split"].dropna()}, finding, layout)
    finding.policy = IMAGE_POLICY if modality == "image" else AUDIO_POLICY
    finding.report.append("policy: " + (
        "geometric + colour (rotate ±12°, crop 80-100 %, scale, brightness, contrast, mild noise), safe for "
        "most images; no flips (a mirrored digit or sign is another class: add hflip yourself if yours are not)"
        if modality == "image" else
        "mild timing, pitch, gain and noise changes (time_shift, time_stretch, pitch_shift ±2 semitones, gain ±6 dB, "
        "add_noise 10-30 dB SNR), which keep what a recording says"))


def annotation_layout(root: Path) -> str | None:
    """coco (annotations/*.json beside images/), yolo (data.yaml, images/, labels/), voc
    (Annotations/*.xml beside JPEGImages/) or masks (images/ beside masks/), else None."""
    if (root / "JPEGImages").is_dir() and any((root / "Annotations").glob("*.xml")):
        return "voc"
    if not (root / "images").is_dir():
        return None
    if (root / "data.yaml").is_file() and (root / "labels").is_dir():
        return "yolo"
    if (root / "annotations").is_dir() and any((root / "annotations").glob("*.json")):
        return "coco"
    if (root / "masks").is_dir():
        return "masks"
    return None


def _inspect_annotated(root: Path, layout: str) -> Finding:
    """Images with boxes/masks (data.targets): counted in images and objects per class."""
    from collections import Counter

    from augmill.tasks.modalities.image.annotated import read_annotations
    from augmill.tasks.modalities.image.annotations import AnnotationFileError

    try:
        found = read_annotations(root, layout)
    except AnnotationFileError as error:
        raise InitError(str(error)) from None
    if not found.images:
        raise InitError(f"{root}: {layout} layout, but no usable annotated image ({len(found.problems)} problem(s), "
                        f"first: {found.problems[0].message() if found.problems else 'none'})")
    finding = Finding("image", f"{layout} annotations", root, data={"manifest_csv": None, "targets": layout})
    objects = Counter(found.categories.get(o.category, str(o.category)) for i in found.images for o in i.targets.objects)
    splits = Counter(image.split for image in found.images if image.split)
    finding.report.append(f"found: images with {layout} annotations (data.targets: {layout}), {len(found.images)} "
                          f"images, splits {dict(sorted(splits.items()))}")
    finding.report.append(f"objects per class: {dict(sorted(objects.items()))}")
    if found.problems:
        codes = Counter(p.reason_code for p in found.problems)
        finding.report.append(f"could not use {len(found.problems)} annotation(s)/image(s) (explore quarantines them "
                              f"with the reason): {dict(sorted(codes.items()))}")
    _split_plan(set(splits), finding, f"the {layout} files")
    finding.policy = IMAGE_POLICY
    finding.report.append("policy: geometric + colour; boxes, polygons and masks follow every geometric operator, "
                          "objects cut below augment.min_visibility are dropped and recorded")
    return finding


def _media_modality(paths: list[Path]) -> str | None:
    images = sum(p.suffix.lower() in IMAGE_SUFFIXES for p in paths)
    audio = sum(p.suffix.lower() in AUDIO_SUFFIXES for p in paths)
    if not images and not audio:
        return None
    return "image" if images >= audio else "audio"


def _inspect_folder_tree(root: Path, finding_modality: str) -> Finding:
    entries = discover_folder(root)
    layout = "split/label/file" if any(e["split"] for e in entries) else "label/file"
    finding = Finding(finding_modality, layout, root, data={"manifest_csv": None})
    _file_samples(root, entries, finding_modality, layout, finding)
    return finding


def _inspect_manifest(csv_path: Path) -> Finding:
    root = csv_path.parent
    entries = discover_csv(csv_path)
    modality = _media_modality([Path(e["path"]) for e in entries]) or "image"
    finding = Finding(modality, "csv manifest", root, data={"manifest_csv": csv_path.name})
    _file_samples(root, entries, modality, f"csv manifest {csv_path.name} (path,label[,split])", finding)
    return finding


def _is_manifest(path: Path) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    try:
        columns = set(pd.read_csv(path, nrows=0, dtype=str).columns)
    except Exception:  # noqa: BLE001 - not a readable CSV: not a manifest
        return False
    return {"path", "label"} <= columns


# ---- tables and texts ---------------------------------------------------------------------------

def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", low_memory=False)
    except Exception as error:  # noqa: BLE001 - any reader error: the file is unusable as a table
        raise InitError(f"{path}: cannot read as a table ({type(error).__name__}: {str(error)[:120]}); "
                        "fix the file or point augmill init at another") from None


def _split_files(files: list[Path]) -> dict[str, Path] | None:
    """{split: file} when every file is named after a split (train.csv, test.csv, ...)."""
    named = {path: _SPLIT_ALIASES.get(path.stem.lower()) for path in files}
    if len(files) > 1 and all(named.values()) and len(set(named.values())) == len(files):
        return {split: path for split in ("train", "val", "test") for path, named_split in named.items() if named_split == split}
    return None


def _is_text(series: pd.Series) -> bool:
    """Free text: strings of several words, mostly distinct."""
    values = series.dropna()
    if pd.api.types.is_numeric_dtype(series.dtype) or values.empty or not all(isinstance(v, str) for v in values.head(200)):
        return False
    words = values.astype(str).str.split().str.len()
    return float(words.mean()) >= 4 and values.nunique() >= 0.5 * len(values)


def _split_column(table: pd.DataFrame) -> str | None:
    for column in table.columns:
        if str(column).lower() in SPLIT_NAMES:
            values = table[column].dropna().astype(str).str.strip().str.lower()
            if len(values) and values.isin(list(_SPLIT_ALIASES)).all():
                return column
    return None


def _label_column(table: pd.DataFrame, taken: set, chosen: str | None) -> tuple[str, str]:
    """(column, why), or InitError naming --label-column when it is not clear."""
    if chosen is not None:
        if chosen not in table.columns:
            raise InitError(f"--label-column {chosen!r}: no such column; the columns are {list(table.columns)}")
        return chosen, "given by --label-column"
    free = [c for c in table.columns if c not in taken]
    named = [c for c in free if str(c).strip().lower() in LABEL_NAMES]
    if len(named) == 1:
        return named[0], f"its name says it is the target (one of {', '.join(LABEL_NAMES[:5])}, ...)"
    if len(named) > 1:
        raise InitError(f"two or more plausible label columns {named}: pass --label-column NAME "
                        f"(e.g. augmill init --label-column {named[0]})")
    few = [c for c in free if 2 <= table[c].nunique() <= min(MAX_LABEL_CLASSES, max(2, len(table) // 2))]
    if len(few) == 1:
        return few[0], f"the only column with few distinct values ({table[few[0]].nunique()})"
    if few:
        raise InitError(f"no column is named like a label and several could be one {few}: pass --label-column NAME "
                        f"(e.g. augmill init --label-column {few[0]})")
    raise InitError(f"no column can be the label (none is named {LABEL_NAMES[0]}/{LABEL_NAMES[2]}/... and none has "
                    f"2-{MAX_LABEL_CLASSES} distinct values): pass --label-column NAME")


def _text_column(table: pd.DataFrame, chosen: str | None) -> str | None:
    if chosen is not None:
        if chosen not in table.columns:
            raise InitError(f"--text-column {chosen!r}: no such column; the columns are {list(table.columns)}")
        return chosen
    texts = [c for c in table.columns if _is_text(table[c])]
    if len(texts) > 1:
        raise InitError(f"two or more columns hold free text {texts}: pass --text-column NAME for the one to augment "
                        f"(e.g. augmill init --text-column {texts[0]}); the others can be dropped from the files")
    return texts[0] if texts else None


def _inspect_tables(root: Path, files: list[Path], label_column: str | None, text_column: str | None) -> Finding:
    by_split = _split_files(files)
    tables = {path: _read_table(path) for path in files}
    columns = {tuple(t.columns) for t in tables.values()}
    if len(columns) > 1:
        raise InitError(f"{root}: the tables {[p.name for p in files]} have different columns; "
                        "run augmill init on one file (augmill init FILE) or give them the same columns")
    table = pd.concat(list(tables.values()), ignore_index=True)
    names = {p.name for p in files}
    listed = {s: p.name for s, p in by_split.items()} if by_split else sorted(names)
    text = _text_column(table, text_column)
    split = None if by_split else _split_column(table)
    taken = {c for c in (text, split) if c}
    if text is None and not all(p.suffix.lower() in TABULAR_SUFFIXES for p in files):
        raise InitError(f"{root}: {sorted(names)} hold no column of free text (several words per row), and a table of "
                        "features must be CSV or Parquet: pass --text-column NAME, or convert the file")
    label, why = _label_column(table, taken, label_column)
    modality = "text" if text else "tabular"
    finding = Finding(modality, "files per split" if by_split else "table file(s)", root)
    finding.report.append(f"found: {modality}, {len(files)} file(s) {listed}, {len(table)} rows, columns {list(table.columns)}")
    if text:
        finding.report.append(f"text column: {text!r} (free text: several words per row, mostly distinct)")
    finding.report.append(f"label column: {label!r}: {why}")
    splits_given = set()
    if by_split:
        splits_given = set(by_split)
    elif split:
        splits_given = set(table[split].dropna().astype(str).str.strip().str.lower().map(_SPLIT_ALIASES))
        finding.report.append(f"split column: {split!r} (its values are train/val/test)")
    labelled = table.assign(label=table[label].astype(str), split=None)
    if by_split:
        labelled["split"] = [s for path, t in tables.items() for s in [_SPLIT_ALIASES[path.stem.lower()]] * len(t)]
    elif split:
        labelled["split"] = table[split].astype(str).str.strip().str.lower().map(_SPLIT_ALIASES)
    finding.report += _counts_line(labelled[table[label].notna()])
    _split_plan(splits_given, finding, "the file names" if by_split else f"column {split!r}" if split else "the table")
    if modality == "text":
        finding.section = {"files": listed, "text_column": text, "label_column": label, "split_column": split}
        finding.policy = TEXT_POLICY
        finding.report.append("policy: EDA (synonym replacement, random insertion/swap/deletion, alpha 0.1) with "
                              "sentence shuffle and contractions: the text defaults, which keep a text's meaning")
    else:
        _tabular_section(table, label, split, listed, labelled, finding)
    return finding


def _tabular_section(table: pd.DataFrame, label: str, split: str | None, listed, labelled: pd.DataFrame,
                     finding: Finding) -> None:
    ids = [c for c in table.columns if c not in (label, split) and (str(c).lower() == "id" or str(c).lower().endswith("_id"))
           and table[c].notna().all() and table[c].is_unique]
    id_column = ids[0] if ids else None
    features = [c for c in table.columns if c not in (label, split, id_column)]
    drop = [c for c in features if not pd.api.types.is_numeric_dtype(table[c].dtype)
            and table[c].nunique() > max(20, 0.9 * len(table))]
    features = [c for c in features if c not in drop]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(table[c].dtype)
                   or pd.api.types.is_bool_dtype(table[c].dtype)]
    numeric = [c for c in features if c not in categorical]
    if not features:
        raise InitError(f"the table has no feature column besides {label!r}: nothing to learn from or to generate")
    finding.section = {"files": listed, "label_column": label, "split_column": split, "id_column": id_column,
                       "drop_columns": drop}
    if id_column:
        finding.report.append(f"id column: {id_column!r} (named like an id, every value distinct)")
    if drop:
        finding.report.append(f"dropped from the features: {drop} (text with a distinct value in almost every row: "
                              "an identifier or free text, not a feature)")
    finding.report.append(f"features: {len(numeric)} numeric, {len(categorical)} categorical {categorical}")
    train = labelled[labelled["split"].isna() | (labelled["split"] == "train")]  # unsplit rows are mostly train
    smallest = int(train["label"].value_counts().min()) if len(train) else 2
    k = max(1, min(5, smallest - 1))
    generator = "smotenc" if numeric and categorical else "smoten" if categorical else "smote"
    finding.policy = [{"name": generator, "p": 0.75, "k_neighbors": k}, {"name": "gaussian_copula", "p": 0.25, "shrinkage": 0.1}]
    finding.augment = {"factor": 1.5}
    why = {"smotenc": "numeric and categorical columns: SMOTE-NC interpolates the numbers and votes the categories",
           "smoten": "categorical columns only: SMOTE-N",
           "smote": "numeric columns only: SMOTE"}[generator]
    finding.report.append(f"policy: {generator} (75 % of new rows; {why}; k_neighbors {k}) + gaussian_copula (25 %)")


# ---- entry point --------------------------------------------------------------------------------

def visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                           p.relative_to(root).parts))


def inspect(path: Path, label_column: str | None = None, text_column: str | None = None) -> Finding:
    """Describe the dataset at ``path`` (a folder or one file)."""
    if not path.exists():
        raise InitError(f"{path}: no such file or folder")
    if path.is_file():
        if _is_manifest(path):
            return _inspect_manifest(path)
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise InitError(f"{path}: not a table ({sorted(TABLE_SUFFIXES)}); for images or recordings give their folder")
        return _inspect_tables(path.parent, [path], label_column, text_column)
    files = visible_files(path)
    if not files:
        raise InitError(f"{path}: holds no files; put your dataset here (label/file, split/label/file, "
                        "a CSV manifest, or text/table files) or give its path: augmill init PATH")
    annotated = annotation_layout(path)
    if annotated:
        return _inspect_annotated(path, annotated)
    manifests = [p for p in files if p.parent == path and _is_manifest(p)]
    media = _media_modality(files)
    if manifests and media:
        if len(manifests) > 1:
            raise InitError(f"{path}: several CSV manifests {[p.name for p in manifests]}: give one, augmill init FILE")
        return _inspect_manifest(manifests[0])
    if media:
        return _inspect_folder_tree(path, media)
    tables = [p for p in files if p.parent == path and p.suffix.lower() in TABLE_SUFFIXES]
    if tables:
        return _inspect_tables(path, tables, label_column, text_column)
    raise InitError(f"{path}: found no images ({'/'.join(sorted(IMAGE_SUFFIXES))}), recordings (.wav/.flac) or "
                    f"tables ({'/'.join(sorted(TABLE_SUFFIXES))}) among {len(files)} file(s)")
