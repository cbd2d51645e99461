"""Sample-rate and channel mixes (explore, bias) and audio.conform_final (merge), below the
pipeline: which classes and splits are flagged, and what a conformed original is made of."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile

from augmill.tasks.modalities.audio import modality as audio
from augmill.tasks.modalities.audio.final import conform_into_final, replay_original
from augmill.tasks.modalities.audio.io import decode, encode
from augmill.tasks.modalities.audio.mix import mix_bias
from tests.test_audio_modality import make_params, raw_frame
from tests.test_ops_audio import tone


def recordings(spec: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    """(split, label, sample_rate, channels, how many) -> raw-manifest-like rows."""
    rows = [{"split": split, "label": label, "sample_rate": rate, "channels": channels, "rms_dbfs": -20.0,
             "duration_s": 1.0} for split, label, rate, channels, n in spec for _ in range(n)]
    return raw_frame(rows)


def test_a_class_recorded_at_its_own_rate_is_flagged_with_advice():
    ok = recordings([("train", "yes", 16000, 1, 8), ("train", "no", 16000, 1, 6), ("train", "no", 44100, 1, 2),
                     ("train", "up", 8000, 1, 7), ("train", "up", 16000, 1, 1), ("test", "yes", 16000, 1, 3)])
    report = audio.bias_extra(ok, make_params())
    flagged = report["recording"]["sample_rate"]["flagged_classes"]
    assert [f["label"] for f in flagged] == ["up"]  # 7 of 8 at 8 kHz, which no other class has
    assert flagged[0]["share"] == pytest.approx(0.875) and flagged[0]["values"] == {"16000": 1, "8000": 7}
    assert report["recording"]["sample_rate"]["train_by_class"]["no"] == {"16000": 6, "44100": 2}
    assert report["recording"]["channels"]["flagged_classes"] == []
    assert any("own sample rates" in advice for advice in report["advice"])


def test_rates_mixed_across_all_classes_are_not_a_signal():
    spec = [("train", label, rate, 1, 3) for label in ("a", "b", "c") for rate in (8000, 16000, 44100)]
    report = mix_bias(recordings(spec), 0.5)
    assert report["sample_rate"]["flagged_classes"] == [] and report["sample_rate"]["flagged_splits"] == []


def test_a_held_out_split_recorded_unlike_train_and_a_stereo_class_are_flagged():
    ok = recordings([("train", "a", 22050, 1, 5), ("train", "b", 22050, 2, 5), ("val", "a", 22050, 1, 2),
                     ("test", "a", 8000, 1, 2), ("test", "b", 8000, 1, 2)])
    report = mix_bias(ok, 0.5)
    assert [f["split"] for f in report["sample_rate"]["flagged_splits"]] == ["test"]
    assert report["sample_rate"]["by_split"] == {"test": {"8000": 4}, "train": {"22050": 10}, "val": {"22050": 2}}
    assert [f["label"] for f in report["channels"]["flagged_classes"]] == ["a", "b"]  # each the other's opposite


def test_profile_reports_mixes_per_split_and_class_and_lossy_sources():
    ok = recordings([("train", "a", 16000, 1, 2), ("test", "a", 8000, 2, 1)])
    ok.loc[2, ["format", "subtype", "lossy"]] = ["mp3", "MPEG_LAYER_III", True]
    report = audio.profile(ok, make_params())
    assert report["mixes"]["sample_rate"]["by_split"] == {"test": {"8000": 1}, "train": {"16000": 2}}
    assert report["mixes"]["channels"]["by_class"] == {"a": {"1": 2, "2": 1}}
    assert report["lossy"] == {"samples": 1, "by_format": {"mp3/MPEG_LAYER_III": 1}, "examples": ["s2"]}


def test_conformed_originals_are_at_the_target_and_replay_from_their_raw_bytes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw_dir = tmp_path / "raw"
    (raw_dir / "train/a").mkdir(parents=True)
    (raw_dir / "test/a").mkdir(parents=True)
    # A near-full-scale 44.1 kHz stereo tone (resampling overshoots it) and an 8 kHz OGG.
    hot = tone(3000.0, seconds=0.5, amplitude=0.999, channels=2, rate=44100)
    hot.samples[::7] = 1.0
    soundfile.write(str(raw_dir / "train/a/hot.aiff"), hot.samples, 44100, format="AIFF", subtype="PCM_16")
    soundfile.write(str(raw_dir / "test/a/low.ogg"), tone(440.0, rate=8000).samples, 8000, format="OGG")
    paths = ["train/a/hot.aiff", "test/a/low.ogg"]
    originals = pd.DataFrame({"sample_id": ["hot", "low"], "source_id": ["hot", "low"], "split": ["train", "test"],
                              "label": "a", "origin": "original", "path": paths, "ops": "[]", "seed": pd.NA,
                              "sha256": [hashlib.sha256((raw_dir / p).read_bytes()).hexdigest() for p in paths]})
    params = make_params({"conform_final": True, "format": "flac", "sample_rate": 16000},
                         data={"modality": "audio", "raw_dir": str(raw_dir)})
    final = conform_into_final(originals, params)
    assert list(final["path"]) == ["train/a/hot.flac", "test/a/low.flac"]
    for row, raw_sha in zip(final.itertuples(), originals["sha256"], strict=True):
        data = (tmp_path / "data/final" / row.path).read_bytes()
        info = soundfile.info(str(tmp_path / "data/final" / row.path))
        assert (info.format, info.samplerate, info.channels) == ("FLAC", 16000, 1)
        assert hashlib.sha256(data).hexdigest() == row.sha256 != raw_sha
        ops = json.loads(row.ops)
        assert ops[0] == {"name": "conform", "params": {"sample_rate": 16000, "channels": "mono", "source_sha256": raw_sha}}
        clip = replay_original(decode(raw_dir / originals.set_index("sample_id").loc[row.sample_id, "path"])[0], ops)
        assert encode(clip, "flac", "PCM_16") == data
    hot_ops = [op["name"] for op in json.loads(final.loc[0, "ops"])]
    assert hot_ops == ["conform", "peak_limit"]  # the overshoot was limited, and says so
    assert json.loads(final.loc[1, "ops"])[1:] == []  # nothing else touches a held-out recording
    assert np.max(np.abs(decode(tmp_path / "data/final/train/a/hot.flac")[0].samples)) <= 1.0


def test_finalize_copies_originals_byte_for_byte_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw/train/a").mkdir(parents=True)
    soundfile.write(str(tmp_path / "raw/train/a/x.mp3"), tone(rate=22050).samples, 22050, format="MP3")
    raw_sha = hashlib.sha256((tmp_path / "raw/train/a/x.mp3").read_bytes()).hexdigest()
    originals = pd.DataFrame({"sample_id": ["x"], "source_id": ["x"], "split": ["train"], "label": ["a"],
                              "origin": ["original"], "path": ["train/a/x.mp3"], "ops": ["[]"], "seed": [pd.NA],
                              "sha256": [raw_sha], "duration_s": [1.0], "sample_rate": [22050], "channels": [1]})
    accepted = originals.iloc[:0]
    params = make_params(data={"modality": "audio", "raw_dir": str(tmp_path / "raw")})
    final = audio.finalize(originals, accepted, params)
    assert list(final["path"]) == ["train/a/x.mp3"] and final.loc[0, "ops"] == "[]"
    assert hashlib.sha256((tmp_path / "data/final/train/a/x.mp3").read_bytes()).hexdigest() == raw_sha
