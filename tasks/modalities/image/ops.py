"""Image operators: geometric (flips, rotate, crop, zoom) and photometric (brightness,
contrast, saturation, hue, Gaussian noise).

Every ``apply`` takes a ``PIL.Image.Image`` or its pixels (a uint8 array, see
``to_pixels``) and returns a new one of the same form, mode and size: a policy
converts a Pillow image to pixels once and runs all its operators on them. The operators
work on "L", "RGB" and "RGBA"; any other mode ("LA", "P", "I;16", ...) is
converted to one of those and back, which is lossy for "P" (re-quantised) and
"I;16" (clipped to 8 bits). The pipeline normalises its inputs first, so that
path only keeps stray inputs from crashing. Photometric operators leave the
alpha band untouched; geometric ones move it with the pixels, and padding
(rotate, scale) is opaque grey ``fill``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageEnhance

from augmill.tasks.ops.base import Operator, OperatorConfigError, check_range
from augmill.tasks.ops.registry import WORKING_FORMS, register

BILINEAR = Image.Resampling.BILINEAR
NEAREST = Image.Resampling.NEAREST
NATIVE_MODES = ("L", "RGB", "RGBA")


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # Rounded so the manifest stays short; apply receives exactly this value,
    # so the run and its replay agree bit for bit. numpy's ``uniform`` is ``low + (high - low) x
    # next_double`` in C doubles, and ``random`` is that next_double: the same draw and the same value
    # (a test compares), at half the cost (1.3 against 2.6 us; a preset's affine draws six a sample).
    return round(low + (high - low) * rng.random(), 4)


def _set_range(op: Operator, field: str, low: float, high: float) -> None:
    # YAML gives lists: store the checked float pair so the frozen op stays hashable.
    object.__setattr__(op, field, check_range(op.name, field, getattr(op, field), low, high))


def _check_fill(op: Operator) -> None:
    fill = op.fill
    if isinstance(fill, bool) or not isinstance(fill, int) or not 0 <= fill <= 255:
        raise OperatorConfigError(f"{op.name}.fill must be an int grey value in [0, 255], got {fill!r}")


def _fill_colour(mode: str, fill: int) -> int | tuple[int, ...]:
    return {"L": fill, "RGB": (fill,) * 3, "RGBA": (fill, fill, fill, 255)}[mode]


def _working_mode(image: Image.Image) -> str:
    if image.mode in NATIVE_MODES:
        return image.mode
    if "A" in image.getbands() or "transparency" in image.info:
        return "RGBA"
    return "RGB" if image.mode == "P" or len(image.getbands()) > 1 else "L"


def affine_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N x 2, pixel-edge coordinates: the image spans [0, w] x [0, h], as boxes do) through a
    2x3 forward matrix written in OpenCV's pixel-centre coordinates (pixel i's centre at i)."""
    centred = np.asarray(points, dtype=np.float64) - 0.5
    return centred @ np.asarray(matrix, dtype=np.float64)[:, :2].T + np.asarray(matrix, dtype=np.float64)[:, 2] + 0.5


def image_size(item: Image.Image | np.ndarray) -> tuple[int, int]:
    """(width, height) of a Pillow image or of a pixel array (rows x columns [x bands])."""
    if isinstance(item, np.ndarray):
        return item.shape[1], item.shape[0]
    return item.size


def pixel_mode(pixels: np.ndarray) -> str:
    """The Pillow mode a pixel array stands for: H x W is "L", H x W x 3 "RGB", H x W x 4 "RGBA"."""
    return "L" if pixels.ndim == 2 else {3: "RGB", 4: "RGBA"}[pixels.shape[2]]


