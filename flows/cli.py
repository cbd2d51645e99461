"""The `augmill` command.

  augmill init [PATH]                 inspect a dataset; write a params.yaml that fits it (and a new project)
  augmill run [--set KEY=VALUE ...]   the whole pipeline as one Prefect flow run
  augmill stage NAME                  one stage, as dvc.yaml calls it (no Prefect server)
  augmill check                       validate params.yaml and exit
  augmill report                      build reports/index.html (one page per dataset version) and print its path
  augmill review reject|accept|list   the human review: decisions in reviews/decisions.csv, applied by merge
  augmill tune [--accept] [--queue N] search augmentation policies on the validation split (reports/tune.json)
  augmill review relabel|keep|confirm sha256:HEX [--label L]   a suspected label error (bias stage)
  augmill preview [--n 16]            what the current augment.policy does to N train samples, in seconds
  augmill serve [--cron "0 3 * * *"]  serve the scheduled pipeline (a Prefect deployment) from this process
  augmill verify [REV]                recompute the version REV (default HEAD) from scratch: byte-identical or not
  augmill environment                 print this machine's environment as a version records it (JSON)
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import time
from pathlib import Path

from augmill.flows import prefect_api  # cheap: the standard library only
from augmill.flows.stages import STAGE_NAMES, preload  # cheap: stage modules are imported when a stage runs


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
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the traceback of a user error (bad param, unusable data), not only its one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="inspect a dataset and write a params.yaml that fits it (a new project "
                                            "when run in an empty folder or one holding only the data)",
                               description="Inspect a folder or file (image or audio folders with or without "
                                           "splits, a CSV manifest, text or table files), print what was found and "
                                           "why each choice was made, and write a commented params.yaml that fits "
                                           "it. Where no dvc.yaml is, also make the project: git and DVC, dvc.yaml, "
                                           "expectations/, reviews/; a dataset at the project root moves to "
                                           "data/input/. Then `augmill run`.")
    init.add_argument("path", nargs="?", default=".", help="the dataset: a folder or one file (default: here)")
    init.add_argument("--force", action="store_true", help="replace an existing params.yaml (kept as params.yaml.bak)")
    init.add_argument("--label-column", default=None, metavar="NAME", help="the table's label column, when several could be")
    init.add_argument("--text-column", default=None, metavar="NAME", help="the column of texts, when several hold free text")

    run = commands.add_parser("run", help="run the whole pipeline as one Prefect flow run",
                              description="Run explore -> bias -> augment -> validate -> merge (and prepare for the "
                                          "demo) as one Prefect flow run. Stages DVC reports up to date are skipped "
                                          "and each stage that ran is recorded in dvc.lock.")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a param for this run, e.g. --set augment.factor=3 (repeatable); "
                          "with overrides every stage runs and dvc.lock is left alone")
    run.add_argument("--force", action="store_true", help="run every stage even if DVC says it is up to date")
    run.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                     help="show Prefect's traceback of a user error too")

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
    tune = commands.add_parser("tune", help="search augmentation policies on the validation split (reports/tune.json)",
                               description="Score candidate policies (no augmentation, the current policy, presets, "
                                           "ablations, a magnitude grid) with the evaluate model on the validation "
                                           "split, never the test split, within tune.time_budget_seconds; recommend "
                                           "the best that beats no augmentation beyond the spread, or none. Needs the "
                                           "explore and bias stages' outputs. params.yaml changes only with --accept.")
    tune.add_argument("--accept", action="store_true", help="write the recommended policy into augment.policy")
    tune.add_argument("--queue", type=int, default=0, metavar="N",
                      help="queue the N best candidates as DVC experiments tune-1..tune-N (dvc queue start runs them)")
    tune.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a param for this search, e.g. --set tune.repeats=3 (repeatable)")
    serve = commands.add_parser("serve", help="serve the scheduled pipeline (a Prefect deployment) from this process",
                                description="Create the Prefect deployment augmill-scheduled/dataset-version with a cron "
                                            "schedule (or schedule.interval_seconds) and run its flow runs from this "
                                            "process, one at a time, until stopped (Ctrl-C or SIGTERM). Each run "
                                            "reproduces the pipeline and, when dvc.lock or a tracked report changed, "
                                            "commits the new dataset version (optionally tagged and pushed to the DVC "
                                            "remote: params.yaml schedule:). With PREFECT_API_URL set it registers on "
                                            "that Prefect server, whose scheduler creates the runs; without, it starts a "
                                            "local Prefect server with its scheduler and UI (database and log in "
                                            ".augmill/prefect/), prints its address, and stops it on the way out.")
    serve.add_argument("--cron", default=None, metavar="CRON",
                       help="when to run, e.g. \"0 3 * * *\" (03:00 daily; default: schedule.cron in params.yaml), "
                            "read in schedule.timezone")
    verify = commands.add_parser("verify", help="recompute a committed dataset version from scratch and compare",
                                 description="Check out REV in a temporary git worktree, run the whole pipeline there "
                                             "with no memo and no DVC cache, and compare the output hashes with REV's "
                                             "dvc.lock: print 'byte-identical' (exit 0) or each output that differs and "
                                             "what differs between REV's recorded environment and this one (exit 1).")
    verify.add_argument("rev", nargs="?", default="HEAD", metavar="REV", help="a git commit, tag or branch (default HEAD)")
    export = commands.add_parser("export", help="write the dataset version as imagefolder, hf, csv or parquet",
                                 description="Write data/final (or REV's) to --out, a folder outside the DVC outputs, in a "
                                             "format its ecosystem reads (imagefolder: torchvision / HF imagefolder; hf: "
                                             "datasets.load_from_disk; csv, parquet: pandas), with manifest.parquet.")
    export.add_argument("--format", required=True, choices=("imagefolder", "hf", "csv", "parquet"))
    export.add_argument("--out", required=True, help="a new folder outside data/")
    export.add_argument("--split", action="append", choices=("train", "val", "test"), help="only this split (repeatable)")
    export.add_argument("--origin", action="append", choices=("original", "augmented", "synthetic"),
                        help="only this origin (repeatable)")
    export.add_argument("--rev", default=None, help="a git revision: read that dataset version through dvc.api")
    commands.add_parser("environment", help="print this machine's environment as a dataset version records it",
                        description="Print Python, the libraries that touch the bytes, their codecs and the CPU features "
                                    "as JSON: what `augmill run` writes to reports/environment.json when it records a new "
                                    "version (after `dvc repro`: augmill environment > reports/environment.json).")
    return parser


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()  # a run's time is reported from here, Prefect's start-up included
    args = build_parser().parse_args(argv)
    _quiet_offline_prefect()
    _arrow_returns_memory()
    if args.command == "init":
        return _user_errors_in_one_line(lambda: _run_init(args), args.verbose)
    # `run` needs a Prefect API: a temporary server takes ~6 s to come up, so it starts first and
    # comes up while params are checked and Prefect and DVC are imported (stopped if anything fails).
    api = prefect_api.start_unless_configured() if args.command == "run" else None
    try:
        from augmill.tasks.params_load import load_params  # ~0.3 s (pydantic): after the server starts
    except BaseException:
        if api is not None:
            api.stop()
        raise
    try:
        if args.command == "verify":  # REV's params, not this workspace's, are the ones recomputed
            from augmill.flows.verify import verify

            return verify(args.rev)
        if args.command == "export":  # reads a version; needs no params
            import json

            from augmill.tasks.export import export

            print(json.dumps(export(".", args.out, args.format, split=args.split, origin=args.origin, rev=args.rev)))
            return 0
        if args.command == "environment":
            import json

            from augmill.tasks.environment import gather

            print(json.dumps(gather(), indent=2, ensure_ascii=False))  # the bytes augmill run writes
            return 0
        # Refuse a bad params.yaml before any work.
        params = load_params(Path(args.params), getattr(args, "overrides", []))
        if args.command == "check":
            print(f"{args.params}: ok")
            return 0
        if args.command == "preview":
            from augmill.tasks.preview import run as run_preview

            print(run_preview(params, args.n))
            return 0
        if args.command == "serve":
            cron = _checked_cron(args.cron)  # before importing Prefect (seconds)
            # Until Prefect's runner takes SIGTERM over: leave through `finally`, which stops the server.
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
            # Without a configured API, a local Prefect server with its scheduler (Prefect's temporary
            # one has none: the schedule would never fire), coming up while Prefect is imported.
            api = prefect_api.start_server_unless_configured(prefect_api.PROJECT_SERVER_HOME)
            try:
                from augmill.flows.deploy import serve

                return serve(params, cron, api=api)
            except KeyboardInterrupt:  # Ctrl-C before Prefect's runner took over (it handles its own)
                print("augmill: stopped", file=sys.stderr)
                return 130
        from augmill.flows.workspace_lock import workspace_lock

        if args.command == "tune":
            from augmill.flows.tune import run as run_tune

            with workspace_lock("tune"):
                return run_tune(Path(args.params), args.overrides, args.accept, args.queue)
        if args.command in ("report", "review"):
            with workspace_lock(args.command):
                return _run_report(params) if args.command == "report" else _run_review(args, params)
        if args.command == "stage":
            from augmill.flows.stages import run_stage

            with workspace_lock(f"stage {args.name}"):
                run_stage(args.name, params)
            return 0
        with workspace_lock("run"):
            return _run_pipeline(args, params, api, started)
    except Exception as error:
        if not _for_the_user(error):
            raise  # a crash in augmill's own code: its traceback is shown
        _print_user_error(error, args.verbose)
        return 1
    finally:
        if api is not None:
            api.stop()


def _stage_prefix(error: BaseException) -> str:
    """ "stage augment: " when the error came out of a stage (flows.stages notes which), else ""."""
    from augmill.flows.stages import stage_of

    stage = stage_of(error)
    return f"stage {stage}: " if stage else ""
def _for_the_user(error: BaseException) -> bool:
    """One line, not a traceback: an error augmill raises for the user (flows.errors), or a
    library's error out of a stage (a whole-run failure: the line names the stage). A bug in
    augmill's own code (its innermost frame ours, not a user error) keeps its traceback."""
    from augmill.flows.errors import is_user_error, raised_by_augmill

    return is_user_error(error) or (bool(_stage_prefix(error)) and not raised_by_augmill(error))


