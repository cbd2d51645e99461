"""An offline detection/segmentation dataset generated in code: rectangles, ellipses and
triangles drawn on noise, each with its box, polygon and instance mask, written as COCO or
YOLO. Triangles are rare in train (``rare_share``), so there is an imbalance in objects per
class to rebalance. Nothing is downloaded; the same seed gives the same bytes.

Each shape's pixels are exactly its mask (the pixels whose centre lies inside its outline), so
the annotations are exact; the box is the mask's bounding box, within a pixel of the polygon's.
"""

from __future__ import annotations

import math
from pathlib import Path as FilePath

import numpy as np
from matplotlib.path import Path
from PIL import Image

from augmill.tasks.modalities.image.annotations import AnnotatedImage
from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets, box_of_mask
from augmill.tasks.seeding import generator

CATEGORIES = {1: "rectangle", 2: "ellipse", 3: "triangle"}
ELLIPSE_VERTICES = 24


def shape_outline(category: int, cx: float, cy: float, rx: float, ry: float, turn: float) -> np.ndarray:
    """The shape's polygon in pixel-edge coordinates (an ellipse as a 24-gon)."""
    corners = {1: 4, 2: ELLIPSE_VERTICES, 3: 3}[category]
    angles = turn + 2 * math.pi * np.arange(corners) / corners + (math.pi / 4 if category == 1 else 0.0)
    return np.column_stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)])


def generate_image(rng: np.random.Generator, width: int, height: int, rare_share: float,
                   max_objects: int = 4) -> tuple[Image.Image, list[tuple[int, np.ndarray, np.ndarray]]]:
    """A noise image with up to ``max_objects`` non-overlapping shapes: (category, polygon, mask) each."""
    pixels = np.clip(rng.normal(110, 30, (height, width, 3)), 0, 255).astype(np.uint8)
    centres = np.column_stack([c.ravel() + 0.5 for c in np.mgrid[0:height, 0:width][::-1]])
    taken = np.zeros((height, width), dtype=bool)
    shapes = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        category = 3 if rng.random() < rare_share else int(rng.integers(1, 3))
        radius_x, radius_y = rng.uniform(0.06, 0.18) * width, rng.uniform(0.06, 0.18) * height
        cx, cy = rng.uniform(radius_x, width - radius_x), rng.uniform(radius_y, height - radius_y)
        outline = shape_outline(category, cx, cy, radius_x, radius_y, float(rng.uniform(0, math.pi)))
        colour = rng.integers(0, 256, 3)
        # The pixels whose centre is inside the outline (ImageDraw would also fill the pixels its
        # edge touches, up to 1.5 px beyond the polygon): mask, box and polygon agree within a pixel.
        mask = Path(outline).contains_points(centres).reshape(height, width)
        if not mask.any() or (taken & mask).any():
            continue  # no overlaps: every mask stays whole (no occlusion to annotate)
        taken |= mask
        pixels[mask] = colour
        shapes.append((category, outline, mask.astype(np.uint8)))
    image = Image.fromarray(pixels)
    return image, shapes


def write_shapes(root: FilePath, splits: dict[str, int], seed: int, size: tuple[int, int] = (96, 72),
                 rare_share: float = 0.1) -> list[AnnotatedImage]:
    """Draw the images into ``root/images/<split>/`` (PNG) and return them annotated; the caller
    writes the annotations with ``write_coco`` or ``write_yolo``. Val and test get triangles at
    their natural share (a third), train at ``rare_share``."""
    width, height = size
    annotated = []
    for split_index, (split, count) in enumerate(splits.items()):
        rng = generator(seed, "shapes_demo", split_index)
        share = rare_share if split == "train" else 1 / 3
        for index in range(count):
            image, shapes = generate_image(rng, width, height, share)
            path = FilePath(root) / "images" / split / f"{split}_{index:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, optimize=False)
            objects = tuple(TargetObject(f"{split}_{index:04d}:{k}", category, box_of_mask(mask), (outline,), mask)
                            for k, (category, outline, mask) in enumerate(shapes))
            annotated.append(AnnotatedImage(f"{split}/{path.name}", split, str(path), Targets(width, height, objects)))
    return annotated
