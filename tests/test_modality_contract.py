"""Every registered modality implements the contract (tasks/modalities/contract.py): each required
hook present, each hook (required or optional) taking the parameters the contract declares, and
stage code reaching a modality only through declared hooks. A missing or misnamed hook fails here,
not in the middle of a user's run."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType

import pytest

from augmill.tasks.modalities import MODALITIES, contract, get_modality

ROOT = Path(__file__).resolve().parents[1]


def _declared(name: str):
    for cls in (contract.Modality, contract.OptionalHooks):
        if name in vars(cls) or name in vars(cls).get("__annotations__", {}):
            return cls, vars(cls).get(name)
    raise KeyError(name)


def problems(module: ModuleType) -> list[str]:
    found = [f"lacks {hook}" for hook in contract.REQUIRED_HOOKS if not hasattr(module, hook)]
    for hook in contract.REQUIRED_HOOKS + contract.OPTIONAL_HOOKS:
        if not hasattr(module, hook):
            continue
        value = getattr(module, hook)
        _, declared = _declared(hook)
        if declared is None:  # a constant
            if callable(value):
                found.append(f"{hook} is a function; the contract declares a constant")
            continue
        if not callable(value):
            found.append(f"{hook} is not a function")
            continue
        wanted = list(inspect.signature(declared).parameters)[1:]  # without self
        try:
            inspect.signature(value).bind(*wanted)
        except TypeError as error:
            found.append(f"{hook}{inspect.signature(value)} cannot take {tuple(wanted)}: {error}")
            continue
        given = list(inspect.signature(value).parameters)[:len(wanted)]
        if given != wanted:
            found.append(f"{hook} takes {given}, the contract says {wanted}")
    return found


@pytest.mark.parametrize("name", MODALITIES)
def test_each_modality_implements_the_contract(name):
    module = get_modality(name)
    assert problems(module) == []
    assert module.__name__ == f"augmill.tasks.modalities.{name}.modality"


def test_the_contract_declares_every_hook_once_with_defaults_for_the_optional_ones():
    assert not set(contract.REQUIRED_HOOKS) & set(contract.OPTIONAL_HOOKS)
    assert set(contract.OPTIONAL_HOOKS) == set(contract.OPTIONAL_DEFAULTS)
    assert {"read_raw", "augment_shard", "features", "SUITE_FILE", "finalize"} <= set(contract.REQUIRED_HOOKS)
    assert len(contract.REQUIRED_HOOKS) + len(contract.OPTIONAL_HOOKS) == 30  # #17: 24, REASON_CODES, CNN_INPUT, 3 for targets


def test_a_module_lacking_a_hook_or_misnaming_a_parameter_fails():
    """The check itself can fail: an image modality without finalize, and a features hook whose
    parameters are in another order."""
    image = get_modality("image")
    broken = ModuleType("broken")
    broken.__dict__.update({k: v for k, v in vars(image).items() if k != "finalize"})
    broken.features = lambda sources, augmented, params: None
    assert problems(broken) == ["lacks finalize",
                                "features takes ['sources', 'augmented', 'params'], the contract says "
                                "['augmented', 'sources', 'params']"]


def test_an_optional_hook_falls_back_to_its_default_and_an_unknown_name_is_refused():
    text = get_modality("text")
    assert contract.optional_hook(text, "make_shards") is None
    assert contract.optional_hook(get_modality("tabular"), "make_shards") is get_modality("tabular").make_shards
    assert contract.optional_hook(text, "FEATURES_PER_SAMPLE") is False
    assert contract.optional_hook(get_modality("image"), "FEATURES_PER_SAMPLE") is True
    with pytest.raises(KeyError, match="make_shard"):
        contract.optional_hook(text, "make_shard")


def _modality_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """Names read from a modality in stage code: ``modality.X``, ``get_modality(...).X`` and
    ``getattr(modality, "X", ...)``."""
    def is_modality(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id == "modality") or (
            isinstance(node, ast.Call) and getattr(node.func, "id", "") == "get_modality")

    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_modality(node.value):
            reads.append((node.lineno, node.attr))
        if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr" and node.args
                and is_modality(node.args[0])):
            reads.append((node.lineno, "getattr"))
    return reads


def test_stage_code_reaches_a_modality_only_through_declared_hooks():
    """Outside tasks/modalities/: required hooks as attributes, optional ones via optional_hook."""
    offenders = []
    for path in sorted((ROOT / "tasks").rglob("*.py")) + sorted((ROOT / "flows").rglob("*.py")):
        if "modalities" in path.relative_to(ROOT).parts:
            continue
        for line, name in _modality_reads(ast.parse(path.read_text(encoding="utf-8"))):
            if name not in contract.REQUIRED_HOOKS:
                offenders.append(f"{path.relative_to(ROOT)}:{line} {name}")
    assert offenders == []


def test_an_unknown_modality_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"data.modality: 'video' is not one of \['image', 'text', 'audio', 'tabular'\]"):
        get_modality("video")
