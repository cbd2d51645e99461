"""Audio operators for recordings as they are in the world: coloured background noise,
room reverberation, and SpecAugment-style time and frequency masking done on the
waveform, so the output is still audio that any model can take.

- ``background_noise``: white, pink (1/f power) or brown (1/f^2) noise at an SNR range,
  synthesised offline from a recorded seed (pink and brown shaped in the frequency domain).
- ``reverb``: a room impulse response simulated at run time by the statistical model of
  late reverberation (Schroeder; Polack 1988): Gaussian noise under an exponential decay
  that falls 60 dB in ``rt60`` seconds, after a direct-path impulse; mixed at ``wet``.
  No image-source geometry (pyroomacoustics would bring a compiled dependency for walls
  the data does not know); the decay time is what a classifier meets in practice.
- ``time_mask`` / ``frequency_mask``: SpecAugment (Park et al. 2019) masks: spans of time
  silenced (with 5 ms fades), bands of frequency removed (zeroed FFT bins, tapered).

Every level is computed in float64 and rounded into the recorded params, the noise comes
from ``numpy``'s seeded generators, and FFTs are numpy's pocketfft, so replay is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augmill.tasks.modalities.audio.ops import FADE_S, _set_range, _uniform
from augmill.tasks.modalities.audio.ops_recorded import file_sha256, looped, recording, recording_names
from augmill.tasks.modalities.audio.signal import Clip, power, to_dbfs
from augmill.tasks.ops.base import Operator, OperatorConfigError
from augmill.tasks.ops.policy import register

COLOURS = ("white", "pink", "brown")


def _settled(scale: float) -> float:
    """A normaliser rounded to 12 significant digits (1.0 for silence): the last bits of a long
    float sum may differ between CPUs' vector paths, and must not reach the output's bytes."""
    return float(f"{scale:.12g}") or 1.0


def coloured_noise(frames: int, channels: int, colour: str, seed: int) -> np.ndarray:
    """Unit-RMS noise of shape (frames, channels) whose power falls as 1/f^k (k 0, 1, 2)."""
    white = np.random.default_rng(seed).standard_normal((frames, channels))
    if colour == "white" or frames < 2:
        noise = white
    else:
        spectrum = np.fft.rfft(white, axis=0)
        bins = np.arange(spectrum.shape[0], dtype=np.float64)
        bins[0] = 1.0  # no DC boost
        spectrum /= (bins ** (COLOURS.index(colour) / 2.0))[:, None]
        noise = np.fft.irfft(spectrum, n=frames, axis=0)
    return noise / _settled(math.sqrt(power(noise)))


@register
@dataclass(frozen=True)
class BackgroundNoise(Operator):
    """Add white, pink or brown noise (``colours``: one drawn per variant) at ``snr_db``
    against the clip's mean power when it is added; regenerated from ``noise_seed``."""

    name = "background_noise"
    modality = "audio"
    snr_db: tuple[float, float] = (10.0, 30.0)
    colours: tuple[str, ...] = COLOURS
    folder: str = ""  # recordings of real noise (tasks.modalities.audio.ops_recorded); "" : the synthetic colours

    def validate(self) -> None:
        _set_range(self, "snr_db", -20.0, 100.0)
        colours = tuple(self.colours) if isinstance(self.colours, list | tuple) else (self.colours,)
        if not colours or any(colour not in COLOURS for colour in colours):
            raise OperatorConfigError(f"{self.name}.colours must be a list drawn from {list(COLOURS)}, got {self.colours!r}")
        object.__setattr__(self, "colours", colours)
        if self.folder:
            recording_names(self.folder, f"{self.name}.folder")

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        snr = _uniform(rng, *self.snr_db)
        signal_dbfs = to_dbfs(math.sqrt(power(item.samples)))
        if self.folder:  # a file, then where in it the noise starts (it wraps round)
            names = recording_names(self.folder, f"{self.name}.folder")
            name = names[int(rng.integers(len(names)))]
            sha256 = file_sha256(str(Path(self.folder) / name))
            frames = recording(self.folder, name, sha256, item.rate, item.channels).shape[0]
            return {"folder": self.folder, "noise_file": name, "noise_sha256": sha256,
                    "offset": int(rng.integers(frames)), "snr_db": snr, "noise_dbfs": round(signal_dbfs - snr, 4)}
        return {"colour": self.colours[int(rng.integers(len(self.colours)))], "snr_db": snr,
                "noise_dbfs": round(signal_dbfs - snr, 4), "noise_seed": int(rng.integers(0, 2**31))}

    def apply(self, item: Clip, *, snr_db: float, noise_dbfs: float, colour: str = "", noise_seed: int = 0,
              folder: str = "", noise_file: str = "", noise_sha256: str = "", offset: int = 0) -> Clip:
        if folder:
            source = recording(folder, noise_file, noise_sha256, item.rate, item.channels)
            noise = looped(source, offset, item.frames)
            noise = noise / _settled(math.sqrt(power(noise)) or 1.0)
        else:
            noise = coloured_noise(item.frames, item.channels, colour, noise_seed)
        return item.with_samples(item.samples + noise * 10.0 ** (noise_dbfs / 20.0))


