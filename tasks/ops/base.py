"""The operator contract shared by every modality: sample, then apply.

An operator is configured once from ``params.yaml`` (its ranges and probability),
then used in two steps, as in albumentations:

1. ``sample(rng, item) -> dict``: draws concrete, JSON-safe parameters
   (``{"angle": 12.7}``) from the caller's generator. All randomness lives here.
2. ``apply(item, **params) -> item``: deterministic. Replaying the recorded
   params on the source gives the same output, bit for bit.

Operators know nothing of Prefect, DVC or files: an item is an in-memory value
(a ``PIL.Image.Image`` for images, a ``str`` for text, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


class OperatorConfigError(ValueError):
    """A policy entry in params.yaml is invalid; the message names the key."""


@dataclass(frozen=True)
class Operator:
    """Base class. Subclasses are frozen dataclasses whose fields are the
    configurable ranges; ``p`` is the probability that the operator fires."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    p: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise OperatorConfigError(f"{self.name}.p must be within [0, 1], got {self.p}")
        self.validate()

    def validate(self) -> None:
        """Check the configured ranges; raise OperatorConfigError naming the field."""

    def sample(self, rng: np.random.Generator, item: Any) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, item: Any, **params: Any) -> Any:
        raise NotImplementedError


def check_range(op: str, field: str, value: Any, low: float, high: float) -> tuple[float, float]:
    """Validate a ``[min, max]`` pair that must lie within ``[low, high]``."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise OperatorConfigError(f"{op}.{field} must be a pair [min, max], got {value!r}") from None
    if not (low <= lo <= hi <= high):
        raise OperatorConfigError(
            f"{op}.{field} must satisfy {low} <= min <= max <= {high}, got [{lo}, {hi}]"
        )
    return lo, hi


class Preset:
    """A policy that picks its operators per sample, as RandAugment and TrivialAugment do.

    ``choose(rng, item)`` returns configured operators whose ranges are collapsed to the
    magnitude drawn; the policy runner then samples and applies each like any other, so the
    manifest records the concrete operators that fired, never the preset's name, and
    ``replay`` needs nothing new."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    p: float = 1.0  # a preset always fires: it is the whole policy

    def choose(self, rng: np.random.Generator, item: Any) -> list[Operator]:
        raise NotImplementedError
