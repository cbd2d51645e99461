"""The augment stage streams: shards are made, run and written a few at a time, and the
manifest's bytes do not depend on how its rows were cut into shards."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from augmill.flows.executors import in_order
from augmill.tasks.augment import lineage_order, make_shards
from augmill.tasks.io import write_parquet_parts

COLUMNS = ["sample_id", "n", "x", "note"]


def table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(rows)
    return pd.DataFrame({"sample_id": [f"s{i:05d}" for i in range(rows)], "n": rng.integers(0, 9, rows),
                         "x": rng.normal(size=rows), "note": [None if i % 3 else f"t{i}" for i in range(rows)]})


@pytest.mark.parametrize("cuts", [[1000], [1, 999], [7] * 142 + [6], [500, 0, 500], [333, 333, 334]])
def test_parts_give_the_same_bytes_however_the_rows_are_cut(tmp_path, cuts):
    whole = table(1000)
    write_parquet_parts([whole], tmp_path / "whole.parquet", COLUMNS, row_group_rows=128)
    bounds = np.cumsum([0, *cuts])
    parts = (whole.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    assert write_parquet_parts(parts, tmp_path / "cut.parquet", COLUMNS, row_group_rows=128) == 1000
    assert (tmp_path / "cut.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert [pq.ParquetFile(tmp_path / "cut.parquet").metadata.row_group(i).num_rows for i in range(8)] == [128] * 7 + [104]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cut.parquet"), whole, check_dtype=False)


def test_a_column_blank_in_one_part_takes_its_type_from_the_others(tmp_path):
    first = pd.DataFrame({"sample_id": ["a"], "n": [1], "x": [None], "note": [None]})
    second = pd.DataFrame({"sample_id": ["b"], "n": [2], "x": [0.5], "note": ["hi"]})
    write_parquet_parts([first, second], tmp_path / "t.parquet", COLUMNS)
    read = pd.read_parquet(tmp_path / "t.parquet")
    assert read["x"].dtype == np.float64 and np.isnan(read["x"][0]) and read["x"][1] == 0.5
    assert read["note"].isna()[0] and read["note"][1] == "hi"


def test_no_parts_write_an_empty_table_with_the_columns(tmp_path):
    assert write_parquet_parts(iter(()), tmp_path / "t.parquet", COLUMNS) == 0
    assert list(pd.read_parquet(tmp_path / "t.parquet").columns) == COLUMNS


def test_in_order_keeps_at_most_window_shards_in_flight_and_yields_in_order():
    in_flight, most = [], 0

    def submit(function, item):
        nonlocal most
        future = Future()
        future.set_result(function(item))
        in_flight.append(item)
        most = max(most, len(in_flight))
        return future

    results = []
    for result in in_order(submit, lambda item: item * 10, range(50), window=3):
        in_flight.pop(0)
        results.append(result)
    assert results == [item * 10 for item in range(50)]
    assert most == 3


def test_shards_are_made_lazily_in_source_order():
    sources = pd.DataFrame({"source_id": [f"s{i}" for i in (5, 1, 4, 2, 3, 0)], "variants": [1, 0, 2, 1, 1, 3]})
    shards = make_shards(sources, shard_size=2)
    assert not isinstance(shards, list | tuple)
    assert [[row["source_id"] for row in shard.sources] for shard in shards] == [["s0", "s2"], ["s3", "s4"], ["s5"]]


def test_lineage_order_is_by_source_then_variant_not_by_sample_id():
    # "a-1-aug000" sorts before "a-aug001" as text; by source it comes after every variant of "a".
    rows = [{"source_id": "a-1", "variant": 0, "sample_id": "a-1-aug000"},
            {"source_id": "a", "variant": 10, "sample_id": "a-aug010"},
            {"source_id": "a", "variant": 2, "sample_id": "a-aug002"}]
    assert [row["sample_id"] for row in lineage_order(rows)] == ["a-aug002", "a-aug010", "a-1-aug000"]
