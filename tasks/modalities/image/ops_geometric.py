"""Image warps beyond rotate/crop/scale: affine (shear, translate, scale, rotation),
perspective and elastic. Each keeps the image's size; what the warp uncovers gets
grey ``fill`` (opaque on RGBA).

Why the sampling maps are computed here, in numpy, and only the resampling is left
to OpenCV (``remap``, bilinear): numpy's element-wise arithmetic is correctly
rounded on every CPU; the maps are turned into fixed-point positions (1/32 pixel,
``convertMaps``: exact rounding) and ``remap`` blends those in integers, so the
bytes do not depend on the CPU's SIMD level. Given float maps, OpenCV 5's ``remap``
blends in float, and its bytes changed with OpenCV's dispatched SIMD turned off and
under qemu's Nehalem CPU (14 of 48 perspective and elastic warps of 256x256 and
512x384 RGB images differed). ``warpPerspective`` computes its positions in
vectorised float code whose paths differ by CPU. Affine uses ``warpAffine``, as
rotate does: its positions are integer (fixed-point) steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image.ops import (
    _check_fill,
    _fill_colour,
    _on_pixels,
    _set_range,
    _uniform,
    affine_points,
    as_four_bands,
    image_size,
    pixel_mode,
)
from augmill.tasks.ops.base import Operator, OperatorConfigError
from augmill.tasks.ops.policy import register


def _remap(pixels: np.ndarray, source_x: np.ndarray, source_y: np.ndarray, fill: int,
           nearest: bool = False) -> np.ndarray:
    """Sample ``pixels`` at (source_x, source_y) for every output pixel (OpenCV pixel-centre coordinates);
    ``nearest`` for masks, whose class ids must not be blended."""
    import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

    first, second = source_x.astype(np.float32, copy=False), source_y.astype(np.float32, copy=False)
    if not nearest:  # fixed-point positions, integer blending: the same bytes on any CPU (module docstring)
        first, second = cv2.convertMaps(first, second, cv2.CV_16SC2)
    return as_four_bands(pixels, lambda bands: cv2.remap(
        bands, first, second, cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
        borderValue=_fill_colour(pixel_mode(bands), fill)))


def _settled(matrix: list[list[float]]) -> list[list[float]]:
    """Coefficients rounded to 10 decimals: libm's sin/cos/tan have CPU-specific variants (glibc
    picks FMA versions where the CPU has FMA) that may differ in the last bit; rounding absorbs that
    unless a value falls within 1e-16 of a rounding boundary, far below the 1/32 pixel that
    OpenCV's fixed-point positions resolve."""
    return [[round(value, 10) for value in row] for row in matrix]


