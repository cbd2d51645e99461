"""End-to-end audio: examples/audio.yaml under the real `dvc repro` in a temporary git
repo, on real speech (espeak-ng's spoken digits, made by the prepare stage), checked
against the invariants of shared/DESIGN.md; then bad recordings through the same stages."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import yaml

from augmill.tasks.modalities.audio.io import encode
from augmill.tasks.modalities.audio.modality import load_source
from augmill.tasks.ops.policy import replay
from augmill.tasks.params_load import parse_params
from tests.project import REPO, lock_out_hashes, merge_dicts, new_project, run, stages_run

pytestmark = pytest.mark.e2e

EXAMPLE = yaml.safe_load((REPO / "examples/audio.yaml").read_text())
# 10 clips per digit (4 held out, 2..6 in train): small enough for CI, imbalanced enough to rebalance.
# No memo (execution.cache): every stage computes, so the worker-count check compares real work.
SMALL = {"prepare": {"max_per_class": 10}, "execution": {"workers": 1, "shard_size": 5, "cache": False},
         "validate": {"gallery_sources": 4}, "evaluate": {"seeds": 2}}
PIPELINE = {"prepare", "params", "explore", "bias", "synthesize", "augment", "validate", "merge"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = new_project(tmp_path_factory.mktemp("audio"), merge_dicts(EXAMPLE, SMALL))
    # Up to the final dataset: the stages after merge (evaluate) are not the audio modality's.
    result = run(["dvc", "repro", "merge"], root)
    assert stages_run(result.stdout) == PIPELINE
    return root


def params_of(root: Path):
    return parse_params(yaml.safe_load((root / "params.yaml").read_text()))


def test_real_speech_in_mixed_formats_is_read_and_profiled(demo):
    report = json.loads((demo / "reports/explore.json").read_text())
    assert report["dataset"]["quarantined"] == 0 and report["dataset"]["classes"] == 10
    profile = report["audio"]
    assert len(profile["sample_rates"]) >= 3 and len(profile["subtypes"]) >= 3 and set(profile["channels"]) == {"1", "2"}
    assert 0.3 < profile["duration_s"]["median"] < 1.5 and -40 < profile["rms_dbfs"]["median"] < -10
    bias = json.loads((demo / "reports/bias.json").read_text())
    assert set(bias["audio"]["per_class"]) == set(report["counts"]["by_class"])
    assert bias["imbalance_ratio"] >= 2.5


def test_nothing_lost_labels_kept_no_leakage(demo):
    raw = pd.read_parquet(demo / "data/interim/raw_manifest.parquet")
    raw_files = sorted(p.relative_to(demo / "data/raw").as_posix() for p in (demo / "data/raw").rglob("*") if p.is_file())
    assert sorted(raw["path"]) == raw_files
    final = pd.read_parquet(demo / "data/final/manifest.parquet")
    quarantine = pd.read_csv(demo / "reports/quarantine.csv")
    originals, augmented = final[final["origin"] == "original"], final[final["origin"] == "augmented"]
    assert set(raw["sample_id"]) == set(originals["sample_id"]) | (set(quarantine["sample_id"]) & set(raw["sample_id"]))
    made = pd.read_parquet(demo / "data/interim/augmented.parquet")
    assert len(augmented) > 20
    assert set(made["sample_id"]) == set(augmented["sample_id"]) | (set(quarantine["sample_id"]) - set(raw["sample_id"]))
    assert quarantine["reason"].str.len().gt(0).all()
    assert json.loads((demo / "reports/merge.json").read_text())["accounting"]["balanced"]
    by_id = originals.set_index("sample_id")
    assert (augmented["label"].to_numpy() == by_id.loc[augmented["source_id"], "label"].to_numpy()).all()
    assert (by_id.loc[augmented["source_id"], "split"] == "train").all() and (augmented["split"] == "train").all()
    assert set(final.loc[final["split"] != "train", "sha256"]).isdisjoint(final.loc[final["split"] == "train", "sha256"])
    for row in final.itertuples():
        assert hashlib.sha256((demo / "data/final" / row.path).read_bytes()).hexdigest() == row.sha256


def test_variants_are_written_as_configured(demo):
    params = params_of(demo)
    augmented = pd.read_parquet(demo / "data/final/manifest.parquet").query("origin == 'augmented'")
    for row in augmented.itertuples():
        info = soundfile.info(str(demo / "data/final" / row.path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert row.sample_rate == params.audio.sample_rate and row.channels == 1
    validation = json.loads((demo / "reports/validation.json").read_text())
    assert validation["suite"] == "audio_augmented" and validation["rejection_rate"] <= 0.2
    assert validation["features"]["measured_peak_dbfs"]["max"] <= params.audio.peak_limit_dbfs + 0.01
    snr = validation["features"]["snr_db"]
    assert 10.0 - 0.5 <= snr["min"] and snr["max"] <= 30.0 + 0.5  # the policy's add_noise range, measured
    gallery = (demo / "reports/gallery.html").read_text()
    assert "<audio controls" in gallery and "data:image/png;base64," in gallery


def test_every_augmented_row_replays_to_the_same_bytes(demo):
    params = params_of(demo)
    raw = pd.read_parquet(demo / "data/interim/raw_manifest.parquet").set_index("sample_id")
    augmented = pd.read_parquet(demo / "data/final/manifest.parquet").query("origin == 'augmented'")
    for row in augmented.itertuples():
        source = load_source(demo / "data/raw" / raw.loc[row.source_id, "path"], params.audio)
        clip = replay(source, json.loads(row.ops), "audio")
        data = encode(clip, params.audio.format, params.audio.subtype)
        assert hashlib.sha256(data).hexdigest() == row.sha256, row.sample_id


def test_same_outputs_with_three_workers(demo):
    before = lock_out_hashes(demo)
    params = yaml.safe_load((demo / "params.yaml").read_text())
    params["execution"]["workers"] = 3
    (demo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = run(["dvc", "repro", "--force", "--single-item", "augment"], demo)
    assert stages_run(rerun.stdout) == {"augment"}
    assert lock_out_hashes(demo) == before
    # Same augment outputs, so everything downstream is still up to date.
    # params.yaml changed, so the params stage (a file dependency on it) re-runs; its shares are the same.
    assert stages_run(run(["dvc", "repro", "merge"], demo).stdout) == {"params"}


def write_bad_recordings(folder: Path) -> dict[str, str]:
    """One of each kind of broken input, and the reason code each must get."""
    folder.mkdir(parents=True, exist_ok=True)
    good = (folder / "good.wav")
    soundfile.write(str(good), 0.3 * np.sin(np.arange(8000) / 4.0), 16000, subtype="PCM_16")
    data = good.read_bytes()
    good.unlink()
    (folder / "truncated.wav").write_bytes(data[: len(data) // 2])
    (folder / "empty.wav").write_bytes(b"")
    nan = 0.3 * np.sin(np.arange(8000) / 4.0)
    nan[10:20] = np.nan
    soundfile.write(str(folder / "nan.wav"), nan, 16000, subtype="FLOAT")
    soundfile.write(str(folder / "song.au"), 0.3 * np.sin(np.arange(8000) / 4.0), 16000, format="AU")
    ogg = io.BytesIO()
    soundfile.write(ogg, 0.3 * np.sin(np.arange(16000) / 4.0), 16000, format="OGG")
    (folder / "cut.ogg").write_bytes(ogg.getvalue()[: len(ogg.getvalue()) * 9 // 10])
    return {"truncated.wav": "truncated_audio", "empty.wav": "empty_file", "nan.wav": "non_finite_samples",
            "song.au": "unsupported_format", "cut.ogg": "truncated_audio"}


def test_bad_recordings_are_quarantined_with_reasons_and_nothing_is_lost(demo, tmp_path, monkeypatch):
    """The same stages in this process on a user folder: part of the demo plus broken files."""
    from augmill.flows.stages import run_stage

    recordings = tmp_path / "recordings"
    for path in sorted((demo / "data/raw").rglob("*.*"))[::4]:
        target = recordings / path.relative_to(demo / "data/raw")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    expected = write_bad_recordings(recordings / "train" / "three")
    shutil.copytree(REPO / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    params = parse_params(merge_dicts(yaml.safe_load((demo / "params.yaml").read_text()),
                                      {"data": {"raw_dir": "recordings"}, "prepare": {"dataset": "none"},
                                       "execution": {"workers": 1}}))
    for stage in ("explore", "bias", "augment", "validate", "merge"):
        run_stage(stage, params)

    quarantine = pd.read_csv("reports/quarantine.csv").set_index("path")
    for name, code in expected.items():
        entry = quarantine.loc[f"train/three/{name}"]
        assert entry["stage"] == "explore" and entry["reason_code"] == code
        assert entry["reason"].startswith(f"train/three/{name}: ")
    raw = pd.read_parquet("data/interim/raw_manifest.parquet")
    final = pd.read_parquet("data/final/manifest.parquet")
    originals = set(final.loc[final["origin"] == "original", "sample_id"])
    assert set(raw["sample_id"]) == originals | set(raw.loc[raw["status"] != "ok", "sample_id"])
    assert len(raw) == len(list(recordings.rglob("*.*")))
    assert json.loads(Path("reports/merge.json").read_text())["accounting"]["balanced"]


def reencode(source: Path, target: Path, file_format: str, rate: int) -> None:
    """A demo recording as a user might have it: another container, another rate."""
    clip = load_source(source, parse_params({"seed": 1, "data": {"modality": "audio"}, "prepare": {"dataset": "none"},
                                             "augment": {"policy": [{"name": "gain"}]},
                                             "audio": {"sample_rate": rate, "channels": "keep"}}).audio)
    target.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(target), clip.samples * 0.9, rate, format=file_format)


def test_mp3_ogg_aiff_at_mixed_rates_conformed_into_one_final_set(demo, tmp_path, monkeypatch):
    """The issue's case: MP3 train clips, OGG test clips at another rate, AIFF val; with
    audio.conform_final every final recording is at one rate, layout and format, and each
    original's lineage leads back to its raw bytes."""
    from augmill.flows.stages import run_stage
    from augmill.tasks.modalities.audio.final import replay_original
    from augmill.tasks.modalities.audio.io import decode

    recordings = tmp_path / "recordings"
    kinds = {"train": ("MP3", ".mp3", 22050), "val": ("AIFF", ".aiff", 44100), "test": ("OGG", ".ogg", 8000)}
    for path in sorted((demo / "data/raw").rglob("*.*"))[::3]:
        relative = path.relative_to(demo / "data/raw")
        file_format, suffix, rate = kinds[relative.parts[0]]
        reencode(path, (recordings / relative).with_suffix(suffix), file_format, rate)
    shutil.copytree(REPO / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    params = parse_params(merge_dicts(yaml.safe_load((demo / "params.yaml").read_text()),
                                      {"data": {"raw_dir": "recordings"}, "prepare": {"dataset": "none"},
                                       "audio": {"conform_final": True, "format": "flac"},
                                       "execution": {"workers": 1}}))
    for stage in ("explore", "bias", "augment", "validate", "merge"):
        run_stage(stage, params)

    explore = json.loads(Path("reports/explore.json").read_text())
    raw = pd.read_parquet("data/interim/raw_manifest.parquet").set_index("sample_id")
    assert explore["dataset"]["quarantined"] == 0
    assert explore["audio"]["mixes"]["sample_rate"]["by_split"] == {
        split: {str(kinds[split][2]): int((raw["split"] == split).sum())} for split in kinds}
    assert explore["audio"]["lossy"]["samples"] == int((raw["split"] != "val").sum())  # MP3 and OGG
    bias = json.loads(Path("reports/bias.json").read_text())["audio"]["recording"]
    assert {f["split"] for f in bias["sample_rate"]["flagged_splits"]} == {"val", "test"}

    final = pd.read_parquet("data/final/manifest.parquet")
    assert set(final["split"]) == set(kinds) and (final["sample_rate"] == 16000).all() and (final["channels"] == 1).all()
    for row in final.itertuples():
        info = soundfile.info(str(Path("data/final") / row.path))
        assert (info.format, info.samplerate, info.channels) == ("FLAC", 16000, 1), row.path
        data = (Path("data/final") / row.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256
        if row.origin == "original":
            ops = json.loads(row.ops)
            assert ops[0]["name"] == "conform" and ops[0]["params"]["source_sha256"] == raw.loc[row.source_id, "sha256"]
            clip = replay_original(decode(Path("recordings") / raw.loc[row.source_id, "path"])[0], ops)
            assert encode(clip, "flac", "PCM_16") == data, row.sample_id
    held_out = final[final["split"] != "train"]
    assert (held_out["origin"] == "original").all() and len(held_out) == int((raw["split"] != "train").sum())
    assert json.loads(Path("reports/merge.json").read_text())["accounting"]["balanced"]
