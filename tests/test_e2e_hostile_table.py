"""End-to-end on a hostile table, as a new user would bring one: `augmill run` (real Prefect,
DVC, GX) in a temporary git repo on a CSV whose numeric column holds `inf`, `-inf`, `1e308`
and a word, with an all-blank row, a NUL in a category, a bad date and an exact duplicate row,
and whose labels and categories start with = + - @, a tab or a CR. The run must exit 0, every
hostile row must be quarantined with its reason or kept on purpose, the accounting must
reconcile, and every value of every data/final CSV must equal the Parquet manifest's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.project import commit, new_project, run

pytestmark = pytest.mark.e2e

LABELS = ["=1+1", "+x", "-x", "@x"]  # formula-like: kept as data, never neutralised in data/final
CITIES = ["=A1", "\tLyon", "\rOslo", "+Pune", "-Rome", "@Nice"]  # a tab or CR at the start too
DATES = ["2021-03-04", "2021/03/05", "March 6, 2021", "2021-03-07T10:00:00", "8 Mar 2021"]
HOSTILE = {  # the cells of one train row of class "-x" -> the reason code it must get ("" = kept)
    "inf": ({"income": "inf"}, "infinite_value"),
    "-inf": ({"income": "-inf"}, "infinite_value"),
    "1e308": ({"income": "1e308"}, "huge_value"),
    "text in a number column": ({"income": "lots"}, "mixed_type"),
    "all blank": ({"income": "", "visits": "", "day": "", "city": ""}, "empty_row"),
    "NUL in a category": ({"city": "Os\x00lo"}, "nul_byte"),
    "bad date": ({"day": "2021-13-45"}, "bad_datetime"),
}
PROJECT = {
    "data": {"modality": "tabular", "raw_dir": "data/user"},
    "prepare": {"dataset": "none"},
    "tabular": {"files": ["hostile.csv"], "label_column": "y", "split_column": "split",
                "categorical_columns": ["city"], "datetime_columns": ["day"]},
    "augment": {"factor": 1.5, "policy": [{"name": "smotenc", "k_neighbors": 3}, {"name": "gaussian_copula", "p": 0.5}]},
    "execution": {"workers": 1},
    "evaluate": {"seeds": 1},
}


def csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


def hostile_csv(folder: Path) -> dict[str, str]:
    """hostile.csv written by hand (cells exactly as a user's export spells them); returns
    the path (file:line) of each hostile row -> its expected reason code."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(120):
        label = LABELS[i % 4] if i % 10 else LABELS[0]  # "=1+1" the most common class
        split = "test" if i % 6 == 0 else "train"
        rows.append({"income": f"{rng.normal(50, 10) + 5 * LABELS.index(label):.2f}", "visits": str(int(rng.integers(0, 12))),
                     "day": DATES[i % len(DATES)], "city": CITIES[int(rng.integers(0, len(CITIES)))],
                     "y": label, "split": split})
    base = dict(rows[5], y="-x", split="train", city="=A1")
    hostile = [(base | cells, code) for cells, code in HOSTILE.values()]
    hostile.append((dict(rows[7]), ""))  # an exact duplicate of a train row: kept on purpose (see README)
    header = ["income", "visits", "day", "city", "y", "split"]
    lines, expected, line = [",".join(header)], {}, 2
    for index, row in enumerate(rows + [row for row, _ in hostile]):
        if index >= len(rows):
            expected[f"hostile.csv:{line}"] = hostile[index - len(rows)][1]
        lines.append(",".join(csv_cell(row[c]) for c in header))
        line += 1 + sum(row[c].count("\r") + row[c].count("\n") for c in header)  # a quoted CR starts a line
    text = "\r\n".join(lines) + "\r\n"
    folder.mkdir(parents=True)
    (folder / "hostile.csv").write_bytes(text.encode("utf-8"))
    return expected


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, dict[str, str], str]:
    root = new_project(tmp_path_factory.mktemp("hostile"), PROJECT)
    expected = hostile_csv(root / "data/user")
    commit(root, "user data")
    result = run(["augmill", "run"], root, check=False)
    assert result.returncode == 0, result.stdout + result.stderr  # exit 0: the table's trouble is per row
    return root, expected, result.stdout


def test_every_hostile_row_is_quarantined_with_its_reason_or_kept_on_purpose(hostile):
    root, expected, _ = hostile
    raw = pd.read_parquet(root / "data/interim/raw_manifest.parquet").set_index("path")
    quarantine = pd.read_csv(root / "reports/quarantine.csv", keep_default_na=False).set_index("path")
    for path, code in expected.items():
        if code:
            assert raw.loc[path, "reason_code"] == code and quarantine.loc[path, "reason_code"] == code, path
            named = "every feature is empty" if code == "empty_row" else "column '"  # file, row and column
            assert quarantine.loc[path, "reason"].startswith(f"{path}: {named}"), path
        else:
            assert raw.loc[path, "status"] == "ok"
    explore = json.loads((root / "reports/explore.json").read_text())
    assert explore["exact_duplicates"]["groups"] >= 1
    ok = raw[raw["status"] == "ok"]
    assert np.isfinite(ok["income"].to_numpy(dtype=float)).all() and ok["income"].abs().max() < 1e150


def test_the_accounting_reconciles(hostile):
    root, expected, _ = hostile
    merge = json.loads((root / "reports/merge.json").read_text())
    accounting = merge["accounting"]
    assert accounting["balanced"] and accounting["raw_samples"] == 120 + len(expected)
    assert accounting["quarantined_raw"] >= len(HOSTILE)
    assert accounting["raw_samples"] == (accounting["final_originals"] + accounting["quarantined_raw"]
                                         + accounting["held_out_leaks"])
    final = pd.read_parquet(root / "data/final/manifest.parquet")
    assert (final["origin"] == "synthetic").sum() > 0  # the generators ran on the clean rows


def test_every_value_of_every_final_csv_round_trips(hostile):
    root, _, _ = hostile
    final = pd.read_parquet(root / "data/final/manifest.parquet")
    assert set(final["label"]) == set(LABELS) and set(final["city"].dropna()) <= set(CITIES)
    assert {"=A1", "\tLyon", "\rOslo"} <= set(final["city"])
    files = sorted((root / "data/final").glob("*.csv"))
    assert [f.name for f in files] == ["test.csv", "train.csv", "val.csv"]
    for path in files:
        back = pd.read_csv(path, keep_default_na=False, na_values=[""])
        rows = final[final["split"] == path.stem].sort_values(["label", "sample_id"]).reset_index(drop=True)
        assert back["sample_id"].tolist() == rows["sample_id"].tolist() and back["y"].tolist() == rows["label"].tolist()
        assert back["origin"].tolist() == rows["origin"].tolist()
        for column in ("income", "visits", "city"):
            assert back[column].tolist() == rows[column].tolist() or (
                back[column].isna().equals(rows[column].isna())
                and back[column].dropna().tolist() == rows[column].dropna().tolist()), (path.name, column)
        assert pd.to_datetime(back["day"]).tolist() == rows["day"].tolist(), path.name