def affine_matrix(width: int, height: int, angle: float, translate_x: float, translate_y: float, scale: float,
                  shear_x: float, shear_y: float) -> np.ndarray:
    """The 2x3 forward matrix about the image centre: rotate by ``angle`` degrees (counter-clockwise,
    as rotate), shear by ``shear_x``/``shear_y`` degrees, zoom by ``scale``, then move by
    ``translate_x``/``translate_y`` of the width/height (torchvision's RandomAffine, in that order).
    In Python floats, not numpy's matmul: BLAS kernels differ by CPU in their last bits."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a = math.radians(-angle)
    cos, sin = math.cos(a), math.sin(a)
    tx, ty = math.tan(math.radians(shear_x)), math.tan(math.radians(shear_y))
    # scale * rotation @ shear
    m00, m01 = scale * (cos - sin * ty), scale * (cos * tx - sin)
    m10, m11 = scale * (sin + cos * ty), scale * (sin * tx + cos)
    matrix = [[m00, m01, cx + translate_x * width - (m00 * cx + m01 * cy)],
              [m10, m11, cy + translate_y * height - (m10 * cx + m11 * cy)]]
    return np.array(_settled(matrix))


@register
@dataclass(frozen=True)
class Affine(Operator):
    """An affine warp about the centre: rotation ``angle`` (degrees), ``translate_x``/``translate_y``
    (fractions of the width/height), zoom ``scale``, ``shear_x``/``shear_y`` (degrees). Bilinear,
    by OpenCV's ``warpAffine`` (fixed-point positions), as rotate."""

    name = "affine"
    modality = "image"
    angle: tuple[float, float] = (0.0, 0.0)
    translate_x: tuple[float, float] = (-0.1, 0.1)
    translate_y: tuple[float, float] = (-0.1, 0.1)
    scale: tuple[float, float] = (0.9, 1.1)
    shear_x: tuple[float, float] = (-10.0, 10.0)
    shear_y: tuple[float, float] = (0.0, 0.0)
    fill: int = 0

    def validate(self) -> None:
        _set_range(self, "angle", -360.0, 360.0)
        for field in ("translate_x", "translate_y"):
            _set_range(self, field, -1.0, 1.0)
        _set_range(self, "scale", 0.1, 10.0)
        for field in ("shear_x", "shear_y"):
            _set_range(self, field, -80.0, 80.0)
        _check_fill(self)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        fields = ("angle", "translate_x", "translate_y", "scale", "shear_x", "shear_y")
        return {field: _uniform(rng, *getattr(self, field)) for field in fields} | {"fill": self.fill}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, *, angle: float, translate_x: float, translate_y: float, scale: float,
              shear_x: float, shear_y: float, fill: int, nearest: bool = False) -> np.ndarray:
        import cv2

        size = image_size(pixels)
        matrix = affine_matrix(*size, angle, translate_x, translate_y, scale, shear_x, shear_y)
        return as_four_bands(pixels, lambda bands: cv2.warpAffine(
            bands, matrix, size, flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=_fill_colour(pixel_mode(bands), fill)))

    def move_points(self, points: np.ndarray, size: tuple[int, int], *, angle: float, translate_x: float,
                    translate_y: float, scale: float, shear_x: float, shear_y: float, **params: Any) -> np.ndarray:
        """Where ``apply`` puts each point (pixel-edge coordinates): the same forward matrix."""
        return affine_points(affine_matrix(*size, angle, translate_x, translate_y, scale, shear_x, shear_y), points)


