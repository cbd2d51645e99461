"""The audio review page: each source beside its variants, each with a player and
a mel spectrogram, all inline (data URIs) so the page works from disk.

Players hold the first audio.gallery_clip_s seconds in mono FLAC at the target
rate, which keeps the page small; spectrograms share one time scale, so a
stretched or cut variant looks longer or shorter than its source.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.modalities.audio.io import decode, encode
from augmill.tasks.modalities.audio.signal import Clip, conform, mel_power
from augmill.tasks.params import Params
from augmill.tasks.review_pages import _render, describe_ops, gallery_sources
from augmill.tasks.samples import UnusableSample

PIXELS_PER_SECOND = 160
SPECTROGRAM_HEIGHT = 72
DYNAMIC_RANGE_DB = 80.0


def preview(clip: Clip, rate: int, seconds: float) -> Clip:
    mono = conform(clip, rate, "mono")
    samples = mono.samples[: round(rate * seconds)]
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return mono.with_samples(samples / peak if peak > 1.0 else samples)  # a float file may pass full scale


def audio_uri(clip: Clip) -> str:
    return "data:audio/flac;base64," + base64.b64encode(encode(clip, "flac", "PCM_16")).decode("ascii")


def spectrogram(clip: Clip) -> np.ndarray:
    """A 64-band mel spectrogram in dB, 80 dB of range below its loudest cell: (bands, frames)."""
    level = 10.0 * np.log10(mel_power(clip, 64) + 1e-12)
    return np.clip(level, level.max() - DYNAMIC_RANGE_DB, None)


def spectrogram_uri(clip: Clip) -> str:
    from matplotlib import colormaps
    from PIL import Image

    from augmill.tasks.png import encode_png

    level = spectrogram(clip)[::-1]  # low bands at the bottom
    # Colours as matplotlib's imsave picks them (its range: the array's own min..max), encoded here:
    # the page must be byte-identical whatever zlib the process loads.
    low, high = float(level.min()), float(level.max())
    scaled = (level - low) / (high - low) if high > low else np.zeros_like(level)
    rgba = colormaps["magma"](scaled, bytes=True)
    return "data:image/png;base64," + base64.b64encode(encode_png(Image.fromarray(rgba, "RGBA"))).decode("ascii")


def card(path: Path, params: Params) -> dict:
    audio = params.audio
    try:
        clip = preview(decode(path, allow_non_finite=False)[0], audio.sample_rate, audio.gallery_clip_s)
    except (UnusableSample, OSError, ValueError):
        return {"audio": None, "spectrogram": None, "width": 0}
    return {"audio": audio_uri(clip), "spectrogram": spectrogram_uri(clip),
            "width": max(24, round(clip.duration_s * PIXELS_PER_SECOND))}


def render_audio_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    raw_paths = dict(zip(raw["sample_id"], raw["path"], strict=False))
    empty = {"audio": None, "spectrogram": None, "width": 0}
    groups = []
    for source_id in gallery_sources(validated, params.validate_.gallery_sources, params.seed):
        variants = validated[validated["source_id"] == source_id].sort_values("sample_id")
        groups.append({
            "source_id": source_id,
            "label": variants["label"].iloc[0],
            "source": card(Path(params.data.raw_dir) / raw_paths[source_id], params) if source_id in raw_paths else empty,
            "variants": [{"sample_id": v.sample_id, "status": v.status, "reason": v.reason, "ops": describe_ops(v.ops),
                          **card(paths.AUGMENTED_DIR / v.path, params)} for v in variants.itertuples()],
        })
    counts = validated["status"].value_counts()
    _render("audio_gallery.html.j2", path, groups=groups, accepted=int(counts.get("accepted", 0)),
            quarantined=int(counts.get("quarantined", 0)), total_sources=int(validated["source_id"].nunique()),
            clip_seconds=params.audio.gallery_clip_s, height=SPECTROGRAM_HEIGHT, rate=params.audio.sample_rate)
