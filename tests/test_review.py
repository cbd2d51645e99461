"""The review decisions file: reading and checking it, which variants it rejects,
and the `augmill review` command that edits it."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import pytest

from augmill.flows.cli import main
from augmill.tasks import paths
from augmill.tasks.merge import review_rejections
from augmill.tasks.review import (
    DecisionsError,
    add_decision,
    check_targets,
    read_decisions,
    rejected_variants,
    write_decisions,
)

HEADER = "target,decision,note,reviewer,date\n"


def _ops(*names: str) -> str:
    return json.dumps([{"name": name, "params": {}} for name in names])


VARIANTS = pd.DataFrame({
    "sample_id": ["a-aug000", "a-aug001", "b-aug000", "c-aug000"],
    "source_id": ["a", "a", "b", "c"],
    "label": ["1", "1", "2", "3"],
    "ops": [_ops("rotate"), _ops("rotate", "gaussian_noise"), _ops("contrast"), _ops("gaussian_noise")],
    "status": ["accepted", "accepted", "accepted", "quarantined"],
    "path": ["1/a-aug000.png", "1/a-aug001.png", "2/b-aug000.png", "3/c-aug000.png"],
})


def decisions(tmp_path, *lines: str) -> pd.DataFrame:
    path = tmp_path / "decisions.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return read_decisions(path)


def test_missing_or_empty_file_means_no_decisions(tmp_path):
    assert read_decisions(tmp_path / "absent.csv").empty
    assert decisions(tmp_path).empty


@pytest.mark.parametrize(("line", "message"), [
    ("a-aug000,drop,,me,2025-01-02", "decision 'drop' must be one of"),
    (",reject,,me,2025-01-02", "empty target"),
    ("op:,reject,,me,2025-01-02", "empty target"),
    ("a-aug000,reject,,me,02/01/2025", "must be YYYY-MM-DD"),
    ("a-aug000,reject,,me,2025-02-30", "must be YYYY-MM-DD"),
])
def test_malformed_rows_are_refused_with_file_and_line(tmp_path, line, message):
    with pytest.raises(DecisionsError) as error:
        decisions(tmp_path, "b-aug000,reject,ok,me,2025-01-01", line)
    assert message in str(error.value) and "decisions.csv:3" in str(error.value)


def test_a_wrong_header_is_refused(tmp_path):
    path = tmp_path / "decisions.csv"
    path.write_text("sample,decision\nx,reject\n")
    with pytest.raises(DecisionsError, match="the header must be target,decision,note,reviewer,date"):
        read_decisions(path)


def test_unknown_sample_or_operator_is_an_error_naming_the_line(tmp_path):
    table = decisions(tmp_path, "a-aug000,reject,,me,2025-01-01", "a-aug999,reject,,me,2025-01-01",
                      "op:twirl,reject,,me,2025-01-01")
    with pytest.raises(DecisionsError) as error:
        check_targets(table, VARIANTS, ["rotate", "contrast", "gaussian_noise"], "decisions.csv")
    text = str(error.value)
    assert "decisions.csv:3: 'a-aug999' is not an augmented sample" in text
    assert "decisions.csv:4: 'op:twirl': unknown operator" in text and "'rotate'" in text
    assert "decisions.csv:2" not in text


def test_operator_rejection_removes_every_variant_it_made(tmp_path):
    table = decisions(tmp_path, "op:gaussian_noise,reject,too noisy,ann,2025-01-01")
    assert set(rejected_variants(table, VARIANTS)) == {"a-aug001", "c-aug000"}


def test_last_decision_wins_and_a_sample_decision_beats_its_operator(tmp_path):
    table = decisions(tmp_path,
                      "op:rotate,reject,bad angle,ann,2025-01-01",
                      "a-aug000,accept,this one is fine,bob,2025-01-02",
                      "b-aug000,reject,smudged,bob,2025-01-02",
                      "b-aug000,accept,changed my mind,bob,2025-01-03")
    rejected = rejected_variants(table, VARIANTS)
    assert set(rejected) == {"a-aug001"}
    assert rejected["a-aug001"]["note"] == "bad angle" and rejected["a-aug001"]["reviewer"] == "ann"


def test_merge_quarantines_rejected_accepted_variants_with_the_note(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths.DECISIONS.parent.mkdir()
    paths.DECISIONS.write_text(HEADER + "op:gaussian_noise,reject,too noisy,ann,2025-01-01\n")
    accepted = VARIANTS[VARIANTS["status"] == "accepted"]
    rows = review_rejections(accepted, VARIANTS, "image")
    # c-aug000 has the operator too, but validation already quarantined it: it is not listed twice.
    assert rows["sample_id"].tolist() == ["a-aug001"]
    row = rows.iloc[0]
    assert (row["stage"], row["reason_code"]) == ("review", "review_rejected")
    assert row["path"] == "data/interim/augmented/1/a-aug001.png"
    assert "op:gaussian_noise" in row["reason"] and "ann" in row["reason"] and "too noisy" in row["reason"]


def test_merge_refuses_a_decision_naming_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths.DECISIONS.parent.mkdir()
    paths.DECISIONS.write_text(HEADER + "op:gausian_noise,reject,,ann,2025-01-01\n")
    with pytest.raises(DecisionsError, match="reviews/decisions.csv:2: 'op:gausian_noise': unknown operator"):
        review_rejections(VARIANTS[VARIANTS["status"] == "accepted"], VARIANTS, "image")


def test_written_file_reads_back_and_notes_cannot_become_formulas(tmp_path):
    path = tmp_path / "reviews" / "decisions.csv"
    table = pd.DataFrame([{"target": "a-aug000", "decision": "reject", "note": "=HYPERLINK(\"x\"), with comma",
                           "reviewer": "ann", "date": "2025-01-01"}])
    write_decisions(table, path)
    back = read_decisions(path)
    assert back.loc[0, "note"] == "'=HYPERLINK(\"x\"), with comma"
    assert back.loc[0, "target"] == "a-aug000" and back.loc[0, "line"] == 2


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A project folder with a validated manifest and an empty decisions file."""
    monkeypatch.chdir(tmp_path)
    paths.VALIDATED_MANIFEST.parent.mkdir(parents=True)
    VARIANTS.to_parquet(paths.VALIDATED_MANIFEST)
    paths.DECISIONS.parent.mkdir()
    paths.DECISIONS.write_text(HEADER)
    return tmp_path


