"""One subpackage per modality (image/, text/, audio/, tabular/), each holding its reading,
measures, operators (ops*.py), gallery and params, and a modality.py with the same hooks, so
the stage modules (explore, bias, augment, validate, merge) hold the shared logic only.

The contract a modality module implements (its required hooks, its optional hooks and their
defaults) is declared in one place, tasks/modalities/contract.py; tests/test_modality_contract.py
checks every modality against it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from augmill.tasks.modalities.contract import Modality

MODALITIES = ("image", "text", "audio", "tabular")


def get_modality(name: str) -> Modality:
    if name not in MODALITIES:
        raise ValueError(f"data.modality: {name!r} is not one of {list(MODALITIES)}")
    try:
        return importlib.import_module(f"augmill.tasks.modalities.{name}.modality")
    except ModuleNotFoundError as error:
        if error.name not in (f"augmill.tasks.modalities.{name}", f"augmill.tasks.modalities.{name}.modality"):
            raise
        raise ValueError(f"data.modality: {name!r} is not available in this version of augmill") from None
