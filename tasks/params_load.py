"""Reading params: the YAML file, ``--set`` overrides, the model's field checks (tasks.params), then
the checks across sections that need more than the model (the demo exists, the policy builds, the
modality accepts its section). A stage-level module: the params model itself imports no operator,
modality or demo."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from pydantic import ValidationError

from augmill.tasks.demos import available_demos
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.ops.base import OperatorConfigError
from augmill.tasks.ops.policy import build_policy
from augmill.tasks.params import PARAMS_FILE, Params, ParamsError


def load_params(path: Path = PARAMS_FILE, overrides: list[str] = ()) -> Params:
    """Read, override (``KEY=VALUE`` with a YAML value) and validate params."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the project root)") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: must be a mapping of sections, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides)
    return parse_params(raw, source=str(path))


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ParamsError(f"--set {override!r}: expected KEY=VALUE, e.g. augment.factor=3")
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"--set {key}: {part} is not a section")
        node[leaf] = yaml.safe_load(value)
    return raw


def _demo_problems(params: Params) -> list[str]:
    allowed = ["none", *available_demos()]
    name = params.prepare.dataset
    return [] if name in allowed else [f"prepare.dataset: unknown demo {name!r}; allowed: {allowed} (got {name!r})"]


def _modality_problems(params: Params) -> list[str]:
    """A modality may check its own section against the rest (e.g. keys it requires)."""
    if params.evaluate.model == "cnn" and params.data.modality not in ("image", "audio"):
        return [f"evaluate.model: cnn is for images and audio (log-mel); {params.data.modality} takes linear"]
    if params.data.targets != "none" and (params.data.modality != "image" or params.data.manifest_csv):
        return [f"data.targets: {params.data.targets} needs data.modality: image and no data.manifest_csv "
                "(the annotation files name the images)"]

    try:
        check = optional_hook(get_modality(params.data.modality), "check_params")
    except ValueError:
        return []  # a modality not available in this version: the explore stage says so
    return check(params) if check else []


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    try:
        params = Params.model_validate(raw)
        problems = _demo_problems(params)
        if problems:
            raise ParamsError(f"{source} is invalid:\n" + "\n".join(f"  {p}" for p in problems))
        if params.augment.policy != "auto":  # auto: the augment stage's search chooses (tasks/tune_search.py)
            build_policy(params.augment.policy, params.data.modality)
        if params.tune.base_policy is not None:
            build_policy(params.tune.base_policy, params.data.modality, key="tune.base_policy")
        problems = _modality_problems(params)
        if problems:
            raise ParamsError(f"{source} is invalid:\n" + "\n".join(f"  {p}" for p in problems))
        return params
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(p) for p in item["loc"]) or "(top level)"
            got = item.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key; check the spelling against the README's params table"
            problems.append(f"  {key}: {message}{shown}")
        raise ParamsError(f"{source} is invalid:\n" + "\n".join(problems)) from None
    except OperatorConfigError as error:
        raise ParamsError(f"{source} is invalid:\n  {error}") from None
