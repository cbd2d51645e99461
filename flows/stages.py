"""The stage table: one name, one function. `augmill stage NAME` (what dvc.yaml
calls) and the Prefect flow both run stages from here, so no stage logic is
written twice. Each stage's module is imported when it runs: a `dvc repro` stage
is a process of its own and should not pay for the others' imports."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import threading
from pathlib import Path

# OpenBLAS (numpy's, scipy's, OpenCV's) picks its kernels by CPU (SkylakeX, Haswell, Zen...) and
# they round differently: the tabular gaussian_copula's rows (a matrix product, Cholesky, eigh)
# differed in the last bits between this machine's SkylakeX kernels and the Nehalem ones. Every
# stage uses the Nehalem kernels, which run on every CPU numpy 2 runs on (x86-64-v2), whatever
# the environment says. Set before OpenBLAS loads: flows.cli imports this module before numpy.
OPENBLAS_KERNELS = "Nehalem"
os.environ["OPENBLAS_CORETYPE"] = OPENBLAS_KERNELS

# What a stage imports inside its functions, beyond its module (measured after Prefect and DVC:
# Great Expectations 4.6 s, scikit-learn 1.6 s, tasks.explore/merge/evaluate ~0.7 s each).
LAZY_IMPORTS = {"bias": ("augmill.tasks.label_issues", "cleanlab.filter", "cleanlab.rank", "cleanlab.outlier",
                         "sklearn.model_selection", "sklearn.linear_model", "sklearn.pipeline", "sklearn.preprocessing",
                         "sklearn.feature_extraction.text"),  # the label check (cleanlab ~1.2 s on top of sklearn)
                "augment": ("augmill.tasks.tune_search",),  # augment.policy: auto
                "validate": ("augmill.tasks.gx_validation", "great_expectations"),
                "evaluate": ("sklearn.linear_model", "sklearn.metrics", "sklearn.preprocessing", "sklearn.pipeline",
                             "sklearn.exceptions", "sklearn.feature_extraction.text",
                             "PIL.ImageEnhance", "PIL.ImageStat")}  # object crops (data.targets) through the image ops


def preload(stages) -> threading.Thread:
    """Import the modules of ``stages`` on a thread: `augmill run` does this while Prefect's
    temporary server comes up (~6 s with this process idle), so the stages start with them loaded."""

    def import_all() -> None:
        for name in stages:
            for module in (module_of(name), *LAZY_IMPORTS.get(name, ())):
                try:
                    importlib.import_module(module)
                except Exception:  # noqa: BLE001 - the stage imports it again and reports the error itself
                    pass

    thread = threading.Thread(target=import_all, name="augmill-preload", daemon=True)
    thread.start()
    return thread


def _prepare(module, params, mapper):
    from augmill.tasks import paths

    # Always data/raw, never data.raw_dir: a user's own dataset is not an output of this stage.
    return {"written": module.write_demo(params, paths.DEMO_RAW)}


def _alone(module, params, mapper):
    return module.run(params)


def _with_shards(module, params, mapper):
    """augment: its shards go to the flow's task runner (Prefect), else to params.execution's executor.
    `augment.policy: auto`: tune's search on the validation split chooses the policy first (LAZY_IMPORTS)."""
    from augmill.flows.executors import in_project, stage_mapper

    shard_mapper = in_project(mapper or stage_mapper(params.execution))
    params = importlib.import_module("augmill.tasks.tune_search").resolve_policy(params, shard_mapper)
    return module.run(params, shard_mapper)


def _with_workers(module, params, mapper):
    """bias's label-check folds and evaluate's repeats: one shared dataset, params.execution's workers."""
    from augmill.flows.executors import shared_mapper

    return module.run(params, shared_mapper(params.execution))


def _evaluate(module, params, mapper):
    result = _with_workers(module, params, mapper)
    from augmill.tasks.headline import write_headline

    write_headline()  # the headline figures (dvc.yaml's only metrics), from the full reports
    return result


# Stage name -> how it is run, in dvc.yaml's order (a test checks it).
RUNNERS = {"prepare": _prepare, "params": _alone, "explore": _alone, "bias": _with_workers, "synthesize": _alone,
           "augment": _with_shards, "validate": _alone, "merge": _alone, "evaluate": _evaluate}
STAGE_NAMES = tuple(RUNNERS)
# A stage's module is augmill.tasks.<name>, except where the name is taken (tasks/params.py: the schema).
MODULES = {"params": "augmill.tasks.stage_knobs"}


def module_of(name: str) -> str:
    return MODULES.get(name, f"augmill.tasks.{name}")


def run_stage(name: str, params, mapper=None) -> object:
    if name not in RUNNERS:
        raise KeyError(f"unknown stage {name!r}; stages: {list(STAGE_NAMES)}")
    from augmill.tasks.io import SCRATCH

    # Leftovers of a killed run (never inside an output); the caller holds the workspace lock.
    shutil.rmtree(SCRATCH, ignore_errors=True)
    try:
        module = importlib.import_module(module_of(name))
        if not os.environ.get(CHECK_KNOBS) or name == "params":  # (params hands out every knob)
            return RUNNERS[name](module, params, mapper)
        from augmill.tasks.params_base import reading_knobs

        with reading_knobs() as knobs:
            result = RUNNERS[name](module, params, mapper)
        check_knobs_declared(name, knobs)
        return result
    except Exception as error:
        error.add_note(f"{STAGE_NOTE}{name}")  # the CLI's one-line error names the stage (stage_of)
        raise
    finally:
        release_memory()


def release_memory() -> None:
    """Hand what a stage freed back to the system. `augmill run` runs every stage in one process,
    so what one stage leaves in the C heap (freed, but kept by malloc) would add to the next
    stage's peak (#24). A no-op where the C library has no ``malloc_trim`` (not glibc)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


# Tests set it: every stage then checks that the modality knobs it read are the ones its
# READ_BY declares (what the `params` stage hands it, so what DVC re-runs it for).
CHECK_KNOBS = "AUGMILL_CHECK_KNOBS"


def check_knobs_declared(stage: str, knobs: set[str]) -> None:
    from augmill.tasks.params import MODALITY_SECTIONS

    by_name = {section.NAME: section for section in MODALITY_SECTIONS}
    undeclared = sorted(knob for knob in knobs
                        if stage not in by_name[knob.split(".")[0]].READ_BY.get(knob.split(".", 1)[1], ()))
    log = Path(os.environ[CHECK_KNOBS])
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:  # the test reads what each stage read
        handle.write(json.dumps({"stage": stage, "read": sorted(knobs)}) + "\n")
    if undeclared:
        raise RuntimeError(f"stage {stage} read {undeclared}, which READ_BY does not give it: "
                           "add the stage to those knobs' READ_BY")


STAGE_NOTE = "augmill stage: "


def stage_of(error: BaseException) -> str | None:
    """The stage an exception came out of (run_stage notes it), or None."""
    notes = [n for n in getattr(error, "__notes__", []) if n.startswith(STAGE_NOTE)]
    return notes[-1][len(STAGE_NOTE):] if notes else None
