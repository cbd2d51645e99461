"""merge with audio.conform_final: every original written at the target rate, channel layout
and format, with the step in its lineage.

An original's ops are then [conform] (plus peak_limit when resampling pushed a peak past
full scale): `replay_original` on the decoded raw file gives the final samples, and the
conform record carries the raw file's sha256, so the final file stays tied to its raw bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.io import safe_name, sha256_bytes, write_bytes_atomic
from augmill.tasks.modalities.audio.io import decode, encode, extension
from augmill.tasks.modalities.audio.signal import Clip, conform
from augmill.tasks.ops.policy import build_policy, replay

CONFORM_OP = "conform"


def conform_clip(clip: Clip, raw_sha256: str, audio) -> tuple[Clip, list[dict]]:
    """The clip at the target rate and layout, limited to full scale only if resampling overshot
    it (integer output cannot hold more); the ops that did it."""
    records = [{"name": CONFORM_OP, "params": {"sample_rate": audio.sample_rate, "channels": audio.channels,
                                               "source_sha256": raw_sha256}}]
    clip = conform(clip, audio.sample_rate, audio.channels)
    if audio.subtype != "FLOAT" and clip.samples.size and float(np.max(np.abs(clip.samples))) > 1.0:
        limiter = build_policy([{"name": "peak_limit", "peak_dbfs": 0.0}], "audio", "audio.conform_final")[0]
        limit_params = limiter.sample(np.random.default_rng(0), clip)  # deterministic: measures the peak
        records.append({"name": "peak_limit", "params": limit_params})
        clip = limiter.apply(clip, **limit_params)
    return clip, records


def replay_original(raw: Clip, records: list[dict]) -> Clip:
    """A final original's samples from its decoded raw file and its recorded ops."""
    for record in records:
        if record["name"] == CONFORM_OP:
            raw = conform(raw, record["params"]["sample_rate"], record["params"]["channels"])
        else:
            raw = replay(raw, [record], "audio")
    return raw


def conform_into_final(originals: pd.DataFrame, params) -> pd.DataFrame:
    """Decode, conform and encode every original into data/final/split/label/sample_id.ext;
    the rows with path (relative to data/final), sha256, ops and measurements of the new file."""
    audio, raw_dir = params.audio, Path(params.data.raw_dir)
    rows = []
    for row in originals.to_dict("records"):
        clip, records = conform_clip(decode(raw_dir / row["path"])[0], row["sha256"], audio)
        data = encode(clip, audio.format, audio.subtype)
        relative = f"{row['split']}/{safe_name(row['label'])}/{row['sample_id']}{extension(audio.format)}"
        write_bytes_atomic(paths.FINAL / relative, data)
        rows.append(row | {"path": relative, "sha256": sha256_bytes(data), "ops": json.dumps(records, sort_keys=True),
                           "duration_s": round(clip.duration_s, 4), "sample_rate": clip.rate, "channels": clip.channels})
    return pd.DataFrame(rows, columns=list(originals.columns))
