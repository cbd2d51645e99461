"""The scheduled pipeline: a Prefect flow that does what a person would do by hand,
its deployment, and `augmill serve`.

A run reproduces the pipeline (flows.pipeline, as `augmill run` does: stages DVC
reports up to date are skipped), then records the new dataset version: a git
commit of dvc.lock and of the outputs git tracks (the reports dvc.yaml declares
with `cache: false`), optionally pushed to a DVC remote first and tagged. The
data itself is in DVC's cache, so a clone of that commit gets it back with
`dvc pull`. When nothing changed, nothing is committed.

A failed attempt leaves the previous version intact: nothing is committed, the
version files are put back byte for byte and `dvc checkout` puts the data back
as dvc.lock records it; then Prefect retries (params.yaml `schedule:`).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from augmill.flows.prefect_api import ScheduledServer, serving
from augmill.flows.versions import ENVIRONMENT_RECORD
from augmill.flows.workspace_lock import workspace_lock
from augmill.tasks.params import Params, ParamsError, ScheduleParams
from augmill.tasks.params_load import load_params

FLOW_NAME = "augmill-scheduled"
DEPLOYMENT_NAME = "dataset-version"
PARAMS_FILE = "params.yaml"
LOCK_FILE = "dvc.lock"
TAG_PREFIX = "augmill-"


class VersionRefused(RuntimeError):
    """The workspace cannot make a version (not a repo, uncommitted changes, no git
    identity, no remote); retrying would not help, so Prefect does not."""


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {root}: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def dvc(root: Path, *args: str) -> str:
    # The DVC of this interpreter: a worker's PATH need not contain the virtualenv's bin/.
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed in {root}: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def default_remote(root: Path) -> str | None:
    result = subprocess.run([sys.executable, "-m", "dvc", "remote", "default"], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:  # "No default remote set"
        return None
    return result.stdout.strip() or None


def version_paths(root: Path) -> list[str]:
    """What a version commit holds besides the code: dvc.lock, every output git tracks
    (`cache: false` in dvc.yaml), the .gitignore files DVC keeps beside cached outputs, and
    the environment record a new version writes (flows.versions)."""
    from dvc.repo import Repo

    repo = Repo(str(root))
    try:
        outs = list(repo.index.outs)
    finally:
        repo.close()
    paths = {LOCK_FILE, ENVIRONMENT_RECORD}
    for out in outs:
        path = Path(out.def_path)
        paths.add((path.parent / ".gitignore").as_posix() if out.use_cache else path.as_posix())
    return sorted(paths)


def snapshot(root: Path, paths: list[str]) -> dict[str, bytes]:
    """The bytes of every file at or under paths (version files are small: a lock file and reports)."""
    files: dict[str, bytes] = {}
    for path in paths:
        target = root / path
        found = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else []
        for file in found:
            files[file.relative_to(root).as_posix()] = file.read_bytes()
    return files


def restore(root: Path, paths: list[str], before: dict[str, bytes]) -> None:
    """Put the version files back as they were, then the data as that dvc.lock records it."""
    now = snapshot(root, paths)
    for name in now.keys() - before.keys():
        (root / name).unlink()
    for name, data in before.items():
        if now.get(name) != data:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    if LOCK_FILE in before:
        dvc(root, "checkout", "--force", "--quiet")


def check_workspace(root: Path, settings: ScheduleParams) -> None:
    """Refuse before any work what no retry would fix."""
    if not (root / "dvc.yaml").is_file() or not (root / ".dvc").is_dir():
        raise VersionRefused(f"{root} is not an augmill project: dvc.yaml and .dvc/ are needed (run from the project root)")
    if settings.commit:
        if not git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).strip():
            raise VersionRefused(f"{root} is not a git repository with a commit; a dataset version is a git commit "
                                 "(git init && git add -A && git commit), or set schedule.commit: false")
        dirty = git(root, "status", "--porcelain", "--untracked-files=no").strip()
        if dirty:
            # The commit would record dvc.lock for a params.yaml or code that is not in it.
            raise VersionRefused(f"{root} has uncommitted changes to tracked files; commit or revert them first, "
                                 f"so that the version commit reproduces:\n{dirty}")
        if subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], cwd=root, capture_output=True).returncode != 0:
            raise VersionRefused("git has no identity to commit with here: set user.name and user.email "
                                 "(git config user.name ...; git config user.email ...)")
    if settings.push:
        remote = settings.remote or default_remote(root)
        if not remote or remote not in dvc(root, "remote", "list").split():
            raise VersionRefused(f"schedule.push is true but the DVC remote {settings.remote or '(default)'} is not "
                                 "configured: dvc remote add -d NAME URL, and commit .dvc/config")


def _worth_retrying(task, task_run, state) -> bool:
    try:
        state.result()
    except (ParamsError, VersionRefused):
        return False
    except Exception:
        return True
    return False


def _changed_for_git(root: Path, paths: list[str]) -> list[str]:
    """The version paths to `git add`: those that exist or that git tracks (deleted ones), never ignored ones."""
    tracked = set(git(root, "ls-files", "--", *paths).splitlines())
    present = [p for p in paths if (root / p).exists() or any(t == p or t.startswith(p + "/") for t in tracked)]
    ignored = set(git(root, "check-ignore", "--", *present, check=False).splitlines()) if present else set()
    return [p for p in present if p not in ignored]


def _git_sees_changes(root: Path, paths: list[str]) -> bool:
    return bool(paths) and bool(git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths).strip())


@task(name="reproduce-and-record", cache_policy=NO_CACHE)
def reproduce_and_record(root: str, params: Params, run_name: str, run_id: str) -> dict:
    from augmill.flows.executors import pipeline_task_runner
    from augmill.flows.pipeline import pipeline

    logger = get_run_logger()
    project, settings = Path(root), params.schedule
    with workspace_lock(f"scheduled run {run_name}", project):
        paths = version_paths(project)
        before = snapshot(project, paths)
        staged = committed = False
        try:
            ran = pipeline.with_options(task_runner=pipeline_task_runner(params))(params_file=PARAMS_FILE)
            stages = ", ".join(f"{name} {state}" for name, state in ran.items())
            addable = _changed_for_git(project, paths) if settings.commit else []
            # Committing: anything git would record (also a dvc.lock never committed); else: any byte changed.
            changed = _git_sees_changes(project, addable) if settings.commit else snapshot(project, paths) != before
            if not changed:
                head = git(project, "rev-parse", "--short", "HEAD", check=False).strip() or "(no commit)"
                logger.info("nothing changed (%s): no new dataset version; HEAD stays %s", stages, head)
                return {"version": "unchanged", "commit": None, "tag": None, "pushed": None, "stages": ran}
            pushed = None
            if settings.push:
                # Before committing: a commit whose data is not on the remote would not reproduce elsewhere.
                dvc(project, "push", *(["--remote", settings.remote] if settings.remote else []))
                pushed = settings.remote or default_remote(project)
                logger.info("pushed the data of this version to the DVC remote %s", pushed)
            if not settings.commit:
                logger.info("reproduced (%s); not committed (schedule.commit is false)", stages)
                return {"version": "reproduced", "commit": None, "tag": None, "pushed": pushed, "stages": ran}
            tag = None
            if settings.tag_versions:
                stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
                tag = f"{TAG_PREFIX}{stamp}-{run_name}"
                # Checked before committing, so that a tag clash cannot leave a commit half recorded.
                git(project, "check-ref-format", f"refs/tags/{tag}")
                if git(project, "rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False).strip():
                    raise VersionRefused(f"the tag {tag} exists already")
            message = (f"augmill: dataset version from flow run {run_name} ({run_id})\n\n"
                       f"Deployment: {FLOW_NAME}/{DEPLOYMENT_NAME}\nStages: {stages}\n"
                       + (f"Data pushed to the DVC remote: {pushed}\n" if pushed else ""))
            git(project, "add", "-A", "--", *addable)
            staged = True
            git(project, "commit", "-q", "-m", message)
            committed = True
            commit = git(project, "rev-parse", "HEAD").strip()
            if tag:
                git(project, "tag", "-a", tag, "-m", f"augmill dataset version from flow run {run_name} ({run_id})")
            logger.info("new dataset version: commit %s%s (%s)", commit[:12], f", tag {tag}" if tag else "", stages)
            return {"version": "committed", "commit": commit, "tag": tag, "pushed": pushed, "stages": ran}
        except BaseException:
            if committed:
                logger.error("the version was committed but a later step failed; the commit stands")
                raise
            logger.error("this attempt failed: restoring the previous version's files and data")
            if staged:
                git(project, "reset", "-q", "--", *addable, check=False)
            try:
                restore(project, paths, before)
            except Exception as error:  # report it, but the attempt's own error is the one to raise
                logger.error("restoring failed (%s): in %s, put dvc.lock and the reports back "
                             "(git checkout -- dvc.lock reports/), then run dvc checkout --force", error, project)
            raise


@flow(name=FLOW_NAME, log_prints=True)
def scheduled_version(project_dir: str = ".") -> dict:
    """Reproduce the pipeline in project_dir and record the new dataset version (a git commit
    naming this flow run), as params.yaml `schedule:` says; nothing when nothing changed."""
    root = Path(project_dir).resolve()
    # The pipeline, DVC and git all work relative to the project root.
    os.chdir(root)
    params = load_params(root / PARAMS_FILE)
    settings = params.schedule
    check_workspace(root, settings)
    attempt = reproduce_and_record.with_options(retries=settings.retries, retry_delay_seconds=settings.retry_delay_seconds,
                                                retry_condition_fn=_worth_retrying)
    return attempt(str(root), params, flow_run.name, str(flow_run.id))


def schedule_of(settings: ScheduleParams, cron: str | None = None):
    """The deployment's schedule and how to say it: --cron, else schedule.interval_seconds, else schedule.cron."""
    from prefect.schedules import Cron, Interval

    if cron is None and settings.interval_seconds is not None:
        return (Interval(settings.interval_seconds, timezone=settings.timezone),
                f"every {settings.interval_seconds} s")
    expression = cron or settings.cron
    return Cron(expression, timezone=settings.timezone), f"'{expression}' ({settings.timezone})"


