"""Tests for the audio modality below the pipeline: reading every common WAV/FLAC
flavour, refusing bad files with a reason, band-limited resampling, deterministic
encoding, the explore profile and loudness/duration bias, validation features,
the evaluate features, the review page and the `audio:` params section."""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from augmill.tasks.modalities.audio import modality as audio
from augmill.tasks.modalities.audio.io import decode, encode, read_measured
from augmill.tasks.modalities.audio.signal import Clip, conform, peak_dbfs, rms_dbfs, spectral_similarity
from augmill.tasks.ops.policy import build_policy, run_policy
from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import parse_params
from augmill.tasks.samples import UnusableSample
from tests.test_ops_audio import f0, speech_like, tone

POLICY = [{"name": "gain", "gain_db": [-3, 3]}, {"name": "add_noise", "p": 0.5, "snr_db": [15, 25]}]


def make_params(audio_section: dict | None = None, **sections):
    raw = {"seed": 7, "data": {"modality": "audio"}, "prepare": {"dataset": "none"},
           "augment": {"policy": POLICY}, "audio": audio_section or {}, **sections}
    return parse_params(raw)


def write_audio(path: Path, clip: Clip, file_format: str = "WAV", subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), clip.samples, clip.rate, format=file_format, subtype=subtype)
    return path


# --- reading -------------------------------------------------------------------


@pytest.mark.parametrize("file_format, subtype, rate, channels, bits", [
    ("WAV", "PCM_U8", 8000, 1, 8),
    ("WAV", "PCM_16", 16000, 1, 16),
    ("WAV", "PCM_24", 44100, 2, 24),
    ("WAV", "PCM_32", 48000, 1, 32),
    ("WAV", "FLOAT", 22050, 2, 32),
    ("WAV", "DOUBLE", 32000, 1, 64),
    ("FLAC", "PCM_16", 11025, 1, 16),
    ("FLAC", "PCM_24", 96000, 6, 24),
])
def test_reads_and_measures_common_rates_depths_and_channels(tmp_path, file_format, subtype, rate, channels, bits):
    clip = tone(1000.0, seconds=0.5, amplitude=0.25, channels=channels, rate=rate)
    path = write_audio(tmp_path / f"x.{file_format.lower()}", clip, file_format, subtype)
    measured = read_measured(path, make_params().audio)
    assert measured["sample_rate"] == rate and measured["channels"] == channels and measured["bit_depth"] == bits
    assert measured["subtype"] == subtype and measured["format"] == file_format.lower()
    assert measured["duration_s"] == pytest.approx(0.5, abs=1e-3)
    assert measured["peak_dbfs"] == pytest.approx(20 * math.log10(0.25), abs=0.1)
    assert measured["rms_dbfs"] == pytest.approx(20 * math.log10(0.25 / math.sqrt(2)), abs=0.1)
    assert measured["silence_fraction"] == 0.0 and measured["clipped_fraction"] == 0.0


def test_silence_and_clipping_are_measured(tmp_path):
    samples = np.zeros((16000, 1), np.float32)
    samples[:4000, 0] = np.clip(1.5 * np.sin(np.arange(4000) / 3), -1, 1)  # a quarter loud and clipped
    measured = read_measured(write_audio(tmp_path / "c.wav", Clip(samples, 16000)), make_params().audio)
    assert measured["silence_fraction"] == pytest.approx(0.75, abs=0.02)
    assert 0.05 < measured["clipped_fraction"] < 0.25


