"""End-to-end for text: the real pipeline under `dvc repro` in a temporary git repo,
on a user's CSV (the fortunes demo's texts, from Debian's fortunes package, with bad
records appended), checked against the invariants of shared/DESIGN.md. One full run
only: each stage costs seconds of start-up, and this must stay well under 90 s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from augmill.tasks.modalities.text.files import text_hash
from augmill.tasks.ops.policy import replay
from tests.project import REPO, commit, lock_out_hashes, new_project, run, stages_run

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/usr/share/games/fortunes/food").exists(),
                                                  reason="Debian's fortunes package is not installed")]

TEXT = {
    "data": {"modality": "text", "raw_dir": "data/user"},
    "prepare": {"dataset": "none"},
    "text": {"files": ["texts.csv"]},
    "augment": {"policy": [{"name": "synonym_replacement", "p": 0.5, "alpha": [0.1, 0.2]},
                           {"name": "random_insertion", "p": 0.3},
                           {"name": "random_swap", "p": 0.3},
                           {"name": "random_deletion", "p": 0.3},
                           {"name": "sentence_shuffle", "p": 0.3},
                           {"name": "contractions", "p": 0.3}]},
    "execution": {"workers": 1, "shard_size": 4},
    "validate": {"max_rejection_rate": 0.3},
}
STAGES = ["prepare", "params", "explore", "bias", "synthesize", "augment", "validate", "merge"]
# Records a user's file may hold, each with the reason it must be quarantined for.
BAD_RECORDS = [(b"Bad \xff\xfe bytes in this text,sports,train", "invalid_utf8"),
               (b",medicine,train", "empty_text"),
               (b"   ,sports,train", "empty_text"),
               (b"This text has no label at all,,train", "missing_label")]


def write_user_csv(root: Path) -> dict[str, str]:
    """The fortunes demo as the user's texts.csv, the bad records and a blank line appended;
    returns locator -> the reason code expected for each bad record."""
    from augmill.tasks.demos import fortunes
    from augmill.tasks.params_load import load_params

    folder = root / "data/user"
    folder.mkdir(parents=True)
    params = load_params(root / "params.yaml", ["prepare.dataset=fortunes", "prepare.max_per_class=16",
                                                "prepare.imbalance=0.25"])
    count = fortunes.write(params, folder)
    content = (folder / "texts.csv").read_bytes()
    assert content.count(b"\r\n") == count + 1  # one line per text (+ header): line numbers are known
    lines = [record for record, _ in BAD_RECORDS]
    (folder / "texts.csv").write_bytes(content + b"\r\n".join(lines) + b"\r\n\r\n")
    return {f"texts.csv:{count + 2 + i}": code for i, (_, code) in enumerate(BAD_RECORDS)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = new_project(tmp_path_factory.mktemp("text"), TEXT)
    if (REPO / "reviews").is_dir() and not (root / "reviews").exists():  # merge reads reviews/decisions.csv
        shutil.copytree(REPO / "reviews", root / "reviews")
    expected = write_user_csv(root)
    commit(root, "user data")
    assert stages_run(run(["dvc", "repro", *STAGES], root).stdout) == set(STAGES)
    return root, expected


def frames(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (pd.read_parquet(root / "data/interim/raw_manifest.parquet"),
            pd.read_parquet(root / "data/final/manifest.parquet"),
            pd.read_csv(root / "reports/quarantine.csv", keep_default_na=False))


def test_nothing_lost_labels_kept_no_leakage(demo):
    demo, bad = demo
    raw, final, quarantine = frames(demo)
    source = pd.read_csv(demo / "data/user/texts.csv", keep_default_na=False, encoding_errors="replace")
    assert len(raw) == len(source) and (raw["status"] == "ok").sum() == len(source) - len(bad)
    originals = final[final["origin"] == "original"]
    assert set(raw["sample_id"]) == set(originals["sample_id"]) | (set(quarantine["sample_id"]) & set(raw["sample_id"]))
    augmented = pd.read_parquet(demo / "data/interim/augmented.parquet")
    accepted = set(final.loc[final["origin"] == "augmented", "sample_id"])
    assert len(accepted) > 0
    assert set(augmented["sample_id"]) == accepted | (set(quarantine["sample_id"]) - set(raw["sample_id"]))
    assert (quarantine["reason"].str.len() > 0).all()
    assert json.loads((demo / "reports/merge.json").read_text())["accounting"]["balanced"]
    # Labels: every variant has its source's label, and comes from a train source.
    by_id = originals.set_index("sample_id")
    variants = final[final["origin"] == "augmented"]
    assert (variants["label"].to_numpy() == by_id.loc[variants["source_id"], "label"].to_numpy()).all()
    assert (by_id.loc[variants["source_id"], "split"] == "train").all() and (variants["split"] == "train").all()
    # No leakage: no train text (original or variant) equals a val/test text.
    held_out = set(final.loc[final["split"] != "train", "sha256"])
    assert held_out.isdisjoint(final.loc[final["split"] == "train", "sha256"])
    # Val and test are the texts as read; every row's hash is its text's.
    raw_text = raw.set_index("sample_id")["text"]
    held = final[final["split"] != "train"]
    assert (held["text"].to_numpy() == raw_text.loc[held["sample_id"]].to_numpy()).all()
    assert all(text_hash(t) == h for t, h in zip(final["text"], final["sha256"], strict=True))


def test_every_variant_replays_from_its_ops_to_the_same_text(demo):
    demo, _ = demo
    raw, final, _ = frames(demo)
    raw_text = raw.set_index("sample_id")["text"]
    variants = final[final["origin"] == "augmented"]
    for row in variants.itertuples():
        assert replay(raw_text[row.source_id], json.loads(row.ops), "text") == row.text, row.sample_id
    names = {op["name"] for ops in variants["ops"] for op in json.loads(ops)}
    assert {"synonym_replacement", "random_swap", "random_deletion"} <= names


def test_rebalancing_and_final_files(demo):
    demo, _ = demo
    merge = json.loads((demo / "reports/merge.json").read_text())
    bias = json.loads((demo / "reports/bias.json").read_text())
    assert bias["imbalance_ratio"] >= 2 and "median_words_by_class" in bias["text"]
    assert merge["train_after"]["imbalance_ratio"] < bias["imbalance_ratio"] / 1.5
    _, final, _ = frames(demo)
    for split, group in final.groupby("split"):
        exported = [json.loads(line) for line in (demo / f"data/final/{split}.jsonl").read_text().splitlines()]
        assert [r["text"] for r in exported] == group["text"].tolist()
        assert len(pd.read_csv(demo / f"data/final/{split}.csv")) == len(group)
    assert "<del>" in (demo / "reports/gallery.html").read_text() or "<ins>" in (demo / "reports/gallery.html").read_text()


def test_bad_records_are_quarantined_with_their_line(demo):
    demo, bad = demo
    raw, final, quarantine = frames(demo)
    reasons = quarantine.drop_duplicates("path").set_index("path")
    for locator, code in bad.items():
        assert reasons.loc[locator, "reason_code"] == code, locator
        assert reasons.loc[locator, "reason"].startswith(f"{locator}: ")
    first = next(iter(bad))
    assert f"{first}: text is not valid UTF-8 (byte 0xff" in reasons.loc[first, "reason"]
    explore = json.loads((demo / "reports/explore.json").read_text())
    assert explore["dataset"]["files"][0]["blank_lines_skipped"] == 1
    assert explore["quarantined"]["by_reason"] == {"empty_text": 2, "invalid_utf8": 1, "missing_label": 1}


def test_same_outputs_with_three_workers(demo):
    demo, _ = demo
    before = lock_out_hashes(demo)
    params = yaml.safe_load((demo / "params.yaml").read_text())
    params["execution"].update(workers=3, cache=False)  # make every variant again, in 3 processes
    (demo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro", "--force", "--single-item", "augment"], demo)
    assert stages_run(result.stdout) == {"augment"}
    assert lock_out_hashes(demo)["augment"] == before["augment"]


def test_a_missing_text_column_stops_explore_naming_file_and_key(demo):
    demo, _ = demo
    csv = demo / "data/user/texts.csv"
    renamed = csv.read_bytes().replace(b"text,label", b"body,label", 1)
    csv.write_bytes(renamed)
    failed = run(["augmill", "stage", "explore"], demo, check=False)  # what `dvc repro` runs, without its overhead
    assert failed.returncode != 0
    assert "texts.csv: no column 'text' (text.text_column); its columns are ['body', 'label', 'split']" in failed.stderr
    assert csv.read_bytes() == renamed  # the input is never touched


def test_a_validate_knob_re_runs_validate_not_the_stages_before_it(demo, tmp_path):
    """params by stage: dvc.yaml makes each stage depend on its own share of the text knobs."""
    demo, _ = demo
    copy = tmp_path / "copy"
    shutil.copytree(demo, copy, symlinks=True)
    run(["git", "checkout", "-q", "--", "."], copy)  # as committed, whatever other tests did to the fixture
    run(["dvc", "repro", *STAGES], copy)
    read = [json.loads(line) for line in (copy / ".augmill/knobs_read.jsonl").read_text().splitlines()]
    assert "text.min_similarity" in {knob for entry in read if entry["stage"] == "validate" for knob in entry["read"]}
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["text"]["min_similarity"] = 0.31
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran = stages_run(run(["dvc", "repro", *STAGES], copy).stdout)
    assert {"params", "validate"} <= ran and not ran & {"explore", "bias", "synthesize", "augment"}
