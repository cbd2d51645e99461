"""The `augmill` command.

  augmill run [--set KEY=VALUE ...]   the whole pipeline as one Prefect flow run
  augmill stage NAME                  one stage, as dvc.yaml calls it (no Prefect server)
  augmill check                       validate params.yaml and exit
  augmill report                      build reports/index.html (one page per dataset version) and print its path
  augmill review reject|accept|list   the human review: decisions in reviews/decisions.csv, applied by merge
  augmill review relabel|keep|confirm sha256:HEX [--label L]   a suspected label error (bias stage)
  augmill preview [--n 16]            what the current augment.policy does to N train samples, in seconds
  augmill serve [--cron "0 3 * * *"]  serve the scheduled pipeline (a Prefect deployment) from this process
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

from flows import prefect_api  # cheap: the standard library only
from flows.stages import STAGE_NAMES, preload  # cheap: stage modules are imported when a stage runs


def _quiet_offline_prefect() -> None:
    # Nothing may phone home: this tool runs offline.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _arrow_returns_memory() -> None:
    # Arrow's default allocator (mimalloc) keeps what a stage frees in per-thread arenas, so
    # reading a manifest left ~2.5x its size resident, growing with the dataset; the system
    # allocator reuses it (augment's peak: 198 -> 167 MB at 2,000 images). Set before Arrow loads.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="augmill",
        description="Turn a labelled dataset into a larger, balanced, validated training set, reproducibly.",
        epilog="Run from the project root (where params.yaml and dvc.yaml are). `dvc repro` runs the same stages.",
    )
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the whole pipeline as one Prefect flow run",
                              description="Run explore -> bias -> augment -> validate -> merge (and prepare for the "
                                          "demo) as one Prefect flow run. Stages DVC reports up to date are skipped "
                                          "and each stage that ran is recorded in dvc.lock.")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a param for this run, e.g. --set augment.factor=3 (repeatable); "
                          "with overrides every stage runs and dvc.lock is left alone")
    run.add_argument("--force", action="store_true", help="run every stage even if DVC says it is up to date")

    stage = commands.add_parser("stage", help="run one stage (what dvc.yaml calls)",
                                description="Run one stage in this process, without a Prefect server.")
    stage.add_argument("name", choices=STAGE_NAMES)

    commands.add_parser("check", help="validate params.yaml and exit")

    commands.add_parser("report", help="build reports/index.html from the pipeline's outputs and print its path",
                        description="Build the dataset version's report (reports/index.html) from the JSON reports, "
                                    "manifests and plots the stages wrote; the evaluate stage writes it too.")
    review = commands.add_parser("review", help="record or list review decisions (reviews/decisions.csv)",
                                 description="Reject (or accept again) one augmented sample or every variant of an "
                                             "operator; merge excludes rejected variants. Then `dvc repro` re-runs "
                                             "merge and evaluate, and committing reviews/decisions.csv with dvc.lock "
                                             "makes the new dataset version.")
    review.add_argument("action", choices=["reject", "accept", "list", "relabel", "keep", "confirm"])
    review.add_argument("target", nargs="?", metavar="SAMPLE_ID|op:NAME|sha256:HEX",
                        help="an augmented sample, op:OPERATOR, or (relabel/keep/confirm) a suspected train sample")
    review.add_argument("--label", default=None, help="relabel: the right label")
    review.add_argument("--note", default="", help="why (shown in the quarantine and the report)")
    review.add_argument("--reviewer", default=None, help="who decided (default: your user name)")
    preview = commands.add_parser("preview", help="render N train samples with the current policy (reports/preview.png)",
                                  description="Read the raw data, augment N train samples as the augment stage would "
                                              "make their first variant, and draw sources beside variants, without "
                                              "running the pipeline. Prints the file's path.")
    preview.add_argument("--n", type=int, default=16, help="how many samples (default 16)")
    preview.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="try a param without editing params.yaml, e.g. --set augment.policy='[{name: rotate, p: 1}]'")
    serve = commands.add_parser("serve", help="serve the scheduled pipeline (a Prefect deployment) from this process",
                                description="Create the Prefect deployment augmill-scheduled/dataset-version with a cron "
                                            "schedule and run its flow runs from this process, one at a time, until "
                                            "stopped (Ctrl-C). Each run reproduces the pipeline and, when dvc.lock or a "
                                            "tracked report changed, commits the new dataset version (optionally tagged "
                                            "and pushed to the DVC remote: params.yaml schedule:). With PREFECT_API_URL "
                                            "set it registers on that Prefect server, where `prefect deployment run "
                                            "augmill-scheduled/dataset-version` triggers a run now; without, Prefect "
                                            "starts a temporary server inside this process, which only the schedule uses.")
    serve.add_argument("--cron", default=None, metavar="CRON",
                       help="when to run, e.g. \"0 3 * * *\" (03:00 daily; default: schedule.cron in params.yaml), "
                            "read in schedule.timezone")
    return parser


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()  # a run's time is reported from here, Prefect's start-up included
    args = build_parser().parse_args(argv)
    _quiet_offline_prefect()
    _arrow_returns_memory()
    # `run` needs a Prefect API: a temporary server takes ~6 s to come up, so it starts first and
    # comes up while params are checked and Prefect and DVC are imported (stopped if anything fails).
    api = prefect_api.start_unless_configured() if args.command == "run" else None
    try:
        from tasks.params import ParamsError, load_params  # ~0.3 s (pydantic): after the server starts
    except BaseException:
        if api is not None:
            api.stop()
        raise
    try:
        # Refuse a bad params.yaml before any work.
        params = load_params(Path(args.params), getattr(args, "overrides", []))
        if args.command == "check":
            print(f"{args.params}: ok")
            return 0
        if args.command == "preview":
            from tasks.preview import run as run_preview

            print(run_preview(params, args.n))
            return 0
        if args.command == "serve":
            cron = _checked_cron(args.cron)  # before importing Prefect (seconds)
            from flows.deploy import serve

            return serve(params, cron)
        from flows.workspace_lock import workspace_lock

        if args.command in ("report", "review"):
            with workspace_lock(args.command):
                return _run_report(params) if args.command == "report" else _run_review(args, params)
        if args.command == "stage":
            from flows.stages import run_stage

            with workspace_lock(f"stage {args.name}"):
                run_stage(args.name, params)
            return 0
        with workspace_lock("run"):
            return _run_pipeline(args, params, api, started)
    except ParamsError as error:
        print(f"augmill: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, RuntimeError, KeyError) as error:
        print(f"augmill: error: {error}", file=sys.stderr)
        return 1
    finally:
        if api is not None:
            api.stop()


def _run_report(params) -> int:
    from tasks.report import build_report

    print(build_report(params))
    return 0


def _run_review(args, params) -> int:
    from tasks.review import run_command

    return run_command(args.action, args.target, args.note, args.reviewer, params.data.modality, args.label)


def _checked_cron(cron: str | None) -> str | None:
    from tasks.params import ParamsError, check_cron

    try:
        return None if cron is None else check_cron(cron)
    except ValueError as error:
        raise ParamsError(f"--cron: {error}") from None


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


def _run_pipeline(args, params, api, started: float) -> int:
    from flows import dvc_state
    from flows.pipeline import pipeline

    runner = pipeline_task_runner(params)
    stale = None
    if not args.force and dvc_state.records_version(args.params, args.overrides):
        stale = dvc_state.stale_stages(dvc_state.open_repo())  # while Prefect's server comes up
        if not stale:  # as `dvc repro`: nothing to run, so no flow run and no wait for a server
            print("augmill: every stage is up to date (dvc status): "
                  + ", ".join(f"{name} skipped" for name in STAGE_NAMES))
            return 0
    preloading = preload(STAGE_NAMES if stale is None else stale)
    with prefect_api.serving(api):
        preloading.join()  # joined before the flow starts: no import races with Prefect's own
        ran = pipeline.with_options(task_runner=runner)(params_file=args.params, overrides=args.overrides,
                                                        force=args.force, stale=stale)
    total = time.perf_counter() - started
    print(f"augmill: pipeline finished in {total:.1f}s: " + ", ".join(f"{name} {state}" for name, state in ran.items()))
    print("augmill: open reports/index.html (the report of this dataset version); the dataset is data/final/")
    return 0


def console() -> None:
    """The `augmill` command (pyproject.toml's entry point): main(), then exit."""
    code = main()
    # At exit Python collects garbage over everything Prefect, DVC and a stage left (measured
    # 1.4 s after `augmill run`); frozen objects are skipped, and the OS frees the memory anyway.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console()