def to_pixels(item: Image.Image | np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """The image as the uint8 array the operators work on, and the function giving the caller's
    form back. A Pillow image of another mode than L/RGB/RGBA goes to one of those and back
    (lossy for "P" and "I;16", see the module's docstring); an array is already the working form.

    Why arrays between operators: each Pillow <-> numpy conversion copies the image (~0.05 ms each
    way at 256x256 RGB, as long as a table operator's whole work), so a policy converts once per
    sample (tasks.ops.policy.run_policy), not once per operator."""
    if isinstance(item, np.ndarray):
        return item, _same
    mode = _working_mode(item)
    pixels = np.asarray(item if mode == item.mode else item.convert(mode))
    if mode == item.mode:
        return pixels, Image.fromarray
    return pixels, lambda out: Image.fromarray(out).convert(item.mode)


def _same(pixels: np.ndarray) -> np.ndarray:
    return pixels


WORKING_FORMS["image"] = to_pixels


def _on_pixels(colour_only: bool = False):
    """Turn ``apply(self, pixels, **params) -> pixels`` (uint8 arrays, L/RGB/RGBA) into an ``apply``
    taking and returning either form: a Pillow image in, a Pillow image out (tests, targets' masks,
    validate), an array in, an array out (inside a policy). ``colour_only``: the alpha band of an
    RGBA array passes through as is, the core sees the colour bands alone. A core never writes
    into the array it is given: the policy's source is reused."""

    def decorate(core):
        @functools.wraps(core)
        def apply(self: Operator, item: Image.Image | np.ndarray, **params: Any) -> Image.Image | np.ndarray:
            pixels, leave = to_pixels(item)
            if not (colour_only and pixels.ndim == 3 and pixels.shape[2] == 4):
                return leave(core(self, pixels, **params))
            out = np.empty_like(pixels)
            out[..., :3] = core(self, np.ascontiguousarray(pixels[..., :3]), **params)
            out[..., 3] = pixels[..., 3]
            return leave(out)

        return apply

    return decorate


def as_four_bands(pixels: np.ndarray, warp: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``warp`` (an OpenCV warp treating every band alike) run on RGB pixels as RGBA, and the added band
    dropped again. OpenCV 5's 8-bit four-band warp loops are vectorised where its three-band ones are not:
    with both copies, warpAffine takes 0.16 against 0.32 ms and remap 0.49 against 0.79 ms at 256x256.
    Each band is interpolated on its own, so the three come out as they did (tests compare)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        return warp(pixels)
    import cv2  # here, not at the top: see Rotate

    return cv2.cvtColor(warp(cv2.cvtColor(pixels, cv2.COLOR_RGB2RGBA)), cv2.COLOR_RGBA2RGB)


def lookup(pixels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Every sample mapped through a 256-entry uint8 table, by StringZilla's byte translation: ~7x
    OpenCV's ``LUT`` (8 against 57 us on 256x256 RGB). Exact whichever SIMD path it takes: each byte is
    replaced by its table entry, integer work with one possible answer."""
    import stringzilla  # here, not at the top, as cv2 (see Rotate)

    pixels = np.ascontiguousarray(pixels)
    out = np.empty_like(pixels)
    stringzilla.translate(memoryview(pixels), memoryview(table), out=memoryview(out))
    return out


def through_pillow(pixels: np.ndarray, change: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """An operation Pillow does (enhancers, its affine transform, ImageOps) on a pixel array."""
    return np.asarray(change(Image.fromarray(pixels)))


@register
@dataclass(frozen=True)
class HFlip(Operator):
    """Mirror left-right."""

    name = "hflip"
    modality = "image"

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, **params: Any) -> np.ndarray:
        import cv2  # here, not at the top: see Rotate

        return cv2.flip(pixels, 1)

    def move_points(self, points: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        """Where ``apply`` puts each point (pixel-edge coordinates, as every ``move_points``)."""
        return np.column_stack([size[0] - points[:, 0], points[:, 1]])


@register
@dataclass(frozen=True)
class VFlip(Operator):
    """Mirror top-bottom."""

    name = "vflip"
    modality = "image"

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, **params: Any) -> np.ndarray:
        import cv2  # here, not at the top: see Rotate

        return cv2.flip(pixels, 0)

    def move_points(self, points: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return np.column_stack([points[:, 0], size[1] - points[:, 1]])


# OpenCV 4's remap, under warpAffine, refuses images with a side of SHRT_MAX or more.
_OPENCV_MAX_SIDE = 32766


@register
@dataclass(frozen=True)
class Rotate(Operator):
    """Rotate counter-clockwise by ``angle`` degrees about the centre (bilinear),
    keeping the size; the uncovered corners get grey ``fill``.

    Done by OpenCV's ``warpAffine`` (fixed-point bilinear, 1/32-pixel positions):
    ~4x faster than Pillow's ``rotate`` (0.6 against 2.3 ms on a 256x256 image).
    Inside the image it agrees with Pillow to within 1; along the image's rotated
    edge OpenCV blends the edge pixels with ``fill`` where Pillow cuts hard.
    Deterministic whatever OpenCV's thread count (each output pixel is computed
    alone). Images with a side past OpenCV 4's limit use Pillow's ``rotate``."""

    name = "rotate"
    modality = "image"
    angle: tuple[float, float] = (-15.0, 15.0)
    fill: int = 0

    def validate(self) -> None:
        _set_range(self, "angle", -360.0, 360.0)
        _check_fill(self)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"angle": _uniform(rng, *self.angle), "fill": self.fill}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, *, angle: float, fill: int, nearest: bool = False) -> np.ndarray:
        # nearest: the path masks take (class ids must not be blended); the policy never sets it.
        width, height = image_size(pixels)
        if max(width, height) > _OPENCV_MAX_SIDE:
            return through_pillow(pixels, lambda image: image.rotate(
                angle, resample=NEAREST if nearest else BILINEAR, fillcolor=_fill_colour(image.mode, fill)))
        import cv2  # here, not at the top: its import would add ~0.1 s to every stage's start

        matrix = rotation_matrix(width, height, angle)
        return as_four_bands(pixels, lambda bands: cv2.warpAffine(
            bands, matrix, (width, height), flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=_fill_colour(pixel_mode(bands), fill)))

    def move_points(self, points: np.ndarray, size: tuple[int, int], *, angle: float, **params: Any) -> np.ndarray:
        # Pillow's fallback turns about the same centre ((w / 2, h / 2) in its half-integer coordinates).
        return affine_points(rotation_matrix(*size, angle), points)


def rotation_matrix(width: int, height: int, angle: float) -> np.ndarray:
    """Rotate's 2x3 forward matrix (OpenCV pixel-centre coordinates), shared by pixels and targets."""
    import cv2

    # About the image's centre: OpenCV puts pixel centres at integer coordinates
    # (Pillow at half-integers), so that is ((w - 1) / 2, (h - 1) / 2).
    return cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)


@register
@dataclass(frozen=True)
class RandomResizedCrop(Operator):
    """Crop a box covering ``scale`` of the area with aspect ratio (w/h) in
    ``ratio``, then resize it back to the original size (bilinear, OpenCV). The box
    is drawn as torchvision's ``RandomResizedCrop.get_params`` does.

    ``keep_objects`` (images with targets, bias.policy: rebalance): the box keeps at least one
    object of the class the plan gave the image its variants for, whole (tasks.modalities.image.ops_targets.
    safe_crop_params); the params then record ``keep_class``. Without targets it does nothing."""

    name = "random_resized_crop"
    modality = "image"
    scale: tuple[float, float] = (0.8, 1.0)
    ratio: tuple[float, float] = (0.75, 1.3333)
    keep_objects: bool = False

    def validate(self) -> None:
        _set_range(self, "scale", 0.0, 1.0)
        _set_range(self, "ratio", 0.01, 100.0)
        if not isinstance(self.keep_objects, bool):
            raise OperatorConfigError(f"{self.name}.keep_objects must be true or false, got {self.keep_objects!r}")
        if self.scale[0] <= 0.0:
            raise OperatorConfigError(f"{self.name}.scale must have min > 0, got {list(self.scale)}")

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        width, height = image_size(item)
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            area = width * height * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
                return {"left": left, "top": top, "width": w, "height": h}
        # No luck (extreme aspect ratios): the largest centred box whose aspect fits `ratio`.
        w, h = width, height
        if width / height < self.ratio[0]:
            h = max(1, round(width / self.ratio[0]))
        elif width / height > self.ratio[1]:
            w = max(1, round(height * self.ratio[1]))
        return {"left": (width - w) // 2, "top": (height - h) // 2, "width": w, "height": h}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, *, left: int, top: int, width: int, height: int,
              nearest: bool = False, keep_class: int | None = None) -> np.ndarray:
        # keep_class: the class a keep_objects box was drawn to keep (lineage only; the box is the box).
        import cv2  # here, not at the top: see Rotate

        crop = pixels[top:top + height, left:left + width]
        if nearest:  # NEAREST_EXACT samples at pixel centres, as the bilinear path; plain NEAREST is half a pixel off
            return cv2.resize(crop, image_size(pixels), interpolation=cv2.INTER_NEAREST_EXACT)

        # The box never exceeds the image, so this only enlarges, where OpenCV's bilinear resize
        # of the cropped pixels is Pillow's box resize to within 1 (OpenCV repeats the box's edge
        # pixels where Pillow reads just past the box) at a third of the time (0.35 against 1.0 ms).
        return cv2.resize(crop, image_size(pixels), interpolation=cv2.INTER_LINEAR)

    def move_points(self, points: np.ndarray, size: tuple[int, int], *, left: int, top: int, width: int, height: int,
                    **params: Any) -> np.ndarray:
        # cv2.resize aligns pixel centres, so pixel edges map linearly: [left, left + width] -> [0, w].
        return np.column_stack([(points[:, 0] - left) * (size[0] / width), (points[:, 1] - top) * (size[1] / height)])


@register
@dataclass(frozen=True)
class Scale(Operator):
    """Zoom about the centre by ``factor``, keeping the size: above 1 the border
    is cropped away, below 1 the content shrinks and is padded with grey
    ``fill``. Bilinear without antialiasing, fine for factors near 1."""

    name = "scale"
    modality = "image"
    factor: tuple[float, float] = (0.9, 1.1)
    fill: int = 0

    def validate(self) -> None:
        _set_range(self, "factor", 0.1, 10.0)
        _check_fill(self)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"factor": _uniform(rng, *self.factor), "fill": self.fill}

    @_on_pixels()
    def apply(self, pixels: np.ndarray, *, factor: float, fill: int, nearest: bool = False) -> np.ndarray:
        w, h = image_size(pixels)
        inv = 1.0 / factor
        # The affine maps each output point to its source: c + (x - c) / factor.
        data = (inv, 0.0, w / 2 * (1 - inv), 0.0, inv, h / 2 * (1 - inv))
        return through_pillow(pixels, lambda image: image.transform(
            image.size, Image.Transform.AFFINE, data, NEAREST if nearest else BILINEAR,
            fillcolor=_fill_colour(image.mode, fill)))

    def move_points(self, points: np.ndarray, size: tuple[int, int], *, factor: float, **params: Any) -> np.ndarray:
        # Pillow's affine samples at pixel centres (x + 0.5), so in pixel-edge coordinates the inverse
        # of apply's map is exactly c + (x - c) * factor about c = (w / 2, h / 2).
        centre = np.array([size[0] / 2, size[1] / 2])
        return centre + (points - centre) * factor


