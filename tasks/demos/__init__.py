"""Bundled demo datasets, one module each, found by name: a module here with
``NAME``, ``MODALITY`` and ``write(params, target: Path) -> int`` is a demo
`prepare.dataset` can select. Every demo comes from an installed package or
is generated locally: nothing is downloaded."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def _modules() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "write"):
            found[module.NAME] = module
    return found


def available_demos() -> list[str]:
    return sorted(_modules())


def get_demo(name: str) -> ModuleType:
    return _modules()[name]
