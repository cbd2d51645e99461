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

from augmill.tasks import paths
from augmill.tasks.imaging import UnreadableImage, load_image
from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.png import encode_png
from augmill.tasks.seeding import rank

_templates = Environment(loader=PackageLoader("augmill.tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
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
    sources = sorted(validated["source_id"].unique(), key=lambda s: (rank(seed, "review", s), s))
    rejected = set(validated.loc[validated["status"] == "quarantined", "source_id"])
    ordered = [s for s in sources if s in rejected] + [s for s in sources if s not in rejected]
    return ordered[:how_many]
