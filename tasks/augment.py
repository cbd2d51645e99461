"""augment: new train samples from the ordered policy in params.yaml.

Only train sources are augmented (never val/test, never a train sample that
duplicates one). Work is cut into shards of sources; ``augment_shard`` is the
unit a worker runs, the same function under ``dvc repro`` and under Prefect.
Each row records its source, the operators with their concrete parameters,
and the seed of its own generator, so it can be replayed exactly.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tasks import paths
from tasks.imaging import encode_image, extension_for, load_image, output_format
from tasks.io import read_json, read_parquet, safe_name, sha256_bytes, write_bytes_atomic, write_parquet
from tasks.ops.policy import build_policy, run_policy, sample_seed, stable_hash
from tasks.params import Params

AUGMENTED_COLUMNS = ["sample_id", "source_id", "split", "label", "origin", "path", "ops", "seed",
                     "variant", "sha256", "width", "height", "mode", "format"]


@dataclass(frozen=True)
class Shard:
    index: int
    sources: tuple[tuple[str, str, str, str, int], ...]  # (source_id, raw path, label, format, variants)


def assign_variants(sources: pd.DataFrame, plan: dict, seed: int) -> pd.DataFrame:
    """Spread each class's planned new samples over its sources as evenly as possible;
    which sources get the remainder is decided by a seeded, order-free hash."""
    assigned = []
    for label, group in sources.groupby("label", sort=True):
        new = plan["classes"].get(str(label), {}).get("new", 0)
        order = sorted(group["source_id"], key=lambda sid: (stable_hash(f"{seed}:{sid}"), sid))
        base, remainder = divmod(new, len(order))
        counts = {sid: base + (1 if rank < remainder else 0) for rank, sid in enumerate(order)}
        assigned.append(group.assign(variants=group["source_id"].map(counts)))
    if not assigned:
        return sources.assign(variants=pd.Series(dtype=int))
    return pd.concat(assigned).sort_values("source_id").reset_index(drop=True)


def make_shards(sources: pd.DataFrame, shard_size: int) -> list[Shard]:
    todo = sources[sources["variants"] > 0].sort_values("source_id")
    records = [tuple(r) for r in todo[["source_id", "path", "label", "format", "variants"]].itertuples(index=False)]
    return [Shard(i // shard_size, tuple(records[i:i + shard_size])) for i in range(0, len(records), shard_size)]


def augment_shard(shard: Shard, params: Params, output_dir: Path = paths.AUGMENTED_DIR) -> list[dict]:
    """Make every variant of every source in the shard; write each file atomically."""
    policy = build_policy(params.augment.policy, params.data.modality)
    raw_dir = Path(params.data.raw_dir)
    rows = []
    for source_id, raw_path, label, source_format, variants in shard.sources:
        source = load_image(raw_dir / raw_path, params.data.max_image_pixels).image
        for variant in range(int(variants)):
            seed = sample_seed(params.seed, source_id, variant)
            image, records = run_policy(policy, np.random.default_rng(seed), source)
            image_format = output_format(source_format, image.mode, params.augment.image_format)
            data = encode_image(image, image_format, params.augment.jpeg_quality)
            sample_id = f"{source_id}-aug{variant:03d}"
            relative = f"{safe_name(label)}/{sample_id}{extension_for(image_format)}"
            write_bytes_atomic(output_dir / relative, data)
            rows.append({"sample_id": sample_id, "source_id": source_id, "split": "train", "label": label,
                         "origin": "augmented", "path": relative, "ops": json.dumps(records, sort_keys=True),
                         "seed": seed, "variant": variant, "sha256": sha256_bytes(data), "width": image.width,
                         "height": image.height, "mode": image.mode, "format": image_format})
    return rows


ShardMapper = Callable[[Callable[[Shard], list[dict]], list[Shard]], list[list[dict]]]


def local_mapper(workers: int) -> ShardMapper:
    """Run shards in this process or a local process pool (the `dvc repro` path)."""

    def run_all(function, shards):
        if workers <= 1 or len(shards) <= 1:
            return [function(shard) for shard in shards]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(function, shards))

    return run_all


def augmentable_sources(params: Params) -> pd.DataFrame:
    manifest = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    plan = read_json(paths.PLAN)
    excluded = {entry["sample_id"] for entry in plan["excluded"]}
    train = manifest[(manifest["status"] == "ok") & (manifest["split"] == "train") & ~manifest["sample_id"].isin(excluded)]
    return assign_variants(train[["source_id", "path", "label", "format"]], plan, params.seed)


def run(params: Params, mapper: ShardMapper | None = None) -> pd.DataFrame:
    from functools import partial

    sources = augmentable_sources(params)
    shards = make_shards(sources, params.execution.shard_size)
    shutil.rmtree(paths.AUGMENTED_DIR, ignore_errors=True)  # no stale variant of an earlier policy survives
    paths.AUGMENTED_DIR.mkdir(parents=True, exist_ok=True)
    mapper = mapper or local_mapper(params.execution.workers)
    results = mapper(partial(augment_shard, params=params), shards)
    rows = [row for shard_rows in results for row in shard_rows]
    frame = pd.DataFrame(rows, columns=AUGMENTED_COLUMNS).sort_values("sample_id").reset_index(drop=True)
    write_parquet(frame, paths.AUGMENTED_MANIFEST)
    return frame
