"""augment: new train samples from the ordered policy in params.yaml.

Only train sources are augmented (never val/test, never a train sample that
duplicates one). Work is cut into shards of sources; the modality's
``augment_shard`` is the unit a worker runs, the same function under
`dvc repro` (a local process pool) and under Prefect (one task per shard).
Each row records its source, the operators with their concrete parameters,
and the seed of its own generator, so it can be replayed exactly.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.bias import apply_relabels
from augmill.tasks.cache import Memo, code_version, key_of, library_versions
from augmill.tasks.io import read_json, read_parquet, write_parquet_parts
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.ops.mixing import mixes_sources
from augmill.tasks.params import Params
from augmill.tasks.policy_choice import applied_policy  # noqa: F401  (re-exported)
from augmill.tasks.samples import Shard
from augmill.tasks.seeding import rank

LINEAGE_COLUMNS = ["sample_id", "source_id", "split", "label", "origin", "ops", "seed", "variant", "sha256",
                   "augment_error"]
# Failures of the machine, not of a sample or class: they stop the run (the CLI names the stage).
RUN_ERRORS = (OSError, MemoryError, ImportError)


def assign_variants(sources: pd.DataFrame, plan: dict, seed: int) -> pd.DataFrame:
    """Spread each class's planned new samples over its sources as evenly as possible;
    which sources get the remainder is decided by a seeded, order-free hash (ties: by
    source_id). Returns the sources by source_id with a "variants" column; in arrays,
    not Python objects per source, as it holds every train source at once."""
    if not sources["source_id"].is_monotonic_increasing:  # explore writes them in order: no copy then
        sources = sources.sort_values("source_id")
    sources = sources.reset_index(drop=True)
    ranks = np.fromiter((rank(seed, "remainder_variants", sid) for sid in sources["source_id"]), dtype=np.uint64,
                        count=len(sources))
    variants = np.zeros(len(sources), dtype=np.int64)
    if "variants_per_source" in plan:  # a plan by source (annotated images: by the objects each holds)
        wanted, keep = plan["variants_per_source"], plan.get("keep_class_per_source", {})
        return sources.assign(variants=np.array([int(wanted.get(sid, 0)) for sid in sources["source_id"]],
                                                dtype=np.int64),
                              # the class a keep_objects crop keeps (-1: none)
                              keep_class=np.array([int(keep.get(sid, -1)) for sid in sources["source_id"]],
                                                  dtype=np.int64))
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


# A mapper runs a function over shards and yields each shard's rows, in shard order. The stage
# takes one and knows no executor: flows/executors.py makes them (local pool, Dask, Prefect tasks).
ShardMapper = Callable[[Callable[[Shard], list[dict]], Iterable[Shard]], Iterable[list[dict]]]


def modality_code(modality: str, *extra: str) -> str:
    """The code a modality's results depend on (not the other modalities' code)."""
    return code_version("ops/base.py", "ops/policy.py", "ops/registry.py", "ops/presets.py", "ops/mixing.py",
                        f"modalities/{modality}/*.py", "imaging.py", "io.py", "seeding.py",
                        *extra)


def modality_libraries(modality: str) -> dict[str, str]:
    """The installed versions of the libraries a modality's results depend on."""
    return library_versions(*get_modality(modality).LIBRARIES)


def augment_salt(params: Params) -> str:
    """Everything besides the source itself that decides a source's variants."""
    section = getattr(params, params.data.modality, None)  # the modality's own params, if it has any
    folders = policy_folders(params)  # the bytes of a user's recordings or model folder decide variants too
    targets = ("modalities/image/ops_targets.py",) if params.data.targets != "none" else ()  # where targets move
    return key_of("augment", params.seed, params.data.modality, params.data.max_image_pixels, params.data.targets,
                  *folders,
                  params.augment.model_dump(exclude={"factor", "max_variants_per_source"}),
                  section.stage_share("augment") if section is not None else {},
                  modality_code(params.data.modality, "augment.py", *targets), modality_libraries(params.data.modality))


