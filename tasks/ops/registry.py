"""The operators by name: each operator module registers its classes here when imported. Below
the policy and the presets (both look operators up here), so neither imports the other to do it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from augmill.tasks.ops.base import Operator

REGISTRY: dict[str, type[Operator]] = {}

# modality -> enter(item) -> (the item in the form its operators work on, the function giving the
# caller's form back). A policy enters once per sample, not once per operator: for images that is
# one Pillow <-> numpy copy each way instead of one per operator (tasks.modalities.image.ops.to_pixels).
WORKING_FORMS: dict[str, Callable[[Any], tuple[Any, Callable[[Any], Any]]]] = {}


def register(cls: type[Operator]) -> type[Operator]:
    """Class decorator: make an operator available to policies by its name."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} has no name")
    if cls.name in REGISTRY:
        raise TypeError(f"operator name {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls
    return cls


# Operators a policy takes that the one-item contract suite cannot run alone: mixers (their
# partner: tasks.ops.mixing) and model hooks (a user's local model folder: tasks.modalities.text.ops_paraphrase).
# Each has its own suite; they are built, run and replayed like the others.
EXTRA: dict[str, type[Operator]] = {}


def register_extra(cls: type[Operator]) -> type[Operator]:
    if cls.name in REGISTRY or cls.name in EXTRA:
        raise TypeError(f"operator name {cls.name!r} is registered twice")
    EXTRA[cls.name] = cls
    return cls


def extra_operators_for(modality: str) -> dict[str, type[Operator]]:
    """The extra operators of a modality (see EXTRA)."""
    _load_builtin_operators()
    return {name: cls for name, cls in EXTRA.items() if cls.modality == modality}


def operators_for(modality: str) -> dict[str, type[Operator]]:
    _load_builtin_operators()
    return {name: cls for name, cls in REGISTRY.items() if cls.modality == modality}



@functools.cache
def _load_builtin_operators() -> None:
    # Operators register when their module is imported: the shared ones in tasks/ops (mixing)
    # and each modality's own, tasks/modalities/<m>/ops*.py. Done lazily so that importing the
    # policy machinery is cheap, and once: listing the files took ~1 ms, and a preset asks on
    # every sample.
    import importlib
    import pkgutil

    from augmill.tasks import modalities, ops

    names = [f"augmill.tasks.ops.{info.name}" for info in pkgutil.iter_modules(ops.__path__)
             if info.name not in ("base", "policy", "presets", "registry")]
    for modality in modalities.MODALITIES:
        package = importlib.import_module(f"augmill.tasks.modalities.{modality}")
        names += [f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
                  if info.name == "ops" or info.name.startswith("ops_")]
    for name in names:
        importlib.import_module(name)
