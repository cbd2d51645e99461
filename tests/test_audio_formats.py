"""Every container the bundled libsndfile decodes is read (WAV, FLAC, MP3, OGG Vorbis and
Opus, AIFF, CAF), lossy sources are marked as such, and a file of each format cut short
or damaged is refused with its precise reason. Every file is written here by soundfile."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from augmill.tasks.modalities.audio.containers import _mpeg_frame, ogg_crc
from augmill.tasks.modalities.audio.io import read_measured
from augmill.tasks.samples import UnusableSample
from tests.test_audio_modality import make_params
from tests.test_ops_audio import f0, tone

OPUS = "OPUS" in soundfile.available_subtypes("OGG")
# (soundfile format, subtype, rate, channels, manifest format, lossy)
FORMATS = [
    ("WAV", "PCM_16", 16000, 1, "wav", False),
    ("FLAC", "PCM_24", 22050, 2, "flac", False),
    ("MP3", "MPEG_LAYER_III", 16000, 1, "mp3", True),
    ("MP3", "MPEG_LAYER_III", 44100, 2, "mp3", True),
    ("OGG", "VORBIS", 22050, 1, "ogg", True),
    pytest.param("OGG", "OPUS", 48000, 2, "ogg", True,
                 marks=pytest.mark.skipif(not OPUS, reason="this libsndfile has no Opus")),
    ("AIFF", "PCM_16", 11025, 1, "aiff", False),
    ("AIFF", "FLOAT", 32000, 2, "aiff", False),
    ("CAF", "PCM_24", 48000, 1, "caf", False),
    ("CAF", "ALAC_16", 16000, 2, "caf", False),
]
IDS = [f"{p.values[0] if hasattr(p, 'values') else p[0]}-{p.values[1] if hasattr(p, 'values') else p[1]}-"
       f"{p.values[2] if hasattr(p, 'values') else p[2]}" for p in FORMATS]


def encoded(file_format: str, subtype: str, rate: int, channels: int, seconds: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    clip = tone(440.0, seconds=seconds, amplitude=0.3, channels=channels, rate=rate)
    soundfile.write(buffer, clip.samples, rate, format=file_format, subtype=subtype)
    return buffer.getvalue()


def read(path: Path) -> dict:
    return read_measured(path, make_params({"channels": "keep"}).audio)


@pytest.mark.parametrize("file_format, subtype, rate, channels, name, lossy", FORMATS, ids=IDS)
def test_each_format_is_read_measured_and_marked_lossy_or_not(tmp_path, file_format, subtype, rate, channels, name,
                                                              lossy):
    path = tmp_path / f"clip.{name}"
    path.write_bytes(encoded(file_format, subtype, rate, channels))
    measured = read(path)
    assert (measured["format"], measured["subtype"], measured["lossy"]) == (name, subtype, lossy)
    assert (measured["sample_rate"], measured["channels"]) == (rate, channels)
    assert measured["duration_s"] == pytest.approx(1.0, abs=0.002)  # gapless: encoder delay and padding removed
    clip = soundfile.read(str(path), dtype="float32", always_2d=True)[0]
    assert f0(type("C", (), {"samples": clip, "rate": rate})()) == pytest.approx(440.0, rel=2e-3)
    assert measured["peak_dbfs"] == pytest.approx(20 * np.log10(0.3), abs=0.5 if lossy else 0.05)


@pytest.mark.parametrize("file_format, subtype, rate, channels, name, lossy", FORMATS, ids=IDS)
@pytest.mark.parametrize("kept", [0.5, 0.9])
def test_each_format_cut_short_is_refused(tmp_path, file_format, subtype, rate, channels, name, lossy, kept):
    data = encoded(file_format, subtype, rate, channels)
    path = tmp_path / f"cut.{name}"
    path.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(UnusableSample) as error:
        read(path)
    # A cut FLAC makes its decoder lose sync: it cannot tell a cut from damage, and says both.
    assert error.value.code == ("corrupt_audio" if name == "flac" else "truncated_audio"), error.value.message
    assert "truncated" in error.value.message and str(path) in error.value.message


@pytest.mark.parametrize("subtype", ["VORBIS", pytest.param("OPUS", marks=pytest.mark.skipif(not OPUS, reason="no Opus"))])
def test_ogg_cut_at_a_page_boundary_or_with_a_damaged_page_is_refused(tmp_path, subtype):
    data = encoded("OGG", subtype, 48000, 1, seconds=3.0)
    pages = [i for i in range(len(data)) if data[i:i + 4] == b"OggS"]
    assert len(pages) >= 4
    (tmp_path / "whole_pages.ogg").write_bytes(data[: pages[-1]])  # every page complete, the last one missing
    with pytest.raises(UnusableSample, match="not marked end-of-stream") as error:
        read(tmp_path / "whole_pages.ogg")
    assert error.value.code == "truncated_audio"
    damaged = bytearray(data)
    damaged[pages[-2] + 100] ^= 0xFF  # one byte inside a page's audio: libogg would drop the page silently
    (tmp_path / "damaged.ogg").write_bytes(bytes(damaged))
    with pytest.raises(UnusableSample, match="fails its CRC check") as error:
        read(tmp_path / "damaged.ogg")
    assert error.value.code == "corrupt_audio"


def test_ogg_crc_matches_the_stored_page_checksums():
    data = encoded("OGG", "VORBIS", 16000, 1)
    start, checked = 0, 0
    while start < len(data):
        segments = data[start + 26]
        end = start + 27 + segments + sum(data[start + 27:start + 27 + segments])
        page = data[start:start + 22] + b"\0\0\0\0" + data[start + 26:end]
        assert ogg_crc(page) == int.from_bytes(data[start + 22:start + 26], "little")
        start, checked = end, checked + 1
    assert checked >= 3


def mp3_without_length_header(data: bytes) -> bytes:
    """The MP3 without its first frame, the LAME encoder's Xing/Info frame that holds the length."""
    assert b"Xing" in data[:200] or b"Info" in data[:200]
    return data[_mpeg_frame(data[:4])[0]:]


