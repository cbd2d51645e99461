"""Build an ordered policy from params.yaml entries, run it, and replay it.

A policy entry is a mapping ``{"name": "rotate", "p": 0.5, "angle": [-15, 15]}``.
Running a policy records, for every operator that fired, ``{"name", "params"}``:
that list is the ``ops`` column of the manifest, and ``replay`` turns a source
and its ``ops`` back into the exact same output.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from tasks.ops.base import Operator, OperatorConfigError, Preset

REGISTRY: dict[str, type[Operator]] = {}

# modality -> enter(item) -> (the item in the form its operators work on, the function giving the
# caller's form back). A policy enters once per sample, not once per operator: for images that is
# one Pillow <-> numpy copy each way instead of one per operator (tasks.ops.image.to_pixels).
WORKING_FORMS: dict[str, Callable[[Any], tuple[Any, Callable[[Any], Any]]]] = {}


def _enter(modality: str, item: Any) -> tuple[Any, Callable[[Any], Any]]:
    enter = WORKING_FORMS.get(modality)
    return enter(item) if enter else (item, _unchanged)


def _unchanged(item: Any) -> Any:
    return item


def register(cls: type[Operator]) -> type[Operator]:
    """Class decorator: make an operator available to policies by its name."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} has no name")
    if cls.name in REGISTRY:
        raise TypeError(f"operator name {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls
    return cls


def operators_for(modality: str) -> dict[str, type[Operator]]:
    _load_builtin_operators()
    return {name: cls for name, cls in REGISTRY.items() if cls.modality == modality}


def build_policy(entries: list[dict[str, Any]] | dict[str, Any], modality: str,
                 key: str = "augment.policy") -> list[Operator | Preset]:
    """Turn params entries into configured operators, refusing anything unknown. A mapping
    with a ``preset`` key (``{preset: randaugment, n: 2, m: 9}``) is a whole policy."""
    if isinstance(entries, dict):
        from tasks.ops.presets import build_preset

        return [build_preset(entries, modality, key)]
    available = operators_for(modality)
    if not entries:
        raise OperatorConfigError(f"{key} is empty: list at least one operator of {sorted(available)}")
    ops = []
    for index, entry in enumerate(entries):
        where = f"{key}[{index}]"
        if not isinstance(entry, dict) or "name" not in entry:
            raise OperatorConfigError(f"{where} must be a mapping with a 'name', got {entry!r}")
        config = dict(entry)
        name = config.pop("name")
        if not isinstance(name, str):
            raise OperatorConfigError(f"{where}.name must be a string, one of {sorted(available)}; got {name!r}")
        if name not in available:
            raise OperatorConfigError(
                f"{where}.name: unknown {modality} operator {name!r}; allowed: {sorted(available)}"
            )
        cls = available[name]
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise OperatorConfigError(
                f"{where} ({name}): unknown option(s) {unknown}; allowed: {sorted(fields)}"
            )
        try:
            ops.append(cls(**config))
        except OperatorConfigError as error:
            raise OperatorConfigError(f"{where}: {error}") from None
        except (TypeError, ValueError) as error:
            raise OperatorConfigError(f"{where} ({name}): {error}") from None
    return ops


def stable_hash(text: str) -> int:
    """A process-independent 64-bit hash (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def sample_seed(seed: int, source_id: str, variant: int) -> int:
    """The seed of one augmented sample's own generator (63 bits, fits Parquet int64).

    Derived from the run's seed, the source and the variant number only, so the
    output does not depend on worker count, shard size or order, and one sample
    can be recomputed alone.
    """
    state = np.random.SeedSequence([seed, stable_hash(source_id), variant]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def run_policy(ops: list[Operator | Preset], rng: np.random.Generator, item: Any) -> tuple[Any, list[dict]]:
    """Apply each operator with its probability; if none fired, apply one chosen
    at random so that no variant is a plain copy of its source. A preset fires the
    operators it chooses for this sample, each recorded as itself."""
    records: list[dict] = []
    item, leave = _enter(ops[0].modality, item) if ops else (item, _unchanged)

    def fire(op: Operator | Preset, item: Any) -> Any:
        for chosen in op.choose(rng, item) if isinstance(op, Preset) else (op,):
            params = chosen.sample(rng, item)
            item = chosen.apply(item, **params)
            records.append({"name": chosen.name, "params": params})
        return item

    source = item
    for op in ops:
        if rng.random() < op.p:
            item = fire(op, item)
    if not records:
        item = fire(ops[int(rng.integers(len(ops)))], source)
    return leave(item), records


def replay(item: Any, records: list[dict], modality: str) -> Any:
    """Re-apply recorded operators: the proof that a row's lineage is complete."""
    available = operators_for(modality)
    item, leave = _enter(modality, item)
    for record in records:
        cls = available[record["name"]]
        item = cls.__new__(cls).apply(item, **record["params"])
    return leave(item)


@functools.cache
def _load_builtin_operators() -> None:
    # Every module in tasks/ops registers its operators when imported (one module
    # per modality); done lazily so that importing the policy machinery is cheap, and
    # once: listing the package's files took ~1 ms, and a preset asks on every sample.
    import importlib
    import pkgutil

    import tasks.ops

    for info in pkgutil.iter_modules(tasks.ops.__path__):
        if info.name not in ("base", "policy", "presets"):
            importlib.import_module(f"tasks.ops.{info.name}")
