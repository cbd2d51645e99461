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
from tasks.params import Params
from tasks.png import encode_png
from tasks.seeding import rank

_templates = Environment(loader=PackageLoader("tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
THUMBNAIL = 96


def thumbnail_uri(path: Path, max_pixels: int) -> str | None:
    try:
        image = load_image(path, max_pixels).image
    except (UnreadableImage, OSError):
        return None
    return image_uri(image)


def image_uri(image: Image.Image) -> str:
    """A THUMBNAIL-sized PNG of the image as a data: URI."""
    scale = THUMBNAIL / max(image.size)
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
    sources = sorted(validated["source_id"].unique(), key=lambda s: (rank(seed, "review", s), s))
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


def render_image_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    """Sources beside their variants; a quarantined card names the failed measure with its
    value against the bound, and shows the source aligned by the variant's geometric ops
    (what the photometric check compared it with) beside the variant."""
    from tasks.modalities.image_checks import aligned_source

    max_pixels = params.data.max_image_pixels
    raw_paths = dict(zip(raw["sample_id"], raw["path"], strict=False))
    groups = []
    for source_id in gallery_sources(validated, params.validate_.gallery_sources, params.seed):
        variants = validated[validated["source_id"] == source_id].sort_values("sample_id")
        source = _load(Path(params.data.raw_dir) / raw_paths[source_id], max_pixels) if source_id in raw_paths else None
        cards = []
        for v in variants.itertuples():
            card = {"sample_id": v.sample_id, "status": v.status, "reason": v.reason, "ops": describe_ops(v.ops),
                    "image": thumbnail_uri(paths.AUGMENTED_DIR / v.path, max_pixels), "aligned": None, "measures": [],
                    "reason_code": getattr(v, "reason_code", "")}
            if v.status == "quarantined":
                card["measures"] = _measures(v, params)
                if source is not None:
                    card["aligned"] = image_uri(aligned_source(source, v.ops))
            cards.append(card)
        groups.append({"source_id": source_id, "label": variants["label"].iloc[0],
                       "source_image": image_uri(source) if source is not None else None, "variants": cards})
    counts = validated["status"].value_counts()
    _render("gallery.html.j2", path, groups=groups, accepted=int(counts.get("accepted", 0)),
            quarantined=int(counts.get("quarantined", 0)), total_sources=int(validated["source_id"].nunique()))
