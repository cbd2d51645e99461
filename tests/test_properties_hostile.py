"""Property tests (hypothesis): hostile cells through the real readers and then every
operator. A table of random hostile cells (every float spelling, huge and tiny numbers,
NUL, mixed types, blanks, dates in many formats) is written as CSV, read by the tabular
reader, and its clean rows fed to every tabular generator; texts of random hostile
records go through the text reader (CSV and JSON Lines) and every text operator.
Nothing is lost (every record is a row, ok or quarantined with a code and a reason) and
nothing crashes (a table may be refused as a whole only with a TableError naming what
to change). Example counts are modest: the whole file runs in well under a minute."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from augmill.tasks.modalities.tabular.modality import class_table, schema_of, train_rows
from augmill.tasks.modalities.tabular.read import TableError, read_table_manifest
from augmill.tasks.modalities.text import modality as text
from augmill.tasks.ops import policy
from tests.test_tabular_modality import make_params as tabular_params
from tests.test_text_modality import make_params as text_params

FLOAT_SPELLINGS = ["inf", "-inf", "+inf", "Infinity", "-Infinity", "INF", "1e999", "-1e400", "nan", "NaN", "-nan",
                   "1e308", "-1.7976931348623157e308", "1e150", "9.99e149", "5e-324", "-0.0", "1e-320", " 7 "]
HOSTILE_CELLS = ["", " ", "\x00", "a\x00b", "=1+1", "@x", "-x", "\tx", "\rx", "x\ny", "日本", "🐱", "\u202etxet",
                 "true", "False", "None", "NULL", "N/A", '"', "'", ",", "2021-03-04", "0x10", "1_000", "1,5", "12e", "."]
DATES = ["2021-03-04", "04/03/2021", "March 4, 2021", "2021-03-04T10:00:00Z", "2021-03-04 10:00:00+02:00", "20210304",
         "4 Mar 2021", "1677-09-21", "9999-12-31", "0000-00-00", "2021-02-30", "yesterday", "1e999", ""]
# Most cells plain, so a drawn table is usually a usable one: the hostile ones are the point.
numbers = st.one_of(st.sampled_from(FLOAT_SPELLINGS), st.floats().map(repr))  # any float, nan and inf, as Python writes it
plain_numbers = st.integers(-50, 50).map(str)
categories = st.one_of(st.sampled_from(["red", "green", "blue"]), st.sampled_from(HOSTILE_CELLS + FLOAT_SPELLINGS))
dates = st.one_of(st.sampled_from(DATES[:3]), st.sampled_from(DATES))
labels = st.one_of(st.sampled_from(["a", "b"]), st.sampled_from(["=1+1", "", " ", "-x"]))


@st.composite
def hostile_tables(draw) -> list[dict]:
    n = draw(st.integers(min_value=8, max_value=50))
    # A word among the numbers: one in 20 or more rows (blanks aside) is quarantined; more mix is refused
    # as a whole (test_tabular_modality), and the property accepts such a refusal too.
    words = {draw(st.integers(0, n - 1)): draw(st.sampled_from(HOSTILE_CELLS))
             for _ in range(draw(st.integers(0, 1 if n >= 30 else 0)))}
    rows = []
    for i in range(n):
        cell = words[i] if i in words else draw(st.one_of(plain_numbers, plain_numbers, numbers))
        rows.append({"num": cell, "count": draw(st.integers(0, 9).map(str)),
                     "cat": draw(categories), "when": draw(dates), "y": "a" if i < 3 else "b" if i < 6 else draw(labels),
                     "split": "test" if i % 7 == 6 else "train"})
    if draw(st.booleans()):  # numbers and dates only: SMOTE's turn instead of SMOTE-NC's
        rows = [{k: v for k, v in row.items() if k != "cat"} for row in rows]
    return rows


def csv_bytes(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def accounted_for(frame: pd.DataFrame, records: int) -> None:
    """Nothing lost: one row per record, each ok or quarantined with a code and a reason."""
    assert len(frame) == records
    assert set(frame["status"]) <= {"ok", "quarantined"}
    bad = frame[frame["status"] == "quarantined"]
    assert (bad["reason_code"].str.len() > 0).all() and (bad["reason"].str.len() > 0).all()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=hostile_tables(), seed=st.integers(0, 2**32 - 1))
def test_hostile_tables_are_read_without_loss_and_every_generator_runs_on_the_clean_rows(rows, seed):
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "t.csv").write_bytes(csv_bytes(rows))
        params = tabular_params(Path(folder), split_column="split", datetime_columns=["when"])
        try:
            frame, features, _ = read_table_manifest(params)
        except TableError as refused:  # the table as a whole (e.g. a column half words): said how to fix
            assert str(refused)
            event(f"table refused as a whole: {str(refused)[:40]}")
            return
    accounted_for(frame, len(rows))
    event(f"rows quarantined: {'some' if (frame['status'] != 'ok').any() else 'none'}")
    ok = frame[frame["status"] == "ok"]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(ok[c].dtype) and not pd.api.types.is_bool_dtype(ok[c].dtype)]
    for column in numeric:  # what a generator may see: finite numbers, small enough to square
        values = ok[column].to_numpy(dtype=float, na_value=np.nan)
        assert not np.isinf(values).any() and not (np.abs(values[~np.isnan(values)]) >= 1e150).any(), column
    train = train_rows(frame)
    schema = schema_of(train, params, features)
    distinct = train.drop_duplicates("sha256")
    for label in sorted(distinct["label"].unique()):
        table = class_table(train, label, schema)
        for name, operator in sorted(policy.operators_for("tabular").items()):
            generator = operator()
            if (generator.fits(schema) is not None or len(table.rows) < generator.min_rows
                    or (name.startswith("smote") and table.others.empty)):
                continue  # refused before any work by check_generation (tested in test_tabular_modality)
            made = generator.generate(table, 5, seed)
            event(f"{name} ran")
            assert len(made.frame) == 5 and list(made.frame.columns) == schema.names
            for spec in schema.numeric:
                values = made.frame[spec.name].to_numpy(dtype="datetime64[ns]" if spec.kind == "datetime" else float)
                if spec.kind != "datetime":
                    assert not np.isinf(values).any(), (name, spec.name)


text_cells = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_CELLS + FLOAT_SPELLINGS),
                       st.just("word " * 50), st.just("Multi\nline, \"quoted\" text. Second sentence! Third?"))


@st.composite
def hostile_records(draw) -> list[dict]:
    n = draw(st.integers(min_value=1, max_value=15))
    return [{"text": draw(text_cells), "label": draw(st.one_of(labels, st.sampled_from(HOSTILE_CELLS))),
             "split": draw(st.sampled_from(["train", "test", "", "holdout"]))} for _ in range(n)]


def jsonl_bytes(records: list[dict], odd: list) -> bytes:
    """JSON Lines; ``odd`` replaces some texts with non-string JSON values (numbers, Infinity, null, lists)."""
    lines = []
    for record, value in zip(records, odd + [None] * len(records), strict=False):
        lines.append(json.dumps(record | ({"text": value} if value is not None else {}), ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=hostile_records(), as_jsonl=st.booleans(), seed=st.integers(0, 2**32 - 1),
       odd=st.lists(st.sampled_from([float("inf"), float("nan"), 1e999, 3, [1], {"a": 1}, True]), max_size=3))
def test_hostile_texts_are_read_without_loss_and_every_text_operator_runs_on_the_clean_ones(records, as_jsonl, seed, odd):
    name = "t.jsonl" if as_jsonl else "t.csv"
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, name).write_bytes(jsonl_bytes(records, odd) if as_jsonl else csv_bytes(records))
        params = text_params(Path(folder), files=[name])
        frame, _ = text.read_raw(params)
    accounted_for(frame, len(records))
    event(f"{name}: {sorted(set(frame['reason_code']) - {''})}")
    ok = frame[frame["status"] == "ok"]
    assert all(isinstance(t, str) and t.strip() and "\x00" not in t for t in ok["text"])
    event(f"texts through the operators: {'some' if len(ok) else 'none'}")
    operators = [op.with_lexicon(text.load_lexicon(("wordnet",), ())) for op in
                 (cls() for _, cls in sorted(policy.operators_for("text").items()))]
    rng = np.random.default_rng(seed)
    for source in ok["text"]:
        for operator in operators:
            changed = operator.apply(source, **operator.sample(rng, source))
            assert isinstance(changed, str), operator.name
