"""The augment stage on a real local Dask cluster of several worker processes,
under `dvc repro` and under the Prefect flow (prefect-dask's DaskTaskRunner):
byte for byte the same outputs as a local run."""

from __future__ import annotations

import pytest

from tests.project import lock_out_hashes, new_project, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scheduler_address():
    from distributed import LocalCluster

    with LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def tasks_done_by(address: str) -> int:
    """How many task transitions the Dask scheduler has seen: grows only if work ran there."""
    from distributed import Client

    with Client(address) as client:
        return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)


def test_dask_cluster_gives_the_same_bytes_as_local(tmp_path, scheduler_address):
    local = new_project(tmp_path / "local", {"execution": {"workers": 1}})
    run(["dvc", "repro"], local)
    on_dask = new_project(tmp_path / "dask", {"execution": {"dask_address": scheduler_address, "shard_size": 5}})
    before = tasks_done_by(scheduler_address)
    run(["dvc", "repro"], on_dask)
    assert tasks_done_by(scheduler_address) > before  # the shards ran on the cluster
    flow_on_dask = new_project(tmp_path / "flow", {"execution": {"dask_address": scheduler_address, "shard_size": 7}})
    before = tasks_done_by(scheduler_address)
    run(["augmill", "run"], flow_on_dask)
    assert tasks_done_by(scheduler_address) > before  # ... as Prefect tasks through DaskTaskRunner
    assert lock_out_hashes(on_dask) == lock_out_hashes(local)
    assert lock_out_hashes(flow_on_dask) == lock_out_hashes(local)