def room_response(rate: int, rt60: float, seed: int) -> np.ndarray:
    """An impulse response of rt60 seconds: 1 at t = 0, then noise under exp(-6.91 t / rt60)
    (60 dB down at rt60), its energy equal to the direct path's."""
    frames = max(2, round(rt60 * rate))
    t = np.arange(frames, dtype=np.float64) / rate
    tail = np.random.default_rng(seed).standard_normal(frames) * np.exp(-6.907755 * t / rt60)
    tail[0] = 0.0
    tail /= _settled(math.sqrt(float(np.sum(tail ** 2))))
    tail[0] = 1.0
    return tail


@register
@dataclass(frozen=True)
class Reverb(Operator):
    """Convolve with a simulated room response (``room_response``) of ``rt60`` seconds and
    mix ``wet`` of it with ``1 - wet`` of the dry clip; the length is kept (the tail past the
    end is cut), and the dry level is kept so the SNR of what follows is unchanged."""

    name = "reverb"
    modality = "audio"
    rt60: tuple[float, float] = (0.2, 0.8)
    wet: tuple[float, float] = (0.2, 0.5)
    folder: str = ""  # measured impulse responses (tasks.modalities.audio.ops_recorded); "": simulated rooms

    def validate(self) -> None:
        _set_range(self, "rt60", 0.01, 10.0)
        _set_range(self, "wet", 0.0, 1.0)
        if self.folder:
            recording_names(self.folder, f"{self.name}.folder")

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        if self.folder:
            names = recording_names(self.folder, f"{self.name}.folder")
            name = names[int(rng.integers(len(names)))]
            return {"folder": self.folder, "rir_file": name, "rir_sha256": file_sha256(str(Path(self.folder) / name)),
                    "wet": _uniform(rng, *self.wet)}
        return {"rt60": _uniform(rng, *self.rt60), "wet": _uniform(rng, *self.wet),
                "rir_seed": int(rng.integers(0, 2**31))}

    def apply(self, item: Clip, *, wet: float, rt60: float = 0.0, rir_seed: int = 0, folder: str = "",
              rir_file: str = "", rir_sha256: str = "") -> Clip:
        if folder:  # mono, scaled so its strongest tap (the direct path) is 1, as the simulated one's
            response = recording(folder, rir_file, rir_sha256, item.rate, 1)[:, 0]
            response = response / _settled(float(np.max(np.abs(response))))
        else:
            response = room_response(item.rate, rt60, rir_seed)
        dry = item.samples.astype(np.float64)
        size = dry.shape[0] + response.size - 1
        n = 1 << max(0, (size - 1).bit_length())
        wet_signal = np.fft.irfft(np.fft.rfft(dry, n, axis=0) * np.fft.rfft(response, n)[:, None], n, axis=0)
        return item.with_samples((1.0 - wet) * dry + wet * wet_signal[: dry.shape[0]])


