"""Tests for the audio operators: the sample/apply/replay contract for every
registered operator, and each operator's measured effect on real signals
(pure tones, where frequency and level can be measured exactly)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from augmill.tasks.modalities.audio.signal import Clip
from augmill.tasks.ops import policy
from augmill.tasks.ops.base import OperatorConfigError

AUDIO_OPS = policy.operators_for("audio")
RATE = 16000


def tone(frequency: float = 440.0, seconds: float = 1.0, amplitude: float = 0.5, channels: int = 1,
         rate: int = RATE) -> Clip:
    t = np.arange(round(seconds * rate)) / rate
    samples = amplitude * np.sin(2 * np.pi * frequency * t)
    return Clip(np.repeat(samples[:, None], channels, axis=1).astype(np.float32), rate)


def speech_like(seconds: float = 0.8, channels: int = 1, seed: int = 0) -> Clip:
    """Harmonics of a gliding fundamental under a syllable envelope, plus a little noise:
    a stand-in for a spoken word with known structure."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    f0 = 120 + 40 * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.sin(np.pi * np.clip(t / seconds, 0, 1)) ** 2
    signal = 0.3 * envelope * voiced + 0.003 * rng.standard_normal(t.size)
    return Clip(np.repeat(signal[:, None], channels, axis=1).astype(np.float32), RATE)


def f0(clip: Clip) -> float:
    """The frequency of the strongest spectral peak, refined by parabolic interpolation."""
    signal = clip.samples[:, 0].astype(np.float64)
    padded = len(signal) * 8
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)), padded))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * clip.rate / padded


def semitones(f: float, reference: float) -> float:
    return 12 * math.log2(f / reference)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def apply_op(name: str, clip: Clip, **params) -> Clip:
    # As replay does: an instance without __init__, so apply can only use its params.
    cls = AUDIO_OPS[name]
    return cls.__new__(cls).apply(clip, **params)


# --- the contract, for every operator ----------------------------------------------


def test_every_registered_audio_operator_is_tested():
    assert set(AUDIO_OPS) == {"add_noise", "time_shift", "cut_segment", "fast_forward", "speed", "pitch_shift",
                              "time_stretch", "gain", "peak_limit",
                              # tasks/modalities/audio/ops_effects.py (behaviour: tests/test_ops_audio_effects.py)
                              "background_noise", "reverb", "time_mask", "frequency_mask"}


CHANGES_LENGTH = {"cut_segment", "fast_forward", "speed", "time_stretch"}


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("name", sorted(AUDIO_OPS))
def test_contract_deterministic_replayable_format_preserving(name, channels):
    op = AUDIO_OPS[name]()
    source = speech_like(channels=channels)
    before = source.samples.copy()

    params = op.sample(np.random.default_rng(42), source)
    again = op.sample(np.random.default_rng(42), source)
    assert params == again
    assert json.loads(json.dumps(params)) == params
    assert all(type(v) in (int, float, bool, str) or isinstance(v, list) for v in params.values())
    assert all(round(v, 4) == v for v in params.values() if isinstance(v, float))

    out = op.apply(source, **params)
    assert out.samples.dtype == np.float32 and out.rate == RATE and out.channels == channels
    assert np.isfinite(out.samples).all()
    if name not in CHANGES_LENGTH:
        assert out.frames == source.frames
    assert op.apply(source, **again).samples.tobytes() == out.samples.tobytes()
    assert np.array_equal(source.samples, before), "apply must not modify its input"

    records = json.loads(json.dumps([{"name": name, "params": params}]))
    assert policy.replay(source, records, "audio").samples.tobytes() == out.samples.tobytes()


# Configs far from the defaults: replay builds operators without __init__, so an apply
# that read its config instead of its params would diverge here.
NON_DEFAULT = {
    "add_noise": {"snr_db": (3.0, 4.0), "distribution": "uniform"},
    "time_shift": {"shift": (0.3, 0.4), "rollover": True},
    "cut_segment": {"length": (0.3, 0.4)},
    "fast_forward": {"length": (0.4, 0.5), "rate": (4.0, 5.0)},
    "speed": {"rate": (1.6, 1.7)},
    "pitch_shift": {"semitones": (5.0, 6.0)},
    "time_stretch": {"rate": (0.6, 0.7)},
    "gain": {"gain_db": (-20.0, -19.0)},
    "peak_limit": {"peak_dbfs": -30.0},
    "background_noise": {"snr_db": (3.0, 4.0), "colours": ["brown"]},
    "reverb": {"rt60": (1.5, 1.6), "wet": (0.8, 0.9)},
    "time_mask": {"masks": (3, 4), "width": (0.2, 0.3)},
    "frequency_mask": {"low_hz": (2000.0, 2100.0), "width": (1.0, 1.5)},
}


