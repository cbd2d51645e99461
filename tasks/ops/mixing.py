"""MixUp and CutMix: a variant made from two train sources, labelled softly.

- ``mixup`` (Zhang et al. 2018): ``weight * source + (1 - weight) * partner``, pixel by
  pixel, with ``weight ~ Beta(alpha, alpha)``.
- ``cutmix`` (Yun et al. 2019): a box of the partner pasted into the source; the box's
  side is ``sqrt(1 - lambda)`` of the image's, ``lambda ~ Beta(alpha, alpha)``, and the
  recorded ``weight`` is the share of the source's pixels left (the box clipped to the frame).

The partner is another train source (the augment stage's pool: train, readable, not held
out, not a suspected label error), drawn by the sample's own generator and resized to the
variant's size. A mixer records ``partner`` (its source_id), ``partner_label`` and
``weight``, so lineage names both sources, replay loads both, and the soft label is
``{label: weight, partner_label: 1 - weight}`` (merge writes it as the final manifest's
``soft_label`` column). The row's ``label`` stays its source's.

Mixers are not in the operator REGISTRY but in its EXTRA: their ``apply`` takes a partner,
which the one-item operator contract (and its suite) cannot give; tests/test_ops_mixing.py
is theirs. ``tasks.ops.policy`` runs and replays them with a partner provider.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from augmill.tasks.ops.base import Operator, OperatorConfigError
from augmill.tasks.ops.registry import register_extra

MIXERS: dict[str, type[Mixer]] = {}


def mixes_sources(policy: Any) -> bool:
    """Whether a policy (params' augment.policy) has a mixer, whose partner is any train source."""
    return isinstance(policy, list) and any(isinstance(entry, dict) and entry.get("name") in MIXERS
                                            for entry in policy)
# (source_id, label, item) of a partner drawn with the sample's generator; None: no other train source.
PartnerDraw = Callable[[np.random.Generator], "tuple[str, str, Any] | None"]
# The item of a partner named in a recorded mixer, for replay.
PartnerLoader = Callable[[str], Any]


class NoPartner(ValueError):
    """A mixer fired where no partner can be drawn (e.g. a transform applied on the fly)."""


def _register(cls: type[Mixer]) -> type[Mixer]:
    MIXERS[cls.name] = cls
    return register_extra(cls)


@dataclass(frozen=True)
class Mixer(Operator):
    """``alpha``: the Beta(alpha, alpha) of the mixing weight (small: mostly one source)."""

    is_mixer: ClassVar[bool] = True
    modality = "image"
    alpha: float = 1.0

    def validate(self) -> None:
        try:
            alpha = float(self.alpha)
        except (TypeError, ValueError):
            raise OperatorConfigError(f"{self.name}.alpha must be a number > 0, got {self.alpha!r}") from None
        if not 0.0 < alpha <= 100.0:
            raise OperatorConfigError(f"{self.name}.alpha must satisfy 0 < alpha <= 100, got {alpha}")
        object.__setattr__(self, "alpha", alpha)

    def draw_weight(self, rng: np.random.Generator) -> float:
        return round(float(rng.beta(self.alpha, self.alpha)), 4)


def fitted_partner(partner: Image.Image, item: Image.Image) -> np.ndarray:
    """The partner in the item's mode and size (Pillow's fixed-point resampling: same bytes on any CPU)."""
    if partner.mode != item.mode:
        partner = partner.convert(item.mode)
    if partner.size != item.size:
        partner = partner.resize(item.size, Image.Resampling.BILINEAR)
    return np.asarray(partner)


@_register
@dataclass(frozen=True)
class MixUp(Mixer):
    name = "mixup"
    alpha: float = 0.2

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"weight": self.draw_weight(rng)}

    def apply(self, item: Image.Image, *, partner_image: Image.Image, weight: float, **_: Any) -> Image.Image:
        # Element-wise float64 (IEEE-exact on any CPU), rounded half to even once.
        own = np.asarray(item, dtype=np.float64)
        mixed = weight * own + (1.0 - weight) * fitted_partner(partner_image, item)
        return Image.fromarray(np.rint(mixed).astype(np.uint8), item.mode)


