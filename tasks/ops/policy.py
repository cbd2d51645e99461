"""Build an ordered policy from params.yaml entries, run it, and replay it.

A policy entry is a mapping ``{"name": "rotate", "p": 0.5, "angle": [-15, 15]}``.
Running a policy records, for every operator that fired, ``{"name", "params"}``:
that list is the ``ops`` column of the manifest, and ``replay`` turns a source
and its ``ops`` back into the exact same output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from augmill.tasks.ops.base import Operator, OperatorConfigError, Preset
from augmill.tasks.ops.registry import (  # noqa: F401  (re-exported for the operator modules)
    REGISTRY,
    WORKING_FORMS,
    extra_operators_for,
    operators_for,
    register,
    register_extra,
)
from augmill.tasks.seeding import sample_seed, stable_hash  # noqa: F401  (re-exported: callers moved to tasks.seeding)


def _enter(modality: str, item: Any) -> tuple[Any, Callable[[Any], Any]]:
    enter = WORKING_FORMS.get(modality)
    return enter(item) if enter else (item, _unchanged)


def _unchanged(item: Any) -> Any:
    return item


def build_policy(entries: list[dict[str, Any]] | dict[str, Any], modality: str,
                 key: str = "augment.policy") -> list[Operator | Preset]:
    """Turn params entries into configured operators, refusing anything unknown. A mapping
    with a ``preset`` key (``{preset: randaugment, n: 2, m: 9}``) is a whole policy."""
    if isinstance(entries, dict):
        from augmill.tasks.ops.presets import build_preset

        return [build_preset(entries, modality, key)]
    available = operators_for(modality) | extra_operators_for(modality)
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


def run_policy(ops: list[Operator | Preset], rng: np.random.Generator, item: Any,
               draw_partner: Any = None, draw_params: Any = None) -> tuple[Any, list[dict]]:
    """Apply each operator with its probability; if none fired, apply one chosen
    at random so that no variant is a plain copy of its source. A preset fires the
    operators it chooses for this sample, each recorded as itself. A mixer (MixUp,
    CutMix) takes its partner from ``draw_partner`` (tasks.ops.mixing.partner_drawer).
    ``draw_params(op, rng, item)``, if given, draws each fired operator's params in place of
    ``op.sample`` (targets: a crop that keeps an object, tasks.modalities.image.ops_targets)."""
    records: list[dict] = []
    item, leave = _enter(ops[0].modality, item) if ops else (item, _unchanged)

    def fire(op: Operator | Preset, item: Any) -> Any:
        if getattr(op, "is_mixer", False):
            from augmill.tasks.ops.mixing import fire_mixer

            # A mixer works on the caller's form (a Pillow image), not the operators' arrays.
            mixed, record = fire_mixer(op, rng, leave(item), draw_partner)
            records.extend([record] if record else [])
            return _enter(op.modality, mixed)[0]
        for chosen in op.choose(rng, item) if isinstance(op, Preset) else (op,):
            params = draw_params(chosen, rng, item) if draw_params else chosen.sample(rng, item)
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


def replay(item: Any, records: list[dict], modality: str, load_partner: Any = None) -> Any:
    """Re-apply recorded operators: the proof that a row's lineage is complete. A mixer's
    partner comes from ``load_partner(source_id)`` (its item, loaded as the source was)."""
    available = operators_for(modality) | extra_operators_for(modality)
    item, leave = _enter(modality, item)
    for record in records:
        if getattr(available.get(record["name"]), "is_mixer", False):
            from augmill.tasks.ops.mixing import replay_mixer

            item = _enter(modality, replay_mixer(record["name"], leave(item), record["params"], load_partner))[0]
            continue
        cls = available[record["name"]]
        item = cls.__new__(cls).apply(item, **record["params"])
    return leave(item)