@pytest.mark.parametrize("name", sorted(AUDIO_OPS))
def test_replay_depends_on_params_not_config(name):
    op = AUDIO_OPS[name](**NON_DEFAULT[name])
    source = speech_like(seed=5)
    _, records = policy.run_policy([op], np.random.default_rng(9), source)
    expected = op.apply(source, **records[0]["params"])
    assert policy.replay(source, records, "audio").samples.tobytes() == expected.samples.tobytes()


def test_different_seeds_give_different_variants():
    ops = policy.build_policy([{"name": "add_noise"}, {"name": "pitch_shift"}], "audio")
    source = speech_like()
    a, _ = policy.run_policy(ops, np.random.default_rng(1), source)
    b, _ = policy.run_policy(ops, np.random.default_rng(2), source)
    assert not np.array_equal(a.samples, b.samples)


# --- measured properties ------------------------------------------------------------


def test_pitch_shift_up_two_semitones_moves_f0_and_keeps_duration():
    source = tone(440.0)
    out = apply_op("pitch_shift", source, semitones=2.0)
    assert out.frames == source.frames
    assert semitones(f0(out), f0(source)) == pytest.approx(2.0, abs=0.05)
    # The tone is still there at (nearly) its level: the vocoder's phasiness costs < 1 dB.
    assert 20 * math.log10(rms(out.samples[2000:-2000]) / rms(source.samples)) > -1.0


@pytest.mark.parametrize("shift", [-2.0, -0.5, 1.0, 3.0])
def test_pitch_shift_measured_in_both_directions(shift):
    source = tone(330.0)
    out = apply_op("pitch_shift", source, semitones=shift)
    assert out.frames == source.frames
    assert semitones(f0(out), 330.0) == pytest.approx(shift, abs=0.05)


def test_time_stretch_faster_gives_shorter_clip_at_the_same_pitch():
    source = tone(440.0)
    out = apply_op("time_stretch", source, rate=1.25)
    assert out.frames == round(source.frames * 0.8)
    assert semitones(f0(out), f0(source)) == pytest.approx(0.0, abs=0.05)


def test_time_stretch_slower_gives_longer_clip_at_the_same_pitch():
    out = apply_op("time_stretch", tone(440.0), rate=0.8)
    assert out.frames == round(RATE / 0.8)
    assert f0(out) == pytest.approx(440.0, rel=0.003)


def test_speed_changes_duration_and_pitch_together():
    out = apply_op("speed", tone(440.0), rate=1.25)
    assert out.frames == round(RATE / 1.25)
    assert f0(out) == pytest.approx(550.0, rel=0.002)


@pytest.mark.parametrize("snr", [10.0, 0.0, 25.0])
@pytest.mark.parametrize("distribution", ["gaussian", "uniform"])
def test_noise_at_snr_measures_that_snr(snr, distribution):
    source = speech_like(seconds=1.0)
    op = AUDIO_OPS["add_noise"](snr_db=(snr, snr), distribution=distribution)
    params = op.sample(np.random.default_rng(3), source)
    out = op.apply(source, **params)
    noise = out.samples.astype(np.float64) - source.samples
    measured = 20 * math.log10(rms(source.samples) / rms(noise))
    assert measured == pytest.approx(snr, abs=0.5)
    assert abs(float(np.mean(noise))) < 0.1 * rms(noise)


def test_gain_minus_six_db_halves_the_amplitude():
    source = tone(440.0, amplitude=0.8)
    out = apply_op("gain", source, gain_db=-6.0)
    assert np.max(np.abs(out.samples)) / np.max(np.abs(source.samples)) == pytest.approx(0.5, rel=0.005)
    assert rms(out.samples) / rms(source.samples) == pytest.approx(0.5, rel=0.005)


