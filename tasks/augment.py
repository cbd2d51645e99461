"""augment: new train samples from the ordered policy in params.yaml.

Only train sources are augmented (never val/test, never a train sample that
duplicates one). Work is cut into shards of sources; the modality's
``augment_shard`` is the unit a worker runs, the same function under
`dvc repro` (a local process pool) and under Prefect (one task per shard).
Each row records its source, the operators with their concrete parameters,
and the seed of its own generator, so it can be replayed exactly.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from tasks import paths
from tasks.bias import apply_relabels
from tasks.cache import Memo, code_version, key_of, library_versions
from tasks.io import read_json, read_parquet, write_parquet_parts
from tasks.modalities import get_modality
from tasks.ops.policy import stable_hash
from tasks.params import Params

LINEAGE_COLUMNS = ["sample_id", "source_id", "split", "label", "origin", "ops", "seed", "variant", "sha256",
                   "augment_error"]
# Failures of the machine, not of a sample or class: they stop the run (the CLI names the stage).
RUN_ERRORS = (OSError, MemoryError, ImportError)


@dataclass(frozen=True)
class Shard:
    index: int
    sources: tuple[dict, ...]  # raw-manifest rows of the sources, plus "variants": how many to make


def assign_variants(sources: pd.DataFrame, plan: dict, seed: int) -> pd.DataFrame:
    """Spread each class's planned new samples over its sources as evenly as possible;
    which sources get the remainder is decided by a seeded, order-free hash (ties: by
    source_id). Returns the sources by source_id with a "variants" column; in arrays,
    not Python objects per source, as it holds every train source at once."""
    if not sources["source_id"].is_monotonic_increasing:  # explore writes them in order: no copy then
        sources = sources.sort_values("source_id")
    sources = sources.reset_index(drop=True)
    ranks = np.fromiter((stable_hash(f"{seed}:{sid}") for sid in sources["source_id"]), dtype=np.uint64,
                        count=len(sources))
    variants = np.zeros(len(sources), dtype=np.int64)
    for label, positions in sources.groupby("label", sort=True).indices.items():
        base, remainder = divmod(plan["classes"].get(str(label), {}).get("new", 0), len(positions))
        variants[positions] = base
        variants[positions[np.argsort(ranks[positions], kind="stable")][:remainder]] += 1
    return sources.assign(variants=variants)


def make_shards(sources: pd.DataFrame, shard_size: int) -> Iterator[Shard]:
    """Shards of consecutive sources (by source_id), built one at a time: the sources'
    records are never all held as dicts at once."""
    todo = sources[sources["variants"] > 0]
    if not todo["source_id"].is_monotonic_increasing:  # assign_variants' frames already are
        todo = todo.sort_values("source_id")
    for start in range(0, len(todo), shard_size):
        yield Shard(start // shard_size, tuple(todo.iloc[start:start + shard_size].to_dict("records")))


# A mapper runs a function over shards and yields each shard's rows, in shard order.
ShardMapper = Callable[[Callable[[Shard], list[dict]], Iterable[Shard]], Iterable[list[dict]]]


def in_order(submit: Callable, function: Callable, shards: Iterable[Shard], window: int) -> Iterator[list[dict]]:
    """Results of submitted shards in shard order, with at most ``window`` in flight: memory
    holds a few shards' rows, whatever the number of shards."""
    pending: deque = deque()
    for shard in shards:
        pending.append(submit(function, shard))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def local_mapper(workers: int) -> ShardMapper:
    """Run shards in this process or a local process pool (the `dvc repro` path)."""

    def run_all(function, shards):
        if workers <= 1:
            yield from map(function, shards)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from in_order(pool.submit, function, shards, window=2 * workers)

    return run_all


def dask_mapper(address: str) -> ShardMapper:
    """Run shards on an existing Dask cluster (the `dvc repro` path with execution.dask_address)."""

    def run_all(function, shards):
        from distributed import Client

        with Client(address) as client:
            window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
            yield from in_order(partial(client.submit, pure=False), function, shards, window)

    return run_all


def modality_code(modality: str, *extra: str) -> str:
    """The code a modality's results depend on (not the other modalities' code)."""
    return code_version("ops/base.py", "ops/policy.py", f"ops/{modality}*.py", f"modalities/{modality}*.py",
                        "imaging.py", "io.py", *extra)


