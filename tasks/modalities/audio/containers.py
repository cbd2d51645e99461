"""Is a recording whole? Checks of the container structure that libsndfile does not make.

libsndfile reads what is there of a WAV, AIFF or CAF file whose sample data was cut
off, and libogg silently skips an OGG page that fails its CRC, so such files would
pass as shorter recordings. Here the declared chunk sizes are compared with the
file's length (RIFF/WAV, AIFF, CAF), and every OGG page is walked and its CRC checked.
Each check returns a sentence saying what is wrong, or None.

Limits (docs/audio.md): PCM containers carry no checksum, so bytes damaged inside the
sample data decode as wrong samples and are not detected; FLAC's own frame CRCs make
the decoder fail instead; an MP3 is checked by decoding it (audio_io).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import BinaryIO

# Streaming writers' placeholder sizes: libsndfile reads such a chunk to the end of the file.
_UNKNOWN_LENGTH = {0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000}


def _chunk_truncation(handle: BinaryIO, size: int, header: str, sample_chunk: bytes) -> str | None:
    """Walk IFF-style chunks (4-byte id, 4-byte size, padded to even) up to the sample chunk."""
    position = 12
    while position + 8 <= size:
        handle.seek(position)
        chunk_id, chunk_size = struct.unpack(header, handle.read(8))
        available = size - position - 8
        if chunk_size > available and chunk_size not in _UNKNOWN_LENGTH:
            name = chunk_id.decode("latin-1").strip()
            return f"truncated: its {name!r} chunk declares {chunk_size} bytes but only {available} are in the file"
        if chunk_id == sample_chunk:
            return None
        position += 8 + chunk_size + (chunk_size & 1)
    return None


def _caf_truncation(handle: BinaryIO, size: int) -> str | None:
    """CAF chunks: 4-byte type, 8-byte signed size; the data chunk may say -1 (to the end)."""
    position = 8
    while position + 12 <= size:
        handle.seek(position)
        chunk_id, chunk_size = struct.unpack(">4sq", handle.read(12))
        available = size - position - 12
        if chunk_id == b"data" and chunk_size == -1:
            return None
        if chunk_size < 0 or chunk_size > available:
            name = chunk_id.decode("latin-1").strip()
            return f"truncated: its {name!r} chunk declares {chunk_size} bytes but only {available} are in the file"
        if chunk_id == b"data":
            return None
        position += 12 + chunk_size
    return None


_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, no initial or final xor), computed
    with zlib's reflected CRC-32 on bit-reversed bytes: C speed for whole files."""
    register = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{register:032b}"[::-1], 2)


def _ogg_damage(data: bytes) -> str | None:
    """Every page complete, with a valid CRC, and the last one marked end-of-stream."""
    position, page, last_flags = 0, 0, 0
    while position < len(data):
        if data[position:position + 4] != b"OggS":
            return f"corrupt: no OGG page starts at byte {position} (page {page})"
        if position + 27 > len(data):
            return f"truncated: page {page} at byte {position} is cut off in its header"
        segments = data[position + 26]
        table_end = position + 27 + segments
        end = table_end + sum(data[position + 27:table_end])
        if table_end > len(data) or end > len(data):
            return f"truncated: page {page} at byte {position} needs {end - position} bytes, {len(data) - position} are left"
        stored = struct.unpack("<I", data[position + 22:position + 26])[0]
        blanked = data[position:position + 22] + b"\0\0\0\0" + data[position + 26:end]
        if ogg_crc(blanked) != stored:
            return f"corrupt: page {page} at byte {position} fails its CRC check"
        last_flags, position, page = data[position + 5], end, page + 1
    if not last_flags & 0x04:
        return f"truncated: the last of its {page} OGG pages is not marked end-of-stream"
    return None


def sniff_container(path: Path) -> str:
    """The container by its magic bytes (for a file libsndfile refused to open), or ""."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    magic = {b"RIFF": "wav", b"FORM": "aiff", b"caff": "caf", b"OggS": "ogg"}
    return magic.get(head[:4], "")


def damage(path: Path, container: str) -> str | None:
    """What is structurally wrong with the file at path (container as audio_io names it), or None."""
    if container == "ogg":
        return _ogg_damage(path.read_bytes())
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(12)
        if container == "wav" and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _chunk_truncation(handle, size, "<4sI", b"data")
        if container == "aiff" and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _chunk_truncation(handle, size, ">4sI", b"SSND")
        if container == "caf" and head[:4] == b"caff":
            return _caf_truncation(handle, size)
    return None  # FLAC, MP3 (checked by decoding), RF64, RIFX, ...: left to libsndfile


# MPEG audio frame headers: kbit/s by (MPEG-1?, layer) and bit-rate index; rates by version.
_BITRATES = {(True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
             (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
             (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
             (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_BITRATES[False, 3] = _BITRATES[False, 2]
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # MPEG-1, 2, 2.5


def _mpeg_frame(header: bytes) -> tuple[int, int] | None:
    """(bytes, samples) of the MPEG audio frame with this 4-byte header, or None if it is not one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 3, 4 - ((header[1] >> 1) & 3)
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate, rate = _BITRATES[mpeg1, layer][bitrate_index] * 1000, _RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384
    samples = 1152 if layer == 2 or mpeg1 else 576
    return samples // 8 * bitrate // rate + padding, samples


def _audio_start(data: bytes) -> int:
    """Where an MP3's first frame starts: after its ID3v2 tag, if any (size in 4 syncsafe bytes)."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    footer = 10 if data[5] & 0x10 else 0
    return 10 + footer + sum((byte & 0x7F) << (7 * (3 - i)) for i, byte in enumerate(data[6:10]))


def mp3_has_length_header(path: Path) -> bool:
    """An MP3's length is exact only when its first frame is a Xing/Info (LAME) or VBRI header
    frame; otherwise mpg123 estimates it from the first frame's bit rate."""
    data = path.read_bytes()
    first_frame = data[_audio_start(data):][:200]
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


def mp3_frame_samples(path: Path) -> int:
    """Samples per channel in the chain of MPEG frames from the start of the audio (after any
    ID3v2 tag) to the first thing that is not a frame (an ID3v1 tag, damage, the end). Encoder
    delay and padding are included: an upper bound of the decoded length, within ~2 frames."""
    data = path.read_bytes()
    position, total = _audio_start(data), 0
    while (frame := _mpeg_frame(data[position:position + 4])) is not None and position + frame[0] <= len(data):
        position, total = position + frame[0], total + frame[1]
    return total
