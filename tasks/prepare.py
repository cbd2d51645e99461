"""prepare: write the selected bundled demo (prepare.dataset) into data/raw.

data/raw is replaced whole, through a staging folder, so no stale file of an
earlier demo survives and a killed run leaves the previous data/raw intact.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from augmill.tasks.demos import get_demo
from augmill.tasks.params import Params


def write_demo(params: Params, target: Path) -> int:
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    written = 0
    if params.prepare.dataset != "none":
        demo = get_demo(params.prepare.dataset)
        if demo.MODALITY != params.data.modality:
            raise ValueError(f"prepare.dataset: {demo.NAME!r} is a {demo.MODALITY} demo but data.modality is "
                             f"{params.data.modality!r}; set both (see the README's modality sections)")
        written = demo.write(params, staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return written