def modality_libraries(modality: str) -> dict[str, str]:
    """The installed versions of the libraries a modality's results depend on."""
    return library_versions(*get_modality(modality).LIBRARIES)


def augment_salt(params: Params) -> str:
    """Everything besides the source itself that decides a source's variants."""
    section = getattr(params, params.data.modality, None)  # the modality's own params, if it has any
    return key_of("augment", params.seed, params.data.modality, params.data.max_image_pixels,
                  params.augment.model_dump(exclude={"factor", "max_variants_per_source"}),
                  section.model_dump() if section is not None else {},
                  modality_code(params.data.modality, "augment.py"), modality_libraries(params.data.modality))


def failure_row(sources: tuple[dict, ...], error: Exception, per_source: bool) -> dict:
    """The row that stands for the variants a source (or a class: a tabular shard) could not
    get: validate quarantines it as augment_failed, with the library's message."""
    first = sources[0]
    source_id = first.get("source_id") or first["sample_id"]
    label, planned = first["label"], sum(int(s["variants"]) for s in sources)
    unit = (f"source {first.get('path') or source_id}" if per_source
            else f"class {label!r} ({len(sources)} train rows)")
    message = f"augment: {unit}: {planned} new sample(s) planned, none made: {type(error).__name__}: {error}"
    return {"sample_id": f"{source_id}-augment-failed", "source_id": source_id, "label": label, "ops": "[]",
            "seed": None, "variant": -1, "sha256": "", "augment_error": " ".join(message.split())}


def augment_guarded(modality, shard: Shard, params: Params, per_source: bool) -> list[dict]:
    """modality.augment_shard, where a library's exception belongs to the sample (or, for a
    shard that is a whole class, the class) it came from: a shard of sources that fails is
    tried source by source, and each failing unit becomes a failure_row; the rest go on.
    The one place augment catches; RUN_ERRORS are not a sample's and stop the run."""
    try:
        return modality.augment_shard(shard, params)
    except RUN_ERRORS:
        raise
    except Exception as error:  # noqa: BLE001 - any library's error: kept, with its type and message
        if per_source and len(shard.sources) > 1:
            return [row for source in shard.sources
                    for row in augment_guarded(modality, Shard(shard.index, (source,)), params, per_source)]
        return [failure_row(shard.sources, error, per_source)]


def run_shard_in_project(shard: Shard, params: Params, root: str, salt: str | None) -> list[dict]:
    """What a worker runs: from the project root (a Dask worker starts elsewhere), each
    variant taken from the memo when an earlier run made it, else made now.

    The memo is per variant, since variant v of a source depends only on (seed, source,
    v): when the plan gives a source one more variant, the others are reused. A modality
    may honour ``variant_ids`` in a source to make only the missing ones."""
    os.chdir(root)
    modality = get_modality(params.data.modality)
    per_source = getattr(modality, "make_shards", None) is None  # else a shard is one unit (a class)
    if salt is None:
        return augment_guarded(modality, shard, params, per_source)
    memo, rows, todo, keys = Memo("augment"), {}, [], {}
    for source in shard.sources:
        sid, missing = source["source_id"], []
        for variant in range(int(source["variants"])):
            key = keys[sid, variant] = key_of(salt, sid, source["label"], source["sha256"], variant)
            cached = memo.get(key)
            if cached is None:
                missing.append(variant)
                continue
            if cached.get("path"):
                memo.get_file(key, Path(cached["path"]).name, paths.AUGMENTED_DIR / cached["path"])
            rows[cached["sample_id"]] = cached
        if missing:
            todo.append(source | {"variant_ids": missing})
    if todo:
        for row in augment_guarded(modality, Shard(shard.index, tuple(todo)), params, per_source):
            if row.get("augment_error"):  # not memoised: tried again next run
                rows[row["sample_id"]] = row
            elif row["sample_id"] not in rows:
                key = keys[row["source_id"], row["variant"]]
                if row.get("path"):
                    memo.put_file(key, Path(row["path"]).name, paths.AUGMENTED_DIR / row["path"])
                memo.put(key, row)
                rows[row["sample_id"]] = row
    return list(rows.values())


