"""The `augmill` command.

  augmill run [--set KEY=VALUE ...]   the whole pipeline as one Prefect flow run
  augmill stage NAME                  one stage, as dvc.yaml calls it (no Prefect server)
  augmill check                       validate params.yaml and exit
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

STAGE_NAMES = ("prepare", "explore", "bias", "augment", "validate", "merge")


def _quiet_offline_prefect() -> None:
    # Nothing may phone home: this tool runs offline.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_offline_prefect()
    from tasks.params import ParamsError, load_params

    try:
        # Refuse a bad params.yaml before any work, and before Prefect starts.
        params = load_params(Path(args.params), getattr(args, "overrides", []))
        if args.command == "check":
            print(f"{args.params}: ok")
            return 0
        from flows.workspace_lock import workspace_lock

        if args.command == "stage":
            from flows.stages import run_stage

            with workspace_lock(f"stage {args.name}"):
                run_stage(args.name, params)
            return 0
        with workspace_lock("run"):
            return _run_pipeline(args, params)
    except ParamsError as error:
        print(f"augmill: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, RuntimeError, KeyError) as error:
        print(f"augmill: error: {error}", file=sys.stderr)
        return 1


def _run_pipeline(args, params) -> int:
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    from flows.pipeline import pipeline

    workers = params.execution.workers
    runner = ProcessPoolTaskRunner(max_workers=workers) if workers > 1 else ThreadPoolTaskRunner(max_workers=1)
    started = time.perf_counter()
    ran = pipeline.with_options(task_runner=runner)(params_file=args.params, overrides=args.overrides, force=args.force)
    total = time.perf_counter() - started
    print(f"augmill: pipeline finished in {total:.1f}s: " + ", ".join(f"{name} {state}" for name, state in ran.items()))
    print("augmill: open reports/validation.html and reports/gallery.html; the dataset is data/final/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