def _mask_window(frames: int, rate: int) -> np.ndarray:
    """Gain over a masked span: 0 inside, fading from 1 over the first and back to 1 over the
    last 5 ms (at most half the span each), so the mask adds no click."""
    ramp = np.linspace(1.0, 0.0, max(0, min(frames // 2, round(FADE_S * rate))) + 2)[1:-1]
    window = np.zeros(frames)
    window[: ramp.size] = ramp
    if ramp.size:
        window[frames - ramp.size:] = np.maximum(window[frames - ramp.size:], ramp[::-1])
    return window


@register
@dataclass(frozen=True)
class TimeMask(Operator):
    """Silence ``masks`` spans, each up to ``width`` of the clip (SpecAugment's time masking,
    on the waveform), fading out and in over 5 ms; the spans are recorded as [start, frames]."""

    name = "time_mask"
    modality = "audio"
    masks: tuple[float, float] = (1, 2)
    width: tuple[float, float] = (0.02, 0.1)

    def validate(self) -> None:
        _set_range(self, "masks", 1, 20)
        _set_range(self, "width", 0.0, 0.5)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        spans = []
        for _ in range(int(rng.integers(round(self.masks[0]), round(self.masks[1]) + 1))):
            frames = min(item.frames, round(item.frames * rng.uniform(*self.width)))
            spans.append([int(rng.integers(0, item.frames - frames + 1)), int(frames)])
        return {"spans": spans}

    def apply(self, item: Clip, *, spans: list[list[int]]) -> Clip:
        gain = np.ones(item.frames, dtype=np.float64)
        for start, frames in spans:
            if frames > 0:
                gain[start:start + frames] = np.minimum(gain[start:start + frames], _mask_window(frames, item.rate))
        return item.with_samples(item.samples * gain[:, None])


@register
@dataclass(frozen=True)
class FrequencyMask(Operator):
    """Remove one band of ``width`` octaves between ``low_hz`` and the Nyquist frequency
    (SpecAugment's frequency masking, on the waveform): its FFT bins are zeroed, with a
    raised-cosine taper of a tenth of the band each side; the band is recorded in Hz."""

    name = "frequency_mask"
    modality = "audio"
    low_hz: tuple[float, float] = (100.0, 4000.0)
    width: tuple[float, float] = (0.1, 0.5)

    def validate(self) -> None:
        _set_range(self, "low_hz", 0.0, 100000.0)
        _set_range(self, "width", 0.0, 4.0)

    def sample(self, rng: np.random.Generator, item: Clip) -> dict[str, Any]:
        nyquist = item.rate / 2
        low = min(_uniform(rng, *self.low_hz), nyquist)
        return {"low_hz": low, "high_hz": round(min(low * 2 ** _uniform(rng, *self.width), nyquist), 4)}

    def apply(self, item: Clip, *, low_hz: float, high_hz: float) -> Clip:
        if high_hz <= low_hz or item.frames < 2:
            return item.with_samples(item.samples.astype(np.float64))
        samples = item.samples.astype(np.float64)
        spectrum = np.fft.rfft(samples, axis=0)
        hz = np.arange(spectrum.shape[0], dtype=np.float64) * item.rate / item.frames
        taper = (high_hz - low_hz) / 10 or 1.0
        distance = np.maximum(low_hz - hz, hz - high_hz) / taper  # < 0 inside the band, > 1 well outside
        keep = np.where(distance <= 0, 0.0, np.where(distance >= 1, 1.0, 0.5 - 0.5 * np.cos(np.pi * distance)))
        return item.with_samples(np.fft.irfft(spectrum * keep[:, None], n=item.frames, axis=0))
