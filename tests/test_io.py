"""Tests for tasks/io.py: safe folder names, atomic writes, CSV-injection-safe
CSV and deterministic JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augmill.tasks.io import safe_name, write_bytes_atomic, write_csv, write_data_csv, write_json

TRICKY_LABELS = [
    "../../x", "/etc/passwd", "a/b", "a\\b", "CON", "con", "Con", "nul.txt", "CON.txt", "com1", "LPT9.log",
    "", " ", " x", "x ", "x.", "x", ".", "..", "...", ".hidden", "été", "e\u0301te\u0301", "日本語", "🐱",
    "=cmd|' /C calc'!A0", "-x", "_x", "new\nline", "tab\tx", "nul\x00byte", "x" * 64, "x" * 65, "x" * 200,
    "a b", "a_b", "a-b", "a.b", "a..b", "digit_3", "cat",
]


def check_safe(name: str) -> None:
    assert name, "empty name"
    assert "/" not in name and "\\" not in name
    assert name not in (".", "..")
    assert name.isascii()
    assert name.isprintable()
    assert not name.endswith((".", " ")) and not name.startswith((" ", "."))
    assert name.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                                              *(f"LPT{i}" for i in range(1, 10))}
    assert len(name) <= 64


def test_safe_name_rewrites_capitals_so_case_variants_never_share_a_folder():
    assert safe_name("Class 7") != "Class 7"
    assert safe_name("Class 7").lower() != safe_name("class 7").lower()


@pytest.mark.parametrize("plain", ["cat", "digit_3", "a b", "a-b", "a.b", "x" * 64])
def test_safe_name_keeps_plain_names(plain):
    assert safe_name(plain) == plain


@pytest.mark.parametrize("label", ["../../x", "/etc/passwd", "a/b", "CON", "nul.txt", "", " x", "x.", "été",
                                   "=cmd|' /C calc'!A0"])
def test_safe_name_rewrites_unsafe_names(label):
    name = safe_name(label)
    check_safe(name)
    assert name != label


def test_safe_name_is_safe_and_collision_free_over_tricky_labels():
    names = {label: safe_name(label) for label in TRICKY_LABELS}
    for name in names.values():
        check_safe(name)
    assert len(set(names.values())) == len(set(TRICKY_LABELS))
    # deterministic
    assert [safe_name(label) for label in TRICKY_LABELS] == list(names.values())


def test_safe_name_cannot_collide_with_a_rewritten_name():
    rewritten = safe_name("CON")
    assert safe_name(rewritten) != safe_name("CON")


def test_safe_name_labels_differing_in_case_get_distinct_folders():
    assert safe_name("Cat").casefold() != safe_name("cat").casefold()


def test_write_bytes_atomic_replaces_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    write_bytes_atomic(target, b"first version, longer")
    assert target.read_bytes() == b"first version, longer"
    write_bytes_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_write_bytes_atomic_failure_keeps_old_content_and_leaves_no_temp_file(tmp_path):
    # A real write failure (EFBIG, like ENOSPC) in a child process, so the limit does not touch pytest.
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from augmill.tasks.io import write_bytes_atomic
        target = Path({str(tmp_path / "out.bin")!r})
        write_bytes_atomic(target, b"old")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            write_bytes_atomic(target, b"x" * 5000)
        except OSError:
            print("failed as expected")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "failed as expected" in result.stdout
    assert (tmp_path / "out.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_write_csv_neutralises_formulas(tmp_path):
    frame = pd.DataFrame({"text": ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "=cmd|' /C calc'!A0", "safe=1", "a-b"]})
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back["text"].tolist() == ["'=1+2", "'+cmd", "'-2+3", "'@SUM(A1)", "'=cmd|' /C calc'!A0", "safe=1", "a-b"]
    for cell in back["text"]:
        assert not cell.startswith(("=", "+", "-", "@"))


def test_write_data_csv_keeps_formula_like_cells_exactly(tmp_path):
    cells = ["=1+1", "+x", "-x", "@x", "\tx", "\rx", "=cmd|' /C calc'!A0", "NA", "null", " x ", "'q"]
    frame = pd.DataFrame({"label": cells, "number": [-1.5, 0.1, 1e-300, 2.0**60 + 1, -0.0, 3, 1 / 3, 7, 8, 9, 10]})
    path = tmp_path / "data.csv"
    write_data_csv(frame, path)
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert back["label"].tolist() == cells
    assert back["number"].tolist() == frame["number"].tolist()
    write_csv(frame, tmp_path / "report.csv")  # the spreadsheet report of the same rows is neutralised
    assert pd.read_csv(tmp_path / "report.csv", keep_default_na=False)["label"].tolist()[:6] == [
        "'=1+1", "'+x", "'-x", "'@x", "'\tx", "'\rx"]


def test_write_csv_round_trips_ordinary_text(tmp_path):
    texts = ["plain", "a,b", 'say "hi"', "multi\nline", "été 日本語 🐱", "trailing space ", "'quoted'", "x|y;z"]
    frame = pd.DataFrame({"text": texts, "number": list(range(len(texts))), "ratio": np.linspace(0, 1, len(texts))})
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    back = pd.read_csv(path, dtype={"text": str}, keep_default_na=False)
    assert back["text"].tolist() == texts
    assert back["number"].tolist() == list(range(len(texts)))
    np.testing.assert_allclose(back["ratio"].to_numpy(), frame["ratio"].to_numpy())
    assert list(back.columns) == ["text", "number", "ratio"]


def test_write_csv_round_trips_carriage_returns(tmp_path):
    texts = ["before\rafter", "windows\r\nline", "plain"]
    path = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"text": texts}), path)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back["text"].tolist() == texts


def test_write_csv_empty_frame_keeps_header(tmp_path):
    path = tmp_path / "empty.csv"
    write_csv(pd.DataFrame(columns=["label", "count"]), path)
    assert path.read_bytes() == b"label,count\r\n"


def test_write_json_non_finite_becomes_null(tmp_path):
    payload = {
        "nan": float("nan"),
        "inf": float("inf"),
        "nested": {"values": [1.5, float("-inf"), np.float32("nan"), np.float64("inf")], "tuple": (np.nan, 2)},
        "numpy_int": np.int64(3),
        "ok": 0.25,
    }
    path = tmp_path / "out.json"
    write_json(path, payload)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "nan": None,
        "inf": None,
        "nested": {"values": [1.5, None, None, None], "tuple": [None, 2]},
        "numpy_int": 3,
        "ok": 0.25,
    }


def test_write_json_is_byte_identical_for_the_same_payload(tmp_path):
    def payload():
        return {"b": [1, 2.5, float("nan")], "a": {"label": "été", "count": np.int64(7)}, "z": None}

    first, second = tmp_path / "one.json", tmp_path / "two.json"
    write_json(first, payload())
    write_json(second, payload())
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().endswith(b"\n")
    assert "été" in first.read_text(encoding="utf-8")