def test_add_decision_validates_then_appends(workspace):
    add_decision("op:rotate", "reject", " blurry ", "ann", "image", today=datetime.date(2025, 3, 4))
    add_decision("a-aug000", "accept", "", "bob", "image", today=datetime.date(2025, 3, 5))
    table = read_decisions()
    assert table[["target", "decision", "note", "reviewer", "date"]].values.tolist() == [
        ["op:rotate", "reject", "blurry", "ann", "2025-03-04"], ["a-aug000", "accept", "", "bob", "2025-03-05"]]
    with pytest.raises(DecisionsError, match="'nope' is not an augmented sample"):
        add_decision("nope", "reject", "", "ann", "image")
    with pytest.raises(DecisionsError, match="unknown operator"):
        add_decision("op:hflipp", "reject", "", "ann", "image")
    assert len(read_decisions()) == 2  # nothing written by the refused calls


def test_review_command(workspace, capsys):
    (workspace / "params.yaml").write_text((Path(__file__).parents[1] / "params.yaml").read_text())
    assert main(["review", "reject", "op:gaussian_noise", "--note", "too noisy", "--reviewer", "ann"]) == 0
    assert "1 variant(s) now rejected by this line" in capsys.readouterr().out  # c-aug000 was already quarantined
    assert main(["review", "reject", "b-aug00X", "--reviewer", "ann"]) == 1
    assert "'b-aug00X' is not an augmented sample" in capsys.readouterr().err
    assert main(["review", "list"]) == 0
    listed = capsys.readouterr().out
    assert "reject  op:gaussian_noise  by ann  (too noisy)" in listed
    assert "in all: 1 of 3 validated variants rejected by review" in listed
    assert main(["review", "reject"]) == 1
    assert "give a SAMPLE_ID or op:OPERATOR" in capsys.readouterr().err


def test_the_review_gallery_does_not_pick_exactly_the_sources_that_got_an_extra_variant():
    """Its order and augment's remainder order were once the same hash of (seed, source)."""
    import pandas as pd

    from augmill.tasks.augment import assign_variants
    from augmill.tasks.review_pages import gallery_sources

    sources = pd.DataFrame({"source_id": [f"s{i:03d}" for i in range(60)], "label": ["a"] * 60})
    with_extra = assign_variants(sources, {"classes": {"a": {"new": 80}}}, seed=42)
    extra = set(with_extra.loc[with_extra["variants"] == 2, "source_id"])
    assert len(extra) == 20
    validated = pd.DataFrame({"source_id": sources["source_id"], "status": "accepted"})
    assert set(gallery_sources(validated, 20, seed=42)) != extra