def test_time_shift_moves_content_and_fills_with_silence_or_wraps():
    source = speech_like()
    moved = apply_op("time_shift", source, frames=400, rollover=False)
    assert np.array_equal(moved.samples[400:], source.samples[:-400])
    assert not moved.samples[:400].any()
    wrapped = apply_op("time_shift", source, frames=-400, rollover=True)
    assert np.array_equal(wrapped.samples, np.roll(source.samples, -400, axis=0))


def test_cut_segment_removes_exactly_the_segment_with_a_crossfade():
    source = speech_like()
    out = apply_op("cut_segment", source, start=3000, frames=1600, fade=80)
    assert out.frames == source.frames - 1600
    assert np.array_equal(out.samples[:3000], source.samples[:3000])
    assert np.allclose(out.samples[3080:], source.samples[4680:])
    # No click: the largest step across the join is no larger than the signal's own steps.
    steps = np.abs(np.diff(out.samples[:, 0].astype(np.float64)))
    assert steps[2990:3090].max() <= np.abs(np.diff(source.samples[:, 0].astype(np.float64))).max() * 1.5


def test_fast_forward_compresses_only_the_segment():
    source = tone(200.0)
    out = apply_op("fast_forward", source, start=4000, frames=4000, rate=2.0)
    assert out.frames == source.frames - 2000
    assert np.array_equal(out.samples[:4000], source.samples[:4000])
    assert np.array_equal(out.samples[-8000:], source.samples[-8000:])
    segment = Clip(out.samples[4200:5800], RATE)  # inside the compressed part: played twice as fast
    assert f0(segment) == pytest.approx(400.0, rel=0.02)


def test_peak_limit_scales_down_only_above_the_limit():
    loud = tone(440.0, amplitude=1.6)
    op = AUDIO_OPS["peak_limit"](peak_dbfs=-1.0)
    params = op.sample(np.random.default_rng(0), loud)
    out = op.apply(loud, **params)
    peak_db = 20 * math.log10(float(np.max(np.abs(out.samples))))
    assert -1.001 <= peak_db <= -1.0
    quiet = tone(440.0, amplitude=0.2)
    assert op.sample(np.random.default_rng(0), quiet) == {"gain_db": 0.0}


def test_operators_work_on_stereo_channel_by_channel():
    source = Clip(np.stack([tone(440.0).samples[:, 0], tone(660.0).samples[:, 0]], axis=1), RATE)
    out = apply_op("pitch_shift", source, semitones=2.0)
    left, right = Clip(out.samples[:, :1], RATE), Clip(out.samples[:, 1:], RATE)
    assert semitones(f0(left), 440.0) == pytest.approx(2.0, abs=0.05)
    assert semitones(f0(right), 660.0) == pytest.approx(2.0, abs=0.05)


def test_short_clips_survive_every_operator():
    source = speech_like(seconds=0.06)
    for name in sorted(AUDIO_OPS):
        op = AUDIO_OPS[name]()
        out = op.apply(source, **op.sample(np.random.default_rng(1), source))
        assert out.frames > 0 and np.isfinite(out.samples).all(), name


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize("entry, message", [
    ({"name": "add_noise", "snr_db": [30, 10]}, "add_noise.snr_db"),
    ({"name": "add_noise", "distribution": "pink"}, "add_noise.distribution"),
    ({"name": "pitch_shift", "semitones": [-30, 2]}, "pitch_shift.semitones"),
    ({"name": "time_stretch", "rate": [0, 2]}, "time_stretch.rate"),
    ({"name": "speed", "rate": 1.1}, "speed.rate"),
    ({"name": "time_shift", "rollover": "yes"}, "time_shift.rollover"),
    ({"name": "peak_limit", "peak_dbfs": 3}, "peak_limit.peak_dbfs"),
    ({"name": "gain", "gain": [1, 2]}, "unknown option"),
    ({"name": "rotate"}, "unknown audio operator 'rotate'"),
])
def test_bad_configuration_is_refused_naming_the_key(entry, message):
    with pytest.raises(OperatorConfigError, match="augment.policy\\[0\\]") as error:
        policy.build_policy([entry], "audio")
    assert message in str(error.value)
