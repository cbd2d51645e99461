"""`augmill tune [--accept] [--queue N]`: run the policy search of tasks/tune_search.py within its time
budget, write reports/tune.json, with --accept put the recommended policy into params.yaml, and with
--queue N queue the N best candidates as DVC experiments (`dvc exp show`, `dvc queue start`).

A command, not a DVC stage: it explores and proposes a change of params; the policy it
chooses becomes part of the versioned pipeline only once accepted into params.yaml (and
committed), where `dvc repro` and `augmill run` take it like any hand-written policy. (Or
`augment.policy: auto`: the augment stage runs the same search and uses its choice.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from augmill.flows.executors import local_mapper
from augmill.tasks import tune
from augmill.tasks.io import write_json
from augmill.tasks.params_load import load_params
from augmill.tasks.tune_queue import EXPERIMENT_PREFIX, best_candidates, experiment_command, experiment_names
from augmill.tasks.tune_search import search


def accept(policy, params_file: Path) -> None:
    """Write ``policy`` as augment.policy into params_file, keeping its comments (ruamel.yaml round trip);
    the file is checked before it replaces the old one."""
    import io

    from ruamel.yaml import YAML

    from augmill.tasks.io import write_bytes_atomic
    from augmill.tasks.params_load import parse_params

    round_trip = YAML()  # comments and key order stay
    round_trip.width = 4096
    document = round_trip.load(params_file.read_text(encoding="utf-8"))
    document["augment"]["policy"] = policy
    buffer = io.StringIO()
    round_trip.dump(document, buffer)
    parse_params(yaml.safe_load(buffer.getvalue()), source=str(params_file))
    write_bytes_atomic(params_file, buffer.getvalue().encode("utf-8"))


def _dvc(args: list[str]) -> str:
    result = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if result.returncode:
        detail = " ".join((result.stderr or result.stdout).split())
        raise SystemExit(f"augmill tune --queue: dvc {' '.join(args[:3])} failed: {detail}")
    return result.stdout


def check_queue_names(count: int) -> None:
    """Refuse before searching when tune-1..tune-<count> name experiments of this commit already: DVC would
    queue a second tune-1 and fail only when the queue runs it."""
    import json

    taken = sorted(experiment_names(json.loads(_dvc(["exp", "show", "--json"]))) &
                   {f"{EXPERIMENT_PREFIX}{rank}" for rank in range(1, count + 1)})
    if taken:
        raise SystemExit(f"augmill tune --queue: experiments {', '.join(taken)} exist already for this commit; "
                         "run or remove them first (dvc queue start / dvc queue remove, dvc exp remove)")


def queue_experiments(report: dict, count: int) -> None:
    """Queue the ``count`` best candidates as DVC experiments tune-1 .. tune-<count> (best first), each the
    whole pipeline with its augment.policy, so that the test split judges them in full when the user runs
    the queue (`dvc queue start`) and `dvc exp show` compares them with the workspace."""
    chosen = best_candidates(report, count)
    if not chosen:
        print("tune: --queue: no candidate ran every repeat against no augmentation; nothing queued")
    for rank, row in enumerate(chosen, start=1):
        name = f"{EXPERIMENT_PREFIX}{rank}"
        _dvc(experiment_command(row["policy"], name)[1:])
        print(f"tune: --queue: {name} = {row['name']!r} ({row['interval']['difference']:+.4f} on val)")
    if chosen:
        print("tune: --queue: `dvc queue start` runs them, `dvc exp show` compares them")


def run(params_file: Path, overrides: list[str], accept_choice: bool, queue: int = 0) -> int:
    if queue < 0:
        raise SystemExit(f"augmill tune --queue: N must be 0 or more, got {queue}")
    params = load_params(params_file, overrides)
    if queue:
        check_queue_names(queue)
    report = search(params, local_mapper(params.execution.workers))
    write_json(tune.REPORT, report)
    for row in report["candidates"]:
        interval = row.get("interval")
        versus = (f"{interval['difference']:+.4f} [{interval['low']:+.4f}, {interval['high']:+.4f}] "
                  f"{interval['verdict']}") if interval else "(the reference)"
        score = row.get("score")
        shown = f"{score['mean']:.4f} ± {score['std']:.4f}" if score else "-"
        print(f"tune: {row['name']:<32} {shown:<18} {versus:<48} {row['status']}")
    print(f"tune: {report['statement']} ({report['seconds']:.1f}s; {tune.REPORT})")
    from augmill.tasks.report import build_report

    build_report(params)  # its policy-search section
    if accept_choice:
        if report["recommended"] is None:
            print(f"tune: --accept: nothing to accept; {params_file} is unchanged")
        else:
            accept(report["recommended"]["policy"], params_file)
            print(f"tune: --accept: augment.policy in {params_file} is now {report['recommended']['name']!r}; "
                  "`augmill run` (or dvc repro) makes the dataset version with it")
    if queue:
        queue_experiments(report, queue)
    return 0