def policy_folders(params: Params) -> list[str]:
    """A digest of each user folder the policy reads: recordings (tasks.modalities.audio.ops_recorded) and a
    paraphrase model (tasks.modalities.text.ops_paraphrase); [] for none."""
    from augmill.tasks.modalities.audio.ops_recorded import folder_digest
    from augmill.tasks.modalities.text.ops_paraphrase import model_digest

    entries = [e for e in (params.augment.policy if isinstance(params.augment.policy, list) else [])
               if isinstance(e, dict)]
    return ([folder_digest(e["folder"]) for e in entries if e.get("folder")]
            + [model_digest(e["model"]) for e in entries if e.get("name") == "paraphrase" and e.get("model")])


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


def run_shard(shard: Shard, params: Params, salt: str | None) -> list[dict]:
    """What a worker runs (from the project root: the executor sees to it), each variant taken
    from the memo when an earlier run made it, else made now.

    The memo is per variant, since variant v of a source depends only on (seed, source,
    v): when the plan gives a source one more variant, the others are reused. A modality
    may honour ``variant_ids`` in a source to make only the missing ones."""
    modality = get_modality(params.data.modality)
    per_source = optional_hook(modality, "make_shards") is None  # else a shard is one unit (a class)
    if salt is None:
        return augment_guarded(modality, shard, params, per_source)
    memo, rows, todo, keys = Memo("augment"), {}, [], {}
    for source in shard.sources:
        sid, missing = source["source_id"], []
        for variant in range(int(source["variants"])):
            # An annotated image's targets decide its variants as much as its bytes do.
            source_key = (source["sha256"], source["targets"]) if source.get("targets") else source["sha256"]
            key = keys[sid, variant] = key_of(salt, sid, source["label"], source_key, variant)
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
        for row in augment_guarded(modality, dataclasses.replace(shard, sources=tuple(todo)), params, per_source):
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


def run(params: Params, mapper: ShardMapper) -> int:
    """Make the variants; write them and their manifest (streamed, shard by shard); return how many.
    ``mapper`` runs the shards (flows.executors: in this process, a pool, Dask or Prefect tasks)."""
    if params.augment.policy == "auto":
        raise ValueError("augment: augment.policy is auto; the stage runner resolves it first "
                         "(tasks/tune_search.py resolve_policy), as `augmill stage augment` does")
    modality = get_modality(params.data.modality)
    sources = augmentable_sources(params)
    if not params.augment.policy:  # auto chose no augmentation: no variants, whatever bias planned
        sources = sources.assign(variants=0)
    custom_shards = optional_hook(modality, "make_shards")
    shards = custom_shards(sources, params) if custom_shards else make_shards(sources, params.execution.shard_size)
    shutil.rmtree(paths.AUGMENTED_DIR, ignore_errors=True)  # no stale variant of an earlier policy survives
    paths.AUGMENTED_DIR.mkdir(parents=True, exist_ok=True)
    # Per-source memo only where a shard is a set of independent sources (not e.g. a class fit).
    salt = augment_salt(params) if params.execution.cache and not custom_shards else None
    if mixes_sources(params.augment.policy):  # a MixUp/CutMix variant depends on the whole train pool
        pool = tuple(zip(*(sources[c].astype(str) for c in ("source_id", "label", "path")), strict=True))
        shards = (dataclasses.replace(shard, pool=pool) for shard in shards)
        if salt is not None:
            salt = key_of(salt, sources[["source_id", "label", "sha256"]].astype(str).to_numpy().tolist())
    results = mapper(partial(run_shard, params=params, salt=salt), shards)
    # A modality whose extra columns depend on the dataset (a table's own columns) names them per run.
    extra_columns = optional_hook(modality, "augmented_columns")
    columns = LINEAGE_COLUMNS + (extra_columns(sources, params) if extra_columns else modality.AUGMENTED_COLUMNS)
    # A row may name its own origin (e.g. "synthetic" for rows generated rather than transformed).
    frames = (shard_frame(shard_rows, columns) for shard_rows in results)
    return write_parquet_parts(frames, paths.AUGMENTED_MANIFEST, columns)
