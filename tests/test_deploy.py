"""The scheduled pipeline, both ways it runs:
- embedded: `augmill serve` without PREFECT_API_URL starts its own Prefect server with the
  scheduler; a real scheduled run (no API trigger) commits a version, and the server stops with
  `augmill serve` (SIGTERM, Ctrl-C) leaving no process behind;
- on a real Prefect server started by this module on loopback: the deployment served from one
  process (`augmill serve`), then declared by prefect.yaml on a process work pool (`prefect
  deploy --all` + `prefect worker start`), runs triggered through the API.
What is checked is what the run left in git and DVC. Each test builds its own project."""

from __future__ import annotations

import datetime
import importlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil  # installed with DVC
import pytest
import yaml

from augmill.flows.workspace_lock import workspace_lock
from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import load_params
from tests.project import BIN, REPO, commit, environment, file_hashes, lock_out_hashes, new_project, run, write_params

pytestmark = pytest.mark.e2e

FLOW, DEPLOYMENT = "augmill-scheduled", "dataset-version"
POOL = "augmill"
# Retries wide enough for the test to see the first attempt fail (logs reach the server in batches).
SCHEDULE = {"tag_versions": True, "push": True, "retries": 3, "retry_delay_seconds": 2}
RUN_TIMEOUT = 240  # seconds; a tiny project runs in well under a minute
TINY = {"prepare": {"max_per_class": 8}, "evaluate": {"seeds": 2}}


class Processes:
    """Long-running subprocesses of this module, each in its own process group (with its
    children: served flow runs, worker jobs), stopped whatever happens."""

    def __init__(self, logs: Path):
        self.logs, self.started = logs, {}

    def start(self, name: str, args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # closed in stop()
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started[name] = (process, log)
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str) -> None:
        process, log = self.started.pop(name)
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        log.close()

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name)


