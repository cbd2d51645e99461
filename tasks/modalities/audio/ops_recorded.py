"""Recordings from a user folder for the audio operators: real background noise
(``background_noise`` with ``folder``) and measured room impulse responses (``reverb`` with
``folder``). The synthetic coloured noise and simulated rooms stay the offline default.

A recorded op names its file (relative to the folder) and the file's sha256: lineage says
which bytes were mixed in, and replay refuses a file that has changed since, instead of
making different bytes under the same record.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from augmill.tasks.ops.base import OperatorConfigError

SUFFIXES = (".wav", ".flac", ".ogg")


def recording_names(folder: str, key: str) -> tuple[str, ...]:
    """The audio files directly in ``folder`` (sorted: a draw by index is the same on any machine)."""
    path = Path(folder)
    if not path.is_dir():
        raise OperatorConfigError(f"{key}: {folder!r} is not a folder of recordings")
    names = tuple(sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES))
    if not names:
        raise OperatorConfigError(f"{key}: {folder!r} holds no {'/'.join(SUFFIXES)} file")
    return names


def folder_digest(folder: str) -> str:
    """One hash of every recording's name and bytes: part of the augment memo's key, so a changed
    folder makes new variants instead of reusing old ones."""
    digest = hashlib.sha256()
    for name in recording_names(folder, "folder"):
        digest.update(name.encode() + b"\0" + file_sha256(str(Path(folder) / name)).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def file_sha256(path: str) -> str:
    stat = Path(path).stat()
    return _sha256_cached(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _decoded(path: str, sha256: str, rate: int, channels: int) -> np.ndarray:
    import soundfile

    from augmill.tasks.modalities.audio.signal import resample_rate

    samples, file_rate = soundfile.read(path, dtype="float64", always_2d=True)
    if samples.shape[0] == 0:
        raise ValueError(f"{path}: the recording is empty")
    if samples.shape[1] != channels:  # to mono, then to the clip's channel count
        samples = np.repeat(samples.mean(axis=1, keepdims=True), channels, axis=1)
    if file_rate != rate:
        samples = resample_rate(samples, int(file_rate), rate)
    samples.setflags(write=False)
    return samples


def recording(folder: str, name: str, sha256: str, rate: int, channels: int) -> np.ndarray:
    """The recording as float64 (frames, channels) at the clip's rate and channel count; refuses a
    file whose bytes are no longer the recorded ones."""
    path = str(Path(folder) / name)
    if not Path(path).is_file():
        raise ValueError(f"{path}: the recording named in the op is missing")
    actual = file_sha256(path)
    if actual != sha256:
        raise ValueError(f"{path}: its bytes changed since the op was recorded (sha256 {actual[:12]}, "
                         f"recorded {sha256[:12]})")
    return _decoded(path, sha256, rate, channels)


def looped(samples: np.ndarray, offset: int, frames: int) -> np.ndarray:
    """``frames`` frames of the recording from ``offset``, wrapping round: noise for a clip of any length."""
    return samples[(offset + np.arange(frames)) % samples.shape[0]]
