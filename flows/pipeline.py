"""The Prefect flow that chains the stages: one flow run per pipeline run, so
Prefect's fixed start-up cost is paid once, not once per stage.

Each stage is a Prefect task; augment's shards are Prefect tasks mapped over
the flow's task runner (threads, a process pool, or a Dask cluster). DVC
decides which stages are stale; when the run ends, what ran is recorded in
dvc.lock (`dvc commit`), so `augmill run` and `dvc repro` agree. A run that
fails records the stages that completed before the failure.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from augmill.flows import dvc_state, versions
from augmill.flows.stages import STAGE_NAMES, run_stage
from augmill.tasks.params_load import load_params


@task(name="shard", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1)
def run_shard(function, shard):
    return function(shard)


def prefect_mapper(function, shards, window: int):
    """One Prefect task per shard (never per sample) on the flow's task runner, ``window``
    in flight at a time; yields each shard's rows in shard order."""
    from augmill.flows.executors import in_order

    def submit(function, shard):
        return run_shard.with_options(task_run_name=f"augment-shard-{shard.index:04d}").submit(function, shard)

    return in_order(submit, function, shards, window)


@task(cache_policy=NO_CACHE)
def stage_task(name: str, params) -> object:
    # Enough shards in flight to keep every worker busy (a Dask cluster may have more than this machine's CPUs).
    window = 2 * max(params.execution.workers, os.cpu_count() or 1)
    return run_stage(name, params, mapper=partial(prefect_mapper, window=window) if name == "augment" else None)


def share_api_with_workers() -> None:
    """Point worker processes at this run's Prefect API. Without it, every
    process-pool worker would start a temporary server of its own (~10 s each)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        os.environ["PREFECT_API_URL"] = str(client.api_url).rstrip("/")


@flow(name="augmill-pipeline", log_prints=True)
def pipeline(params_file: str = "params.yaml", overrides: list[str] | None = None, force: bool = False,
             stale: list[str] | None = None) -> dict:
    """Run every stage that is not up to date; return what each stage did and how long it took.
    ``stale``: the stages DVC found stale just before the run (`augmill run` asks while
    Prefect's server starts); None: ask DVC now."""
    logger = get_run_logger()
    share_api_with_workers()
    params = load_params(Path(params_file), overrides or [])
    recorded = dvc_state.records_version(params_file, overrides)
    if not recorded:
        logger.warning("params from %s with overrides %s (or no DVC repo): running every stage; dvc.lock is not "
                       "updated (it records params.yaml only)", params_file, overrides or [])
    repo = dvc_state.LazyRepo() if recorded else None
    recorded_outputs = versions.read_output_hashes() if recorded else {}
    names = dvc_state.declared_stages(STAGE_NAMES)
    if repo is None or force:
        stale = list(names)
    elif stale is None:
        stale = dvc_state.stale_stages(repo.get())
    ran: dict[str, str] = {}
    try:
        for name in names:
            # Before anything ran, the status taken at the start decides; after, a stage's
            # inputs may be what just ran, so DVC is asked again (as dvc repro does).
            if name not in stale and (not ran_any(ran) or dvc_state.is_up_to_date(repo.get(), name)):
                logger.info("stage %s: up to date, skipped", name)
                ran[name] = "skipped"
                continue
            started = time.perf_counter()
            stage_task.with_options(name=f"stage-{name}")(name, params)
            seconds = time.perf_counter() - started
            ran[name] = f"ran in {seconds:.1f}s"
            logger.info("stage %s: done in %.1fs", name, seconds)
    except BaseException:
        if repo is not None:  # record what completed, so the next run does not redo it
            dvc_state.record(repo.get(), [name for name, state in ran.items() if state != "skipped"])
            versions.record_environment_if_new(recorded_outputs)
        raise
    if repo is not None and ran_any(ran):
        dvc_state.record(repo.get())
        # Only a new version's environment is written: reproducing a committed one changes no tracked file.
        if versions.record_environment_if_new(recorded_outputs):
            logger.info("new dataset version: its environment recorded in %s", versions.ENVIRONMENT_RECORD)
    return ran


def ran_any(ran: dict[str, str]) -> bool:
    return any(state != "skipped" for state in ran.values())