def _scheduler_is_off() -> bool:
    """Whether the configured server says its scheduler service is off (then no schedule fires);
    False when it cannot say (Prefect Cloud, an older server): nothing to warn about."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            response = client.request("GET", "/admin/settings")
            response.raise_for_status()
            return response.json()["server"]["services"]["scheduler"]["enabled"] is False
    except Exception:
        return False


def _say_where(api: ScheduledServer | None) -> None:
    """Where the UI and the run history are: augmill's own server, or the configured one."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    url = settings.api.url
    if api is not None and url == api.url:
        ui = f"UI at {api.ui_url}" if settings.server.ui.enabled else "UI off (PREFECT_SERVER_UI_ENABLED)"
        print(f"augmill: started a local Prefect server with its scheduler: {ui}, API at {api.url}; "
              f"run history in {api.database}, server log {api.log_path}. It stops with augmill serve.", flush=True)
        return
    ui = settings.ui_url or url
    print(f"augmill: registering on the Prefect server at {url} (PREFECT_API_URL); runs and logs in its UI: {ui}",
          flush=True)
    if _scheduler_is_off():
        print(f"augmill: warning: the Prefect server at {url} runs without its scheduler service, so the schedule "
              "will not fire: start it with `prefect server start` (PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED=true)",
              file=sys.stderr, flush=True)


