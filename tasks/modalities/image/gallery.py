"""The review page of an image run (reports/gallery.html): sources beside their variants, a
quarantined variant with the measure that failed and the source aligned as the check saw it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from augmill.tasks import paths
from augmill.tasks.imaging import UnreadableImage, load_image
from augmill.tasks.modalities.image.checks import aligned_source
from augmill.tasks.params import Params
from augmill.tasks.review_pages import _render, describe_ops, gallery_sources, image_uri, thumbnail_uri


def _load(path: Path, max_pixels: int) -> Image.Image | None:
    try:
        return load_image(path, max_pixels).image
    except (UnreadableImage, OSError):
        return None


def _measures(variant, reason_codes: dict, bounds: dict) -> list[dict]:
    """Each comparison of a variant with its aligned source: value, bound, and whether it failed."""
    rows = []
    for column, (relation, bound) in bounds.items():
        value = getattr(variant, column, None)
        if value is None or pd.isna(value):
            continue
        failed = value < bound if relation == ">=" else value > bound
        rows.append({"name": column, "code": reason_codes[column][0], "value": f"{value:.3g}",
                     "relation": "≥" if relation == ">=" else "≤", "bound": f"{bound:g}", "failed": failed})
    return rows


TARGET_THUMBNAIL = 144  # images with boxes: large enough to read the class names


def _target_drawer(raw: pd.DataFrame, params: Params):
    """With data.targets: a function (path, targets JSON) -> data: URI of the image with its boxes, mask
    outlines and class names drawn (its ``sources`` maps a source id to its targets); else None."""
    if params.data.targets == "none":
        return None
    import math

    from augmill.tasks.modalities.image.annotated import categories_of, targets_from_json
    from augmill.tasks.modalities.image.target_drawing import draw_targets, enlarged

    categories = categories_of(params)

    def draw(path: Path, targets: str) -> str | None:
        image = _load(path, params.data.max_image_pixels)
        if image is None:
            return None
        big, moved = enlarged(image, targets_from_json(targets), max(1, math.ceil(TARGET_THUMBNAIL / max(image.size))))
        return image_uri(draw_targets(big, moved, categories), TARGET_THUMBNAIL)

    draw.sources = dict(zip(raw["sample_id"], raw["targets"], strict=False))
    return draw


def render_image_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path,
                         reason_codes: dict, bounds: dict) -> None:
    """Sources beside their variants; a quarantined card names the failed measure with its
    value against the bound, and shows the source aligned by the variant's geometric ops
    (what the photometric check compared it with) beside the variant. ``reason_codes`` and
    ``bounds``: the image modality's REASON_CODES and comparison_bounds."""
    max_pixels = params.data.max_image_pixels
    raw_paths = dict(zip(raw["sample_id"], raw["path"], strict=False))
    drawn = _target_drawer(raw, params)
    groups = []
    for source_id in gallery_sources(validated, params.validate_.gallery_sources, params.seed):
        variants = validated[validated["source_id"] == source_id].sort_values("sample_id")
        source = _load(Path(params.data.raw_dir) / raw_paths[source_id], max_pixels) if source_id in raw_paths else None
        cards = []
        for v in variants.itertuples():
            card = {"sample_id": v.sample_id, "status": v.status, "reason": v.reason, "ops": describe_ops(v.ops),
                    "image": drawn(paths.AUGMENTED_DIR / v.path, v.targets) if drawn else
                    thumbnail_uri(paths.AUGMENTED_DIR / v.path, max_pixels), "aligned": None, "measures": [],
                    "reason_code": getattr(v, "reason_code", "")}
            if v.status == "quarantined":
                card["measures"] = _measures(v, reason_codes, bounds)
                if source is not None:
                    card["aligned"] = image_uri(aligned_source(source, v.ops))
            cards.append(card)
        groups.append({"source_id": source_id, "label": variants["label"].iloc[0],
                       "source_image": None if source is None else drawn(Path(params.data.raw_dir) / raw_paths[source_id],
                                                                          drawn.sources[source_id]) if drawn else
                       image_uri(source), "variants": cards})
    counts = validated["status"].value_counts()
    _render("gallery.html.j2", path, groups=groups, targets=drawn is not None, accepted=int(counts.get("accepted", 0)),
            quarantined=int(counts.get("quarantined", 0)), total_sources=int(validated["source_id"].nunique()))
