"""One warp for a run of affine image operators: the targets' side of the speed-up (#19).

The pixels go through each operator of a policy in turn, as always. Their targets need not: a run of
consecutive affine operators (flips, rotate, crop, scale, affine; photometric ones in between change
no coordinate) is one affine map, so every instance mask is warped once per run instead of once per
operator, and only over its own box. What the composition must keep is what each step cut away:
a point that left the frame at an intermediate step is gone even if a later zoom-out brings its
place back into view. That is ``Warp.bounds``: each intermediate frame, written as two strips
(0 <= a x + b y + c <= limit) in the output's coordinates, keeping only those that cut the output
frame at all.

Coordinates are pixel edges, as in tasks.modalities.image.ops_targets (pixel (i, j) covers [i, i + 1) x [j, j + 1)).
A matrix is a 6-tuple (a, b, c, d, e, f): x' = a x + b y + c, y' = d x + e y + f, composed in
Python floats (numpy's matmul goes through BLAS, whose kernels differ by CPU in their last bits).

A warped mask is, exactly: output pixel q takes the source pixel its centre maps back into, and is 0
where that centre left the frame at any intermediate step. The resampling is OpenCV's
``warpAffine`` (nearest), as the operators' own mask path: positions resolved to 1/1024 pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from augmill.tasks.modalities.image.ops import rotation_matrix
from augmill.tasks.modalities.image.ops_geometric import affine_matrix

Matrix = tuple[float, float, float, float, float, float]
Bound = tuple[float, float, float, float]  # a, b, c, limit: 0 <= a x + b y + c <= limit
IDENTITY: Matrix = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _from_centres(matrix: np.ndarray) -> Matrix:
    """A 2x3 forward matrix in OpenCV's pixel-centre coordinates, in pixel-edge coordinates."""
    a, b, c, d, e, f = np.asarray(matrix, dtype=np.float64).ravel().tolist()
    return a, b, c + 0.5 - 0.5 * (a + b), d, e, f + 0.5 - 0.5 * (d + e)


def _hflip(width: int, height: int, **params: Any) -> Matrix:
    return -1.0, 0.0, float(width), 0.0, 1.0, 0.0


def _vflip(width: int, height: int, **params: Any) -> Matrix:
    return 1.0, 0.0, 0.0, 0.0, -1.0, float(height)


def _rotate(width: int, height: int, *, angle: float, **params: Any) -> Matrix:
    return _from_centres(rotation_matrix(width, height, angle))


def _random_resized_crop(size_x: int, size_y: int, *, left: int, top: int, width: int, height: int,
                         **params: Any) -> Matrix:
    sx, sy = size_x / width, size_y / height
    return sx, 0.0, -left * sx, 0.0, sy, -top * sy


def _scale(width: int, height: int, *, factor: float, **params: Any) -> Matrix:
    return factor, 0.0, width / 2 * (1 - factor), 0.0, factor, height / 2 * (1 - factor)


def _affine(width: int, height: int, *, angle: float, translate_x: float, translate_y: float, scale: float,
            shear_x: float, shear_y: float, **params: Any) -> Matrix:
    return _from_centres(affine_matrix(width, height, angle, translate_x, translate_y, scale, shear_x, shear_y))


# Each affine operator's forward map, the one its move_points applies (a test checks they agree).
# Perspective and elastic are not affine: the targets go through them one operator at a time.
AFFINE_MAPS: dict[str, Callable[..., Matrix]] = {
    "hflip": _hflip, "vflip": _vflip, "rotate": _rotate, "random_resized_crop": _random_resized_crop,
    "scale": _scale, "affine": _affine,
}


def compose(second: Matrix, first: Matrix) -> Matrix:
    """``second`` after ``first``."""
    a2, b2, c2, d2, e2, f2 = second
    a1, b1, c1, d1, e1, f1 = first
    return (a2 * a1 + b2 * d1, a2 * b1 + b2 * e1, a2 * c1 + b2 * f1 + c2,
            d2 * a1 + e2 * d1, d2 * b1 + e2 * e1, d2 * c1 + e2 * f1 + f2)


def invert(matrix: Matrix) -> Matrix:
    """The inverse map; all zeros for a singular one (affine's shears can flatten the image onto a
    line), as OpenCV's warpAffine takes it."""
    a, b, c, d, e, f = matrix
    det = a * e - b * d
    if det == 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return ia, ib, -(ia * c + ib * f), id_, ie, -(id_ * c + ie * f)


def move(matrix: Matrix, points: np.ndarray) -> np.ndarray:
    """N x 2 points through a matrix, element-wise (correctly rounded on any CPU, unlike BLAS)."""
    a, b, c, d, e, f = matrix
    x, y = points[:, :1], points[:, 1:]
    return x * (a, d) + (y * (b, e) + (c, f))


