"""The stage table: one name, one function. `augmill stage NAME` (what dvc.yaml
calls) and the Prefect flow both run stages from here, so no stage logic is
written twice. Each stage's module is imported when it runs: a `dvc repro` stage
is a process of its own and should not pay for the others' imports."""

from __future__ import annotations

import importlib
import shutil
import threading

# dvc.yaml's order (a test checks it).
STAGE_NAMES = ("prepare", "explore", "bias", "synthesize", "augment", "validate", "merge", "evaluate")

# What a stage imports inside its functions, beyond its module (measured after Prefect and DVC:
# Great Expectations 4.6 s, scikit-learn 1.6 s, tasks.explore/merge/evaluate ~0.7 s each).
LAZY_IMPORTS = {"bias": ("tasks.label_issues", "cleanlab.filter", "cleanlab.rank", "cleanlab.outlier",
                         "sklearn.model_selection", "sklearn.linear_model", "sklearn.pipeline", "sklearn.preprocessing",
                         "sklearn.feature_extraction.text"),  # the label check (cleanlab ~1.2 s on top of sklearn)
                "validate": ("tasks.gx_validation", "great_expectations"),
                "evaluate": ("sklearn.linear_model", "sklearn.metrics", "sklearn.preprocessing", "sklearn.pipeline",
                             "sklearn.exceptions", "sklearn.feature_extraction.text")}


def preload(stages) -> threading.Thread:
    """Import the modules of ``stages`` on a thread: `augmill run` does this while Prefect's
    temporary server comes up (~6 s with this process idle), so the stages start with them loaded."""

    def import_all() -> None:
        for name in stages:
            for module in (f"tasks.{name}", *LAZY_IMPORTS.get(name, ())):
                try:
                    importlib.import_module(module)
                except Exception:  # noqa: BLE001 - the stage imports it again and reports the error itself
                    pass

    thread = threading.Thread(target=import_all, name="augmill-preload", daemon=True)
    thread.start()
    return thread


def run_stage(name: str, params, mapper=None) -> object:
    if name not in STAGE_NAMES:
        raise KeyError(f"unknown stage {name!r}; stages: {list(STAGE_NAMES)}")
    from tasks import paths
    from tasks.io import SCRATCH

    # Leftovers of a killed run (never inside an output); the caller holds the workspace lock.
    shutil.rmtree(SCRATCH, ignore_errors=True)
    module = importlib.import_module(f"tasks.{name}")
    if name == "prepare":
        # Always data/raw, never data.raw_dir: a user's own dataset is not an output of this stage.
        return {"written": module.write_demo(params, paths.DEMO_RAW)}
    if name == "augment":
        return module.run(params, mapper)  # augment's shards go to the flow's task runner
    return module.run(params)
