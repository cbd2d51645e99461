"""Real Great Expectations runs of the image suite (no mocks; network blocked)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
import pytest

from augmill.tasks.gx_validation import SuiteOutcome, load_suite, run_suite

SUITE = Path(__file__).resolve().parents[1] / "expectations" / "image_augmented.json"
PARAMS = {
    "labels": ["cat", "dog"],
    "min_size": 32,
    "max_size": 4096,
    "min_std": 2.0,
    "max_saturated_fraction": 0.2,
    "min_content_kept": 0.4,
    "max_fill_fraction": 0.3,
    "min_photometric_similarity": 0.5,
    "min_difference": 1.0,
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any attempt by GX to reach the network fails the test."""

    def refuse(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(sock, address)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)


def clean_table(n: int = 8) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"s{i:04d}" for i in range(n)],
            "source_id": [f"src{i // 2}" for i in range(n)],
            "label": ["cat", "dog"] * (n // 2),
            "source_exists": [True] * n,
            "width": [256] * n,
            "height": [192] * n,
            "std": [41.5] * n,
            "saturated_fraction": [0.01] * n,
            "content_kept": [0.9] * n,
            "fill_fraction": [0.05] * n,
            "photometric_similarity": [0.95] * n,
            "difference": [7.0] * n,
        }
    )


BAD_ROWS = {  # row id -> (column, bad value)
    "s0001": ("label", "cow"),
    "s0002": ("source_exists", False),
    "s0003": ("std", 0.0),
    "s0004": ("difference", 0.001),
    "s0005": ("photometric_similarity", 0.01),
    "s0007": ("content_kept", 0.3),
    "s0008": ("fill_fraction", 0.45),
    "s0006": ("width", 5000),
}


def bad_table() -> pd.DataFrame:
    df = clean_table(10)
    for row_id, (column, value) in BAD_ROWS.items():
        df.loc[df["sample_id"] == row_id, column] = value
    return df


def run(df: pd.DataFrame, **kwargs) -> SuiteOutcome:
    return run_suite(df, SUITE, id_column="sample_id", parameters=PARAMS, **kwargs)


def test_suite_file_round_trips_through_gx():
    import great_expectations as gx

    data = load_suite(SUITE)
    assert data["name"] == "image_augmented" and data["meta"]["description"]
    dumped = gx.ExpectationSuite(**data).to_json_dict()
    assert [(e["type"], e["kwargs"]) for e in dumped["expectations"]] == [(e["type"], e["kwargs"]) for e in data["expectations"]]


def test_clean_table_passes_quietly(capsys):
    outcome = run(clean_table())
    assert outcome.success
    assert outcome.failures == {}
    assert outcome.evaluated_rows == 8
    assert outcome.docs_index is None
    assert all(e.success and e.unexpected_count == 0 for e in outcome.expectations)
    assert len(outcome.expectations) == len(load_suite(SUITE)["expectations"])
    descriptions = {e.description for e in outcome.expectations}
    assert "photometric_similarity at least 0.5" in descriptions
    assert "fill_fraction at most 0.3" in descriptions
    assert "row count at least 1" in descriptions
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")  # no progress bars or prints


def test_bad_rows_fail_exactly_with_reasons():
    outcome = run(bad_table())
    assert not outcome.success
    assert set(outcome.failures) == set(BAD_ROWS)
    for row_id, (column, _) in BAD_ROWS.items():
        (reason,) = outcome.failures[row_id]
        assert reason.startswith(f"{column} not ")
    assert outcome.failures["s0004"] == ["difference not at least 1 (got 0.001)"]
    assert outcome.failures["s0005"] == ["photometric_similarity not at least 0.5 (got 0.01)"]
    assert outcome.failures["s0007"] == ["content_kept not at least 0.4 (got 0.3)"]
    assert outcome.failures["s0008"] == ["fill_fraction not at most 0.3 (got 0.45)"]
    assert outcome.failures["s0001"] == ["label not in ['cat', 'dog'] (got 'cow')"]
    failed = {(e.column, e.unexpected_count) for e in outcome.expectations if not e.success}
    assert failed == {("label", 1), ("source_exists", 1), ("std", 1), ("width", 1), ("difference", 1),
                      ("photometric_similarity", 1), ("content_kept", 1), ("fill_fraction", 1)}


def test_null_and_duplicate_ids_are_reported():
    df = clean_table(6)
    df["sample_id"] = df["sample_id"].astype(object)
    df.loc[1, "sample_id"] = None
    df.loc[3, "sample_id"] = "s0002"
    outcome = run(df)
    assert outcome.failures == {
        "<null sample_id>": ["sample_id is null"],
        "s0002": ["sample_id not unique (got 's0002')"],
    }


def test_table_level_failure_has_no_row_failures():
    outcome = run(clean_table().iloc[0:0])
    assert not outcome.success
    assert outcome.failures == {}
    (row_count,) = [e for e in outcome.expectations if e.column is None]
    assert not row_count.success


def test_missing_column_names_column_and_suite():
    with pytest.raises(ValueError, match=r"content_kept.*image_augmented\.json"):
        run(clean_table().drop(columns=["content_kept"]))
    with pytest.raises(ValueError, match="row_key"):
        run_suite(clean_table(), SUITE, id_column="row_key", parameters=PARAMS)


def test_wrong_column_type_is_a_clear_error():
    df = clean_table()
    df["width"] = df["width"].astype(str)
    with pytest.raises(ValueError, match=r"width.*failed to run"):
        run(df)


def test_missing_parameter_and_bad_suite_file(tmp_path):
    with pytest.raises(ValueError, match="max_fill_fraction"):
        run_suite(
            clean_table(), SUITE, id_column="sample_id", parameters={k: v for k, v in PARAMS.items() if k != "max_fill_fraction"}
        )
    with pytest.raises(ValueError, match="nope.json"):
        load_suite(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        load_suite(broken)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"name": "x", "expectations": [{"type": "expect_no_such_thing", "kwargs": {}}]}))
    with pytest.raises(ValueError, match="unknown.json"):
        load_suite(unknown)


def test_data_docs_written_only_where_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = run(bad_table(), docs_dir=Path("docs"))
    assert outcome.docs_index == tmp_path / "docs" / "index.html"
    assert outcome.docs_index.is_file()
    assert "image_augmented" in outcome.docs_index.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]  # no gx/ folder in cwd
    assert not outcome.success and set(outcome.failures) == set(BAD_ROWS)


def test_deterministic():
    first, second = run(bad_table()), run(bad_table())
    assert first.failures == second.failures
    assert first.expectations == second.expectations