class Server:
    """The test's Prefect server: its URL, the environment of processes that talk to it, and
    one API client (made once: a client per poll costs the test process seconds of CPU)."""

    def __init__(self, url: str, env: dict, processes: Processes, client):
        self.url, self.env, self.processes, self.api = url, env, processes, client

    def deployment(self, timeout: float = 120):
        from prefect.exceptions import ObjectNotFound

        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.api.read_deployment_by_name(f"{FLOW}/{DEPLOYMENT}")
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    logs = {name: self.processes.log(name)[-3000:] for name in self.processes.started}
                    raise AssertionError(f"deployment {FLOW}/{DEPLOYMENT} never appeared:\n{logs}") from None
                time.sleep(1)

    def work_pool(self, timeout: float = 120):
        """The process work pool, once the worker has created it."""
        from prefect.exceptions import ObjectNotFound

        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.api.read_work_pool(POOL)
            except ObjectNotFound:
                assert time.monotonic() < deadline, f"no work pool {POOL}:\n{self.processes.log('worker')[-3000:]}"
                time.sleep(1)

    def forget_deployment(self) -> None:
        """Delete the deployment another test may have left, so that deployment() waits for this test's."""
        from prefect.exceptions import ObjectNotFound

        try:
            self.api.delete_deployment(self.api.read_deployment_by_name(f"{FLOW}/{DEPLOYMENT}").id)
        except ObjectNotFound:
            pass

    def trigger(self, deployment_id):
        """A run created through the API, as `prefect deployment run` does."""
        return self.api.create_flow_run_from_deployment(deployment_id)

    def wait(self, flow_run, until=lambda run: run.state.is_final(), timeout: float = RUN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not until(flow_run := self.api.read_flow_run(flow_run.id)):
            if time.monotonic() > deadline:
                logs = {name: self.processes.log(name)[-5000:] for name in self.processes.started}
                raise AssertionError(f"flow run {flow_run.name} still {flow_run.state.type} after {timeout}s:\n{logs}")
            time.sleep(0.5)
        return flow_run

    def trigger_and_wait(self, deployment_id):
        return self.wait(self.trigger(deployment_id))

    def messages(self, flow_run_id) -> list[str]:
        """The log lines the server stored for a flow run, its tasks and its subflows."""
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterParentTaskRunId,
            LogFilter,
            LogFilterFlowRunId,
        )

        tasks = [task.id for task in self.task_runs(flow_run_id)]
        subflows = self.api.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(any_=tasks)))
        wanted = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id, *(run.id for run in subflows)]))
        logs: list = []
        while batch := self.api.read_logs(wanted, limit=200, offset=len(logs)):
            logs += batch
        return [log.message for log in logs]

    def task_runs(self, flow_run_id):
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        return self.api.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_prefect_server(processes: Processes, port: int, cwd: Path, env: dict, *options: str) -> None:
    """`prefect server start` on loopback (UI off), until it answers (up to 300 s: a busy machine)."""
    server = processes.start("server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                        "--port", str(port), "--no-ui", *options], cwd, env)
    deadline = time.monotonic() + 300
    while True:
        assert server.poll() is None, f"prefect server exited:\n{processes.log('server')}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"prefect server not healthy after 300 s:\n{processes.log('server')}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = environment()
    env.update(PREFECT_HOME=str(home / "home"), PREFECT_API_URL=url, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED="false", PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_WORKER_QUERY_SECONDS="2")
    processes = Processes(home)
    try:
        start_prefect_server(processes, port, home, env)
        # The worker of the server path (it creates the process work pool), started now so that
        # its start-up overlaps the served runs.
        processes.start("worker", [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"], home, env)
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
            yield Server(url, env, processes, client)
    finally:
        processes.stop_all()


@pytest.fixture
def project(tmp_path) -> Path:
    """A tiny project of this test's own, whose scheduled runs tag their commit and push to a local DVC remote."""
    root = new_project(tmp_path / "project", {**TINY, "schedule": SCHEDULE})
    run(["dvc", "remote", "add", "-d", "local", str(root.parent / "remote")], root)
    commit(root, "DVC remote")
    return root


def git(root: Path, *args: str) -> str:
    return run(["git", *args], root).stdout.strip()


def run_with(env: dict, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def test_schedule_params_are_checked_before_anything_runs():
    for override, key in [("schedule.cron='0 25 * * *'", "schedule.cron"),
                          ("schedule.timezone=Mars/Olympus", "schedule.timezone"), ("schedule.retries=-1", "schedule.retries"),
                          ("schedule.interval_seconds=0", "schedule.interval_seconds")]:
        with pytest.raises(ParamsError, match=key.replace(".", r"\.")):
            load_params(REPO / "params.yaml", [override])
    with pytest.raises(ParamsError, match="tag_versions: true needs commit: true"):
        load_params(REPO / "params.yaml", ["schedule.tag_versions=true", "schedule.commit=false"])
    refused = run(["augmill", "serve", "--cron", "61 3 * * *"], REPO, check=False)
    assert refused.returncode == 1 and "--cron" in refused.stderr and "minute '61' must be 0-59" in refused.stderr


def test_interval_seconds_replaces_the_cron_unless_serve_is_given_one():
    from augmill.flows.deploy import schedule_of

    settings = load_params(REPO / "params.yaml", ["schedule.interval_seconds=30"]).schedule
    schedule, said = schedule_of(settings)
    assert (schedule.interval, schedule.cron, said) == (datetime.timedelta(seconds=30), None, "every 30 s")
    schedule, said = schedule_of(settings, "5 4 * * *")
    assert (schedule.interval, schedule.cron, said) == (None, "5 4 * * *", "'5 4 * * *' (UTC)")
    schedule, _ = schedule_of(load_params(REPO / "params.yaml").schedule)
    assert (schedule.interval, schedule.cron) == (None, load_params(REPO / "params.yaml").schedule.cron)


def test_prefect_yaml_declares_the_deployment_of_params_schedule():
    declared = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (deployment,) = declared["deployments"]
    schedule = load_params(REPO / "params.yaml").schedule
    assert deployment["name"] == DEPLOYMENT and deployment["work_pool"]["name"] == POOL
    assert [(s["cron"], s["timezone"]) for s in deployment["schedules"]] == [(schedule.cron, schedule.timezone)]
    module, _, name = deployment["entrypoint"].rpartition(".")
    assert getattr(importlib.import_module(module), name).name == FLOW


def test_a_workspace_that_cannot_make_a_version_is_refused(project):
    from augmill.flows.deploy import VersionRefused, check_workspace

    settings = load_params(project / "params.yaml").schedule
    check_workspace(project, settings)
    with pytest.raises(VersionRefused, match="DVC remote missing is not configured"):
        check_workspace(project, settings.model_copy(update={"remote": "missing"}))
    params = (project / "params.yaml").read_bytes()
    try:
        write_params(project, {"prepare": {"max_per_class": 9}})
        with pytest.raises(VersionRefused, match="(?s)uncommitted changes.*params.yaml"):
            check_workspace(project, settings)
    finally:
        (project / "params.yaml").write_bytes(params)
    assert git(project, "status", "--porcelain") == ""


def pushed(remote: Path, directory_md5: str) -> bool:
    """Whether a DVC remote holds a directory output's listing and every file in it."""
    import json

    def stored(md5: str) -> Path:
        return remote / "files" / "md5" / md5[:2] / md5[2:]

    listing = stored(directory_md5)
    return listing.is_file() and all(stored(entry["md5"]).is_file() for entry in json.loads(listing.read_text()))


def test_a_served_run_commits_the_new_version_and_a_second_run_changes_nothing(prefect_server, project):
    first_commit = git(project, "rev-parse", "HEAD")
    prefect_server.forget_deployment()
    serve = prefect_server.processes.start("serve", [str(BIN / "augmill"), "serve", "--cron", "30 4 * * *"],
                                           project, prefect_server.env)
    try:
        deployment = prefect_server.deployment()
        assert [s.schedule.cron for s in deployment.schedules] == ["30 4 * * *"]
        assert deployment.parameters == {"project_dir": str(project.resolve())}
        assert "will not fire" not in prefect_server.processes.log("serve")  # this server runs its scheduler

        # A manual `augmill run` holds the workspace when the run starts: a transient failure,
        # retried (schedule.retries) once the workspace is free.
        with workspace_lock("a manual run", project):
            flow_run = prefect_server.trigger(deployment.id)
            prefect_server.wait(flow_run, until=lambda run: run.state.is_final() or any(
                "is in use by augmill a manual run" in message for message in prefect_server.messages(run.id)))
        flow_run = prefect_server.wait(flow_run)
        assert flow_run.state.is_completed(), prefect_server.processes.log("serve")[-5000:]
        (attempts,) = [task.run_count for task in prefect_server.task_runs(flow_run.id) if task.name.startswith("reproduce")]
        assert attempts >= 2
        # One new commit, naming the run; everything the run wrote is in it.
        assert git(project, "rev-parse", "HEAD~1") == first_commit
        subject = git(project, "log", "-1", "--format=%s")
        assert subject == f"augmill: dataset version from flow run {flow_run.name} ({flow_run.id})"
        committed = git(project, "show", "--name-only", "--format=", "HEAD").splitlines()
        assert "dvc.lock" in committed and "reports/merge.json" in committed
        assert git(project, "status", "--porcelain") == ""
        assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout
        assert (project / "data/final/manifest.parquet").is_file()
        # Tagged, and the data is on the remote.
        assert git(project, "tag", "--points-at", "HEAD").endswith(f"-{flow_run.name}")
        assert pushed(project.parent / "remote", lock_out_hashes(project)["merge"]["data/final"])

        version, tags = git(project, "rev-parse", "HEAD"), git(project, "tag")
        again = prefect_server.trigger_and_wait(deployment.id)
        assert again.state.is_completed(), prefect_server.processes.log("serve")[-5000:]
        assert git(project, "rev-parse", "HEAD") == version and git(project, "tag") == tags
        assert git(project, "status", "--porcelain") == ""
        # Logs reach the server in batches, possibly after the run's final state: wait for them.
        prefect_server.wait(again, until=lambda run: any("nothing changed" in message
                                                          for message in prefect_server.messages(run.id)), timeout=30)
    finally:
        # Another test deploys the same deployment to the work pool; no runner may hold it.
        if serve.poll() is None:
            prefect_server.processes.stop("serve")


def test_prefect_yaml_on_a_work_pool_and_a_failed_run_leaves_the_previous_version(prefect_server, project):
    # The previous version: the pipeline reproduced and committed, as a scheduled run would.
    run(["dvc", "repro", "--quiet"], project)
    commit(project, "the previous version")
    shutil.copy(REPO / "prefect.yaml", project / "prefect.yaml")
    commit(project, "prefect.yaml")
    prefect_server.forget_deployment()
    prefect_server.work_pool()
    deployed = run_with(prefect_server.env, [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], project)
    assert f"Deployment '{FLOW}/{DEPLOYMENT}' successfully created" in " ".join(deployed.stdout.split())
    deployment = prefect_server.deployment()
    assert deployment.work_pool_name == POOL and deployment.entrypoint == "augmill.flows.deploy.scheduled_version"
    assert [s.schedule.cron for s in deployment.schedules] == [load_params(project / "params.yaml").schedule.cron]

    # A committed mistake: prepare re-runs (and is recorded in dvc.lock), then explore finds no raw folder.
    write_params(project, {"prepare": {"max_per_class": 8, "image_size": 24}, "data": {"raw_dir": "data/missing"},
                           "evaluate": {"seeds": 2}, "schedule": {**SCHEDULE, "retries": 1, "retry_delay_seconds": 1}})
    commit(project, "a raw_dir that does not exist")
    head, tags = git(project, "rev-parse", "HEAD"), git(project, "tag")
    lock = (project / "dvc.lock").read_bytes()
    data = {folder: file_hashes(project / folder) for folder in ("data/raw", "data/final", "reports")}

    flow_run = prefect_server.trigger_and_wait(deployment.id)
    assert flow_run.state.is_failed(), prefect_server.processes.log("worker")[-5000:]
    messages = prefect_server.messages(flow_run.id)
    assert any("stage prepare: done" in message for message in messages)  # the attempt changed the workspace
    assert sum("restoring the previous version" in message for message in messages) == 2
    (attempts,) = [task.run_count for task in prefect_server.task_runs(flow_run.id) if task.name.startswith("reproduce")]
    assert attempts == 2  # retried once, as params.yaml says

    # Nothing committed or tagged; the files and the data are the previous version's, byte for byte.
    assert git(project, "rev-parse", "HEAD") == head and git(project, "tag") == tags
    assert git(project, "status", "--porcelain") == ""
    assert (project / "dvc.lock").read_bytes() == lock
    assert {folder: file_hashes(project / folder) for folder in data} == data


# The embedded path: no PREFECT_API_URL, so `augmill serve` starts its own server with the scheduler.
SCHEDULED_RUN_CAP = 600  # seconds: server start (~20 s, more under load), the first tick, a ~40 s run
INTERVAL_SECONDS = 10


def embedded_env(home: Path) -> dict:
    env = environment()  # without PREFECT_API_URL
    # Its own Prefect home: no profile of the machine's may name an API; the runner looks for due runs every 2 s.
    env.update(PREFECT_HOME=str(home), PREFECT_RUNNER_POLL_FREQUENCY="2")
    return env


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return f"(pid {process.pid}, gone)"


def assert_leaves_no_process(serve: subprocess.Popen, children: list[psutil.Process], log: str) -> None:
    """`augmill serve` exits by itself and every process it had started is gone."""
    try:
        serve.wait(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"augmill serve did not stop within 120 s of the signal:\n{log[-3000:]}") from None
    _, alive = psutil.wait_procs(children, timeout=30)
    left = [command_line(p) for p in alive]
    for process in alive:  # not left behind by this test either
        process.kill()
    assert not left, f"left running after augmill serve exited: {left}"


def wait_for_local_server(serve: subprocess.Popen, processes: Processes, until: str) -> list[psutil.Process]:
    """Wait for `until` in serve's output (bounded); its processes then, the local server among them."""
    deadline = time.monotonic() + 180
    while until not in processes.log("serve"):
        assert serve.poll() is None, f"augmill serve exited ({serve.returncode}):\n{processes.log('serve')[-5000:]}"
        assert time.monotonic() < deadline, f"no {until!r} after 180 s:\n{processes.log('serve')[-5000:]}"
        time.sleep(0.2)
    children = descendants(serve.pid)
    assert any("prefect server start" in command_line(p) for p in children), [command_line(p) for p in children]
    return children


def wait_until_polled(api_url: str) -> None:
    """Until Prefect's runner in augmill serve polls for runs (the server then marks the deployment READY)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import DeploymentStatus
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deadline = time.monotonic() + 120
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as api:
        while True:
            try:
                if api.read_deployment_by_name(f"{FLOW}/{DEPLOYMENT}").status == DeploymentStatus.READY:
                    return
            except ObjectNotFound:
                pass
            assert time.monotonic() < deadline, "the deployment was never polled by augmill serve's runner"
            time.sleep(0.5)


def test_a_served_schedule_fires_on_augmill_s_own_prefect_server_which_stops_with_it(tmp_path):
    project = new_project(tmp_path / "project", {**TINY, "schedule": {"interval_seconds": INTERVAL_SECONDS}})
    first_commit = git(project, "rev-parse", "HEAD")
    processes = Processes(tmp_path)
    try:
        serve = processes.start("serve", [str(BIN / "augmill"), "serve"], project, embedded_env(tmp_path / "home"))
        # Nothing triggers a run: the server's scheduler creates it, the runner in augmill serve runs it.
        deadline = time.monotonic() + SCHEDULED_RUN_CAP
        while not (subject := git(project, "log", "-1", "--format=%s")).startswith("augmill: dataset version"):
            assert serve.poll() is None, f"augmill serve exited ({serve.returncode}):\n{processes.log('serve')[-5000:]}"
            assert time.monotonic() < deadline, (f"no scheduled run committed a version within {SCHEDULED_RUN_CAP} s:\n"
                                                 f"{processes.log('serve')[-5000:]}")
            time.sleep(1)
        version = git(project, "rev-parse", "HEAD")
        log = processes.log("serve")
        api_url = re.search(r"API at (http://127\.0\.0\.1:\d+/api)", log).group(1)
        ui_url = re.search(r"UI at (http://127\.0\.0\.1:\d+)", log).group(1)
        name, run_id = re.fullmatch(r"augmill: dataset version from flow run (\S+) \((\S+)\)", subject).groups()

        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as api:
            deployment = api.read_deployment_by_name(f"{FLOW}/{DEPLOYMENT}")
            assert [s.schedule.interval for s in deployment.schedules] == [datetime.timedelta(seconds=INTERVAL_SECONDS)]
            flow_run = Server(api_url, {}, processes, api).wait(api.read_flow_run(run_id))
            # The run the commit names is the deployment's, made by the scheduler, and it completed.
            assert (flow_run.name, flow_run.deployment_id) == (name, deployment.id)
            assert flow_run.auto_scheduled and flow_run.state.is_completed(), (flow_run.auto_scheduled, flow_run.state)
        assert "<html" in httpx.get(ui_url, timeout=30).text.lower()  # the UI augmill serve printed

        # SIGTERM (a service manager's stop): serve stops its runner, then its server; nothing is left.
        children = descendants(serve.pid)
        assert any("prefect server start" in command_line(p) for p in children), [command_line(p) for p in children]
        serve.terminate()
        assert_leaves_no_process(serve, children, processes.log("serve"))
        assert serve.returncode == 0, processes.log("serve")[-3000:]
    finally:
        processes.stop_all()

    # One version, naming the scheduled run, holding what the pipeline wrote; later runs found nothing new.
    assert git(project, "rev-parse", "HEAD") == version and git(project, "rev-parse", "HEAD~1") == first_commit
    committed = git(project, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert "dvc.lock" in committed and "reports/merge.json" in committed
    assert git(project, "status", "--porcelain") == ""
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout
    # The run history stays in the project, out of git.
    assert (project / ".augmill/prefect/prefect.db").is_file() and not git(project, "ls-files", ".augmill")


@pytest.mark.parametrize(("stop", "exit_code"), [("ctrl-c once serving", 0), ("ctrl-c while the server starts", 130),
                                                 ("sigterm while the server starts", 128 + signal.SIGTERM)])
def test_augmill_serve_stops_its_prefect_server_and_leaves_no_process(tmp_path, stop, exit_code):
    project = new_project(tmp_path / "project", TINY)  # the default schedule: 03:00, nothing runs meanwhile
    processes = Processes(tmp_path)
    try:
        serve = processes.start("serve", [str(BIN / "augmill"), "serve"], project, embedded_env(tmp_path / "home"))
        if stop == "ctrl-c once serving":
            children = wait_for_local_server(serve, processes, "augmill: serving")
            wait_until_polled(re.search(r"API at (http://\S+/api)", processes.log("serve")).group(1))
        else:
            deadline = time.monotonic() + 60
            while not any("prefect server start" in command_line(p) for p in descendants(serve.pid)):
                assert serve.poll() is None and time.monotonic() < deadline, processes.log("serve")[-3000:]
                time.sleep(0.05)
            children = descendants(serve.pid)
        if stop.startswith("ctrl-c"):
            os.killpg(serve.pid, signal.SIGINT)  # what a terminal sends its foreground process group
        else:
            serve.terminate()
        assert_leaves_no_process(serve, children, processes.log("serve"))
        assert serve.returncode == exit_code, processes.log("serve")[-3000:]
    finally:
        processes.stop_all()


def test_augmill_serve_on_a_configured_server_without_scheduler_says_the_schedule_will_not_fire(tmp_path):
    project = new_project(tmp_path / "project", TINY)
    port = free_port()
    env = embedded_env(tmp_path / "home")
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    processes = Processes(tmp_path)
    try:
        start_prefect_server(processes, port, tmp_path, env, "--no-scheduler")
        serve = processes.start("serve", [str(BIN / "augmill"), "serve"], project, env)
        deadline = time.monotonic() + 180
        while "augmill: serving" not in (log := processes.log("serve")):
            assert serve.poll() is None and time.monotonic() < deadline, log[-3000:]
            time.sleep(0.2)
        assert f"the Prefect server at {env['PREFECT_API_URL']} runs without its scheduler service" in log
        # That server is used as it is: augmill starts none of its own.
        assert "started a local Prefect server" not in log
        assert not any("prefect server start" in command_line(p) for p in descendants(serve.pid))
    finally:
        processes.stop_all()
