"""Incremental-run benchmark (#24): a full `augmill run` on N generated 256x256 JPEGs (the
standard policy of benchmarks/augment_images.py, the memo on), then 1 % new images and
`augmill run` again. Prints, side by side, each stage's time in the full and in the incremental
run, what lies outside the stages (Prefect's server, `dvc status`, `dvc commit`), the
incremental share of the full run, and the peak memory (max RSS of the largest process) of each.
Then the bookkeeping pieces on the project as it is after the incremental run, each timed alone:
`dvc status` (DVC hashing the raw folder and every output) and `dvc commit` of the whole graph.

With --stages-alone, then the memory-bound stages once more, each alone (`augmill stage NAME`, the
memo warm), with each one's peak RSS: what a stage costs without `augmill run`'s own process around it.

Run by hand, from the project root, on an otherwise idle machine (memory figures do not depend on
the load, times do):

    PYTHONPATH=. .venv/bin/python benchmarks/incremental_run.py --n 2000
    PYTHONPATH=. .venv/bin/python benchmarks/incremental_run.py --n 20000 --workers 2
    PYTHONPATH=. .venv/bin/python benchmarks/incremental_run.py --n 20000 --stages-alone --keep /tmp/p20k
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.augment_images import make_jpegs, new_project, sh

# The run's wall time, CPU time (user + system, all its processes: less sensitive than the wall time to other
# work on a shared machine) and the largest process's peak RSS (KiB on Linux), from a parent that only waits.
MEASURED_RUN = ("import resource, subprocess, sys, time; started = time.perf_counter(); "
                "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "print(done.stdout); print(done.stderr, file=sys.stderr); "
                "print('WALL', time.perf_counter() - started); "
                "usage = resource.getrusage(resource.RUSAGE_CHILDREN); print('CPU', usage.ru_utime + usage.ru_stime); "
                "print('MAXRSS', usage.ru_maxrss); sys.exit(done.returncode)")

BOOKKEEPING = """
import json, time
from dvc.repo import Repo
started = time.perf_counter(); repo = Repo('.'); opened = time.perf_counter() - started
started = time.perf_counter(); stale = repo.status(); status = time.perf_counter() - started
started = time.perf_counter(); repo.commit(None, force=True, relink=False); commit = time.perf_counter() - started
print(json.dumps({'dvc_open_s': round(opened, 2), 'dvc_status_s': round(status, 2), 'stale': sorted(stale),
                  'dvc_commit_all_s': round(commit, 2)}))
"""


def measured_run(project: Path, command: list[str]) -> dict:
    output = sh([sys.executable, "-c", MEASURED_RUN, *command], project).stdout
    lines = output.splitlines()
    wall = float(next(line for line in lines if line.startswith("WALL")).split()[1])
    peak = int(next(line for line in lines if line.startswith("MAXRSS")).split()[1]) / 1024
    cpu = float(next(line for line in lines if line.startswith("CPU")).split()[1])
    finished = next(line for line in lines if "pipeline finished in" in line)
    stages = {}
    for part in finished.split(": ", 2)[2].split(", "):
        name, state = part.split(" ", 1)
        stages[name] = float(state.split("ran in ")[1].rstrip("s")) if "ran in " in state else None
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak, "stages": stages}


ALONE = ("explore", "bias", "validate", "merge", "evaluate")


def stage_alone(project: Path, name: str) -> dict:
    """One stage run alone (`augmill stage NAME`): its wall time and peak RSS."""
    lines = sh([sys.executable, "-c", MEASURED_RUN, "augmill", "stage", name], project).stdout.splitlines()
    wall = float(next(line for line in lines if line.startswith("WALL")).split()[1])
    peak = int(next(line for line in lines if line.startswith("MAXRSS")).split()[1]) / 1024
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(peak)}


def table(full: dict, incremental: dict) -> str:
    rows = [f"{'stage':<22}{'full s':>10}{'+1 % s':>10}{'share':>8}"]

    def row(name: str, a: float | None, b: float | None) -> None:
        share = f"{b / a:8.2f}" if a and b is not None else f"{'':>8}"
        rows.append(f"{name:<22}{'skipped' if a is None else f'{a:.1f}':>10}{'skipped' if b is None else f'{b:.1f}':>10}"
                    f"{share}")

    for name in full["stages"]:
        row(name, full["stages"][name], incremental["stages"].get(name))
    outside = [run["wall_s"] - sum(s for s in run["stages"].values() if s) for run in (full, incremental)]
    row("outside the stages", *outside)
    row("augmill run (wall)", full["wall_s"], incremental["wall_s"])
    row("CPU s, all processes", full["cpu_s"], incremental["cpu_s"])
    rows.append(f"{'peak RSS, MB':<22}{full['peak_rss_mb']:>10.0f}{incremental['peak_rss_mb']:>10.0f}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="images in the full run")
    parser.add_argument("--workers", type=int, default=1, help="execution.workers")
    parser.add_argument("--keep", type=Path, help="keep the project in this folder (else a temporary one)")
    parser.add_argument("--stages-alone", action="store_true",
                        help=f"then run {', '.join(ALONE)} each alone and report its peak RSS")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="augmill-incremental-") as tmp:
        root = args.keep or Path(tmp) / "project"
        if root.exists():
            shutil.rmtree(root)
        print(f"generating {args.n} 256x256 JPEGs ...", flush=True)
        project = new_project(root, args.n, workers=args.workers, cache=True, mostly_train=False)
        full = measured_run(project, ["augmill", "run"])
        make_jpegs(project / "data/user", max(1, args.n // 100), start=args.n)
        incremental = measured_run(project, ["augmill", "run"])
        bookkeeping = json.loads(sh([sys.executable, "-c", BOOKKEEPING], project).stdout.splitlines()[-1])
        alone = {name: stage_alone(project, name) for name in ALONE} if args.stages_alone else {}
    print(f"\n{args.n} images + {max(1, args.n // 100)}, execution.workers={args.workers}, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, load average before: {load:.1f}")
    print(table(full, incremental))
    print(f"incremental share of the full run: {incremental['wall_s'] / full['wall_s']:.3f} (wall), "
          f"{incremental['cpu_s'] / full['cpu_s']:.3f} (CPU)")
    print("bookkeeping alone, after the incremental run (nothing stale):", json.dumps(bookkeeping))
    for name, figures in alone.items():
        print(f"augmill stage {name:<10} alone: {figures['peak_rss_mb']:>5} MB peak RSS, {figures['wall_s']:.1f} s")
    print(json.dumps({"images": args.n, "workers": args.workers, "full": full, "incremental": incremental,
                      "bookkeeping": bookkeeping, "stages_alone": alone}))


if __name__ == "__main__":
    main()