@dataclass(frozen=True)
class _Enhance(Operator):
    """A ``PIL.ImageEnhance`` operator: factor 1 is the identity."""

    enhancer: ClassVar[type]
    modality = "image"
    factor: tuple[float, float] = (0.8, 1.2)

    def validate(self) -> None:
        _set_range(self, "factor", 0.0, 10.0)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"factor": _uniform(rng, *self.factor)}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, factor: float) -> np.ndarray:
        return through_pillow(pixels, lambda image: self.enhancer(image).enhance(factor))


@functools.lru_cache(maxsize=1024)  # a preset's factors repeat (one per magnitude); a read-only table is safe to share
def blend_table(grey: int, factor: float) -> np.ndarray:
    """What ``Image.blend`` (so ``ImageEnhance``) makes of each value v blended with a flat ``grey`` by
    ``factor``: grey + factor x (v - grey) in C floats (float32), truncated, clipped to 0..255. The
    same arithmetic in numpy's float32, so the table gives Pillow's bytes (a test compares)."""
    values = np.arange(256, dtype=np.float32)
    blended = np.float32(grey) + np.float32(factor) * (values - np.float32(grey))
    table = np.clip(np.trunc(blended), 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


def mean_grey(pixels: np.ndarray) -> int:
    """``ImageEnhance.Contrast``'s grey: the mean of Pillow's "L" conversion (ITU-R 601 luma in 16-bit
    fixed point, as Pillow's ``convert``), rounded half up."""
    if pixels.ndim == 2:
        luma = pixels
    else:
        luma = pixels[..., 0].astype(np.int32) * 19595
        luma += pixels[..., 1].astype(np.int32) * 38470
        luma += pixels[..., 2].astype(np.int32) * 7471
        luma += 0x8000
        luma >>= 16
    return int(int(luma.sum(dtype=np.int64)) / luma.size + 0.5)


@register
@dataclass(frozen=True)
class Brightness(_Enhance):
    """Scale the brightness by ``factor`` (0 is black); alpha untouched."""

    name = "brightness"
    enhancer = ImageEnhance.Brightness

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, factor: float) -> np.ndarray:
        return lookup(pixels, blend_table(0, factor))  # Pillow blends with black: one table


