"""Read the user's files of labelled texts (CSV/TSV, Parquet, JSON Lines) into
raw-manifest rows, one per record, with nothing dropped.

A whole file that cannot be used (missing, not a table, no text column) stops the
run with a message naming the file and what to change. A single record that
cannot be used (invalid UTF-8, no text, no label, a row with the wrong number of
fields) becomes a quarantined row whose ``path`` says where it is: ``texts.csv:17``
is line 17 of texts.csv (JSON Lines: line; Parquet: row, counting from 1).
Texts are kept as written except for two things: Unicode NFC form and no leading
or trailing whitespace.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from augmill.tasks.ingest import _SPLIT_ALIASES, SPLITS
from augmill.tasks.io import sha256_bytes

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_INVALID = re.compile("[\udc80-\udcff]")  # where surrogateescape put a byte that is not UTF-8
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # texts may be long; the default limit is 128 KiB


class TextFileError(ValueError):
    """A text file cannot be used at all; the message names it and the fix."""


@dataclass
class Record:
    number: int  # line (CSV, JSON Lines) or row (Parquet), from 1
    cells: dict  # column -> value as read (str, bytes, int, None ...)
    problem: tuple[str, str] | None = None  # (reason_code, message) when the record is unusable as a whole


def file_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40] or "file"


def text_hash(text: str) -> str:
    """sha256 of the NFC form of the text: the identity of a text's content. Texts are stored
    in NFC, so this is the hash of exactly the stored text, as the per-sample memo requires;
    texts that differ only in spacing are found as near duplicates (Jaccard 1.0)."""
    return sha256_bytes(unicodedata.normalize("NFC", text).encode("utf-8"))


def read_records(path: Path, columns: tuple[str, str], stats: dict) -> Iterator[Record]:
    """Every record of one file; ``columns`` (text, label) must exist, else TextFileError."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise TextFileError(f"{path}: unknown format {path.suffix!r}; use one of {sorted(FORMATS)}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TextFileError(f"{path}: file not found (check text.files and data.raw_dir)") from None
    except OSError as error:
        raise TextFileError(f"{path}: cannot read ({error.strerror or error})") from None
    if kind == "parquet":
        return _parquet_records(path, columns)
    if kind == "jsonl":
        return _jsonl_records(path, data, columns, stats)
    return _csv_records(path, data, columns, "\t" if kind == "tsv" else ",", stats)


def _missing(path: Path, wanted: tuple[str, str], found: list[str]) -> None:
    keys = ("text.text_column", "text.label_column")
    for key, column in zip(keys, wanted, strict=True):
        if column not in found:
            raise TextFileError(f"{path}: no column {column!r} ({key}); its columns are {found}. "
                                f"Set {key} to the column that holds the {key.split('.')[1].split('_')[0]}s.")


def _csv_records(path: Path, data: bytes, columns: tuple[str, str], delimiter: str, stats: dict) -> Iterator[Record]:
    # surrogateescape: one bad byte quarantines its record, not the file.
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise TextFileError(f"{path}: the file is empty; expected a header row with {list(columns)}") from None
    if any(_INVALID.search(name) for name in header):
        raise TextFileError(f"{path}: the header row is not valid UTF-8; re-save the file as UTF-8")
    header = [name.strip() for name in header]
    _missing(path, columns, header)
    for column in columns:
        if header.count(column) > 1:
            raise TextFileError(f"{path}: column {column!r} appears {header.count(column)} times in the header")
    return _csv_rows(path, reader, header, stats)


def _csv_rows(path: Path, reader, header: list[str], stats: dict) -> Iterator[Record]:
    line = reader.line_num
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise TextFileError(f"{path}:{reader.line_num}: not readable as CSV ({error})") from None
        line = reader.line_num
        if not row:
            stats["blank_lines"] = stats.get("blank_lines", 0) + 1
            continue
        if len(row) != len(header):
            yield Record(start, {}, ("malformed_row", f"{len(row)} fields where the header has {len(header)} "
                                                      "(an unquoted comma or quote in the text?)"))
            continue
        yield Record(start, dict(zip(header, row, strict=True)))


def _jsonl_records(path: Path, data: bytes, columns: tuple[str, str], stats: dict) -> Iterator[Record]:
    records, keys = [], set()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line; it starts no new one
    for number, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r")
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            stats["blank_lines"] = stats.get("blank_lines", 0) + 1
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            records.append(Record(number, {}, ("invalid_utf8", f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at "
                                                               f"byte {error.start} of the line); re-save the file as UTF-8")))
            continue
        except json.JSONDecodeError as error:
            records.append(Record(number, {}, ("malformed_row", f"not a JSON object ({error.msg} at column {error.colno})")))
            continue
        if not isinstance(value, dict):
            records.append(Record(number, {}, ("malformed_row", f"a JSON {type(value).__name__}, not an object")))
            continue
        keys.update(value)
        records.append(Record(number, value))
    if any(not r.problem for r in records):
        _missing(path, columns, sorted(keys))
    return iter(records)