def homography(corners_from: list[tuple[float, float]], corners_to: list[tuple[float, float]]) -> list[list[float]]:
    """The 3x3 matrix taking the 4 points ``corners_from`` to ``corners_to``: the 8x8 linear system
    solved by Gauss-Jordan elimination in Python floats (LAPACK's kernels differ by CPU in their last bits)."""
    rows = []
    for (x, y), (u, v) in zip(corners_from, corners_to, strict=True):
        rows.append([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u])
        rows.append([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v])
    for column in range(8):
        pivot = max(range(column, 8), key=lambda r: abs(rows[r][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        lead = rows[column][column]
        rows[column] = [value / lead for value in rows[column]]
        for r in range(8):
            if r != column and rows[r][column] != 0.0:
                factor = rows[r][column]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[column], strict=True)]
    h = [row[8] for row in rows] + [1.0]
    return _settled([h[0:3], h[3:6], h[6:9]])


@register
@dataclass(frozen=True)
class Perspective(Operator):
    """A perspective warp: each corner moves inwards by up to ``distortion`` of the side
    (as torchvision's RandomPerspective), and the image follows. The 8 corner offsets are
    recorded, in pixels; the uncovered border gets grey ``fill``."""

    name = "perspective"
    modality = "image"
    distortion: tuple[float, float] = (0.0, 0.2)
    fill: int = 0

    def validate(self) -> None:
        _set_range(self, "distortion", 0.0, 0.5)
        _check_fill(self)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        width, height = image_size(item)
        limit = _uniform(rng, *self.distortion)
        dx, dy = limit * (width - 1), limit * (height - 1)
        # Top-left, top-right, bottom-right, bottom-left, each pulled inwards.
        signs = ((1, 1), (-1, 1), (-1, -1), (1, -1))
        # dx x rng.random() is rng.uniform(0, dx) (numpy: 0 + (dx - 0) x the same draw) at a third of the cost.
        corners = [[round(sx * (dx * rng.random()), 2), round(sy * (dy * rng.random()), 2)] for sx, sy in signs]
        return {"corners": corners, "fill": self.fill}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, *, corners: list[list[float]], fill: int, nearest: bool = False) -> np.ndarray:
        width, height = image_size(pixels)
        if min(width, height) < 2:  # a line of pixels has no perspective: its corners are collinear
            return pixels.copy()
        frame, moved = _perspective_frames(width, height, corners)
        inverse = homography(moved, frame)  # backward: from each output pixel to the source point it shows
        # In float32, the maps' type for remap (numpy's element-wise float32 arithmetic is correctly
        # rounded on any CPU; 24 bits keep 1/32 pixel, remap's resolution, up to 2^18 pixels a side).
        m = np.array(inverse, dtype=np.float32)
        xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        w = _outer_sum(m[2, 1] * ys + m[2, 2], m[2, 0] * xs)
        source_x = _outer_sum(m[0, 1] * ys + m[0, 2], m[0, 0] * xs)
        source_x /= w
        source_y = _outer_sum(m[1, 1] * ys + m[1, 2], m[1, 0] * xs)
        source_y /= w
        return _remap(pixels, source_x, source_y, fill, nearest)

    def move_points(self, points: np.ndarray, size: tuple[int, int], *, corners: list[list[float]],
                    **params: Any) -> np.ndarray:
        """Where ``apply`` puts each point (pixel-edge coordinates): the forward homography, frame to moved corners."""
        if min(size) < 2:
            return np.array(points, dtype=np.float64)
        forward = np.array(homography(*_perspective_frames(*size, corners)))
        centred = np.asarray(points, dtype=np.float64) - 0.5
        projected = np.column_stack([centred, np.ones(len(centred))]) @ forward.T
        return projected[:, :2] / projected[:, 2:3] + 0.5


def _outer_sum(column: np.ndarray, row: np.ndarray) -> np.ndarray:
    """``column[:, None] + row[None, :]`` (float32), as one matrix product [column, 1] @ [1; row]: 5.5 against
    18 us at 256x256 (numpy's broadcast add runs its loop once per row). The same values on any CPU and
    BLAS kernel: each entry is column_i x 1 + 1 x row_j, two exact products and one correctly rounded sum,
    whatever the order of the terms or a fused multiply-add (a test compares with the broadcast add)."""
    left = np.empty((len(column), 2), dtype=np.float32)
    left[:, 0], left[:, 1] = column, 1.0
    right = np.empty((2, len(row)), dtype=np.float32)
    right[0], right[1] = 1.0, row
    return left @ right


def _perspective_frames(width: int, height: int, corners: list[list[float]]) -> tuple[list, list]:
    """The image's corner pixels and where perspective's recorded offsets move them (OpenCV pixel centres)."""
    frame = [(0.0, 0.0), (width - 1.0, 0.0), (width - 1.0, height - 1.0), (0.0, height - 1.0)]
    return frame, [(x + dx, y + dy) for (x, y), (dx, dy) in zip(frame, corners, strict=True)]


def _upsample_bilinear(grid: np.ndarray, width: int, height: int) -> np.ndarray:
    """A coarse grid of values stretched over width x height pixels (corner-aligned), element-wise."""
    rows, cols = grid.shape
    gy = np.linspace(0, rows - 1, height)[:, None]
    gx = np.linspace(0, cols - 1, width)[None, :]
    y0, x0 = np.minimum(gy.astype(int), rows - 2), np.minimum(gx.astype(int), cols - 2)
    fy, fx = gy - y0, gx - x0
    top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
    bottom = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