@register
@dataclass(frozen=True)
class Contrast(_Enhance):
    """Scale the contrast by ``factor`` about the mean grey (0 is a flat image); alpha untouched."""

    name = "contrast"
    enhancer = ImageEnhance.Contrast

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, factor: float) -> np.ndarray:
        return lookup(pixels, blend_table(mean_grey(pixels), factor))  # Pillow blends with a flat grey: one table


@register
@dataclass(frozen=True)
class Saturation(_Enhance):
    """Scale the saturation by ``factor`` (0 is greyscale); alpha untouched.
    On "L" images it is the identity: PIL blends the image with itself."""

    name = "saturation"
    enhancer = ImageEnhance.Color


def hue_matrix(shift: float) -> tuple[float, ...]:
    """The 3x4 RGB matrix (for ``Image.convert("RGB", matrix)``) turning the hue by
    ``shift`` of the full circle: the W3C Filter Effects ``hue-rotate`` matrix (as CSS
    ``filter: hue-rotate()``), a rotation about the grey axis that keeps the luminance
    0.213 R + 0.715 G + 0.072 B (before clipping to 0..255). Each row sums to 1, so
    grey pixels stay grey; positive shifts turn red towards yellow and green."""
    angle = 2 * math.pi * shift
    c, s = math.cos(angle), math.sin(angle)
    return (
        0.213 + 0.787 * c - 0.213 * s, 0.715 - 0.715 * c - 0.715 * s, 0.072 - 0.072 * c + 0.928 * s, 0.0,
        0.213 - 0.213 * c + 0.143 * s, 0.715 + 0.285 * c + 0.140 * s, 0.072 - 0.072 * c - 0.283 * s, 0.0,
        0.213 - 0.213 * c - 0.787 * s, 0.715 - 0.715 * c + 0.715 * s, 0.072 + 0.928 * c + 0.072 * s, 0.0,
    )


