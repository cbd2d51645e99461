"""Bundled demo datasets, one module each, named after the demo: a module here
with ``NAME`` (its own module name), ``MODALITY`` and ``write(params, target: Path) -> int``
is a demo `prepare.dataset` can select. Every demo comes from an installed package
or is generated locally: nothing is downloaded."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def available_demos() -> list[str]:
    # Names only, without importing: params validation runs in every stage process, and
    # importing every demo (the audio one pulls in scipy.signal) cost ~2 s there.
    return sorted(info.name for info in pkgutil.iter_modules(__path__))


def get_demo(name: str) -> ModuleType:
    if name not in available_demos():
        raise KeyError(f"unknown demo {name!r}; demos: {available_demos()}")
    module = importlib.import_module(f"{__name__}.{name}")
    if getattr(module, "NAME", None) != name or not hasattr(module, "write"):
        raise TypeError(f"{module.__name__} is not a demo: it needs NAME = {name!r} and write(params, target)")
    return module
