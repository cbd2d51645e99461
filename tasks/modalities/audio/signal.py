"""Signal processing for the audio modality, on in-memory clips only (no files):
levels in dBFS, polyphase resampling, channel policy, a phase vocoder (time
stretch, pitch shift), mel spectra and MFCCs.

Written with numpy/scipy rather than librosa: librosa would add numba and
llvmlite (~210 MB) and a ~4 s JIT warm-up in every worker process, for a phase
vocoder that is thirty lines here. Every function is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

FLOOR_DBFS = -120.0  # the level reported for digital silence (log of zero)


@dataclass(frozen=True, eq=False)
class Clip:
    """A recording: float32 samples of shape (frames, channels), full scale = 1.0."""

    samples: np.ndarray
    rate: int

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def with_samples(self, samples: np.ndarray) -> Clip:
        return Clip(np.ascontiguousarray(samples, dtype=np.float32), self.rate)


# ---- levels ----------------------------------------------------------------

def to_dbfs(amplitude: float) -> float:
    return max(20.0 * math.log10(amplitude), FLOOR_DBFS) if amplitude > 0 else FLOOR_DBFS


def power(samples: np.ndarray) -> float:
    return float(np.mean(np.square(samples, dtype=np.float64))) if samples.size else 0.0


def rms_dbfs(samples: np.ndarray) -> float:
    return to_dbfs(math.sqrt(power(samples)))


def peak_dbfs(samples: np.ndarray) -> float:
    return to_dbfs(float(np.max(np.abs(samples)))) if samples.size else FLOOR_DBFS


def silence_fraction(samples: np.ndarray, rate: int, threshold_dbfs: float, frame_s: float = 0.02) -> float:
    """Share of 20 ms frames whose RMS (over all channels) is below threshold_dbfs."""
    size = max(1, round(rate * frame_s))
    count = max(1, samples.shape[0] // size)
    usable = samples[: count * size] if samples.shape[0] >= size else samples
    frame_power = np.square(usable, dtype=np.float64).reshape(count, -1).mean(axis=1)
    threshold = 10.0 ** (threshold_dbfs / 10.0)
    return round(float(np.mean(frame_power < threshold)), 4)


# ---- resampling and channels -----------------------------------------------

def ratio(value: float, max_denominator: int = 1000) -> Fraction:
    """A rate as a fraction with a denominator up to 1000, so the polyphase filter stays short
    (at most 20,000 taps). Relative error at most 5e-4 (0.009 semitone), typically ~1e-6."""
    return Fraction(value).limit_denominator(max_denominator)


def resample_by(samples: np.ndarray, up: int, down: int, padtype: str = "constant") -> np.ndarray:
    """Polyphase resampling by up/down along time (Kaiser-windowed FIR low-pass,
    scipy's default): band-limited, so nothing folds back above the new Nyquist."""
    if up == down:
        return samples.astype(np.float64, copy=True)
    from scipy.signal import resample_poly  # here, not at the top: scipy.signal takes ~1.2 s to import, and
    # every stage process imports this module (params validation knows every operator)

    return resample_poly(samples.astype(np.float64), up, down, axis=0, padtype=padtype)


def resample_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    g = math.gcd(rate, target)
    return resample_by(samples, target // g, rate // g)


def change_speed(samples: np.ndarray, rate: float, padtype: str = "constant") -> np.ndarray:
    """Play `rate` times faster: duration / rate, every frequency x rate."""
    fraction = ratio(rate)
    return resample_by(samples, fraction.denominator, fraction.numerator, padtype)


def conform(clip: Clip, target_rate: int, channels: str) -> Clip:
    """The clip at the target rate with the channel policy applied (mono / stereo / keep)."""
    samples = clip.samples
    if channels == "mono" and clip.channels > 1:
        samples = samples.mean(axis=1, keepdims=True, dtype=np.float64)
    elif channels == "stereo" and clip.channels == 1:
        samples = np.repeat(samples, 2, axis=1)
    elif channels == "stereo" and clip.channels > 2:
        raise ValueError(f"{clip.channels} channels cannot be mapped to stereo")
    if clip.rate != target_rate:
        samples = resample_rate(samples, clip.rate, target_rate)
    return Clip(np.ascontiguousarray(samples, dtype=np.float32), target_rate)


def fit_length(samples: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad along time to exactly `frames`."""
    if samples.shape[0] >= frames:
        return samples[:frames]
    return np.concatenate([samples, np.zeros((frames - samples.shape[0], *samples.shape[1:]), samples.dtype)])


# ---- STFT and the phase vocoder ----------------------------------------------

def fft_size(rate: int) -> int:
    """About 50 ms windows: 1024 points at 16-22 kHz, 2048 at 44.1-48 kHz."""
    return 2 ** max(8, round(math.log2(rate * 0.05)))


def _window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1]  # periodic Hann: its squares overlap-add flat at hop n_fft/4


def stft(signal: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred STFT of a 1-D signal: (n_fft // 2 + 1 bins, frames). Zero padding, not
    reflection: a reflected edge gives the first frames phases that are not those of the
    signal, and the phase vocoder would carry that error through the whole output."""
    pad = n_fft // 2
    padded = np.pad(signal.astype(np.float64), (pad, pad + hop))
    count = 1 + (padded.shape[0] - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:count]
    return np.fft.rfft(frames * _window(n_fft), axis=1).T


def istft(spectrum: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of `stft`, cut or padded to `length` samples."""
    window = _window(n_fft)
    frames = np.fft.irfft(spectrum.T, n=n_fft, axis=1) * window
    count, per_frame = frames.shape[0], n_fft // hop
    blocks = np.zeros((count + per_frame - 1, hop))
    weights = np.zeros_like(blocks)
    for offset in range(per_frame):  # n_fft is a multiple of hop: add each quarter of every frame at once
        blocks[offset:offset + count] += frames[:, offset * hop:(offset + 1) * hop]
        weights[offset:offset + count] += window[offset * hop:(offset + 1) * hop] ** 2
    signal = blocks.ravel() / np.where(weights.ravel() > 1e-8, weights.ravel(), 1.0)
    return fit_length(signal[n_fft // 2:], length)


def phase_vocoder(spectrum: np.ndarray, rate: float, hop: int, n_fft: int) -> np.ndarray:
    """Read the STFT `rate` times faster: magnitudes interpolated between frames,
    phases advanced by each bin's measured instantaneous frequency (Flanagan &
    Golden; the same scheme as librosa.phase_vocoder), vectorised over frames."""
    bins, count = spectrum.shape
    positions = np.arange(math.ceil(count / rate)) * rate
    padded = np.pad(spectrum, [(0, 0), (0, 2)])
    index = positions.astype(int)
    alpha = positions - index
    left, right = padded[:, index], padded[:, index + 1]
    magnitude = (1.0 - alpha) * np.abs(left) + alpha * np.abs(right)
    expected = 2.0 * np.pi * hop * np.arange(bins) / n_fft  # phase advance per hop of each bin's centre
    deviation = np.angle(right) - np.angle(left) - expected[:, None]
    deviation -= 2.0 * np.pi * np.round(deviation / (2.0 * np.pi))
    advance = expected[:, None] + deviation
    phase = np.angle(spectrum[:, :1]) + np.concatenate([np.zeros((bins, 1)), np.cumsum(advance[:, :-1], axis=1)], axis=1)
    return magnitude * np.exp(1j * phase)


def time_stretch(samples: np.ndarray, rate: int, stretch: float) -> np.ndarray:
    """Play `stretch` times faster keeping the pitch: round(frames / stretch) frames out."""
    n_fft = fft_size(rate)
    hop = n_fft // 4
    length = max(1, round(samples.shape[0] / stretch))
    channels = [istft(phase_vocoder(stft(samples[:, c], n_fft, hop), stretch, hop, n_fft), n_fft, hop, length)
                for c in range(samples.shape[1])]
    return np.stack(channels, axis=1)


def pitch_shift(samples: np.ndarray, rate: int, semitones: float) -> np.ndarray:
    """Shift every frequency by `semitones`, keeping the duration: stretch the time by
    the pitch ratio with the phase vocoder, then resample back to the original length."""
    factor = ratio(2.0 ** (semitones / 12.0))
    stretched = time_stretch(samples, rate, float(1 / factor))
    return fit_length(resample_by(stretched, factor.denominator, factor.numerator), samples.shape[0])


# ---- spectra ------------------------------------------------------------------

def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(rate: int, n_fft: int, n_mels: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Triangular filters (HTK mel scale) between low_hz and high_hz: (n_mels, bins)."""
    high_hz = min(high_hz, rate / 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(low_hz), _hz_to_mel(high_hz), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    rising = (freqs[None, :] - edges[:-2, None]) / np.maximum(edges[1:-1, None] - edges[:-2, None], 1e-9)
    falling = (edges[2:, None] - freqs[None, :]) / np.maximum(edges[2:, None] - edges[1:-1, None], 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def mel_power(clip: Clip, n_mels: int = 40, low_hz: float = 0.0, high_hz: float | None = None) -> np.ndarray:
    """Mel-band power per frame of the channel mean: (n_mels, frames)."""
    n_fft = fft_size(clip.rate) // 2  # ~25 ms: the usual speech-feature window
    mono = clip.samples.astype(np.float64).mean(axis=1)
    spectrum = np.abs(stft(mono, n_fft, n_fft // 4)) ** 2
    return mel_filterbank(clip.rate, n_fft, n_mels, low_hz, high_hz or clip.rate / 2) @ spectrum


def spectral_similarity(a: Clip, b: Clip, low_hz: float, high_hz: float, floor_db: float = 30.0) -> float:
    """Pearson correlation of the long-term log-mel spectra (32 bands in [low_hz, high_hz])
    of two clips at the same rate. Independent of timing (shifts, cuts, speed); near 1 for
    the same kind of sound, near or below 0 for noise or silence in place of the content.
    Bands more than floor_db below a clip's strongest band are raised to that floor: they are
    masked by it, and without the floor mild noise filling them would count as destruction."""
    spectra = []
    for clip in (a, b):
        level = 10.0 * np.log10(mel_power(clip, 32, low_hz, high_hz).mean(axis=1) + 1e-12)
        spectra.append(np.maximum(level, level.max() - floor_db))
    if min(np.std(s) for s in spectra) < 1e-9:
        return 0.0  # a flat spectrum (digital silence) correlates with nothing
    return round(float(np.corrcoef(spectra[0], spectra[1])[0, 1]), 4)


def mfcc_summary(clip: Clip, n_mels: int = 40, n_mfcc: int = 13) -> np.ndarray:
    """Mean and std over time of 13 MFCCs and 40 log-mel bands: 106 numbers per clip."""
    log_mel = 10.0 * np.log10(mel_power(clip, n_mels, 20.0) + 1e-10)
    from scipy.fft import dct  # lazily, like resample_poly

    mfcc = dct(log_mel, type=2, axis=0, norm="ortho")[:n_mfcc]
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1), log_mel.mean(axis=1), log_mel.std(axis=1)])


def log_mel_patch(clip: Clip, n_mels: int = 32, frames: int = 32, seconds: float = 1.5) -> np.ndarray:
    """The evaluate CNN's input (evaluate.model: cnn): log-mel power of the first ``seconds`` of the
    clip (a shorter clip is padded with silence), ``n_mels`` bands from 20 Hz by ``frames`` time
    steps (means of consecutive STFT frames), in dB below the patch's loudest cell (clipped at
    -80): a fixed-size picture in which a word moved in time moves, and a louder one does not change."""
    length = int(round(seconds * clip.rate))
    samples = clip.samples[:length]
    if len(samples) < length:
        samples = np.vstack([samples, np.zeros((length - len(samples), samples.shape[1]), dtype=samples.dtype)])
    power = mel_power(Clip(samples, clip.rate), n_mels, 20.0)
    edges = np.linspace(0, power.shape[1], frames + 1).round().astype(int)
    pooled = np.stack([power[:, a:max(b, a + 1)].mean(axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)],
                      axis=1)
    level = 10.0 * np.log10(pooled + 1e-12)
    return np.maximum(level - level.max(), -80.0).ravel()
