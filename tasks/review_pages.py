"""Static HTML pages for people: the validation report and the review gallery.

Self-contained (thumbnails inlined as data URIs), readable without a server,
and everything that came from data is escaped by Jinja's autoescape.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from tasks import paths
from tasks.imaging import UnreadableImage, load_image
from tasks.io import write_bytes_atomic
from tasks.ops.policy import stable_hash
from tasks.params import Params
from tasks.png import encode_png

_templates = Environment(loader=PackageLoader("tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
THUMBNAIL = 96


def thumbnail_uri(path: Path, max_pixels: int) -> str | None:
    try:
        image = load_image(path, max_pixels).image
    except (UnreadableImage, OSError):
        return None
    return image_uri(image)


def image_uri(image: Image.Image, side: int = THUMBNAIL) -> str:
    """A ``side``-sized (THUMBNAIL) PNG of the image as a data: URI."""
    scale = side / max(image.size)
    # Small images (the demo's 32 px digits) are enlarged with hard pixels so nothing is invented.
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


def describe_ops(ops_json: str) -> list[str]:
    return [f"{op['name']}(" + ", ".join(f"{k}={v}" for k, v in op["params"].items() if k != "noise_seed") + ")"
            for op in json.loads(ops_json)]


def _render(template: str, path: Path, **context) -> None:
    write_bytes_atomic(path, _templates.get_template(template).render(**context).encode("utf-8"))


def render_validation_page(summary: dict, validated: pd.DataFrame, docs_link: str | None, path: Path) -> None:
    quarantined = validated[validated["status"] == "quarantined"][["sample_id", "source_id", "label", "reason"]]
    _render("validation.html.j2", path, summary=summary, docs_link=docs_link,
            quarantined=quarantined.head(500).to_dict("records"), gallery=paths.GALLERY_PAGE.name)


def gallery_sources(validated: pd.DataFrame, how_many: int, seed: int) -> list[str]:
    """A fixed, seeded choice of sources, always including every source with a rejected variant
    (those are what a reviewer most needs to see), then others, up to how_many."""
    sources = sorted(validated["source_id"].unique(), key=lambda s: (stable_hash(f"{seed}:review:{s}"), s))
    rejected = set(validated.loc[validated["status"] == "quarantined", "source_id"])
    ordered = [s for s in sources if s in rejected] + [s for s in sources if s not in rejected]
    return ordered[:how_many]


def _load(path: Path, max_pixels: int) -> Image.Image | None:
    try:
        return load_image(path, max_pixels).image
    except (UnreadableImage, OSError):
        return None


def _measures(variant, params: Params) -> list[dict]:
    """Each comparison of a variant with its aligned source: value, bound, and whether it failed."""
    from tasks.modalities.image import REASON_CODES, comparison_bounds

    rows = []
    for column, (relation, bound) in comparison_bounds(params).items():
        value = getattr(variant, column, None)
        if value is None or pd.isna(value):
            continue
        failed = value < bound if relation == ">=" else value > bound
        rows.append({"name": column, "code": REASON_CODES[column][0], "value": f"{value:.3g}",
                     "relation": "≥" if relation == ">=" else "≤", "bound": f"{bound:g}", "failed": failed})
    return rows


TARGET_THUMBNAIL = 144  # images with boxes: large enough to read the class names


def _target_drawer(raw: pd.DataFrame, params: Params):
    """With data.targets: a function (path, targets JSON) -> data: URI of the image with its boxes, mask
    outlines and class names drawn (its ``sources`` maps a source id to its targets); else None."""
    if params.data.targets == "none":
        return None
    import math

    from tasks.modalities.image_annotated import categories_of, targets_from_json
    from tasks.modalities.image_target_drawing import draw_targets, enlarged

    categories = categories_of(params)

    def draw(path: Path, targets: str) -> str | None:
        image = _load(path, params.data.max_image_pixels)
        if image is None:
            return None
        big, moved = enlarged(image, targets_from_json(targets), max(1, math.ceil(TARGET_THUMBNAIL / max(image.size))))
        return image_uri(draw_targets(big, moved, categories), TARGET_THUMBNAIL)

    draw.sources = dict(zip(raw["sample_id"], raw["targets"], strict=False))
    return draw


def render_image_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    """Sources beside their variants; a quarantined card names the failed measure with its
    value against the bound, and shows the source aligned by the variant's geometric ops
    (what the photometric check compared it with) beside the variant."""
    from tasks.modalities.image_checks import aligned_source

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
                card["measures"] = _measures(v, params)
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