@dataclass(frozen=True)
class Warp:
    """A run of affine operators as one map: ``forward`` (source -> output), its ``inverse``, the
    output ``size`` and the intermediate frames that still cut the output (``bounds``)."""

    forward: Matrix
    inverse: Matrix
    size: tuple[int, int]
    bounds: tuple[Bound, ...]

    @property
    def area_scale(self) -> float:
        a, b, _, d, e, _ = self.forward
        return abs(a * e - b * d)

    def covered(self, points: np.ndarray, half_open: bool = False) -> np.ndarray:
        """Which output points (N x 2) lie inside the output frame and every intermediate one."""
        x, y = points[:, 0], points[:, 1]
        width, height = self.size
        inside = (x >= 0) & (y >= 0) & ((x < width) & (y < height) if half_open else (x <= width) & (y <= height))
        for a, b, c, limit in self.bounds:
            value = a * x + (b * y + c)
            inside &= (value >= 0) & ((value < limit) if half_open else (value <= limit))
        return inside


def warp_of(steps: list[tuple[str, dict[str, Any]]], size: tuple[int, int]) -> Warp:
    """The one map of a run of affine operators (names in AFFINE_MAPS, with their recorded params)."""
    width, height = size
    matrices = [AFFINE_MAPS[name](width, height, **params) for name, params in steps]
    forward = IDENTITY
    for matrix in matrices:
        forward = compose(matrix, forward)
    # The frame after step k (k < last), seen from the output: the inverse of the steps after it.
    corners = ((0.0, 0.0), (width, 0.0), (width, height), (0.0, height))
    bounds: list[Bound] = []
    after = IDENTITY
    for matrix in reversed(matrices[1:]):
        after = compose(after, matrix)
        back = invert(after)
        a, b, c, d, e, f = back
        # A frame that holds the whole output frame cuts nothing (the set it bounds is convex).
        # (4 points in Python floats: cheaper than a numpy call.)
        if all(0 <= a * x + b * y + c <= width and 0 <= d * x + e * y + f <= height for x, y in corners):
            continue
        bounds += [(a, b, c, float(width)), (d, e, f, float(height))]
    return Warp(forward, invert(forward), size, tuple(bounds))


def clip_to_bounds(ring: np.ndarray, bounds: tuple[Bound, ...]) -> np.ndarray:
    """The part of a polygon inside every strip (Sutherland-Hodgman, one pass per side)."""
    points = ring
    for a, b, c, limit in bounds:
        for sign, offset in ((1.0, 0.0), (-1.0, limit)):  # a x + b y + c >= 0, then limit - (...) >= 0
            if not len(points):
                return points
            value = sign * (a * points[:, 0] + (b * points[:, 1] + c)) + offset
            inside = value >= 0
            if inside.all():
                continue
            previous, previous_inside, previous_value = _previous(points), _previous(inside), _previous(value)
            crosses = inside != previous_inside
            with np.errstate(divide="ignore", invalid="ignore"):  # only crossing edges are used
                t = np.where(crosses, previous_value / np.where(crosses, previous_value - value, 1.0), 0.0)
            crossings = previous + t[:, None] * (points - previous)
            points = np.stack([crossings, points], axis=1)[np.stack([crosses, inside], axis=1)]
    return points


class WarpedMask(NamedTuple):  # a tuple, not a dataclass: made once per object per run, on the hot path (#19)
    mask: np.ndarray  # H x W uint8 0/1
    box: tuple[float, float, float, float] | None  # pixel-edge bounding box, None when empty
    count: int  # its pixels
    source_count: int  # the source mask's pixels


