"""Audio operators on ``Clip`` (float32 samples, shape (frames, channels), and a
sample rate): noise at an SNR, time shift, cutting or fast-forwarding a segment,
speed, pitch shift (keeps duration), time stretch (keeps pitch), gain, and a
peak limiter.

Every ``apply`` returns a new float32 clip with the same rate and channel count;
positions and lengths are sampled in frames, so replay is exact. Levels are in
dB and may exceed full scale here: the modality limits each variant before
encoding and records that as a ``peak_limit`` op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from augmill.tasks.modalities.audio.signal import Clip, change_speed, pitch_shift, power, time_stretch, to_dbfs
from augmill.tasks.ops.base import Operator, OperatorConfigError, check_range
from augmill.tasks.ops.policy import register

FADE_S = 0.005  # joins of cut segments are cross-faded over 5 ms, so no click is added


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # Rounded so the manifest stays short; apply receives exactly this value.
    return round(float(rng.uniform(low, high)), 4)


def _set_range(op: Operator, field: str, low: float, high: float) -> None:
    object.__setattr__(op, field, check_range(op.name, field, getattr(op, field), low, high))


def _segment(rng: np.random.Generator, clip: Clip, length: tuple[float, float]) -> tuple[int, int]:
    """A random segment covering `length` (fractions) of the clip: (start frame, frames)."""
    frames = min(clip.frames - 1, max(1, round(clip.frames * rng.uniform(*length))))
    start = int(rng.integers(0, clip.frames - frames + 1))
    return start, frames


def _gain(samples: np.ndarray, gain_db: float) -> np.ndarray:
    return samples.astype(np.float64) * 10.0 ** (gain_db / 20.0)


@register
@dataclass(frozen=True)
class AddNoise(Operator):
    """Add white noise at a signal-to-noise ratio ``snr_db`` (dB, against the mean
    power of the clip as it is when the noise is added). ``distribution`` is
    gaussian or uniform. The noise is regenerated from the recorded ``noise_seed``
    at the recorded level ``noise_dbfs``, so replay needs no stored noise."""

    name = "add_noise"
    modality = "audio"
    snr_db: tuple[float, float] = (15.0, 30.0)
    distribution: str = "gaussian"

    def validate(self) -> None:
        _set_range(self, "snr_db", -20.0, 100.0)
        if self.distribution not in ("gaussian", "uniform"):
            raise OperatorConfigError(f"{self.name}.distribution must be gaussian or uniform, got {self.distribution!r}")

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        snr = _uniform(rng, *self.snr_db)
        signal_dbfs = to_dbfs(math.sqrt(power(item.samples)))
        return {"snr_db": snr, "noise_dbfs": round(signal_dbfs - snr, 4), "distribution": self.distribution,
                "noise_seed": int(rng.integers(0, 2**31))}

    def apply(self, item: Clip, *, snr_db: float, noise_dbfs: float, distribution: str, noise_seed: int) -> Clip:
        rng = np.random.default_rng(noise_seed)
        shape = item.samples.shape
        if distribution == "uniform":
            noise = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size=shape)  # unit variance
        else:
            noise = rng.standard_normal(shape)
        return item.with_samples(item.samples + noise * 10.0 ** (noise_dbfs / 20.0))


@register
@dataclass(frozen=True)
class TimeShift(Operator):
    """Shift the content by ``shift`` of the duration (negative: earlier), keeping the
    length; the gap is silence, or with ``rollover`` the part pushed out wraps round."""

    name = "time_shift"
    modality = "audio"
    shift: tuple[float, float] = (-0.1, 0.1)
    rollover: bool = False

    def validate(self) -> None:
        _set_range(self, "shift", -1.0, 1.0)
        if not isinstance(self.rollover, bool):
            raise OperatorConfigError(f"{self.name}.rollover must be true or false, got {self.rollover!r}")

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        return {"frames": int(round(item.frames * rng.uniform(*self.shift))), "rollover": self.rollover}

    def apply(self, item: Clip, *, frames: int, rollover: bool) -> Clip:
        shifted = np.roll(item.samples, frames, axis=0)
        if not rollover:
            if frames > 0:
                shifted[:frames] = 0.0
            elif frames < 0:
                shifted[frames:] = 0.0
        return item.with_samples(shifted)


def _join(samples: np.ndarray, start: int, frames: int, fade: int) -> np.ndarray:
    """Drop [start, start + frames), cross-fading the end of what is dropped into what follows."""
    fade = min(fade, frames, samples.shape[0] - start - frames)
    out = np.concatenate([samples[:start], samples[start + frames:]]).astype(np.float64)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade + 2)[1:-1, None]
        following = samples[start + frames:start + frames + fade]
        out[start:start + fade] = samples[start:start + fade] * (1.0 - ramp) + following * ramp
    return out


@register
@dataclass(frozen=True)
class CutSegment(Operator):
    """Remove a segment of ``length`` (fraction of the duration) at a random place;
    the join is cross-faded over 5 ms. The clip gets shorter by that segment."""

    name = "cut_segment"
    modality = "audio"
    length: tuple[float, float] = (0.05, 0.15)

    def validate(self) -> None:
        _set_range(self, "length", 0.0, 0.9)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        start, frames = _segment(rng, item, self.length)
        return {"start": start, "frames": frames, "fade": round(item.rate * FADE_S)}

    def apply(self, item: Clip, *, start: int, frames: int, fade: int) -> Clip:
        return item.with_samples(_join(item.samples, start, frames, fade))


@register
@dataclass(frozen=True)
class FastForward(Operator):
    """Play a segment of ``length`` (fraction of the duration) ``rate`` times faster,
    like fast-forwarding a tape (pitch rises in it), and the rest as it is."""

    name = "fast_forward"
    modality = "audio"
    length: tuple[float, float] = (0.1, 0.3)
    rate: tuple[float, float] = (1.5, 3.0)

    def validate(self) -> None:
        _set_range(self, "length", 0.0, 0.9)
        _set_range(self, "rate", 1.0, 10.0)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        start, frames = _segment(rng, item, self.length)
        return {"start": start, "frames": frames, "rate": _uniform(rng, *self.rate)}

    def apply(self, item: Clip, *, start: int, frames: int, rate: float) -> Clip:
        samples = item.samples.astype(np.float64)
        # padtype "line" extends the segment linearly at its ends: no step at the joins.
        faster = change_speed(samples[start:start + frames], rate, padtype="line")
        return item.with_samples(np.concatenate([samples[:start], faster, samples[start + frames:]]))


@register
@dataclass(frozen=True)
class Speed(Operator):
    """Play the whole clip ``rate`` times faster (polyphase resampling): the duration
    divides by rate and the pitch multiplies by it."""

    name = "speed"
    modality = "audio"
    rate: tuple[float, float] = (0.9, 1.1)

    def validate(self) -> None:
        _set_range(self, "rate", 0.25, 4.0)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        return {"rate": _uniform(rng, *self.rate)}

    def apply(self, item: Clip, *, rate: float) -> Clip:
        return item.with_samples(change_speed(item.samples, rate))


@register
@dataclass(frozen=True)
class PitchShift(Operator):
    """Shift the pitch by ``semitones`` keeping the duration (phase vocoder, then resampling)."""

    name = "pitch_shift"
    modality = "audio"
    semitones: tuple[float, float] = (-2.0, 2.0)

    def validate(self) -> None:
        _set_range(self, "semitones", -24.0, 24.0)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        return {"semitones": _uniform(rng, *self.semitones)}

    def apply(self, item: Clip, *, semitones: float) -> Clip:
        if semitones == 0:
            return item.with_samples(item.samples.copy())
        return item.with_samples(pitch_shift(item.samples, item.rate, semitones))


@register
@dataclass(frozen=True)
class TimeStretch(Operator):
    """Play ``rate`` times faster keeping the pitch (phase vocoder): duration / rate."""

    name = "time_stretch"
    modality = "audio"
    rate: tuple[float, float] = (0.85, 1.15)

    def validate(self) -> None:
        _set_range(self, "rate", 0.25, 4.0)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        return {"rate": _uniform(rng, *self.rate)}

    def apply(self, item: Clip, *, rate: float) -> Clip:
        if rate == 1:
            return item.with_samples(item.samples.copy())
        return item.with_samples(time_stretch(item.samples, item.rate, rate))


@register
@dataclass(frozen=True)
class Gain(Operator):
    """Multiply by ``gain_db`` (dB): -6 dB halves the amplitude."""

    name = "gain"
    modality = "audio"
    gain_db: tuple[float, float] = (-6.0, 6.0)

    def validate(self) -> None:
        _set_range(self, "gain_db", -60.0, 60.0)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        return {"gain_db": _uniform(rng, *self.gain_db)}

    def apply(self, item: Clip, *, gain_db: float) -> Clip:
        return item.with_samples(_gain(item.samples, gain_db))


@register
@dataclass(frozen=True)
class PeakLimit(Operator):
    """Scale the clip down so its peak is at most ``peak_dbfs`` (never up). The
    gain is measured when sampled and recorded, so replay applies exactly it.
    The modality adds this op to every variant that would otherwise clip."""

    name = "peak_limit"
    modality = "audio"
    peak_dbfs: float = -1.0

    def validate(self) -> None:
        if isinstance(self.peak_dbfs, bool) or not isinstance(self.peak_dbfs, (int, float)) or not -60 <= self.peak_dbfs <= 0:
            raise OperatorConfigError(f"{self.name}.peak_dbfs must be a number in [-60, 0], got {self.peak_dbfs!r}")

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        peak = float(np.max(np.abs(item.samples))) if item.samples.size else 0.0
        over = to_dbfs(peak) - self.peak_dbfs if peak > 0 else 0.0
        # Rounded down to 4 decimals, so the rounding can never leave the peak above the limit.
        return {"gain_db": -math.ceil(over * 1e4) / 1e4 if over > 0 else 0.0}

    def apply(self, item: Clip, *, gain_db: float) -> Clip:
        return item.with_samples(_gain(item.samples, gain_db))


# Geometric operators move or reshape the content in time or frequency (validate replays
# them on the source before comparing spectra, so a recorded shift, stretch or pitch change
# is not counted as damage); signal ones change levels or add noise. Every registered audio
# operator must be listed: validate looks each recorded op up here, and a test checks it.
OPERATOR_KINDS: dict[str, str] = {
    "time_shift": "geometric", "cut_segment": "geometric", "fast_forward": "geometric", "speed": "geometric",
    "time_stretch": "geometric", "pitch_shift": "geometric",
    "add_noise": "signal", "gain": "signal", "peak_limit": "signal",
    # tasks/modalities/audio/ops_effects.py: none moves time
    "background_noise": "signal", "reverb": "signal", "time_mask": "signal", "frequency_mask": "signal",
}
