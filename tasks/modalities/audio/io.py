"""Audio files in and out: decode WAV, FLAC, MP3, OGG (Vorbis, Opus), AIFF and CAF of any
common rate, bit depth and channel count (soundfile, which bundles libsndfile), refuse what
cannot be a training sample with a reason, measure a recording, and encode a clip into
byte-deterministic WAV or FLAC."""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
import soundfile

from augmill.tasks.modalities.audio.containers import damage, mp3_frame_samples, mp3_has_length_header, sniff_container
from augmill.tasks.modalities.audio.signal import Clip, peak_dbfs, rms_dbfs, silence_fraction
from augmill.tasks.samples import UnusableSample

# What the pipeline reads: libsndfile's major formats -> the container's name in the manifest.
# libsndfile opens more (AU, W64, VOC, ...): those have no whole-file check here, so they are
# refused with a reason rather than read unchecked.
READABLE_FORMATS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac", "MP3": "mp3", "OGG": "ogg",
                    "AIFF": "aiff", "CAF": "caf"}
READABLE_NAMES = "WAV, FLAC, MP3, OGG (Vorbis, Opus), AIFF or CAF"
# Suffixes a final original keeps (anything else is named by its sample_id alone).
SUFFIXES = (".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".caf")
BIT_DEPTHS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64,
              "ULAW": 8, "ALAW": 8, "ALAC_16": 16, "ALAC_20": 20, "ALAC_24": 24, "ALAC_32": 32}
# Encodings whose samples are not the recorded PCM: perceptual codecs, ADPCM, and the 8-bit
# telephone companding laws. Recorded per file (`lossy`): their artefacts are part of the data.
LOSSY_SUBTYPES = {"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "VORBIS", "OPUS", "GSM610", "IMA_ADPCM",
                  "MS_ADPCM", "VOX_ADPCM", "G721_32", "G723_24", "G723_40", "NMS_ADPCM_16", "NMS_ADPCM_24",
                  "NMS_ADPCM_32", "ULAW", "ALAW"}
MP3_LENGTH_SLACK = 4 * 1152  # samples: an MP3 frame chain's encoder delay and padding stay below this
_MALFORMED, _UNSUPPORTED_ENCODING = 3, 4  # libsndfile's SF_ERR_MALFORMED_FILE, SF_ERR_UNSUPPORTED_ENCODING


def _check_estimated_mp3_length(path: Path, decoded: int) -> None:
    """Without a length header mpg123 estimates an MP3's length from its first frame's bit rate,
    and libsndfile reads no further: right for constant bit rate, far too short for a variable
    one. Count the frames in the file instead; encoder delay and padding are under 4 frames."""
    in_frames = mp3_frame_samples(path)
    if in_frames - decoded > MP3_LENGTH_SLACK:
        raise UnusableSample("unsupported_format", f"{path}: an MP3 without a Xing/Info/VBRI length header (variable "
                                                   f"bit rate?): libsndfile reads only {decoded} of the ~{in_frames} "
                                                   "samples its frames hold; re-encode it (FLAC, or MP3 with the header)")


def _damaged(path: Path, problem: str) -> UnusableSample:
    return UnusableSample("corrupt_audio" if problem.startswith("corrupt") else "truncated_audio", f"{path}: {problem}")


def _info(path: Path) -> soundfile._SoundFileInfo:
    try:
        return soundfile.info(str(path))
    except soundfile.LibsndfileError as error:
        if error.code == _MALFORMED:
            problem = damage(path, sniff_container(path))  # the structure may say what is wrong, precisely
            if problem:
                raise _damaged(path, problem) from None
            raise UnusableSample("corrupt_audio", f"{path}: a known audio format but malformed "
                                                  f"({error.error_string}); truncated or damaged") from None
        if error.code == _UNSUPPORTED_ENCODING:
            raise UnusableSample("unsupported_format", f"{path}: an encoding libsndfile cannot decode "
                                                       f"({error.error_string}); convert it to WAV or FLAC") from None
        raise UnusableSample("unreadable_audio", f"{path}: not a readable {READABLE_NAMES} file "
                                                 f"({error.error_string})") from None


def decode(path: Path, allow_non_finite: bool = False) -> tuple[Clip, soundfile._SoundFileInfo]:
    """Read a whole recording as float32 (frames, channels); UnusableSample if it cannot be a
    sample. NaN/Inf samples are refused unless allow_non_finite (validate measures them instead)."""
    if path.stat().st_size == 0:
        raise UnusableSample("empty_file", f"{path}: zero-length file")
    info = _info(path)
    if info.format not in READABLE_FORMATS:
        raise UnusableSample("unsupported_format", f"{path}: {info.format_info} ({info.format}) is not read; "
                                                   f"convert it to {READABLE_NAMES}")
    container = READABLE_FORMATS[info.format]
    problem = damage(path, container)
    if problem:
        raise _damaged(path, problem)
    try:
        with soundfile.SoundFile(str(path)) as handle:
            samples = handle.read(dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise UnusableSample("corrupt_audio", f"{path}: decoding failed ({error.error_string}); truncated or damaged") from None
    exact_length = container != "mp3" or mp3_has_length_header(path)
    if samples.shape[0] < info.frames and exact_length:
        raise UnusableSample("truncated_audio", f"{path}: truncated or damaged: {samples.shape[0]} of {info.frames} "
                                                "frames decoded")
    if not exact_length:
        _check_estimated_mp3_length(path, samples.shape[0])
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
    bit_depth = BIT_DEPTHS.get(info.subtype)  # None for the perceptual codecs: they have no bit depth
    return {"duration_s": round(clip.duration_s, 4), "sample_rate": clip.rate, "channels": clip.channels,
            "format": READABLE_FORMATS[info.format], "subtype": info.subtype, "bit_depth": bit_depth,
            "lossy": info.subtype in LOSSY_SUBTYPES,
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
