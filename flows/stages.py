"""The stage table: one name, one function. `augmill stage NAME` (what dvc.yaml
calls) and the Prefect flow both run stages from here, so no stage logic is
written twice."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from tasks import augment, bias, evaluate, explore, merge, paths, prepare, synthesize, validate
from tasks.io import SCRATCH
from tasks.params import Params


def _prepare(params: Params, **_) -> dict:
    # Always data/raw, never data.raw_dir: a user's own dataset is not an output of this stage.
    return {"written": prepare.write_demo(params, paths.DEMO_RAW)}


STAGES: dict[str, Callable[..., object]] = {
    "prepare": _prepare,
    "explore": lambda params, **_: explore.run(params),
    "bias": lambda params, **_: bias.run(params),
    "synthesize": lambda params, **_: synthesize.run(params),
    "augment": lambda params, mapper=None: augment.run(params, mapper),
    "validate": lambda params, **_: validate.run(params),
    "merge": lambda params, **_: merge.run(params),
    "evaluate": lambda params, **_: evaluate.run(params),
}

def run_stage(name: str, params: Params, mapper=None) -> object:
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; stages: {list(STAGES)}")
    # Leftovers of a killed run (never inside an output); the caller holds the workspace lock.
    shutil.rmtree(SCRATCH, ignore_errors=True)
    return STAGES[name](params, mapper=mapper)