# What explore measured for its own report, never read by an augmenter: not loaded here.
EXPLORE_ONLY_COLUMNS = {"status", "split", "origin", "reason_code", "reason", "phash", "width", "height", "mode"}


def augmentable_sources(params: Params) -> pd.DataFrame:
    """The train sources that get variants (ok, train, not held out or marked not_augmented by the plan), with how many."""
    plan = read_json(paths.PLAN)
    train = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)", exclude=EXPLORE_ONLY_COLUMNS,
                         filters=[("status", "==", "ok"), ("split", "==", "train")], sort_by="source_id")
    # Held out (leaks, quarantined labels), or a suspected label error: augmenting it multiplies the error.
    excluded = {entry["sample_id"] for entry in plan["excluded"]} | set(plan.get("not_augmented", []))
    if excluded:
        train = train[~train["sample_id"].isin(excluded)]
    train = apply_relabels(train, plan)  # a reviewer's corrected label: its variants carry it
    return assign_variants(train, plan, params.seed)


def lineage_order(rows: list[dict]) -> list[dict]:
    """A shard's rows by (source, variant): with shards cut in source order, the whole
    manifest's order then does not depend on shard size, workers or memo hits."""
    return sorted(rows, key=lambda row: (row["source_id"], row["variant"], row["sample_id"]))


def shard_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([{"origin": "augmented", "augment_error": ""} | row | {"split": "train"}
                          for row in lineage_order(rows)], columns=columns)
    # A column no row of this shard has (a shard of failure rows has no values) stays untyped:
    # the other shards' rows give it its type when the parts are joined.
    for name in [c for c in frame.columns if frame[c].isna().all()]:
        frame[name] = pd.Series([None] * len(frame), dtype=object)
    return frame


def applied_policy(params: Params):
    """The policy the variants were made with: augment.policy, or for auto the augment stage's choice
    (reports/policy_choice.json; an empty list when it chose no augmentation)."""
    if params.augment.policy != "auto":
        return params.augment.policy
    if not paths.POLICY_CHOICE.exists():
        raise FileNotFoundError(f"augment.policy is auto and {paths.POLICY_CHOICE}, the augment stage's choice, is "
                                "missing; run the augment stage first")
    return read_json(paths.POLICY_CHOICE)["policy"]


def run(params: Params, mapper: ShardMapper | None = None) -> int:
    """Make the variants; write them and their manifest (streamed, shard by shard); return how many."""
    if params.augment.policy == "auto":
        raise ValueError("augment: augment.policy is auto; the stage runner resolves it first "
                         "(tasks/tune_search.py resolve_policy), as `augmill stage augment` does")
    modality = get_modality(params.data.modality)
    sources = augmentable_sources(params)
    if not params.augment.policy:  # auto chose no augmentation: no variants, whatever bias planned
        sources = sources.assign(variants=0)
    custom_shards = getattr(modality, "make_shards", None)
    shards = custom_shards(sources, params) if custom_shards else make_shards(sources, params.execution.shard_size)
    shutil.rmtree(paths.AUGMENTED_DIR, ignore_errors=True)  # no stale variant of an earlier policy survives
    paths.AUGMENTED_DIR.mkdir(parents=True, exist_ok=True)
    if mapper is None:
        address = params.execution.dask_address
        mapper = dask_mapper(address) if address else local_mapper(params.execution.workers)
    # Per-source memo only where a shard is a set of independent sources (not e.g. a class fit).
    salt = augment_salt(params) if params.execution.cache and not custom_shards else None
    results = mapper(partial(run_shard_in_project, params=params, root=str(Path.cwd().resolve()), salt=salt), shards)
    # A modality whose extra columns depend on the dataset (a table's own columns) names them per run.
    extra_columns = getattr(modality, "augmented_columns", None)
    columns = LINEAGE_COLUMNS + (extra_columns(sources, params) if extra_columns else modality.AUGMENTED_COLUMNS)
    # A row may name its own origin (e.g. "synthetic" for rows generated rather than transformed).
    frames = (shard_frame(shard_rows, columns) for shard_rows in results)
    return write_parquet_parts(frames, paths.AUGMENTED_MANIFEST, columns)