@register
@dataclass(frozen=True)
class Hue(Operator):
    """Turn the hue by ``shift`` of the full circle (0.5 is half a turn; -0.5 and
    0.5 are the same): a rotation of the colours about the grey axis that keeps
    their luminance, as CSS ``hue-rotate`` (see ``hue_matrix``), applied as one
    colour matrix. Not a shift of HSV hue: it keeps luminance where HSV keeps
    value, and saturated colours may clip. Grey pixels are unchanged, so it is
    the identity on "L" images; alpha untouched.

    Why a matrix rather than an HSV round trip: one pass of Pillow's matrix
    convert is ~8x faster (0.4 against 3.3 ms on a 256x256 image) and has no
    8-bit hue quantisation."""

    name = "hue"
    modality = "image"
    shift: tuple[float, float] = (-0.05, 0.05)

    def validate(self) -> None:
        _set_range(self, "shift", -0.5, 0.5)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"shift": _uniform(rng, *self.shift)}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, shift: float) -> np.ndarray:
        # shift 0 is the identity matrix only up to float rounding: return the exact copy.
        if pixels.ndim == 2 or shift == 0:
            return pixels.copy()
        return through_pillow(pixels, lambda image: image.convert("RGB", hue_matrix(shift)))


@functools.cache
def normal_quantiles() -> np.ndarray:
    """The standard normal's quantiles at the midpoints of 2**16 equal-probability
    bins: indexed by uniform 16-bit draws, a Gaussian sample (tails cut at ±4.17)."""
    from statistics import NormalDist

    inverse_cdf = NormalDist().inv_cdf
    return np.array([inverse_cdf((k + 0.5) / 65536) for k in range(65536)])


