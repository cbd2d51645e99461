"""Policy presets people start from, instead of a hand-written list of operators.

- ``{preset: randaugment, n: 2, m: 9}``: RandAugment (Cubuk et al., 2020): per sample,
  ``n`` operators drawn uniformly (with replacement) from 14, all at magnitude ``m`` of
  30, each signed operator turned either way with probability 1/2.
- ``{preset: trivialaugment}``: TrivialAugment Wide (Müller & Hutter, 2021): per sample,
  one operator drawn uniformly, at a magnitude drawn uniformly from 0..30.

The operator sets and magnitude scales are torchvision v2's (``_augmentation_space`` of
RandAugment and TrivialAugmentWide, 31 bins), so a policy tuned there means the same
here. Each sample's choice is expanded into the concrete operators that fired (tasks.ops.
base.Preset), so the manifest records e.g. ``rotate {angle: -8.0}``, and replay is plain.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from augmill.tasks.modalities.image.ops import image_size
from augmill.tasks.ops.base import Operator, OperatorConfigError, Preset
from augmill.tasks.ops.registry import operators_for

BINS = 31  # magnitudes 0..30, as torchvision's num_magnitude_bins


def _level(m: int, high: float, low: float = 0.0) -> float:
    """torchvision's ``torch.linspace(low, high, BINS)[m]``, rounded as recorded params are."""
    return round(low + (high - low) * m / (BINS - 1), 4)


def _enhance(top: float) -> Callable[[int, int, Any], dict]:
    return lambda m, sign, item: {"factor": (1.0 + sign * _level(m, top),) * 2}


def _shear(axis: str, top: float) -> Callable[[int, int, Any], dict]:
    def config(m: int, sign: int, item: Any) -> dict:
        degrees = round(math.degrees(math.atan(sign * _level(m, top))), 4)
        return _affine_only(**{f"shear_{axis}": degrees})

    return config


def _translate(axis: str, fraction_of_side: float | None = None, pixels: float | None = None):
    def config(m: int, sign: int, item: Any) -> dict:
        side = image_size(item)[0 if axis == "x" else 1]
        fraction = _level(m, fraction_of_side) if pixels is None else round(_level(m, pixels) / side, 4)
        return _affine_only(**{f"translate_{axis}": sign * min(fraction, 1.0)})

    return config


def _affine_only(**moves: float) -> dict:
    """An affine config that does exactly ``moves`` and nothing else."""
    fields = {"angle": 0.0, "translate_x": 0.0, "translate_y": 0.0, "scale": 1.0, "shear_x": 0.0, "shear_y": 0.0}
    return {field: (value, value) for field, value in (fields | moves).items()}


def _posterize(bits_lost: int) -> Callable[[int, int, Any], dict]:
    return lambda m, sign, item: {"bits": (8 - round(m / ((BINS - 1) / bits_lost)),) * 2}


# name -> (operator, signed, config(m, sign, item)); the 14 operators of each paper.
RANDAUGMENT = {
    "identity": ("identity", False, lambda m, sign, item: {}),
    "shear_x": ("affine", True, _shear("x", 0.3)),
    "shear_y": ("affine", True, _shear("y", 0.3)),
    "translate_x": ("affine", True, _translate("x", fraction_of_side=150 / 331)),
    "translate_y": ("affine", True, _translate("y", fraction_of_side=150 / 331)),
    "rotate": ("rotate", True, lambda m, sign, item: {"angle": (sign * _level(m, 30.0),) * 2}),
    "brightness": ("brightness", True, _enhance(0.9)),
    "color": ("saturation", True, _enhance(0.9)),
    "contrast": ("contrast", True, _enhance(0.9)),
    "sharpness": ("sharpness", True, _enhance(0.9)),
    "posterize": ("posterize", False, _posterize(4)),
    "solarize": ("solarize", False, lambda m, sign, item: {"threshold": (round(_level(m, 0.0, 255.0)),) * 2}),
    "autocontrast": ("autocontrast", False, lambda m, sign, item: {"cutoff": (0.0, 0.0)}),
    "equalize": ("equalize", False, lambda m, sign, item: {}),
}
TRIVIALAUGMENT = RANDAUGMENT | {
    "shear_x": ("affine", True, _shear("x", 0.99)),
    "shear_y": ("affine", True, _shear("y", 0.99)),
    "translate_x": ("affine", True, _translate("x", pixels=32.0)),
    "translate_y": ("affine", True, _translate("y", pixels=32.0)),
    "rotate": ("rotate", True, lambda m, sign, item: {"angle": (sign * _level(m, 135.0),) * 2}),
    "brightness": ("brightness", True, _enhance(0.99)),
    "color": ("saturation", True, _enhance(0.99)),
    "contrast": ("contrast", True, _enhance(0.99)),
    "sharpness": ("sharpness", True, _enhance(0.99)),
    "posterize": ("posterize", False, _posterize(6)),
}