def _pcm_wav_bytes(clip: Clip) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, clip.samples, clip.rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_bad_files_are_refused_with_a_code_and_a_message_naming_the_file(tmp_path):
    good = _pcm_wav_bytes(speech_like())
    nan = speech_like().samples.copy()
    nan[100, 0] = np.nan
    cases = {
        "truncated.wav": (good[: len(good) // 2], "truncated_audio", "declares"),
        "header_only.wav": (good[:30], "unreadable_audio", "not a readable WAV, FLAC, MP3"),
        "empty.wav": (b"", "empty_file", "zero-length"),
        "text.wav": (b"this is not audio\n" * 20, "unreadable_audio", "not a readable WAV, FLAC, MP3"),
        "no_frames.wav": (_pcm_wav_bytes(Clip(np.zeros((0, 1), np.float32), 16000)), "no_audio", "no audio frames"),
        "tiny.wav": (_pcm_wav_bytes(Clip(np.zeros((80, 1), np.float32), 16000)), "duration_out_of_range", "min_duration_s"),
    }
    for name, (data, _, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    write_audio(tmp_path / "nan.wav", Clip(nan, 16000), subtype="FLOAT")
    write_audio(tmp_path / "song.au", speech_like(), "AU")  # libsndfile reads it; no whole-file check here
    flac = io.BytesIO()
    soundfile.write(flac, speech_like().samples, 16000, format="FLAC")
    (tmp_path / "cut.flac").write_bytes(flac.getvalue()[: len(flac.getvalue()) // 2])
    cases |= {"nan.wav": (None, "non_finite_samples", "1 samples are NaN or infinite"),
              "song.au": (None, "unsupported_format", "convert it to WAV, FLAC, MP3"),
              "cut.flac": (None, "corrupt_audio", "truncated or damaged")}
    params = make_params().audio
    for name, (_, code, words) in cases.items():
        with pytest.raises(UnusableSample) as error:
            read_measured(tmp_path / name, params)
        assert error.value.code == code, name
        assert name in error.value.message and words in error.value.message, error.value.message


def test_more_than_two_channels_are_refused_for_stereo_output(tmp_path):
    path = write_audio(tmp_path / "six.flac", tone(channels=6), "FLAC")
    with pytest.raises(UnusableSample, match="audio.channels=stereo") as error:
        read_measured(path, make_params({"channels": "stereo"}).audio)
    assert error.value.code == "unsupported_channels"
    assert read_measured(path, make_params({"channels": "keep"}).audio)["channels"] == 6


# --- resampling and channels ------------------------------------------------------


def test_resampling_keeps_frequencies_and_removes_what_would_alias():
    wanted = conform(tone(1000.0, rate=44100), 16000, "mono")
    assert wanted.rate == 16000 and wanted.frames == 16000
    assert f0(wanted) == pytest.approx(1000.0, rel=1e-4)
    # 10 kHz is above the new Nyquist (8 kHz): naive decimation would fold it to 6 kHz.
    above = conform(tone(10000.0, rate=44100), 16000, "mono")
    assert rms_dbfs(above.samples[1000:-1000]) < rms_dbfs(tone(10000.0).samples) - 50  # scipy's Kaiser filter: ~57 dB


def test_channel_policies():
    stereo = Clip(np.stack([tone(440.0).samples[:, 0], np.zeros(16000, np.float32)], axis=1), 16000)
    mono = conform(stereo, 16000, "mono")
    assert mono.channels == 1 and np.allclose(mono.samples[:, 0], stereo.samples[:, 0] / 2)
    assert conform(tone(), 16000, "stereo").channels == 2
    assert conform(stereo, 16000, "keep").channels == 2


# --- encoding -------------------------------------------------------------------


@pytest.mark.parametrize("file_format, subtype", [("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "FLOAT"),
                                                  ("flac", "PCM_16"), ("flac", "PCM_24")])
def test_encoding_is_byte_deterministic_and_round_trips(file_format, subtype, tmp_path):
    clip = speech_like()
    first = encode(clip, file_format, subtype)
    if subtype == "FLOAT":
        time.sleep(1.1)  # libsndfile stamps float WAVs with the time (PEAK chunk); the encoder must strip it
    assert encode(clip, file_format, subtype) == first
    path = tmp_path / f"x.{file_format}"
    path.write_bytes(first)
    decoded, info = decode(path)
    assert info.subtype == subtype and decoded.rate == clip.rate
    tolerance = {"PCM_16": 1 / 32767, "PCM_24": 1 / 2**23, "FLOAT": 0}[subtype]
    assert np.max(np.abs(decoded.samples - clip.samples)) <= tolerance


def test_encoder_refuses_to_clip_silently():
    with pytest.raises(ValueError, match="limit the clip first"):
        encode(tone(amplitude=1.5), "wav", "PCM_16")


# --- explore and bias ---------------------------------------------------------------


def raw_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"sample_id": f"s{i}", "split": "train", "status": "ok", "format": "wav", "subtype": "PCM_16",
                          "bit_depth": 16, "lossy": False, "channels": 1, "sample_rate": 16000, "peak_dbfs": -3.0,
                          "silence_fraction": 0.1, "clipped_fraction": 0.0, **row} for i, row in enumerate(rows)])


def test_bias_flags_a_class_that_is_always_louder_or_longer():
    rows = ([{"label": "quiet", "rms_dbfs": -30.0 + i % 2, "duration_s": 1.0} for i in range(6)]
            + [{"label": "also_quiet", "rms_dbfs": -29.0, "duration_s": 1.1} for _ in range(6)]
            + [{"label": "loud", "rms_dbfs": -14.0, "duration_s": 2.5} for _ in range(6)])
    report = audio.bias_extra(raw_frame(rows), make_params())
    assert [f["label"] for f in report["loudness"]["flagged"]] == ["loud"]
    assert report["per_class"]["loud"]["rms_difference_db"] == pytest.approx(15.0, abs=0.01)  # vs the median class, -29 dB
    assert [f["label"] for f in report["duration"]["flagged"]] == ["loud"]
    assert len(report["advice"]) == 2
    balanced = audio.bias_extra(raw_frame([{"label": k, "rms_dbfs": -20.0, "duration_s": 1.0} for k in "abab"]),
                                make_params())
    assert balanced["loudness"]["flagged"] == [] and balanced["duration"]["flagged"] == [] and balanced["advice"] == []


def test_profile_reports_distributions():
    rows = [{"label": "a", "rms_dbfs": -20.0, "duration_s": 1.0, "sample_rate": 44100, "silence_fraction": 0.99},
            {"label": "b", "rms_dbfs": -25.0, "duration_s": 3.0, "clipped_fraction": 0.01}]
    report = audio.profile(raw_frame(rows), make_params())
    assert report["total_duration_s"] == 4.0
    assert report["duration_s"]["median"] == 2.0
    assert report["sample_rates"] == {"16000": 1, "44100": 1}
    assert report["mostly_silent"]["examples"] == ["s0"]
    assert report["clipping"]["examples"] == [{"sample_id": "s1", "clipped_fraction": 0.01}]
    assert report["target"]["samples_to_resample"] == 1


# --- validate -------------------------------------------------------------------


def test_measured_snr_matches_the_recorded_snr_through_later_linear_ops():
    source = speech_like(seconds=1.0)
    ops = build_policy([{"name": "pitch_shift", "semitones": [1, 1]}, {"name": "add_noise", "snr_db": [12, 12]},
                        {"name": "gain", "gain_db": [-4, -4]}], "audio")
    variant, records = run_policy(ops, np.random.default_rng(0), source)
    assert audio.measured_snr(source, records, variant) == pytest.approx(12.0, abs=0.2)


def test_spectral_similarity_separates_variants_from_destroyed_signals():
    source = speech_like(seconds=1.0)
    rng = np.random.default_rng(0)
    shifted = build_policy([{"name": "pitch_shift", "semitones": [2, 2]}], "audio")[0]
    variant = shifted.apply(source, semitones=2.0)
    noise_only = source.with_samples(0.1 * rng.standard_normal(source.samples.shape))
    silence = source.with_samples(np.zeros_like(source.samples))
    assert spectral_similarity(source, variant, 80, 7600) > 0.8
    assert spectral_similarity(source, noise_only, 80, 7600) < 0.3
    assert spectral_similarity(source, silence, 80, 7600) == 0.0


def test_every_audio_operator_is_classed_geometric_or_signal():
    from augmill.tasks.modalities.audio.ops import OPERATOR_KINDS
    from augmill.tasks.ops.policy import operators_for

    assert set(OPERATOR_KINDS) == set(operators_for("audio"))
    assert set(OPERATOR_KINDS.values()) == {"geometric", "signal"}


@pytest.mark.parametrize("policy", [
    [{"name": "speed", "rate": [1.5, 1.5]}],
    [{"name": "fast_forward", "length": [0.5, 0.5], "rate": [3.0, 3.0]}],
    [{"name": "time_stretch", "rate": [0.6, 0.6]}, {"name": "time_shift", "shift": [0.4, 0.4]}],
], ids=["speed", "fast_forward", "stretch+shift"])
def test_recorded_time_ops_are_not_counted_as_spectral_damage(policy):
    """Compared with the source aligned by the recorded time ops, a variant made by them alone
    matches exactly; compared with the raw source (as before), speed and fast-forward do not."""
    source = speech_like(seconds=1.0)
    variant, records = run_policy(build_policy(policy, "audio"), np.random.default_rng(0), source)
    assert spectral_similarity(audio.aligned_source(source, records), variant, 80, 7600) > 0.999
    if policy[0]["name"] != "time_stretch":
        assert spectral_similarity(source, variant, 80, 7600) < 0.9


def test_noise_after_a_time_op_is_still_seen_as_damage():
    source = speech_like(seconds=1.0)
    policy = build_policy([{"name": "speed", "rate": [1.3, 1.3]}, {"name": "add_noise", "snr_db": [-5, -5]}], "audio")
    variant, records = run_policy(policy, np.random.default_rng(0), source)
    assert spectral_similarity(audio.aligned_source(source, records), variant, 80, 7600) < 0.5


def test_features_of_augmented_files(tmp_path, monkeypatch):
    """features() on real files: format as configured, SNR measured, a silent and a corrupt
    variant caught, a missing source noticed."""
    monkeypatch.chdir(tmp_path)
    params = make_params(data={"modality": "audio", "raw_dir": "raw"})
    source = speech_like(seconds=1.0)
    write_audio(tmp_path / "raw/train/a/src.wav", source)
    variant, records = run_policy(build_policy([{"name": "add_noise", "snr_db": [20, 20]}], "audio"),
                                  np.random.default_rng(1), source)
    augmented_dir = tmp_path / "data/interim/augmented/a"
    augmented_dir.mkdir(parents=True)
    (augmented_dir / "v0.wav").write_bytes(encode(variant, "wav", "PCM_16"))
    (augmented_dir / "v1.wav").write_bytes(encode(source.with_samples(np.zeros_like(source.samples)), "wav", "PCM_16"))
    (augmented_dir / "v2.wav").write_bytes(b"RIFF garbage")
    broken = source.samples.copy()
    broken[50:60] = np.inf
    write_audio(augmented_dir / "v3.wav", Clip(broken, 16000), subtype="FLOAT")
    sources = pd.DataFrame([{"sample_id": "src", "path": "train/a/src.wav", "channels": 1}])
    augmented = pd.DataFrame([
        {"sample_id": "src-aug000", "source_id": "src", "label": "a", "path": "a/v0.wav", "ops": json.dumps(records)},
        {"sample_id": "src-aug001", "source_id": "src", "label": "a", "path": "a/v1.wav", "ops": "[]"},
        {"sample_id": "src-aug002", "source_id": "src", "label": "a", "path": "a/v2.wav", "ops": "[]"},
        {"sample_id": "src-aug003", "source_id": "src", "label": "a", "path": "a/v3.wav", "ops": "[]"},
        {"sample_id": "gone-aug000", "source_id": "gone", "label": "a", "path": "a/v0.wav", "ops": "[]"},
    ])
    features = audio.features(augmented, sources, params).set_index("sample_id")
    noisy = features.loc["src-aug000"]
    assert noisy["sample_rate"] == 16000 and noisy["channels_as_configured"] and not noisy["non_finite"]
    assert noisy["snr_db"] == pytest.approx(20.0, abs=0.1) and noisy["duration_ratio"] == 1.0
    assert noisy["spectral_similarity"] > 0.9
    silent = features.loc["src-aug001"]
    assert silent["rms_dbfs"] == -120.0 and silent["silence_fraction"] == 1.0 and silent["spectral_similarity"] == 0.0
    assert "src-aug002.wav" not in features.loc["src-aug002", "unreadable"]
    assert "v2.wav" in features.loc["src-aug002", "unreadable"]
    infinite = features.loc["src-aug003"]
    assert infinite["non_finite"] and infinite["unreadable"] == "" and np.isnan(infinite["measured_peak_dbfs"])
    assert not features.loc["gone-aug000", "source_exists"]
    parameters = audio.suite_parameters(["a"], params)
    assert parameters["min_snr_db"] == 14.0 and parameters["max_snr_db"] == 26.0
    assert parameters["sample_rates"] == [16000]


# --- evaluate and review -------------------------------------------------------------


def test_baseline_features_are_mfcc_and_log_mel_summaries(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_audio(tmp_path / "data/final/train/a/x.wav", tone(300.0, rate=44100, channels=2), subtype="PCM_24")
    write_audio(tmp_path / "data/final/train/b/y.flac", speech_like(), "FLAC")
    frame = pd.DataFrame({"path": ["train/a/x.wav", "train/b/y.flac", "train/a/x.wav"]})
    vectors = audio.baseline_features(frame, make_params())
    assert vectors.shape == (3, 106) and np.isfinite(vectors).all()
    assert np.array_equal(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])


def test_gallery_page_has_players_and_spectrograms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = make_params(data={"modality": "audio", "raw_dir": "raw"})
    write_audio(tmp_path / "raw/train/a/src.wav", speech_like(), subtype="PCM_24")
    variant_path = tmp_path / "data/interim/augmented/a/src-aug000.wav"
    variant_path.parent.mkdir(parents=True)
    variant_path.write_bytes(encode(speech_like(seed=3), "wav", "PCM_16"))
    validated = pd.DataFrame([{"sample_id": "src-aug000", "source_id": "src", "label": "<b>a</b>", "status": "quarantined",
                               "reason": "snr_db not between 14 and 26 (got 3)", "path": "a/src-aug000.wav",
                               "ops": json.dumps([{"name": "add_noise", "params": {"snr_db": 3.0, "noise_seed": 1}}])}])
    raw = pd.DataFrame([{"sample_id": "src", "path": "train/a/src.wav"}])
    page = tmp_path / "gallery.html"
    audio.render_gallery(validated, raw, params, page)
    html = page.read_text()
    assert html.count("<audio controls") == 2 and html.count('src="data:audio/flac;base64,') == 2
    assert html.count('src="data:image/png;base64,') == 2
    assert "add_noise(snr_db=3.0)" in html and "&lt;b&gt;a&lt;/b&gt;" in html and "snr_db not between" in html
    first = page.read_bytes()
    audio.render_gallery(validated, raw, params, page)
    assert page.read_bytes() == first


# --- params ------------------------------------------------------------------------


@pytest.mark.parametrize("section, key", [
    ({"sample_rate": 100}, "audio.sample_rate"),
    ({"channels": "surround"}, "audio.channels"),
    ({"format": "flac", "subtype": "FLOAT"}, "FLOAT cannot be written as flac"),
    ({"peak_limit_dbfs": 1.0}, "audio.peak_limit_dbfs"),
    ({"min_duration_ratio": 2.0, "max_duration_ratio": 1.0}, "min_duration_ratio"),
    ({"sample_rte": 16000}, "audio.sample_rte"),
    ({"conform_final": "yes"}, "audio.conform_final"),
    ({"rate_bias_share": 0}, "audio.rate_bias_share"),
])
def test_bad_audio_params_are_refused_naming_the_key(section, key):
    with pytest.raises(ParamsError) as error:
        make_params(section)
    assert key in str(error.value)


def test_audio_params_accept_whole_numbers_for_float_knobs():
    assert make_params({"peak_limit_dbfs": -1, "snr_tolerance_db": 2}).audio.peak_limit_dbfs == -1.0


def test_peak_of_limited_variant_is_below_full_scale():
    clip = tone(amplitude=0.9)
    loud, records = run_policy(build_policy([{"name": "gain", "gain_db": [6, 6]}], "audio"), np.random.default_rng(0), clip)
    limited, was_limited = audio.limit_peak(loud, records, np.random.default_rng(0), -1.0)
    assert was_limited and records[-1]["name"] == "peak_limit"
    assert -1.001 <= peak_dbfs(limited.samples) <= -1.0