@_register
@dataclass(frozen=True)
class CutMix(Mixer):
    name = "cutmix"
    alpha: float = 1.0

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        width, height = item.size
        side = math.sqrt(1.0 - float(rng.beta(self.alpha, self.alpha)))
        box_w, box_h = round(width * side), round(height * side)
        cx, cy = int(rng.integers(width)), int(rng.integers(height))
        x0, x1 = max(cx - box_w // 2, 0), min(cx + (box_w + 1) // 2, width)
        y0, y1 = max(cy - box_h // 2, 0), min(cy + (box_h + 1) // 2, height)
        weight = round(1.0 - (x1 - x0) * (y1 - y0) / (width * height), 4)
        return {"box": [x0, y0, x1, y1], "weight": weight}

    def apply(self, item: Image.Image, *, partner_image: Image.Image, box: list[int], **_: Any) -> Image.Image:
        x0, y0, x1, y1 = box
        out = np.array(item)
        out[y0:y1, x0:x1] = fitted_partner(partner_image, item)[y0:y1, x0:x1]
        return Image.fromarray(out, item.mode)


def is_mixer(op: Any) -> bool:
    return getattr(op, "is_mixer", False)


def mixer_names(modality: str) -> list[str]:
    return sorted(name for name, cls in MIXERS.items() if cls.modality == modality)


def fire_mixer(mixer: Mixer, rng: np.random.Generator, item: Any, draw_partner: PartnerDraw | None
               ) -> tuple[Any, dict | None]:
    """Mix ``item`` with a partner drawn from the pool; (item unchanged, None) when the pool has no other source."""
    if draw_partner is None:
        raise NoPartner(f"{mixer.name} mixes two train sources: it runs in the augment stage (and preview), "
                        "not on one item alone; mix on the fly in your batch collate function instead")
    drawn = draw_partner(rng)
    if drawn is None:
        return item, None
    partner_id, partner_label, partner = drawn
    params = mixer.sample(rng, item) | {"partner": partner_id, "partner_label": str(partner_label)}
    return mixer.apply(item, partner_image=partner, **params), {"name": mixer.name, "params": params}


def replay_mixer(name: str, item: Any, params: dict, load_partner: PartnerLoader | None) -> Any:
    if load_partner is None:
        raise NoPartner(f"replaying {name} needs its partner source {params['partner']!r}: pass load_partner")
    cls = MIXERS[name]
    return cls.__new__(cls).apply(item, partner_image=load_partner(params["partner"]), **params)


def partner_drawer(pool: list[tuple[str, str]], load: PartnerLoader, exclude: str) -> PartnerDraw:
    """Draw uniformly among the pool's (source_id, label) other than ``exclude``; the pool must be in a
    fixed order (by source_id), so the draw depends only on the generator."""
    others = [entry for entry in pool if entry[0] != exclude]

    def draw(rng: np.random.Generator) -> tuple[str, str, Any] | None:
        if not others:
            return None
        source_id, label = others[int(rng.integers(len(others)))]
        return source_id, label, load(source_id)

    return draw


def soft_label(ops: str | list[dict], label: str) -> str | None:
    """The row's soft label as JSON ``{label: weight}`` (sorted keys, weights summing to 1), or
    None when no mixer fired. Mixers compose: each keeps ``weight`` of the label so far."""
    records = json.loads(ops) if isinstance(ops, str) and ops else ops
    mixes = [record["params"] for record in (records if isinstance(records, list) else [])
             if record.get("name") in MIXERS]
    if not mixes:
        return None
    weights = {str(label): 1.0}
    for params in mixes:
        weights = {key: value * params["weight"] for key, value in weights.items()}
        partner = str(params["partner_label"])
        weights[partner] = weights.get(partner, 0.0) + 1.0 - params["weight"]
    return json.dumps({key: round(value, 4) for key, value in sorted(weights.items())}, sort_keys=True)
