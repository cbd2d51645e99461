"""The review gallery's picture of an annotated image: each box drawn in its class's colour with
the class name, each mask's outline (its pixels that touch the background), keypoints as dots."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw

from augmill.tasks.modalities.image.ops_targets import Targets

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230)]  # Sasha Trubetskoy's distinct colours


def class_colour(category: int) -> tuple[int, int, int]:
    return PALETTE[category % len(PALETTE)]


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """The mask's pixels with a 4-neighbour outside it (or on the image's edge)."""
    inside = np.asarray(mask) > 0
    padded = np.pad(inside, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inside & ~interior


def draw_targets(image: Image.Image, targets: Targets, categories: dict[int, str]) -> Image.Image:
    out = image.convert("RGB")
    pixels = np.array(out)
    for obj in targets.objects:
        if obj.mask is not None:
            pixels[mask_outline(obj.mask)] = class_colour(obj.category)
    out = Image.fromarray(pixels)
    draw = ImageDraw.Draw(out)
    for obj in targets.objects:
        colour = class_colour(obj.category)
        x0, y0, x1, y1 = obj.box
        # The box's edges in pixel-edge coordinates: its last pixel column is x1 - 1.
        draw.rectangle([round(x0), round(y0), max(round(x0), round(x1) - 1), max(round(y0), round(y1) - 1)], outline=colour)
        draw.text((round(x0) + 1, max(0, round(y0) - 11)), categories.get(obj.category, str(obj.category)), fill=colour)
        if obj.keypoints is not None:
            for x, y, v in obj.keypoints:
                if v > 0:
                    draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    return out


def enlarged(image: Image.Image, targets: Targets, factor: int) -> tuple[Image.Image, Targets]:
    """The image and its targets ``factor`` times larger, pixels repeated (nothing invented): small
    images get boxes and class names a reviewer can read."""
    if factor <= 1:
        return image, targets
    big = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    objects = tuple(replace(obj, box=tuple(v * factor for v in obj.box), polygon=tuple(r * factor for r in obj.polygon),
                            mask=None if obj.mask is None else np.kron(obj.mask, np.ones((factor, factor), obj.mask.dtype)),
                            keypoints=None if obj.keypoints is None else obj.keypoints * (factor, factor, 1))
                    for obj in targets.objects)
    return big, replace(targets, width=big.width, height=big.height, objects=objects)
