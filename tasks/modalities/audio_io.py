"""Audio files in and out: decode WAV/FLAC of any common rate, bit depth and
channel count (soundfile, which bundles libsndfile), refuse what cannot be a
training sample with a reason, measure a recording, and encode a clip into
byte-deterministic WAV or FLAC."""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
import soundfile

from tasks.modalities.audio_signal import Clip, peak_dbfs, rms_dbfs, silence_fraction
from tasks.samples import UnusableSample

# What the pipeline reads. libsndfile opens more (AIFF, OGG, ...); the scope and
# the output formats are WAV and FLAC, so anything else is refused with a clear reason.
READABLE_FORMATS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac"}
BIT_DEPTHS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64,
              "ULAW": 8, "ALAW": 8}
_UNKNOWN_LENGTH = {0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000}  # streaming writers' placeholder sizes; libsndfile reads to EOF


def _wav_truncation(path: Path) -> str | None:
    """libsndfile silently reads what is there of a WAV whose data chunk was cut off;
    compare the declared chunk sizes with the file's length instead."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None  # RF64 / RIFX / not a WAV: leave it to libsndfile
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            available = size - position - 8
            if chunk_size > available and chunk_size not in _UNKNOWN_LENGTH:
                name = chunk_id.decode("latin-1").strip()
                return f"truncated: its {name!r} chunk declares {chunk_size} bytes but only {available} are in the file"
            if chunk_id == b"data":
                return None
            position += 8 + chunk_size + (chunk_size & 1)
    return None


def decode(path: Path, allow_non_finite: bool = False) -> tuple[Clip, soundfile._SoundFileInfo]:
    """Read a whole WAV/FLAC file as float32 (frames, channels); UnusableSample if it cannot be a
    sample. NaN/Inf samples are refused unless allow_non_finite (validate measures them instead)."""
    if path.stat().st_size == 0:
        raise UnusableSample("empty_file", f"{path}: zero-length file")
    try:
        info = soundfile.info(str(path))
    except soundfile.LibsndfileError as error:
        raise UnusableSample("unreadable_audio", f"{path}: not a readable WAV or FLAC file ({error.error_string})") from None
    if info.format not in READABLE_FORMATS:
        raise UnusableSample("unsupported_format", f"{path}: {info.format_info} ({info.format}) is not supported; "
                                                   f"convert it to WAV or FLAC")
    truncated = _wav_truncation(path) if READABLE_FORMATS[info.format] == "wav" else None
    if truncated:
        raise UnusableSample("truncated_audio", f"{path}: {truncated}")
    try:
        with soundfile.SoundFile(str(path)) as handle:
            samples = handle.read(dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise UnusableSample("corrupt_audio", f"{path}: decoding failed ({error.error_string}); truncated or damaged") from None
    if samples.shape[0] < info.frames:
        raise UnusableSample("truncated_audio", f"{path}: truncated: {samples.shape[0]} of {info.frames} frames decoded")
    if samples.shape[0] == 0:
        raise UnusableSample("no_audio", f"{path}: the file holds no audio frames")
    if not allow_non_finite and not np.isfinite(samples).all():
        bad = int(np.size(samples) - np.isfinite(samples).sum())
        raise UnusableSample("non_finite_samples", f"{path}: {bad} samples are NaN or infinite")
    return Clip(samples, int(info.samplerate)), info


def clipped_fraction(samples: np.ndarray, bit_depth: int | None, subtype: str) -> float:
    """Share of samples at full scale (within one step of it for integer PCM)."""
    integer = bit_depth is not None and subtype not in ("FLOAT", "DOUBLE")
    level = 1.0 - 2.0 ** (1 - bit_depth) if integer else 1.0
    return round(float(np.mean(np.abs(samples) >= level)), 6)


def measure(clip: Clip, info, silence_threshold_dbfs: float) -> dict:
    """The raw-manifest columns of one recording."""
    bit_depth = BIT_DEPTHS.get(info.subtype)
    return {"duration_s": round(clip.duration_s, 4), "sample_rate": clip.rate, "channels": clip.channels,
            "format": READABLE_FORMATS[info.format], "subtype": info.subtype, "bit_depth": bit_depth,
            "rms_dbfs": round(rms_dbfs(clip.samples), 2), "peak_dbfs": round(peak_dbfs(clip.samples), 2),
            "silence_fraction": silence_fraction(clip.samples, clip.rate, silence_threshold_dbfs),
            "clipped_fraction": clipped_fraction(clip.samples, bit_depth, info.subtype)}


def read_measured(path: Path, audio) -> dict:
    """explore's reader: decode, check the bounds in the `audio:` section, measure."""
    clip, info = decode(path)
    if clip.duration_s < audio.min_duration_s or clip.duration_s > audio.max_duration_s:
        raise UnusableSample("duration_out_of_range", f"{path}: {clip.duration_s:.3f} s is outside audio.min_duration_s="
                                                      f"{audio.min_duration_s} .. audio.max_duration_s={audio.max_duration_s}")
    if audio.channels == "stereo" and clip.channels > 2:
        raise UnusableSample("unsupported_channels", f"{path}: {clip.channels} channels cannot be mapped to "
                                                     "audio.channels=stereo; use mono or keep")
    return measure(clip, info, audio.silence_threshold_dbfs)


def _without_peak_chunk(data: bytes) -> bytes:
    """libsndfile adds a PEAK chunk holding the current time to float WAV files;
    drop it so that the same samples always give the same bytes."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    out, position = [data[:12]], 12
    while position + 8 <= len(data):
        chunk_id, size = struct.unpack("<4sI", data[position:position + 8])
        end = position + 8 + size + (size & 1)
        if chunk_id != b"PEAK":
            out.append(data[position:end])
        position = end
    body = b"".join(out)
    return body[:4] + struct.pack("<I", len(body) - 8) + body[8:]


def encode(clip: Clip, file_format: str, subtype: str) -> bytes:
    """WAV or FLAC bytes of the clip. Samples beyond full scale are an error here:
    callers limit first (and record it), so nothing is clipped silently."""
    peak = float(np.max(np.abs(clip.samples))) if clip.samples.size else 0.0
    if not math.isfinite(peak) or (peak > 1.0 and subtype != "FLOAT"):
        raise ValueError(f"refusing to encode samples with peak {peak}: limit the clip first")
    buffer = io.BytesIO()
    soundfile.write(buffer, clip.samples, clip.rate, format=file_format.upper(), subtype=subtype)
    data = buffer.getvalue()
    return _without_peak_chunk(data) if file_format == "wav" else data


def extension(file_format: str) -> str:
    return {"wav": ".wav", "flac": ".flac"}[file_format]
