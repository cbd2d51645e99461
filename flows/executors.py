"""Where stage work runs: the executors, chosen here from params.execution and nowhere in tasks/.

A stage that spreads work (augment's shards, tune's candidate variants) takes a *mapper*:
``mapper(function, shards)`` yields ``function(shard)`` for each shard, in shard order. This module
makes them: in this process or a local process pool (`dvc repro`), on a Dask cluster
(execution.dask_address), or as Prefect tasks (flows/pipeline.py's ``prefect_mapper``, on the flow's
task runner, which ``pipeline_task_runner`` picks). Every mapper runs the function from the project
root (``in_project``), since a Dask or Prefect worker may start elsewhere.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

# mapper(function, shards) -> each shard's result, in shard order (tasks.augment.ShardMapper)
Mapper = Callable[[Callable, Iterable], Iterable]


def in_order(submit: Callable, function: Callable, shards: Iterable, window: int) -> Iterator:
    """Results of submitted shards in shard order, with at most ``window`` in flight: memory
    holds a few shards' rows, whatever the number of shards."""
    pending: deque = deque()
    for shard in shards:
        pending.append(submit(function, shard))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def local_mapper(workers: int) -> Mapper:
    """Run shards in this process or a local process pool (the `dvc repro` path)."""

    def run_all(function, shards):
        if workers <= 1:
            yield from map(function, shards)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from in_order(pool.submit, function, shards, window=2 * workers)

    return run_all


def dask_mapper(address: str) -> Mapper:
    """Run shards on an existing Dask cluster (the `dvc repro` path with execution.dask_address)."""

    def run_all(function, shards):
        from distributed import Client

        with Client(address) as client:
            window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
            yield from in_order(partial(client.submit, pure=False), function, shards, window)

    return run_all


def stage_mapper(execution) -> Mapper:
    """The `augmill stage` (dvc repro) mapper of params.execution: Dask when an address is set."""
    address = execution.dask_address
    return dask_mapper(address) if address else local_mapper(execution.workers)


def _call_in(root: str, function: Callable, shard):
    import os

    os.chdir(root)  # a worker process of a Dask cluster or a Prefect runner starts elsewhere
    return function(shard)


def in_project(mapper: Mapper, root: Path | None = None) -> Mapper:
    """``mapper`` with every call made from the project root (this process's working folder)."""
    folder = str((root or Path.cwd()).resolve())

    def run_all(function, shards):
        return mapper(partial(_call_in, folder, function), shards)

    return run_all


def pipeline_task_runner(params):
    """The pipeline flow's task runner, from params.execution (the scheduled flow uses it too)."""
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    workers, address = params.execution.workers, params.execution.dask_address
    if address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=address)
    elif workers > 1:
        runner = ProcessPoolTaskRunner(max_workers=workers)
    else:
        runner = ThreadPoolTaskRunner(max_workers=1)
    return runner


# A worker process's copy of the shared data, set once when the worker starts (not sent per item).
_worker_shared = None


def _keep_shared(shared) -> None:
    global _worker_shared
    _worker_shared = shared


def _in_worker(function: Callable, item):
    return function(_worker_shared, item)


# Forked workers start at once with this process's imports and data; they only compute (fit models),
# never log nor touch the state of Prefect's threads. spawn would cost ~2.5 s of imports per pool.
WORKER_START = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def shared_mapper(execution):
    """The map_shared (tasks.samples.SharedMapper) of params.execution: ``function(shared, item)`` for
    every item, in item order, on the Dask cluster when execution.dask_address is set, else in
    execution.workers processes (in this process when 1). Results depend on (shared, item) alone, so
    any worker count gives the same ones; ``shared`` goes to each worker once."""

    def map_shared(function: Callable, shared, items: Iterable) -> list:
        items = list(items)
        if execution.dask_address:
            from distributed import Client

            with Client(execution.dask_address) as client:
                scattered = client.scatter(shared, broadcast=True)
                return client.gather([client.submit(function, scattered, item, pure=False) for item in items])
        workers = min(execution.workers, len(items))
        if workers <= 1:
            return [function(shared, item) for item in items]
        context = multiprocessing.get_context(WORKER_START)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_keep_shared, initargs=(shared,)) as pool:
            return list(pool.map(partial(_in_worker, function), items))

    return map_shared