def _print_user_error(error: BaseException, verbose: bool) -> None:
    from augmill.flows.errors import USER_ERROR_KINDS, one_line

    if verbose:
        import traceback

        traceback.print_exception(error)
    kind = "" if isinstance(error, USER_ERROR_KINDS) else f"{type(error).__name__}: "  # a library's own type
    message = one_line(error)
    stage = _stage_prefix(error)
    if stage and message.startswith(stage.removeprefix("stage ")):  # "explore: ..." names its stage already
        stage = ""
    print(f"augmill: error: {stage}{kind}{message}", file=sys.stderr)


def _user_errors_in_one_line(command, verbose: bool) -> int:
    try:
        return command()
    except Exception as error:
        if not _for_the_user(error):
            raise
        _print_user_error(error, verbose)
        return 1


def _run_init(args) -> int:
    import os

    from augmill.flows.init import init

    workers = max(1, min(4, os.cpu_count() or 1))
    for line in init(Path(args.path), Path("."), args.force, args.label_column, args.text_column, workers):
        print(line)
    return 0


def _run_report(params) -> int:
    from augmill.tasks.report import build_report

    print(build_report(params))
    return 0


def _run_review(args, params) -> int:
    from augmill.tasks.review import run_command

    return run_command(args.action, args.target, args.note, args.reviewer, params.data.modality, args.label)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _checked_cron(cron: str | None) -> str | None:
    from augmill.tasks.params import ParamsError, check_cron

    try:
        return None if cron is None else check_cron(cron)
    except ValueError as error:
        raise ParamsError(f"--cron: {error}") from None


def _run_pipeline(args, params, api, started: float) -> int:
    from augmill.flows import dvc_state
    from augmill.flows.pipeline import pipeline

    if not args.verbose:
        from augmill.flows.errors import hide_user_error_tracebacks

        hide_user_error_tracebacks()

    from augmill.flows.executors import pipeline_task_runner

    runner = pipeline_task_runner(params)
    stale = None
    if not args.force and dvc_state.records_version(args.params, args.overrides):
        stale = dvc_state.stale_stages(dvc_state.open_repo())  # while Prefect's server comes up
        if not stale:  # as `dvc repro`: nothing to run, so no flow run and no wait for a server
            print("augmill: every stage is up to date (dvc status): "
                  + ", ".join(f"{name} skipped" for name in dvc_state.declared_stages(STAGE_NAMES)))
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
