"""What the realistic audio operators do, measured on signals with known structure:
coloured noise slopes and SNR, a reverb's decay time, time and frequency masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augmill.tasks.modalities.audio.ops_effects import coloured_noise, room_response
from augmill.tasks.modalities.audio.signal import Clip, power
from tests.test_ops_audio import AUDIO_OPS, RATE, apply_op, speech_like, tone


def band_power(samples: np.ndarray, low: float, high: float, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples[:, 0])) ** 2
    hz = np.fft.rfftfreq(samples.shape[0], 1 / rate)
    return float(spectrum[(hz >= low) & (hz < high)].sum())


@pytest.mark.parametrize("colour, slope_db_per_octave", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_coloured_noise_has_its_spectral_slope_and_unit_rms(colour, slope_db_per_octave):
    noise = coloured_noise(2**16, 1, colour, seed=3)
    assert math.isclose(math.sqrt(power(noise)), 1.0, rel_tol=1e-9)
    # Power per octave band: white doubles (+3 dB), pink stays, brown halves (-3 dB) each octave up.
    octaves = [10 * math.log10(band_power(noise, f, 2 * f) / f) for f in (250, 500, 1000, 2000)]
    measured = np.polyfit(range(4), octaves, 1)[0]  # dB per octave of the power density
    assert abs(measured - slope_db_per_octave) < 1.0


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_background_noise_is_added_at_the_drawn_snr(snr):
    clean = tone(seconds=1.0)
    op = AUDIO_OPS["background_noise"](snr_db=(snr, snr), colours=["pink"])
    params = op.sample(np.random.default_rng(1), clean)
    noisy = op.apply(clean, **params)
    noise = noisy.samples.astype(np.float64) - clean.samples
    assert params["colour"] == "pink"
    assert abs(10 * math.log10(power(clean.samples) / power(noise)) - snr) < 0.1


def schroeder_decay_db(response: np.ndarray) -> np.ndarray:
    energy = np.cumsum((response ** 2)[::-1])[::-1]
    return 10 * np.log10(energy / energy[0])


def test_room_response_decays_60_db_in_rt60():
    for rt60 in (0.3, 0.8):
        response = room_response(RATE, rt60, seed=5)
        assert response[0] == 1.0 and response.size == round(rt60 * RATE)
        decay = schroeder_decay_db(response[1:])
        # The -5 to -25 dB stretch of the integrated decay extrapolated to -60 dB (ISO 3382's T20).
        t5, t25 = np.argmax(decay <= -5) / RATE, np.argmax(decay <= -25) / RATE
        assert abs(3 * (t25 - t5) - rt60) < 0.1 * rt60


def test_reverb_keeps_length_and_smears_a_click_into_a_tail():
    click = np.zeros((RATE, 1), dtype=np.float32)
    click[1000] = 1.0
    out = apply_op("reverb", Clip(click, RATE), rt60=0.5, wet=0.5, rir_seed=2).samples[:, 0]
    assert out.shape == (RATE,) and math.isclose(out[1000], 1.0, abs_tol=1e-6)  # dry half + direct path of wet half
    assert np.abs(out[:1000]).max() < 1e-9  # causal (FFT round-off only)
    tail = out[1001:1000 + RATE // 2]
    assert np.abs(tail).max() > 0.001 and np.abs(out[1000 + RATE // 2 + 100:]).max() < np.abs(tail[:800]).max() / 100


def test_time_mask_silences_its_recorded_spans_only():
    clip = tone(seconds=1.0)
    out = apply_op("time_mask", clip, spans=[[4000, 1600]]).samples[:, 0]
    fade = round(0.005 * RATE)
    assert np.abs(out[4000 + fade:5600 - fade]).max() == 0.0
    assert np.array_equal(out[:4000], clip.samples[:4000, 0]) and np.array_equal(out[5600:], clip.samples[5600:, 0])
    assert np.abs(out[4000:4000 + fade]).max() < 0.5 and np.abs(out[4000:4000 + fade]).max() > 0


def test_frequency_mask_removes_a_tone_inside_the_band_and_keeps_one_outside():
    inside, outside = tone(1000.0, seconds=0.5), tone(300.0, seconds=0.5)
    for clip, kept in ((inside, False), (outside, True)):
        out = apply_op("frequency_mask", clip, low_hz=800.0, high_hz=1300.0)
        ratio_db = 10 * math.log10(power(out.samples) / power(clip.samples) + 1e-30)
        assert (abs(ratio_db) < 0.1) if kept else ratio_db < -40


def test_masks_and_noise_on_speech_keep_the_clip_valid_in_stereo():
    clip = speech_like(channels=2)
    for name in ("background_noise", "reverb", "time_mask", "frequency_mask"):
        op = AUDIO_OPS[name]()
        out = op.apply(clip, **op.sample(np.random.default_rng(0), clip))
        assert out.samples.shape == clip.samples.shape and np.isfinite(out.samples).all(), name


def test_bad_colour_is_refused_naming_the_key():
    from augmill.tasks.ops.base import OperatorConfigError

    with pytest.raises(OperatorConfigError, match=r"background_noise.colours must be a list drawn from"):
        AUDIO_OPS["background_noise"](colours=["purple"])
