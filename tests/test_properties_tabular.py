"""Property tests (hypothesis) on every tabular generator: any train table of any
size, column mix and share of blanks gives new rows of the same kind (columns,
dtypes, categories, ranges, whole numbers, blanks only where the source had them),
the class's real rows untouched, and each row replays exactly from its record."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from augmill.tasks.modalities.tabular.modality import class_table
from augmill.tasks.modalities.tabular.ops import replay_jitter, replay_row
from augmill.tasks.modalities.tabular.schema import TableSchema
from augmill.tasks.ops import policy

TABULAR_OPS = policy.operators_for("tabular")
SMOTE_FAMILY = ("smote", "smotenc", "smoten")

# One column of each kind a user's table can hold; a drawn table takes a subset.
NUMERIC_KINDS = ("float", "whole_float", "int", "date")
CATEGORY_KINDS = ("text", "bool", "int_category")


def _column(kind: str, rng: np.random.Generator, n: int, blanks: float, shift: np.ndarray):
    missing = rng.random(n) < blanks
    if kind == "float":
        return np.where(missing, np.nan, rng.normal(size=n) * 10.0 ** rng.integers(-3, 4) + shift)
    if kind == "whole_float":
        return np.where(missing, np.nan, rng.integers(0, 100, size=n) + shift.round()).astype(float)
    if kind == "int":
        return rng.integers(-5, 50, size=n) + shift.round().astype(np.int64)  # int64 cannot hold a blank
    if kind == "date":
        return pd.to_datetime("2021-01-01") + pd.to_timedelta(rng.integers(0, 500, size=n), unit="D")
    if kind == "text":
        values = rng.choice(["a", "b b", "ç", "=x"], size=n).astype(object)
        values[missing] = None
        return pd.array(values, dtype="str")
    if kind == "bool":
        return rng.random(n) < 0.4
    return rng.choice([1, 2, 3], size=n)  # int_category: declared categorical


@st.composite
def train_tables(draw) -> tuple[pd.DataFrame, TableSchema]:
    """A train split of a class 'target' and a class 'other', with 1–3 numeric and/or 1–3 category columns."""
    numeric = draw(st.lists(st.sampled_from(NUMERIC_KINDS), max_size=3, unique=True))
    categories = draw(st.lists(st.sampled_from(CATEGORY_KINDS), max_size=3, unique=True))
    assume(numeric or categories)
    n_target = draw(st.integers(min_value=2, max_value=40))
    n_other = draw(st.integers(min_value=1, max_value=30))
    blanks = draw(st.sampled_from([0.0, 0.1, 0.5]))
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    n = n_target + n_other
    label = np.array(["target"] * n_target + ["other"] * n_other)
    shift = (label == "target") * 3.0
    kinds = [*numeric, *categories]
    frame = pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(n)], "label": label}
                         | {f"c_{kind}": _column(kind, rng, n, blanks, shift) for kind in kinds})
    names = [f"c_{kind}" for kind in kinds]
    assume(frame[names].notna().any().all())  # a column blank in every row is refused by the reader (tested there)
    schema = TableSchema.infer(frame, names, categorical_columns=["c_int_category"] if "int_category" in kinds else [])
    frame = frame.assign(sha256=schema.row_hashes(frame), split="train", status="ok")
    # Generators need two distinct rows of the class (jitter: one); a draw of all-equal rows is not a valid input.
    assume(frame.loc[frame["label"] == "target", "sha256"].nunique() >= 2)
    return frame, schema


@pytest.mark.parametrize("name", sorted(TABULAR_OPS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(drawn=train_tables(), n=st.integers(min_value=1, max_value=30), seed=st.integers(min_value=0, max_value=2**63 - 1))
def test_every_generator_makes_valid_rows_of_the_class_and_replays_exactly(drawn, name, n, seed):
    frame, schema = drawn
    generator = TABULAR_OPS[name]()
    assume(generator.fits(schema) is None)  # a generator that does not fit is refused earlier (tested elsewhere)
    table = class_table(frame, "target", schema)
    before = table.rows.copy()

    made = generator.generate(table, n, seed)

    pd.testing.assert_frame_equal(table.rows, before)  # the real rows are not modified
    out = made.frame
    assert list(out.columns) == schema.names and len(out) == n
    assert len(made.sources) == len(made.seeds) == len(made.params) == n
    assert set(made.sources) <= set(table.ids)  # every row names a real row of its own class
    assert json.loads(json.dumps(made.params)) == made.params
    real = table.rows
    for spec in schema.columns:
        column = out[spec.name]
        assert str(column.dtype) == spec.dtype, spec.name
        if spec.categories:
            assert set(column.dropna()) <= set(spec.categories), spec.name
        if not spec.nullable:
            assert column.notna().all(), spec.name
        if spec.kind in ("numeric", "integer"):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            assert np.all(np.isnan(values) | ((values >= spec.low) & (values <= spec.high))), spec.name
            if spec.kind == "integer":
                assert np.all(np.isnan(values) | (np.mod(values, 1) == 0)), spec.name
        if spec.kind == "datetime":
            assert column.min() >= frame[spec.name].min() and column.max() <= frame[spec.name].max()

    by_id = frame.set_index("sample_id")
    for i, record in enumerate(made.params):
        row = out.iloc[[i]].reset_index(drop=True)
        if name in SMOTE_FAMILY:
            replayed = replay_row({"name": name, "params": record}, by_id, schema)
            assert set(record.get("parents", [])) | set(record.get("voters", [])) <= set(table.ids)
        elif name == "gaussian_jitter":
            source = real[real["sample_id"] == made.sources[i]].reset_index(drop=True)
            replayed = replay_jitter({"name": name, "params": record}, source, schema, table.spread())
        else:
            break  # the copula's rows come from one draw of the class: replay is regenerating it (below)
        pd.testing.assert_frame_equal(replayed, row)
    again = generator.generate(class_table(frame, "target", schema), n, seed)
    pd.testing.assert_frame_equal(again.frame, out)
    assert again.params == made.params and again.sources == made.sources
