"""Read the user's table(s) into the raw manifest: one row per table row, the
common manifest columns first, then the feature columns in their own dtypes.

Where one row is the problem (no label, a bad split, a duplicate id, text in a
numeric column, an unparseable date, nothing but blanks) the row is quarantined
with a reason naming its file and row. Where the table is the problem (a missing
column, an all-empty column, a column half numbers and half text, a name the
pipeline needs for itself) nothing runs and the message says what to change.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks.ingest import _SPLIT_ALIASES, MANIFEST_COLUMNS, assign_splits, resolve_inside
from augmill.tasks.io import sha256_bytes
from augmill.tasks.modalities.tabular.schema import TableSchema
from augmill.tasks.params import Params

# Names the pipeline's own tables use: a feature column may not have one of them.
RESERVED_COLUMNS = frozenset(MANIFEST_COLUMNS) | {
    "ops", "seed", "variant", "variants", "stage", "augment_error", "final_path", "unreadable", "source_exists", "parents_exist",
    "integers_whole", "distance_to_closest_real", "privacy_distance_ratio", "class_fidelity"}
# A text column whose values are at least this share numbers is a numeric column with a few
# bad cells (those rows are quarantined); between this and half, it is too mixed to guess.
NUMERIC_SHARE = 0.95
# A finite number this large is quarantined too: its square (and a difference's) overflows
# float64, so SMOTE's neighbour search, spreads and privacy distances would turn infinite.
HUGE_NUMBER = 1e150


class TableError(ValueError):
    """The table (or how params describe it) cannot be used; nothing has been written."""


def csv_record_lines(path: Path) -> list[int]:
    """The line each CSV data record starts on (the header is line 1), as an editor shows it;
    blank lines hold no record, as pandas reads them."""
    import csv

    starts, line = [], 0
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if row:
                    starts.append(line + 1)
                line = reader.line_num
    except (csv.Error, UnicodeDecodeError):
        return []  # the caller falls back to counting rows
    return starts[1:]


def load_file(path: Path, name: str) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, encoding="utf-8", low_memory=False)
        else:
            table = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise TableError(f"tabular.files: {name} is empty; expected a header row and data rows") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise TableError(f"tabular.files: cannot read {name} as a UTF-8 CSV ({error})") from None
    except (OSError, ValueError) as error:
        raise TableError(f"tabular.files: cannot read {name} ({error})") from None
    if table.empty:
        raise TableError(f"tabular.files: {name} holds no data rows")
    table.columns = [str(c) for c in table.columns]
    return table


def read_tables(params: Params) -> pd.DataFrame:
    """Every file of tabular.files, concatenated, with its file name, each row's line (CSV)
    or row number (Parquet), and the split the file gives (if any)."""
    root, parts, columns = Path(params.data.raw_dir), [], None
    if not root.is_dir():
        raise TableError(f"data.raw_dir: {root} is not a folder (set data.raw_dir in params.yaml)")
    for name, split in params.tabular.file_splits():
        path = resolve_inside(root, name)
        if path is None or not path.is_file():
            raise TableError(f"tabular.files: no file {name} in data.raw_dir {root}")
        table = load_file(path, name)
        # Where a row is, for messages: its line in a CSV file, its row number (from 1) in Parquet.
        numbers = np.arange(1, len(table) + 1)
        if path.suffix.lower() == ".csv":
            lines = csv_record_lines(path)
            numbers = np.array(lines) if len(lines) == len(table) else numbers + 1
        if columns is not None and list(table.columns) != columns:
            missing, extra = sorted(set(columns) - set(table.columns)), sorted(set(table.columns) - set(columns))
            raise TableError(f"tabular.files: {name} has other columns than {parts[0]['_file'].iloc[0]} "
                             f"(missing {missing}, extra {extra}, or another order); give every file the same header")
        columns = list(table.columns)
        parts.append(table.assign(_file=name, _row=numbers, _file_split=split))
    return pd.concat(parts, ignore_index=True)


def check_columns(table: pd.DataFrame, params: Params) -> list[str]:
    """The feature columns; refuses a params key naming a column the table lacks, or a clash."""
    tab = params.tabular
    present = [c for c in table.columns if not c.startswith("_")]
    shown = ", ".join(present[:40]) + (" ..." if len(present) > 40 else "")
    for key in ("label_column", "split_column", "id_column"):
        name = getattr(tab, key)
        if name is not None and name not in present:
            raise TableError(f"tabular.{key}: no column {name!r} in {', '.join(f for f, _ in tab.file_splits())} "
                             f"(columns: {shown})")
    listed = {"categorical_columns": tab.categorical_columns, "datetime_columns": tab.datetime_columns,
              "drop_columns": tab.drop_columns, "sensitive.columns": tab.sensitive.columns}
    for key, names in listed.items():
        unknown = sorted(set(names) - set(present))
        if unknown:
            raise TableError(f"tabular.{key}: no column(s) {unknown} in the table (columns: {shown})")
    roles = {tab.label_column, tab.split_column, tab.id_column}
    features = [c for c in present if c not in roles and c not in tab.drop_columns]
    dropped_sensitive = sorted(set(tab.sensitive.columns) - set(features))
    if dropped_sensitive:
        raise TableError(f"tabular.sensitive.columns: {dropped_sensitive} must be feature columns "
                         "(not the label, split or id column, nor dropped)")
    clashes = sorted(set(features) & RESERVED_COLUMNS)
    if clashes:
        hint = " (set tabular.split_column: split if it holds train/val/test)" if "split" in clashes else ""
        raise TableError(f"column(s) {clashes} have names augmill uses for its own bookkeeping{hint}; "
                         f"rename them in the file or list them in tabular.drop_columns. Reserved: {sorted(RESERVED_COLUMNS)}")
    if not features:
        raise TableError("the table has no feature columns besides the label, split and id columns")
    return features


class RowProblems:
    """Reasons per table row; a row with any is quarantined (first reason's code)."""

    def __init__(self, table: pd.DataFrame):
        self._where = (table["_file"] + ":" + table["_row"].astype(str)).tolist()
        self.problems: dict[int, list[tuple[str, str]]] = {}

    def where(self, index: int) -> str:
        return self._where[index]

    def add(self, mask, code: str, reason) -> None:
        for index in np.flatnonzero(np.asarray(mask, dtype=bool)):
            text = reason(int(index)) if callable(reason) else reason
            self.problems.setdefault(int(index), []).append((code, f"{self._where[index]}: {text}"))


def _text(value) -> str | None:
    """A label, id or split cell as text; None when blank. 1.0 reads "1" (CSV ints with blanks are floats)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def out_of_range_numbers(name: str, numbers: pd.Series, cells: pd.Series, problems: RowProblems) -> str | None:
    """Quarantine the rows whose number is infinite or too large to square; a note when any.

    Called on every numeric column, however it was parsed (a float column, or text cells
    turned into numbers), so no spelling a reader turns into infinity (inf, -Infinity,
    1e999 in CSV; inf in Parquet) gets past it. ``cells``: the values as read, for the reason."""
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    with np.errstate(invalid="ignore"):
        huge = ~infinite & (np.abs(values) >= HUGE_NUMBER)
    def shown(i: int) -> str:  # as written in a text cell ('1e999'), else the number (inf)
        return repr(cells.iloc[i]) if isinstance(cells.iloc[i], str) else str(cells.iloc[i])

    problems.add(infinite, "infinite_value", lambda i: f"column {name!r} holds {shown(i)}, not a finite number")
    problems.add(huge, "huge_value", lambda i: f"column {name!r} holds {shown(i)}, {HUGE_NUMBER:g} or more in size: "
                                               "its square overflows, so distances and spreads would be infinite")
    counts = {"infinite": int(infinite.sum()), "too large": int(huge.sum())}
    found = [f"{count} {kind} value(s)" for kind, count in counts.items() if count]
    return f"column {name!r}: {' and '.join(found)} quarantined" if found else None


def normalise_column(name: str, column: pd.Series, params: Params, problems: RowProblems) -> tuple[pd.Series, str | None]:
    """The column in a dtype its kind can be learned from; a note when rows were quarantined for it."""
    tab = params.tabular
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(column.cat.categories.dtype)  # the values' own type; a category dtype is a storage detail
    if name in tab.datetime_columns:
        parsed = pd.to_datetime(column, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
        bad = column.notna() & parsed.isna()
        problems.add(bad, "bad_datetime", lambda i: f"column {name!r} holds {column.iloc[i]!r}, not a date/time")
        return parsed, (f"column {name!r}: {int(bad.sum())} row(s) with an unreadable date quarantined" if bad.any() else None)
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None), f"column {name!r}: times converted to UTC"
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column, out_of_range_numbers(name, column, column, problems)
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column, None
    present = column.notna()
    text_dtype = isinstance(column.dtype, pd.StringDtype)  # every value a str: no per-value checks needed
    values = column.to_numpy(dtype=object)[present.to_numpy()]
    if not text_dtype and len(values) and all(isinstance(v, (bool, np.bool_)) for v in values):
        return column.astype("boolean"), None
    if name not in tab.categorical_columns:
        stripped = column.str.strip() if text_dtype else column.map(lambda v: v.strip() if isinstance(v, str) else v)
        numbers = pd.to_numeric(stripped, errors="coerce")
        is_number, is_text = present & numbers.notna(), present & numbers.isna()
        share = is_number.sum() / max(int(present.sum()), 1)
        if is_number.any() and not is_text.any():
            return numbers, out_of_range_numbers(name, numbers, column, problems)
        if share >= NUMERIC_SHARE:
            problems.add(is_text, "mixed_type",
                         lambda i: f"column {name!r} holds {column.iloc[i]!r} where its other values are numbers")
            notes = [f"column {name!r}: numeric; {int(is_text.sum())} row(s) holding text quarantined",
                     out_of_range_numbers(name, numbers, column, problems)]
            return numbers, "; ".join(note for note in notes if note)
        if share >= 0.5:
            first_text = int(np.flatnonzero(is_text)[0])
            first_number = int(np.flatnonzero(is_number)[0])
            raise TableError(
                f"column {name!r} mixes numbers ({int(is_number.sum())} rows, e.g. {problems.where(first_number)}: "
                f"{column.iloc[first_number]!r}) and text ({int(is_text.sum())} rows, e.g. {problems.where(first_text)}: "
                f"{column.iloc[first_text]!r}); list it in tabular.categorical_columns to treat every value as a "
                "category, or clean the file")
    # A NUL inside a text cell is binary data, not a category (and breaks C-based readers downstream).
    has_nul = column.map(lambda v: isinstance(v, str) and "\x00" in v, na_action="ignore").fillna(False).astype(bool)
    problems.add(has_nul, "nul_byte", f"column {name!r} holds a NUL byte: binary data, not text")
    # Categories: one Python type per column, so Parquet can store it and sets compare.
    mixed = not text_dtype and len({type(v) for v in values}) > 1
    return (column.map(str, na_action="ignore").astype("str") if mixed else column), None


def sample_ids(table: pd.DataFrame, id_column: str | None) -> list[str]:
    if id_column is None:
        slugs = {name: re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40] or "table" for name in table["_file"].unique()}
        return [f"{slugs[f]}-{r:06d}" for f, r in zip(table["_file"], table["_row"], strict=True)]
    ids = []
    for value in table[id_column]:
        text = _text(value) or ""
        slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:32] or "row"
        ids.append(f"{slug}-{sha256_bytes(text.encode('utf-8', 'surrogatepass'))[:10]}")
    return ids


def read_table_manifest(params: Params) -> tuple[pd.DataFrame, list[str], list[str]]:
    """(raw manifest, feature columns, notes about what was quarantined or converted)."""
    tab = params.tabular
    table = read_tables(params)
    features = check_columns(table, params)
    problems, notes = RowProblems(table), []

    labels = [_text(v) for v in table[tab.label_column]]
    problems.add([v is None for v in labels], "missing_label", f"no value in the label column {tab.label_column!r}")
    if tab.split_column is not None:
        cells = [_text(v) for v in table[tab.split_column]]
        splits = [_SPLIT_ALIASES.get(c.lower()) if c else None for c in cells]
        problems.add([s is None for s in splits], "invalid_split",
                     lambda i: f"split column {tab.split_column!r} holds {cells[i]!r}, not one of train, val, test")
    else:
        splits = table["_file_split"].tolist()
    ids = sample_ids(table, tab.id_column)
    if tab.id_column is not None:
        blank = [_text(v) is None for v in table[tab.id_column]]
        problems.add(blank, "missing_id", f"no value in the id column {tab.id_column!r}")
        repeated = pd.Series(ids).duplicated(keep="first").to_numpy() & ~np.asarray(blank)
        problems.add(repeated, "duplicate_id", lambda i: f"id {table[tab.id_column].iloc[i]!r} appears on an earlier row too")
        ids = [f"{sid}-dup{i}" if repeated[i] or blank[i] else sid for i, sid in enumerate(ids)]

    columns = {}
    for name in features:
        columns[name], note = normalise_column(name, table[name], params, problems)
        notes += [note] if note else []
        if columns[name].isna().all():
            raise TableError(f"column {name!r} is empty in every row; list it in tabular.drop_columns")
    feature_frame = pd.DataFrame(columns)
    problems.add(feature_frame.isna().all(axis=1), "empty_row", "every feature is empty")

    codes = {i: found[0][0] for i, found in problems.problems.items()}
    reasons = {i: "; ".join(text for _, text in found) for i, found in problems.problems.items()}
    schema = TableSchema.infer(feature_frame, features, tab.categorical_columns)
    frame = pd.DataFrame({
        "sample_id": ids, "source_id": ids, "split": splits, "label": labels, "origin": "original",
        "path": (table["_file"] + ":" + table["_row"].astype(str)).tolist(),
        "sha256": schema.row_hashes(feature_frame),
        "status": ["quarantined" if i in codes else "ok" for i in range(len(table))],
        "reason_code": [codes.get(i, "") for i in range(len(table))],
        "reason": [reasons.get(i, "") for i in range(len(table))],
    })
    frame = pd.concat([frame, feature_frame], axis=1)
    frame = assign_splits(frame, params.data.split.model_dump(), params.seed)
    return frame, features, notes