def gaussian_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 pixels plus Gaussian noise of std sigma, rounded and clipped. The noise is
    drawn as 16-bit uniforms looked up in a table of normal quantiles, already scaled
    and rounded (pixel + round(noise) = round(pixel + noise) for integer pixels): in
    integers, ~4x faster than float32 normals, which made this the dearest operator."""
    offsets = np.rint(normal_quantiles() * sigma).astype(np.int16)  # |offset| <= 4.17 * 255 fits
    out = pixels.astype(np.int16)
    out += offsets[rng.integers(0, 65536, size=pixels.shape, dtype=np.uint16)]
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


@register
@dataclass(frozen=True)
class GaussianNoise(Operator):
    """Add i.i.d. Gaussian noise of std ``sigma`` (0..255 units) to every colour
    sample, then round and clip; alpha untouched. The noise is regenerated from
    the recorded ``noise_seed``, so replay needs no stored noise."""

    name = "gaussian_noise"
    modality = "image"
    sigma: tuple[float, float] = (0.0, 10.0)

    def validate(self) -> None:
        _set_range(self, "sigma", 0.0, 255.0)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"sigma": _uniform(rng, *self.sigma), "noise_seed": int(rng.integers(0, 2**31))}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, sigma: float, noise_seed: int) -> np.ndarray:
        if sigma == 0:
            return pixels.copy()
        return gaussian_noise(pixels, sigma, np.random.default_rng(noise_seed))


# Geometric operators move pixels (validate replays them on the source to align it with
# the variant); photometric ones change pixel values in place. Every registered image
# operator must be listed: validate looks each recorded op up here, and a test checks it.
OPERATOR_KINDS: dict[str, str] = {
    "hflip": "geometric", "vflip": "geometric", "rotate": "geometric",
    "random_resized_crop": "geometric", "scale": "geometric",
    "brightness": "photometric", "contrast": "photometric", "saturation": "photometric",
    "hue": "photometric", "gaussian_noise": "photometric",
    # tasks/modalities/image/ops_geometric.py and image_photometric.py
    "affine": "geometric", "perspective": "geometric", "elastic": "geometric",
    "gaussian_blur": "photometric", "motion_blur": "photometric", "sharpness": "photometric", "jpeg": "photometric",
    "grayscale": "photometric", "posterize": "photometric", "solarize": "photometric", "equalize": "photometric",
    "autocontrast": "photometric", "erasing": "photometric", "identity": "photometric",
}