def warp_instance_mask(mask: np.ndarray, warp: Warp, hint: tuple[float, float, float, float] | None = None
                       ) -> WarpedMask:
    """A 0/1 instance mask through ``warp`` (see the module's docstring), warped over its own box only.
    ``hint``, the object's box, saves scanning the whole mask for its box when it holds every pixel
    of the mask (checked by counting: cheaper than the scan); otherwise the mask is scanned.

    Eight OpenCV calls a mask and no copy: the region is warped straight into the output mask,
    binarised and cut there in place."""
    import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

    width, height = warp.size
    out = np.zeros((height, width), dtype=np.uint8)
    if mask.dtype != np.uint8:
        mask = _as_uint8(mask)
    source_count = cv2.countNonZero(mask)
    if source_count == 0 or warp.area_scale == 0:  # nothing to move, or flattened onto a line: no pixel left
        return WarpedMask(out, None, 0, source_count)
    usable = hint is not None and math.isfinite(sum(hint))  # a NaN or an infinity anywhere makes the sum one
    x, y, w, h = _box_within(mask, hint, source_count) if usable else cv2.boundingRect(mask)
    # Where the source box lands; one pixel more on each side for the nearest-centre rounding.
    a, b, c, d, e, f = warp.forward
    xs = (a * x + b * y + c, a * (x + w) + b * y + c, a * x + b * (y + h) + c, a * (x + w) + b * (y + h) + c)
    ys = (d * x + e * y + f, d * (x + w) + e * y + f, d * x + e * (y + h) + f, d * (x + w) + e * (y + h) + f)
    x0, y0 = max(0, math.floor(min(xs)) - 1), max(0, math.floor(min(ys)) - 1)
    x1, y1 = min(width, math.ceil(max(xs)) + 1), min(height, math.ceil(max(ys)) + 1)
    if x1 <= x0 or y1 <= y0:
        return WarpedMask(out, None, 0, source_count)
    # The inverse in OpenCV's pixel-centre coordinates, from the region's pixel to the source crop's.
    a, b, c, d, e, f = warp.inverse
    cx, cy = x0 + 0.5, y0 + 0.5
    local = np.array([[a, b, a * cx + b * cy + c - 0.5 - x], [d, e, d * cx + e * cy + f - 0.5 - y]])
    region = out[y0:y1, x0:x1]  # a view: OpenCV writes the warp, then its 0/1, into the output in place
    cv2.warpAffine(mask[y:y + h, x:x + w], local, (x1 - x0, y1 - y0), dst=region,
                   flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cv2.threshold(region, 0, 1, cv2.THRESH_BINARY, dst=region)  # 0/1 whatever nonzero value the source had
    if warp.bounds:
        _cut_to_bounds(region, warp, x0, y0)
    rx, ry, rw, rh = cv2.boundingRect(region)
    if rw == 0:
        return WarpedMask(out, None, 0, source_count)
    box = (float(x0 + rx), float(y0 + ry), float(x0 + rx + rw), float(y0 + ry + rh))
    return WarpedMask(out, box, cv2.countNonZero(region), source_count)


def warp_label_mask(mask: np.ndarray, warp: Warp, fill: int) -> np.ndarray:
    """A whole H x W mask of class ids through ``warp`` (nearest), uncovered pixels ``fill``."""
    import cv2

    if warp.area_scale == 0:  # flattened onto a line: nothing of the mask is left in view
        return np.full((warp.size[1], warp.size[0]), fill, dtype=np.uint8)
    a, b, c, d, e, f = warp.inverse
    centred = np.array([[a, b, 0.5 * (a + b) + c - 0.5], [d, e, 0.5 * (d + e) + f - 0.5]])
    out = cv2.warpAffine(np.ascontiguousarray(mask, dtype=np.uint8), centred, warp.size,
                         flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=fill)
    if warp.bounds:
        out[~_covered_pixels(warp, 0, 0, *warp.size)] = fill
    return out


def _box_within(mask: np.ndarray, hint: tuple[float, float, float, float], count: int) -> tuple[int, int, int, int]:
    """The mask's box (x, y, w, h), looked for inside ``hint`` grown to whole pixels (plus one);
    the whole mask when the hint misses some of its ``count`` pixels."""
    import cv2

    height, width = mask.shape
    x0, y0 = max(0, math.floor(hint[0]) - 1), max(0, math.floor(hint[1]) - 1)
    x1, y1 = min(width, math.ceil(hint[2]) + 1), min(height, math.ceil(hint[3]) + 1)
    if x1 > x0 and y1 > y0:
        crop = mask[y0:y1, x0:x1]
        if cv2.countNonZero(crop) == count:
            x, y, w, h = cv2.boundingRect(crop)
            return x0 + x, y0 + y, w, h
    return cv2.boundingRect(mask)


def _cut_to_bounds(region: np.ndarray, warp: Warp, x0: int, y0: int) -> None:
    """Zeroes, in place, the pixels of ``region`` (placed at x0, y0) whose centre left an intermediate frame."""
    height, width = region.shape
    # The covered set is convex: when the 4 corner pixels' centres are in it, every pixel is.
    corners = ((x0 + 0.5, y0 + 0.5), (x0 + width - 0.5, y0 + 0.5), (x0 + 0.5, y0 + height - 0.5),
               (x0 + width - 0.5, y0 + height - 0.5))
    if all(0 <= a * x + b * y + c < limit for a, b, c, limit in warp.bounds for x, y in corners):
        return
    region &= _covered_pixels(warp, x0, y0, width, height).view(np.uint8)


def _covered_pixels(warp: Warp, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """Which pixels' centres of the region (x0, y0, width, height) lie inside every intermediate frame."""
    xs = np.arange(x0, x0 + width, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y0 + height, dtype=np.float64)[:, None] + 0.5
    inside = np.ones((height, width), dtype=bool)
    for a, b, c, limit in warp.bounds:
        value = a * xs + (b * ys + c)
        inside &= (value >= 0) & (value < limit)
    return inside


def _previous(values: np.ndarray) -> np.ndarray:
    """Each vertex's predecessor around the ring (np.roll by 1, without its overhead)."""
    return np.concatenate([values[-1:], values[:-1]])


def _as_uint8(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return mask if mask.dtype == np.uint8 else (mask != 0).view(np.uint8)
