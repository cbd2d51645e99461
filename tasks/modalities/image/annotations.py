"""What the detection/segmentation readers and writers share: an annotated image, a problem
found in an annotation file (with its reason code), the checks every box goes through, and
COCO's run-length mask encoding.

Readers never raise on a bad annotation: they return it as a ``Problem``, and an image with
any problem is left out of the images read (quarantined whole: training on it with one of its
objects missing would teach the model that the object is background). A file that cannot be
parsed at all is refused with one line naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from augmill.tasks.modalities.image.ops_targets import Box, Targets

# A box may overhang the image by this much (pixels) from rounding in the tool that wrote it;
# it is clipped. Further out it is quarantined as box_outside_image.
EDGE_TOLERANCE = 0.5
# The image files the folders of YOLO, VOC and mask datasets are listed by (COCO names its files).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class AnnotationFileError(ValueError):
    """An annotation file that cannot be read at all; the message names it."""


@dataclass(frozen=True)
class AnnotatedImage:
    sample_id: str  # the image's path relative to the dataset root, with "/"
    split: str  # "train", "val", ... ("" when the format has none)
    path: str  # absolute path of the image file
    targets: Targets
    source_id: int | None = None  # the image's id in the source file (COCO)


@dataclass(frozen=True)
class Problem:
    file: str
    sample: str  # the image, or the annotation when it has no image
    reason_code: str
    detail: str

    def message(self) -> str:
        return f"{self.file}: {self.sample}: {self.reason_code}: {self.detail}"


@dataclass(frozen=True)
class AnnotatedSet:
    format: str  # "coco" or "yolo"
    categories: dict[int, str]
    images: list[AnnotatedImage]
    problems: list[Problem]


def box_problem(box: tuple[float, float, float, float], width: int, height: int) -> tuple[str, str] | None:
    """Why a box (x0, y0, x1, y1, pixel edges) cannot be used, as (reason_code, detail), or None."""
    if not all(math.isfinite(v) for v in box):
        return "box_not_finite", f"box {list(box)} has a NaN or infinite coordinate"
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return "box_degenerate", f"box {list(box)} has zero or negative size"
    if x0 < -EDGE_TOLERANCE or y0 < -EDGE_TOLERANCE or x1 > width + EDGE_TOLERANCE or y1 > height + EDGE_TOLERANCE:
        return "box_outside_image", f"box {list(box)} lies outside the {width}x{height} image"
    return None


def clip_box(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)


def rle_decode(counts: list[int], height: int, width: int) -> np.ndarray:
    """COCO's run lengths (column-major, starting with a run of zeros) to an H x W uint8 0/1 mask."""
    if sum(counts) != height * width:
        raise ValueError(f"RLE counts sum to {sum(counts)}, not {height}x{width} = {height * width}")
    values = np.zeros(len(counts), dtype=np.uint8)
    values[1::2] = 1
    return np.repeat(values, counts).reshape(width, height).T.copy()


def rle_encode(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, dtype=bool).T.ravel()
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(edges).tolist()
    return ([0] + counts) if flat.size and flat[0] else counts


def rle_from_string(text: str) -> list[int]:
    """COCO's compressed RLE string (pycocotools' rleFrString): 5-bit groups, deltas from two runs back."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            chunk = ord(text[position]) - 48
            value |= (chunk & 0x1F) << (5 * shift)
            more = bool(chunk & 0x20)
            position += 1
            shift += 1
            if not more and chunk & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def rle_to_string(counts: list[int]) -> str:
    """The inverse of ``rle_from_string`` (pycocotools' rleToString)."""
    out = []
    for index, count in enumerate(counts):
        value = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            chunk = value & 0x1F
            value >>= 5
            more = value != -1 if chunk & 0x10 else value != 0
            if more:
                chunk |= 0x20
            out.append(chr(chunk + 48))
    return "".join(out)