def test_damaged_mp3_is_refused(tmp_path):
    data = encoded("MP3", "MPEG_LAYER_III", 16000, 1, seconds=2.0)
    damaged = bytearray(data)
    middle = len(data) // 2
    damaged[middle:middle + 300] = bytes(300)  # frames lost: mpg123 resyncs after them
    (tmp_path / "damaged.mp3").write_bytes(bytes(damaged))
    with pytest.raises(UnusableSample, match="frames decoded") as error:
        read(tmp_path / "damaged.mp3")
    assert error.value.code == "truncated_audio"


def test_mp3_without_a_length_header_is_read_when_whole_and_refused_when_the_estimate_falls_short(tmp_path):
    # Variable bit rate (soundfile's default): mpg123's estimate from the first frame is far too short.
    vbr = mp3_without_length_header(encoded("MP3", "MPEG_LAYER_III", 16000, 1, seconds=2.0))
    (tmp_path / "vbr.mp3").write_bytes(vbr)
    with pytest.raises(UnusableSample, match="MP3 without a Xing/Info/VBRI length header") as error:
        read(tmp_path / "vbr.mp3")
    assert error.value.code == "unsupported_format"
    # Constant bit rate: the estimate is right, and the file is read whole.
    buffer = io.BytesIO()
    soundfile.write(buffer, tone(440.0, seconds=2.0, amplitude=0.3).samples, 16000, format="MP3",
                    bitrate_mode="CONSTANT", compression_level=0.5)
    (tmp_path / "cbr.mp3").write_bytes(mp3_without_length_header(buffer.getvalue()))
    measured = read(tmp_path / "cbr.mp3")
    assert measured["lossy"] and measured["duration_s"] == pytest.approx(2.0, abs=0.15)


def test_formats_still_refused_keep_their_code(tmp_path):
    (tmp_path / "x.au").write_bytes(encoded("AU", "PCM_16", 16000, 1))
    with pytest.raises(UnusableSample, match="is not read; convert it to WAV, FLAC, MP3") as error:
        read(tmp_path / "x.au")
    assert error.value.code == "unsupported_format"


def test_mp3_behind_an_id3v2_tag_keeps_its_exact_length_check(tmp_path):
    data = encoded("MP3", "MPEG_LAYER_III", 16000, 1, seconds=1.0)
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 1, 0]) + bytes(128)  # ID3v2.4, 128 bytes of padding (syncsafe 0x80)
    (tmp_path / "tagged.mp3").write_bytes(tag + data)
    assert read(tmp_path / "tagged.mp3")["duration_s"] == pytest.approx(1.0, abs=0.002)
    (tmp_path / "tagged_cut.mp3").write_bytes((tag + data)[: len(tag) + len(data) * 3 // 4])
    with pytest.raises(UnusableSample, match="frames decoded") as error:
        read(tmp_path / "tagged_cut.mp3")
    assert error.value.code == "truncated_audio"