def _parquet_records(path: Path, columns: tuple[str, str]) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise TextFileError(f"{path}: not readable as Parquet ({error})") from None
    _missing(path, columns, list(schema.names))
    table = pq.read_table(path)
    values = {}
    for name in table.column_names:
        column = table.column(name)
        # As bytes, so that invalid UTF-8 in one cell quarantines that row instead of failing the file.
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = column.cast(pa.large_binary())
        values[name] = column.to_pylist()
    return (Record(i + 1, {name: values[name][i] for name in values}) for i in range(table.num_rows))


# ---- one record -> one manifest row ---------------------------------------------------

def _as_text(value) -> tuple[str | None, str | None]:
    """(text, problem): bytes are decoded strictly; a str read with surrogateescape is checked."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError as error:
            return value.decode("utf-8", "replace"), f"byte 0x{value[error.start]:02x} at byte {error.start}"
    if isinstance(value, str):
        bad = _INVALID.search(value)
        if bad:
            byte = ord(bad.group()) - 0xDC00
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), \
                f"byte 0x{byte:02x} at character {bad.start()}"
        return value, None
    return None, None


def _as_label(value) -> str | None:
    """Labels: strings and integers (and integral floats, as Parquet gives ints with nulls)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def manifest_row(record: Record, name: str, columns: dict, file_split: str | None) -> dict:
    """One raw-manifest row: ok, or quarantined with the first problem found."""
    locator = f"{name}:{record.number}"
    row = {"sample_id": f"{file_slug(name)}-{record.number:05d}", "split": file_split, "label": None,
           "origin": "original", "path": locator, "sha256": None, "text": None}
    row["source_id"] = row["sample_id"]
    problem = record.problem
    if problem is None:
        problem = _fill(row, record.cells, columns)
    if file_split is None and problem is None and columns["split"] in record.cells:
        problem = _split(row, record.cells[columns["split"]])
    code, message = problem or ("", "")
    return row | {"status": "quarantined" if code else "ok", "reason_code": code,
                  "reason": f"{locator}: {message}" if code else ""}


def _fill(row: dict, cells: dict, columns: dict) -> tuple[str, str] | None:
    text_column, label_column = columns["text"], columns["label"]
    raw_text = cells.get(text_column)
    text, bad = _as_text(raw_text)
    row["text"] = text
    if bad:
        return "invalid_utf8", f"{text_column} is not valid UTF-8 ({bad}); re-save the file as UTF-8"
    if raw_text is None:
        return "missing_text", f"no {text_column} (null or absent)"
    if text is None:
        return "not_text", f"{text_column} is a {type(raw_text).__name__}, not a string"
    # Canonical Unicode form, outer whitespace off: "café" typed two ways, or with a stray trailing
    # space, is one text (for duplicates and leakage); nothing inside the text changes.
    text = row["text"] = unicodedata.normalize("NFC", text).strip()
    row["sha256"] = text_hash(text)
    if not text:
        return "empty_text", f"{text_column} is empty or only whitespace"
    if "\x00" in text:  # valid UTF-8, but a NUL inside a text is binary data (and breaks C-based readers downstream)
        return "nul_byte", f"{text_column} holds a NUL byte at character {text.index(chr(0))}: binary data, not text"
    raw_label = cells.get(label_column)
    label, bad = _as_text(raw_label)
    if bad:
        row["label"] = label
        return "invalid_utf8", f"{label_column} is not valid UTF-8 ({bad}); re-save the file as UTF-8"
    label = (label if label is not None else _as_label(raw_label))
    if raw_label is None or (label is not None and not label.strip()):
        return "missing_label", f"no {label_column}"
    if label is None:
        return "invalid_label", f"{label_column} is a {type(raw_label).__name__}; use a string or an integer"
    row["label"] = label.strip()
    if "\x00" in label:
        return "nul_byte", f"{label_column} holds a NUL byte"
    return None


def _split(row: dict, value) -> tuple[str, str] | None:
    split, bad = _as_text(value)
    if bad or (value is not None and split is None):
        return "invalid_split", f"split {value!r} is not one of {list(SPLITS)}"
    split = (split or "").strip().lower()
    if not split:
        return None  # no split given: one is drawn from data.split
    if split not in _SPLIT_ALIASES:
        return "invalid_split", f"split {split!r} is not one of {list(SPLITS)} (or an alias such as valid, dev)"
    row["split"] = _SPLIT_ALIASES[split]
    return None