def serve(params: Params, cron: str | None = None, root: Path = Path("."), api: ScheduledServer | None = None) -> int:
    """Create the deployment (with its schedule) on the Prefect API and run its flow runs from
    this process, one at a time, until stopped. ``api``: the local server augmill started
    because none is configured; it runs the scheduler, which creates the scheduled runs."""
    from prefect import serve as prefect_serve

    settings = params.schedule
    try:
        check_workspace(root.resolve(), settings)
    except VersionRefused as problem:  # may be fixed before the first run: say it, serve anyway
        print(f"augmill: warning: runs will refuse to start until this is fixed: {problem}", file=sys.stderr, flush=True)
    schedule, when = schedule_of(settings, cron)
    deployment = scheduled_version.to_deployment(
        name=DEPLOYMENT_NAME,
        schedule=schedule,
        parameters={"project_dir": str(root.resolve())},
        description="Reproduce the augmill pipeline and commit the new dataset version (dvc.lock, reports).",
        tags=["augmill"],
        concurrency_limit=1,
    )
    with serving(api):
        _say_where(api)
        from prefect.settings import get_current_settings

        print(f"augmill: serving {FLOW_NAME}/{DEPLOYMENT_NAME} for {root.resolve()} on {when}; run it now with: "
              f"PREFECT_API_URL={get_current_settings().api.url} prefect deployment run '{FLOW_NAME}/{DEPLOYMENT_NAME}'",
              flush=True)
        # On Ctrl-C or SIGTERM Prefect's runner cancels the run in progress and pauses the schedule
        # (on the server, still up), then returns; serving() then stops augmill's server.
        prefect_serve(deployment, limit=1)
    return 0
