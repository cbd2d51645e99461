"""augment: new train samples from the ordered policy in params.yaml.

Only train sources are augmented (never val/test, never a train sample that
duplicates one). Work is cut into shards of sources; the modality's
``augment_shard`` is the unit a worker runs, the same function under
`dvc repro` (a local process pool) and under Prefect (one task per shard).
Each row records its source, the operators with their concrete parameters,
and the seed of its own generator, so it can be replayed exactly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import pandas as pd

from tasks import paths
from tasks.io import read_json, read_parquet, write_parquet
from tasks.modalities import get_modality
from tasks.ops.policy import stable_hash
from tasks.params import Params

LINEAGE_COLUMNS = ["sample_id", "source_id", "split", "label", "origin", "ops", "seed", "variant", "sha256"]


@dataclass(frozen=True)
class Shard:
    index: int
    sources: tuple[dict, ...]  # raw-manifest rows of the sources, plus "variants": how many to make


def assign_variants(sources: pd.DataFrame, plan: dict, seed: int) -> pd.DataFrame:
    """Spread each class's planned new samples over its sources as evenly as possible;
    which sources get the remainder is decided by a seeded, order-free hash."""
    counts: dict[str, int] = {}
    for label, group in sources.groupby("label", sort=True):
        new = plan["classes"].get(str(label), {}).get("new", 0)
        order = sorted(group["source_id"], key=lambda sid: (stable_hash(f"{seed}:{sid}"), sid))
        base, remainder = divmod(new, len(order))
        counts.update({sid: base + (1 if rank < remainder else 0) for rank, sid in enumerate(order)})
    return sources.assign(variants=sources["source_id"].map(counts).fillna(0).astype(int)).sort_values("source_id")


def make_shards(sources: pd.DataFrame, shard_size: int) -> list[Shard]:
    records = sources[sources["variants"] > 0].sort_values("source_id").to_dict("records")
    return [Shard(i // shard_size, tuple(records[i:i + shard_size])) for i in range(0, len(records), shard_size)]


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
    return assign_variants(train, plan, params.seed)


def run(params: Params, mapper: ShardMapper | None = None) -> pd.DataFrame:
    modality = get_modality(params.data.modality)
    shards = make_shards(augmentable_sources(params), params.execution.shard_size)
    shutil.rmtree(paths.AUGMENTED_DIR, ignore_errors=True)  # no stale variant of an earlier policy survives
    paths.AUGMENTED_DIR.mkdir(parents=True, exist_ok=True)
    mapper = mapper or local_mapper(params.execution.workers)
    results = mapper(partial(modality.augment_shard, params=params), shards)
    rows = [row | {"split": "train", "origin": "augmented"} for shard_rows in results for row in shard_rows]
    columns = LINEAGE_COLUMNS + modality.AUGMENTED_COLUMNS
    frame = pd.DataFrame(rows, columns=columns).sort_values("sample_id").reset_index(drop=True)
    write_parquet(frame, paths.AUGMENTED_MANIFEST)
    return frame
