"""Tests for the text modality's hooks: reading CSV/TSV/JSONL/Parquet files with
bad records quarantined (never dropped), the profile and length-bias report,
augmenting a shard, the per-sample features and the GX suite over them, the
final files, the review page, the `text:` params and the fortunes demo."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from augmill.tasks import paths
from augmill.tasks.augment import Shard
from augmill.tasks.modalities.text import modality as text
from augmill.tasks.modalities.text.files import TextFileError, text_hash
from augmill.tasks.modalities.text.measures import near_duplicate_pairs, similarity
from augmill.tasks.ops.policy import replay
from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import parse_params

REPO = Path(__file__).resolve().parents[1]
POLICY = [{"name": "synonym_replacement", "p": 0.6}, {"name": "random_swap", "p": 0.3},
          {"name": "random_deletion", "p": 0.3}, {"name": "sentence_shuffle", "p": 0.3}]


def make_params(raw_dir: Path, **text_settings):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(modality="text", raw_dir=str(raw_dir))
    raw["prepare"] = {"dataset": "none"}
    raw["augment"]["policy"] = POLICY
    raw["text"] = text_settings
    return parse_params(raw)


def read(tmp_path: Path, name: str, content: bytes, **settings) -> pd.DataFrame:
    (tmp_path / name).write_bytes(content)
    frame, _ = text.read_raw(make_params(tmp_path, files=[name], **settings))
    return frame.set_index("path")


# ---- reading -----------------------------------------------------------------------


def test_csv_rows_with_problems_are_quarantined_with_their_line(tmp_path):
    content = (b"text,label,split\n"
               b"Good text here,spam,train\n"
               b'"A quoted, text\nover two lines",ham,test\n'
               b",ham,train\n"
               b"   ,ham,train\n"
               b"No label,,train\n"
               b"\n"
               b"Bad split,ham,holdout\n"
               b"too,many,fields,here\n") + b"Broken \xff\xfe bytes,spam,train\n" + b"Fine again,ham,\n"
    frame = read(tmp_path, "t.csv", content)
    assert len(frame) == 9  # every record; the blank line is not one
    assert frame.loc["t.csv:2", "status"] == "ok" and frame.loc["t.csv:2", "split"] == "train"
    assert frame.loc["t.csv:3", "text"] == "A quoted, text\nover two lines"
    codes = frame["reason_code"].to_dict()
    assert codes["t.csv:5"] == "empty_text" and codes["t.csv:6"] == "empty_text"
    assert codes["t.csv:7"] == "missing_label"
    assert codes["t.csv:9"] == "invalid_split" and codes["t.csv:10"] == "malformed_row"
    assert codes["t.csv:11"] == "invalid_utf8"
    assert "t.csv:11: text is not valid UTF-8 (byte 0xff" in frame.loc["t.csv:11", "reason"]
    assert frame.loc["t.csv:11", "text"] == "Broken \ufffd\ufffd bytes"  # shown repaired, for a reader
    assert frame.loc["t.csv:12", "status"] == "ok" and frame.loc["t.csv:12", "split"] in ("train", "val", "test")
    bad = frame[frame["status"] != "ok"]
    assert (bad["reason"].str.len() > 0).all() and bad["status"].eq("quarantined").all()
    # Parquet cannot hold a lone surrogate: the manifest must be writable.
    frame.reset_index().to_parquet(tmp_path / "manifest.parquet")


def test_sample_ids_and_hashes(tmp_path):
    frame = read(tmp_path, "my texts.csv", b"text,label\nHello world,a\n Hello world \t,b\ncafe\xcc\x81,a\ncaf\xc3\xa9,a\n"
                                           b"Hello  world,a\n")
    assert list(frame["sample_id"]) == [f"my_texts_csv-{n:05d}" for n in range(2, 7)]
    assert frame["sample_id"].equals(frame["source_id"])
    # Stored in NFC without outer whitespace, and hashed as stored: the same text typed two ways is one.
    assert frame["text"].tolist()[:4] == ["Hello world", "Hello world", "caf\u00e9", "caf\u00e9"]
    assert frame["sha256"].iloc[0] == frame["sha256"].iloc[1] and frame["sha256"].iloc[2] == frame["sha256"].iloc[3]
    assert frame["sha256"].iloc[4] != frame["sha256"].iloc[0]  # inner spacing is content; a near duplicate
    assert near_duplicate_pairs(frame["text"].tolist(), 0.99) == [(0, 4, 1.0)]
    # Exact duplicates share a split (no leakage by construction).
    assert frame["split"].iloc[0] == frame["split"].iloc[1]


def test_tsv_with_other_columns_and_bom(tmp_path):
    frame = read(tmp_path, "t.tsv", "\ufeffreview\tstars\tid\nGreat, really\t5\t1\n".encode(),
                 text_column="review", label_column="stars", split_column=None)
    assert frame.loc["t.tsv:2", ["text", "label", "status"]].tolist() == ["Great, really", "5", "ok"]


def test_nul_bytes_are_quarantined_and_a_huge_row_is_read_whole(tmp_path):
    huge = "word " * 400_000  # 2 MB in one CSV field: past the csv module's default 128 KiB limit
    frame = read(tmp_path, "t.csv", f'text,label\nhello\x00world,a\n"{huge}",b\nfine,a\nok,x\x00y\n'.encode())
    assert frame["reason_code"].tolist() == ["nul_byte", "", "", "nul_byte"]
    assert "t.csv:2: text holds a NUL byte at character 5" in frame.loc["t.csv:2", "reason"]
    assert frame.loc["t.csv:3", "text"] == huge.strip()
    frame = read(tmp_path, "t.jsonl", b'{"text": "escaped \\u0000 NUL", "label": "a"}\n')
    assert frame["reason_code"].tolist() == ["nul_byte"]


def test_jsonl_bad_lines_are_quarantined(tmp_path):
    content = (b'{"text": "fine", "label": "a"}\n'
               b'{"text": "bad \xc3\x28 byte", "label": "a"}\n'
               b"not json\n"
               b"[1, 2]\n"
               b'{"text": 42, "label": "a"}\n'
               b'{"label": "a"}\n'
               b'{"text": "label is a list", "label": ["a"]}\n'
               b'{"text": "int label", "label": 3, "split": "dev"}\n')
    frame = read(tmp_path, "t.jsonl", content)
    assert frame["reason_code"].tolist() == ["", "invalid_utf8", "malformed_row", "malformed_row", "not_text",
                                             "missing_text", "invalid_label", ""]
    assert frame.loc["t.jsonl:8", ["label", "split"]].tolist() == ["3", "val"]


def test_jsonl_infinity_and_nan_in_a_text_or_a_label_are_quarantined(tmp_path):
    # Python's json module reads Infinity, -Infinity, NaN and 1e999 as floats: none is a text or a label.
    content = (b'{"text": Infinity, "label": "a"}\n'
               b'{"text": -Infinity, "label": "a"}\n'
               b'{"text": NaN, "label": "a"}\n'
               b'{"text": 1e999, "label": "a"}\n'
               b'{"text": "fine", "label": Infinity}\n'
               b'{"text": "fine too", "label": 1e999}\n'
               b'{"text": "inf", "label": "inf"}\n')
    frame = read(tmp_path, "t.jsonl", content)
    assert frame["reason_code"].tolist() == ["not_text"] * 4 + ["invalid_label"] * 2 + [""]
    assert frame["reason"].iloc[0].startswith("t.jsonl:1: ") and frame.loc["t.jsonl:7", "text"] == "inf"


def test_parquet_with_invalid_utf8_nulls_and_int_labels(tmp_path):
    table = pa.table({"text": pa.array([b"ok text", b"bad \xff", None, b"fine"], pa.binary()),
                      "label": pa.array([1, 2, 3, None], pa.int64())})
    pq.write_table(table, tmp_path / "t.parquet")
    frame, _ = text.read_raw(make_params(tmp_path, files=["t.parquet"]))
    assert frame["reason_code"].tolist() == ["", "invalid_utf8", "missing_text", "missing_label"]
    assert frame["label"].iloc[0] == "1" and frame["path"].iloc[0] == "t.parquet:1"


def test_files_per_split(tmp_path):
    (tmp_path / "train.csv").write_text("text,label,split\nA train text,x,test\nAnother,y,\n", encoding="utf-8")
    (tmp_path / "test.jsonl").write_text('{"text": "A test text", "label": "x"}\n', encoding="utf-8")
    frame, context = text.read_raw(make_params(tmp_path, files={"train": "train.csv", "test": "test.jsonl"}))
    assert frame["split"].tolist() == ["train", "train", "test"]  # the file's split wins over the column
    assert [f["records"] for f in context["files"]] == [2, 1]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("t.csv", b"body,label\nx,y\n", "t.csv: no column 'text' (text.text_column); its columns are ['body', 'label']"),
    ("t.csv", b"text,category\nx,y\n", "no column 'label' (text.label_column)"),
    ("t.csv", b"", "the file is empty"),
    ("t.jsonl", b'{"body": "x", "label": "y"}\n', "no column 'text' (text.text_column)"),
    ("t.parquet", b"not parquet at all", "not readable as Parquet"),
])
def test_unusable_files_stop_with_a_message_naming_file_and_key(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(TextFileError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        text.read_raw(make_params(tmp_path, files=[name]))


def test_missing_file_and_missing_folder(tmp_path):
    with pytest.raises(TextFileError, match="nope.csv: file not found"):
        text.read_raw(make_params(tmp_path, files=["nope.csv"]))
    with pytest.raises(FileNotFoundError, match="data.raw_dir"):
        text.read_raw(make_params(tmp_path / "absent"))


def test_a_symlink_out_of_raw_dir_is_refused(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("text,label\nsecret,x\n")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "t.csv").symlink_to(outside)
    with pytest.raises(TextFileError, match="outside data.raw_dir"):
        text.read_raw(make_params(tmp_path / "raw", files=["t.csv"]))


# ---- params ------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "message"), [
    ({"files": ["../x.csv"]}, "text.files"),
    ({"files": ["x.xlsx"]}, "unknown format"),
    ({"files": []}, "at least one file"),
    ({"files": {"holdout": "x.csv"}}, "text.files"),
    ({"label_column": "text"}, "must differ"),
    ({"synonyms": ["missing_thesaurus.txt"]}, "missing_thesaurus.txt: synonym file not found"),
    ({"min_similarity": 0.9, "max_similarity": 0.5}, "min_similarity must not exceed"),
    ({"min_length_ratio": 3.0}, "min_length_ratio must not exceed"),
    ({"near_duplicate_jaccard": 0}, "text.near_duplicate_jaccard"),
    ({"colums": "x"}, "text.colums: unknown key"),
])
def test_bad_text_params_are_refused_naming_the_key(tmp_path, settings, message):
    with pytest.raises(ParamsError, match=message):
        make_params(tmp_path, **settings)


def test_a_malformed_user_thesaurus_is_refused_before_work(tmp_path):
    (tmp_path / "syn.txt").write_text("good, fine\nbad,,worse\n")
    with pytest.raises(ParamsError, match="syn.txt:2: empty term"):
        make_params(tmp_path, synonyms=["wordnet", str(tmp_path / "syn.txt")])


def test_the_thesaurus_content_is_part_of_the_section_the_augment_memo_keys_on(tmp_path):
    thesaurus = tmp_path / "syn.txt"
    thesaurus.write_text("good, fine\n")
    before = make_params(tmp_path, synonyms=[str(thesaurus)]).text.model_dump()
    thesaurus.write_text("good, great\n")
    after = make_params(tmp_path, synonyms=[str(thesaurus)]).text.model_dump()
    assert before["synonyms_sha256"] != after["synonyms_sha256"]


# ---- explore and bias --------------------------------------------------------------


def ok_frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"sample_id": f"s{i:03d}", "text": t, "label": lbl, "split": s, "sha256": text_hash(t)}
                         for i, (t, lbl, s) in enumerate(rows)])


def test_near_duplicates_are_found_and_exact_copies_left_to_the_exact_check():
    base = "the committee will meet on tuesday to discuss the new budget for the library and the park"
    texts = [base, base.replace("tuesday", "wednesday"), "something entirely different about cats and dogs", base]
    pairs = near_duplicate_pairs(texts, 0.6)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert 0.6 <= pairs[0][2] < 1
    assert near_duplicate_pairs(texts, 0.95) == []


def test_profile_reports_lengths_vocabulary_encoding_and_near_duplicates(tmp_path):
    params = make_params(tmp_path)
    ok = ok_frame([("One two three. Four!", "a", "train"), ("One two three. Four?", "b", "test"),
                   ("Ceci n'est pas une pipe du tout", "a", "train"), ("bad \ufffd char", "b", "train")])
    report = text.profile(ok, params)
    assert report["lengths"]["words"]["max"] == 7 and report["lengths_by_class"]["a"]["sentences"]["max"] == 2
    assert report["vocabulary"]["words"] == 13
    assert report["encoding"]["replacement_character"]["texts"] == 1
    assert report["encoding"]["likely_not_english"]["examples"] == ["s002"]
    assert report["near_duplicates"]["pairs"] == 1
    assert report["near_duplicates"]["pairs_across_splits"] == 1
    assert report["near_duplicates"]["pairs_with_different_labels"] == 1


def test_length_bias_between_classes(tmp_path):
    params = make_params(tmp_path)
    long = "this is a rather long text with many words in it " * 3
    rows = [(long + str(i), "long", "train") for i in range(6)] + [(f"short {i}", "short", "train") for i in range(6)]
    report = text.bias_extra(ok_frame(rows), params)
    assert report["length_biased"] and report["longest_over_shortest_median"] > 10
    assert report["difference_test"]["p_value"] < 0.01 and "longer" in report["note"]
    balanced = [(f"some words here {i}", lbl, "train") for i in range(6) for lbl in ("a", "b")]
    assert not text.bias_extra(ok_frame(balanced), params)["length_biased"]


# ---- augment, validate, merge ------------------------------------------------------


def sources(tmp_path) -> pd.DataFrame:
    rows = [("The old doctor gave the patient a small bottle of medicine. It did not help.", "med", "train"),
            ("😀 🎉!", "chat", "train"),
            ("The team won the big game on Sunday and the fans were happy.", "sport", "train"),
            ("A held out text that nobody may copy.", "sport", "test")]
    return ok_frame(rows).assign(source_id=lambda f: f["sample_id"], variants=[3, 4, 2, 0])


def test_augment_shard_is_deterministic_replayable_and_avoids_copies(tmp_path):
    params = make_params(tmp_path)
    frame = sources(tmp_path)
    shard = Shard(0, tuple(frame[frame["variants"] > 0].to_dict("records")))
    rows = text.augment_shard(shard, params)
    assert rows == text.augment_shard(shard, params)
    assert len(rows) == 9
    by_source = frame.set_index("sample_id")
    for row in rows:
        source = by_source.loc[row["source_id"]]
        assert row["label"] == source["label"]
        assert replay(source["text"], json.loads(row["ops"]), "text") == row["text"]
        assert row["sha256"] == text_hash(row["text"])
    long_variants = [r["text"] for r in rows if r["source_id"] == "s000"]
    assert len(set(long_variants)) == 3 and by_source.loc["s000", "text"] not in long_variants
    # No word: nothing can change it, the redraws give up and validation will refuse the copies.
    assert {r["text"] for r in rows if r["source_id"] == "s001"} == {"😀 🎉!"}


def test_features_and_suite_accept_good_variants_and_refuse_bad_ones(tmp_path):
    from augmill.tasks.gx_validation import run_suite
    from augmill.tasks.validate import decide

    params = make_params(tmp_path)
    src = sources(tmp_path)
    doctor = src["text"][0]
    variants = {
        "good": doctor.replace("small", "little"),
        "same": doctor,
        "unrelated": "Completely different words about cooking pasta tonight with friends and family.",
        "too_long": doctor + " " + doctor + " " + doctor,
        "holdout": src["text"][3],
        "empty": "   ",
    }
    augmented = pd.DataFrame([{"sample_id": f"s000-aug{i:03d}", "source_id": "s000", "label": "med",
                               "text": t, "sha256": text_hash(t), "ops": "[]"} for i, t in enumerate(variants.values())])
    augmented.loc[len(augmented)] = {"sample_id": "zzz-aug000", "source_id": "gone", "label": "nope", "text": "x",
                                     "sha256": text_hash("x"), "ops": "[]"}
    measured = text.features(augmented, src, params)
    assert measured.loc[0, "similarity"] == pytest.approx(similarity(doctor, variants["good"]))
    outcome = run_suite(measured[measured["unreadable"] == ""].drop(columns="unreadable"), text.SUITE_FILE,
                        id_column="sample_id", parameters=text.suite_parameters(["med", "chat", "sport"], params))
    decided = decide(augmented, measured, outcome.failures).set_index("sample_id")
    reasons = decided["reason"].to_dict()
    assert decided.loc["s000-aug000", "status"] == "accepted"
    assert "differs_from_source not in [True]" in reasons["s000-aug001"]
    assert "similarity not between 0.3 and 1" in reasons["s000-aug002"]
    assert "length_ratio not between 0.5 and 2" in reasons["s000-aug003"]
    assert "exact_duplicate_of_holdout not in [False]" in reasons["s000-aug004"]
    assert "words not at least 1" in reasons["s000-aug005"]
    assert "source_exists not in [True]" in reasons["zzz-aug000"] and "label not in" in reasons["zzz-aug000"]
    assert decided.loc["s000-aug001", "reason_code"] == "check_differs_from_source"


def test_a_repeated_variant_is_refused(tmp_path):
    params = make_params(tmp_path)
    src = sources(tmp_path)
    twice = src["text"][2].replace("big", "large")
    augmented = pd.DataFrame([{"sample_id": f"s002-aug{i:03d}", "source_id": "s002", "label": "sport", "text": twice,
                               "sha256": text_hash(twice), "ops": "[]"} for i in range(2)])
    measured = text.features(augmented, src, params)
    assert measured["repeats_another_variant"].tolist() == [False, True]


def test_finalize_writes_split_files_with_the_exact_texts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = make_params(tmp_path)
    originals = ok_frame([("=HYPERLINK(\"x\")", "a", "train"), ("Plain, with \"quotes\"\nand a line", "b", "test")])
    originals = originals.assign(source_id=originals["sample_id"], origin="original", ops="[]", seed=pd.NA)
    accepted = pd.DataFrame([{"sample_id": "s000-aug000", "source_id": "s000", "split": "train", "label": "a",
                              "origin": "augmented", "text": "new text", "ops": "[]", "seed": 5, "sha256": "x"}])
    final = text.finalize(originals, accepted, params)
    assert len(final) == 3 and set(final["text"]) == {"=HYPERLINK(\"x\")", "Plain, with \"quotes\"\nand a line", "new text"}
    train_csv = pd.read_csv(paths.FINAL / "train.csv", keep_default_na=False)
    assert train_csv["text"].tolist() == ["=HYPERLINK(\"x\")", "new text"]  # data, not a spreadsheet report
    jsonl = [json.loads(line) for line in (paths.FINAL / "train.jsonl").read_text().splitlines()]
    assert [r["text"] for r in jsonl] == ["=HYPERLINK(\"x\")", "new text"]
    assert pd.read_csv(paths.FINAL / "test.csv")["text"].tolist() == ["Plain, with \"quotes\"\nand a line"]


def test_baseline_features_are_the_raw_texts(tmp_path):
    frame = ok_frame([("one", "a", "train"), ("two", "b", "train")])
    features = text.baseline_features(frame, make_params(tmp_path))
    assert features.dtype == object and features.ndim == 1 and features.tolist() == ["one", "two"]
    assert text.BASELINE == "tfidf"


def test_review_page_highlights_edits_and_escapes_html(tmp_path):
    from augmill.tasks.modalities.text.review import diff_segments, render_text_gallery

    assert diff_segments("the big dog", "the large dog") == [("same", "the "), ("del", "big"), ("ins", "large"),
                                                              ("same", " dog")]
    params = make_params(tmp_path)
    raw = ok_frame([("<script>alert(1)</script> is evil", "a", "train")]).assign(path="t.csv:2")
    validated = pd.DataFrame([{"sample_id": "s000-aug000", "source_id": "s000", "label": "a", "status": "quarantined",
                               "reason": "similarity not between 0.3 and 1 (got 0.1)",
                               "text": "<script>alert(2)</script> is evil",
                               "ops": json.dumps([{"name": "random_swap", "params": {"swaps": [[0, 1]]}}])}])
    render_text_gallery(validated, raw, params, tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<del>" in page and "<ins>" in page and "random_swap: 1 swap" in page and "t.csv:2" in page


# ---- the demo ----------------------------------------------------------------------

needs_fortunes = pytest.mark.skipif(not Path("/usr/share/games/fortunes/food").exists(),
                                    reason="Debian's fortunes package is not installed (apt-get install fortunes)")


@needs_fortunes
def test_fortunes_demo_is_labelled_imbalanced_and_readable(tmp_path):
    from augmill.tasks.demos import fortunes

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(modality="text", raw_dir=str(tmp_path))
    raw["prepare"] = {"dataset": "fortunes", "max_per_class": 40, "imbalance": 0.25}
    raw["augment"]["policy"] = POLICY
    params = parse_params(raw)
    written = fortunes.write(params, tmp_path)
    frame, _ = text.read_raw(params)
    assert len(frame) == written and (frame["status"] == "ok").all()
    train = frame[frame["split"] == "train"]["label"].value_counts()
    assert set(train.index) == set(fortunes.TOPICS) and train.max() >= 3 * train.min()
    assert set(frame["split"]) == {"train", "val", "test"}
    assert frame["sha256"].is_unique
    again = tmp_path / "again"
    again.mkdir()
    fortunes.write(params, again)
    assert (again / "texts.csv").read_bytes() == (tmp_path / "texts.csv").read_bytes()
