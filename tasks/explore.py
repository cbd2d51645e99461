"""explore: read every raw sample once and profile the dataset.

Writes the raw manifest (one row per input file, quarantined ones included)
and reports/explore.json: counts per class and split, sizes, modes, channel
statistics, unreadable files with reasons, exact and near duplicates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tasks import paths
from tasks.ingest import ChannelStats, assign_splits, discover_csv, discover_folder, read_samples
from tasks.io import write_json, write_parquet
from tasks.params import Params
from tasks.progress import progress_bar
from tasks.report_plots import bar_chart


def build_raw_manifest(params: Params) -> tuple[pd.DataFrame, dict]:
    root = Path(params.data.raw_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data.raw_dir: {root} is not a folder (set data.raw_dir in params.yaml)")
    if params.data.manifest_csv:
        entries = discover_csv(Path(params.data.manifest_csv))
        layout = f"csv manifest {params.data.manifest_csv}"
    else:
        entries = discover_folder(root)
        layout = "split/label/file" if any(e["split"] for e in entries) else "label/file"
    if not entries:
        raise ValueError(f"data.raw_dir: {root} holds no files")
    stats = ChannelStats()
    with progress_bar("explore: reading", len(entries)) as advance:
        frame = read_samples(root, entries, params.data.max_image_pixels, stats, advance)
    frame = assign_splits(frame, params.data.split.model_dump(), params.seed)
    return frame, {"root": str(root), "layout": layout, "channel_stats": stats.summary()}


def count_table(frame: pd.DataFrame, by: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[by].value_counts().sort_index().items()}


def exact_duplicates(ok: pd.DataFrame, max_listed: int) -> dict:
    groups = ok.groupby("sha256").filter(lambda g: len(g) > 1).groupby("sha256")
    listed = []
    cross_split = 0
    for _, group in groups:
        spans_splits = group["split"].nunique() > 1
        cross_split += int(spans_splits)
        if len(listed) < max_listed:
            listed.append({"sample_ids": sorted(group["sample_id"]), "splits": sorted(set(group["split"])),
                           "labels": sorted(set(group["label"]))})
    return {"groups": int(groups.ngroups), "extra_copies": int(sum(len(g) - 1 for _, g in groups)),
            "groups_across_splits": cross_split, "examples": listed}


def near_duplicate_pairs(ok: pd.DataFrame, max_distance: int) -> list[tuple[int, int, int]]:
    """Pairs (i, j, distance) of perceptual hashes within max_distance bits, excluding
    exact copies. Quadratic, in chunks: fine up to tens of thousands of images."""
    hashes = np.array([int(h, 16) for h in ok["phash"]], dtype=np.uint64)
    sha = ok["sha256"].to_numpy()
    pairs = []
    for i in range(len(hashes) - 1):
        distances = np.bitwise_count(hashes[i + 1:] ^ hashes[i])
        for offset in np.flatnonzero(distances <= max_distance):
            j = i + 1 + int(offset)
            if sha[i] != sha[j]:
                pairs.append((i, j, int(distances[offset])))
    return pairs


def profile(frame: pd.DataFrame, context: dict, params: Params) -> dict:
    ok = frame[frame["status"] == "ok"].sort_values("sample_id").reset_index(drop=True)
    bad = frame[frame["status"] != "ok"]
    limit = params.explore.max_listed_pairs
    pairs = near_duplicate_pairs(ok, params.explore.near_duplicate_distance)
    sizes = (ok["width"].astype(int).astype(str) + "x" + ok["height"].astype(int).astype(str)).value_counts()
    return {
        "dataset": context | {"samples": len(frame), "readable": len(ok), "quarantined": len(bad),
                              "classes": int(ok["label"].nunique())},
        "counts": {
            "by_split": count_table(ok, "split"),
            "by_class": count_table(ok, "label"),
            "by_split_and_class": {split: count_table(group, "label") for split, group in ok.groupby("split")},
        },
        "image_sizes": {
            "width": _spread(ok["width"]), "height": _spread(ok["height"]),
            "most_common": [[size, int(n)] for size, n in sizes.head(10).items()],
        },
        "modes": count_table(ok, "mode"),
        "formats": count_table(ok, "format"),
        "quarantined": {
            "by_reason": count_table(bad, "reason_code"),
            "samples": bad[["sample_id", "path", "reason_code", "reason"]].head(200).to_dict("records"),
        },
        "exact_duplicates": exact_duplicates(ok, limit),
        "near_duplicates": {
            "max_hamming_distance": params.explore.near_duplicate_distance,
            "pairs": len(pairs),
            "pairs_across_splits": sum(ok["split"][i] != ok["split"][j] for i, j, _ in pairs),
            "examples": [{"a": ok["sample_id"][i], "b": ok["sample_id"][j], "distance": d} for i, j, d in pairs[:limit]],
        },
    }


def _spread(values: pd.Series) -> dict:
    if values.empty:
        return {}
    values = values.astype(float)
    return {"min": int(values.min()), "max": int(values.max()), "mean": round(float(values.mean()), 2)}


def run(params: Params) -> dict:
    frame, context = build_raw_manifest(params)
    report = profile(frame, context, params)
    write_parquet(frame, paths.RAW_MANIFEST)
    write_json(paths.EXPLORE_REPORT, report)
    ok = frame[frame["status"] == "ok"]
    bar_chart(
        {split: count_table(group, "label") for split, group in ok.groupby("split")},
        title="Samples per class and split (raw)", path=paths.EXPLORE_PLOT,
    )
    return report