@dataclass(frozen=True)
class RandomPick(Preset):
    """``n`` choices from ``table`` per sample, at magnitude ``m`` (None: drawn per choice)."""

    modality: ClassVar[str] = "image"
    table: dict
    n: int
    m: int | None
    name: str = ""

    def choose(self, rng: np.random.Generator, item: Any) -> list[Operator]:
        names, size = self._names, image_size(item)
        chosen = []
        for _ in range(self.n):
            name = names[int(rng.integers(len(names)))]
            m = self.m if self.m is not None else int(rng.integers(BINS))
            sign = -1 if self.table[name][1] and rng.random() < 0.5 else 1
            chosen.append(self._operator(name, m, sign, size, item))
        return chosen

    @functools.cached_property
    def _names(self) -> list[str]:
        return sorted(self.table)

    @functools.cached_property
    def _operators(self) -> dict[tuple, Operator]:
        return {}

    def _operator(self, name: str, m: int, sign: int, size: tuple[int, int], item: Any) -> Operator:
        """The configured operator for one choice. Operators are frozen, so one per choice serves every
        sample; a config reads nothing of the item but its size (translate's pixels), so the choice and
        the size are the key. Building and validating a new operator for each choice was ~0.1 ms a
        sample, and expanding the choice's config ~0.02 ms."""
        key = (name, m, sign, size)
        operator = self._operators.get(key)
        if operator is None:
            if len(self._operators) >= 4096:  # many image sizes: start again rather than grow
                self._operators.clear()
            operator_name, _, config = self.table[name]
            operator = operators_for("image")[operator_name](**config(m, sign, item))
            self._operators[key] = operator
        return operator


def build_preset(entry: dict[str, Any], modality: str, key: str = "augment.policy") -> Preset:
    """``{preset: randaugment, n: 2, m: 9}`` or ``{preset: trivialaugment}``, checked with messages naming the key."""
    presets = {"randaugment": ("n", "m"), "trivialaugment": ()}
    name = entry.get("preset")
    if name not in presets:
        raise OperatorConfigError(f"{key}.preset: {name!r} is not one of {sorted(presets)} "
                                  "(or give a list of operators)")
    if modality != "image":
        raise OperatorConfigError(f"{key}.preset: {name} is an image preset; {modality} takes a list of operators")
    unknown = sorted(set(entry) - {"preset", *presets[name]})
    if unknown:
        raise OperatorConfigError(f"{key} ({name}): unknown option(s) {unknown}; allowed: {['preset', *presets[name]]}")
    if name == "trivialaugment":
        return RandomPick(TRIVIALAUGMENT, n=1, m=None, name=name)
    n, m = entry.get("n", 2), entry.get("m", 9)
    for field, value, high in (("n", n, 14), ("m", m, BINS - 1)):
        if isinstance(value, bool) or not isinstance(value, int) or not (field == "m" or value >= 1) \
                or not 0 <= value <= high:
            raise OperatorConfigError(f"{key}.{field} must be an int in [{int(field == 'n')}, {high}], got {value!r}")
    return RandomPick(RANDAUGMENT, n=n, m=m, name=name)