@register
@dataclass(frozen=True)
class Elastic(Operator):
    """An elastic deformation: every pixel moves by a smooth random field of at most ``alpha``
    pixels, made by drawing a displacement at each point of a ``grid`` x ``grid`` lattice and
    interpolating bilinearly between them (the smooth field of Simard et al. 2003, built from
    a lattice rather than a Gaussian-filtered noise image: element-wise, hence the same bytes
    on any CPU). The field is regenerated from the recorded ``field_seed``."""

    name = "elastic"
    modality = "image"
    alpha: tuple[float, float] = (1.0, 4.0)
    grid: int = 4
    fill: int = 0

    def validate(self) -> None:
        _set_range(self, "alpha", 0.0, 1000.0)
        if isinstance(self.grid, bool) or not isinstance(self.grid, int) or not 2 <= self.grid <= 64:
            raise OperatorConfigError(f"{self.name}.grid must be an int in [2, 64], got {self.grid!r}")
        _check_fill(self)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"alpha": _uniform(rng, *self.alpha), "grid": self.grid, "field_seed": int(rng.integers(0, 2**31)),
                "fill": self.fill}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, *, alpha: float, grid: int, field_seed: int, fill: int,
              nearest: bool = False) -> np.ndarray:
        width, height = image_size(pixels)
        field = elastic_field(grid, field_seed)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        source_x = xs + alpha * _upsample_bilinear(field[0], width, height)
        source_y = ys + alpha * _upsample_bilinear(field[1], width, height)
        return _remap(pixels, source_x, source_y, fill, nearest)

    def move_points(self, points: np.ndarray, size: tuple[int, int], *, alpha: float, grid: int, field_seed: int,
                    **params: Any) -> np.ndarray:
        """Where ``apply`` puts each point (pixel-edge coordinates). ``apply`` pulls output pixel q from
        q + alpha * field(q); a point p therefore lands on the q solving q + alpha * field(q) = p, found by
        fixed-point iteration. That converges while the warp does not fold (alpha times the field's
        slope, 2 * (grid - 1) / (side - 1), below 1: true for the default ranges); past that the image
        itself folds, several q show p, and the iteration returns the last it reached."""
        field = elastic_field(grid, field_seed)
        target = np.asarray(points, dtype=np.float64) - 0.5
        moved = target.copy()
        for _ in range(100):
            step = target - alpha * field_at(field, *size, moved) - moved
            moved += step
            if np.abs(step).max(initial=0.0) < 1e-6:
                break
        return moved + 0.5


def elastic_field(grid: int, field_seed: int) -> np.ndarray:
    """Elastic's lattice of displacements (2 x grid x grid, in [-1, 1]) from its recorded seed."""
    return np.random.default_rng(field_seed).uniform(-1.0, 1.0, size=(2, grid, grid))


def field_at(field: np.ndarray, width: int, height: int, points: np.ndarray) -> np.ndarray:
    """The displacement lattice at any points (N x 2, OpenCV pixel-centre coordinates), interpolated as
    ``_upsample_bilinear`` does at the pixel centres (the lattice's corners on the corner pixels'
    centres; points beyond them take the edge value)."""
    rows, cols = field.shape[1:]
    gx = np.clip(points[:, 0] * ((cols - 1) / (width - 1) if width > 1 else 0.0), 0, cols - 1)
    gy = np.clip(points[:, 1] * ((rows - 1) / (height - 1) if height > 1 else 0.0), 0, rows - 1)
    x0, y0 = np.minimum(gx.astype(int), cols - 2), np.minimum(gy.astype(int), rows - 2)
    fx, fy = gx - x0, gy - y0
    out = np.empty((len(points), 2))
    for axis in range(2):
        grid = field[axis]
        top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
        bottom = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
        out[:, axis] = top * (1 - fy) + bottom * fy
    return out
