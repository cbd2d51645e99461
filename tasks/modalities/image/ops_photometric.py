"""Image operators that change pixel values but never move them: blurs, sharpness,
JPEG artefacts, greyscale, the PIL ``ImageOps`` colour maps (posterize, solarize,
equalize, autocontrast) and random erasing. Boxes, masks and keypoints are
untouched by all of them.

Every one computes in integers (Pillow's LUTs, OpenCV's fixed-point Gaussian, a
sum of shifted copies for motion blur) or in libjpeg-turbo's exact integer DCT, so
its bytes do not depend on the CPU's SIMD level (README, reproducibility).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image.ops import _Enhance, _on_pixels, _set_range, _uniform, image_size, lookup
from augmill.tasks.ops.base import Operator, OperatorConfigError
from augmill.tasks.ops.policy import register


def _int_between(rng: np.random.Generator, pair: tuple[float, float]) -> int:
    return int(rng.integers(round(pair[0]), round(pair[1]) + 1))


@functools.lru_cache(maxsize=256)
def gaussian_kernel(sigma: float) -> np.ndarray:
    """The 1-D Gaussian of std ``sigma`` over 2 * ceil(3 sigma) + 1 taps, in 1/256ths that sum to
    exactly 1 (rounded; the centre tap takes the remainder, so it stays symmetric); end taps that
    round to 0 are dropped (they would only cost time)."""
    half = math.ceil(3 * sigma)
    weights = [math.exp(-0.5 * (x / sigma) ** 2) for x in range(-half, half + 1)]
    taps = [round(256 * w / sum(weights)) for w in weights]
    taps[half] += 256 - sum(taps)
    while len(taps) > 1 and taps[0] == 0:
        taps = taps[1:-1]
    return np.array(taps, dtype=np.float32) / 256


@register
@dataclass(frozen=True)
class GaussianBlur(Operator):
    """Blur with a Gaussian of std ``sigma`` pixels (``gaussian_kernel``: 2 * ceil(3 sigma) + 1 taps in
    1/256ths, edges reflected), by OpenCV's separable filter.

    Why 1/256ths: OpenCV filters 8-bit images with a symmetric smoothing kernel in 8-bit fixed point,
    in integers, and a kernel already in 1/256ths converts exactly; even a float path would be exact
    (every product and sum is a multiple of 2^-16 below 2^8), so the bytes are the same on any CPU.
    ~2x ``cv2.GaussianBlur``'s bit-exact path at sigma 2 (which also quantises its kernel)."""

    name = "gaussian_blur"
    modality = "image"
    sigma: tuple[float, float] = (0.1, 2.0)

    def validate(self) -> None:
        _set_range(self, "sigma", 0.0, 50.0)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"sigma": _uniform(rng, *self.sigma)}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, sigma: float) -> np.ndarray:
        if sigma == 0:
            return pixels.copy()
        import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

        kernel = gaussian_kernel(sigma)
        return cv2.sepFilter2D(pixels, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)


def line_offsets(length: int, angle: float) -> list[tuple[int, int]]:
    """``length`` integer (dx, dy) steps along a line through the origin at ``angle`` degrees
    (0 is horizontal), centred, each the nearest pixel to its point: the motion-blur kernel."""
    radians = math.radians(angle)
    half = (length - 1) / 2
    return [(round((i - half) * math.cos(radians)), round(-(i - half) * math.sin(radians))) for i in range(length)]


@register
@dataclass(frozen=True)
class MotionBlur(Operator):
    """Average ``length`` copies of the image shifted along a line at ``angle`` degrees,
    as a camera moving during the exposure; edges repeat. Integer sums, rounded."""

    name = "motion_blur"
    modality = "image"
    length: tuple[float, float] = (3, 9)
    angle: tuple[float, float] = (0.0, 180.0)

    def validate(self) -> None:
        _set_range(self, "length", 1, 101)
        _set_range(self, "angle", -360.0, 360.0)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"length": _int_between(rng, self.length), "angle": _uniform(rng, *self.angle)}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, length: int, angle: float) -> np.ndarray:
        import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

        offsets = line_offsets(length, angle)
        columns, rows = [dx for dx, _ in offsets], [dy for _, dy in offsets]
        kernel = np.zeros((max(rows) - min(rows) + 1, max(columns) - min(columns) + 1), dtype=np.float32)
        for dx, dy in offsets:
            kernel[dy - min(rows), dx - min(columns)] += 1  # two steps may round to one pixel: it counts twice
        if kernel.size < _DIRECT_FILTER_AREA:
            # The sum of the shifted copies as one filter: integer weights, 16-bit integer sums, exact.
            total = cv2.filter2D(pixels, cv2.CV_16S, kernel, anchor=(-min(columns), -min(rows)),
                                 borderType=cv2.BORDER_REPLICATE)
        else:
            height, width = pixels.shape[:2]
            reach = max(max(abs(dx), abs(dy)) for dx, dy in offsets)
            padded = cv2.copyMakeBorder(pixels, reach, reach, reach, reach, cv2.BORDER_REPLICATE)
            total = np.zeros(pixels.shape, dtype=np.int16)  # 101 x 255 fits
            for dx, dy in offsets:
                np.add(total, padded[reach + dy:reach + dy + height, reach + dx:reach + dx + width], out=total)
        total += length // 2
        np.floor_divide(total, length, out=total)  # the rounded mean
        return total.astype(np.uint8)


# OpenCV's filter2D turns to a DFT (float, inexact) for kernels of 50 taps or more (130 on CPUs with SSE3, for
# 8-bit input): below both it sums directly, and integer weights on 8-bit samples give exact sums on any CPU.
_DIRECT_FILTER_AREA = 50


def sharpen(pixels: np.ndarray, factor: float) -> np.ndarray:
    """uint8 pixels blended with their 3x3 smoothed copy (PIL's SMOOTH kernel: 5 at the centre,
    1 around, over 13; edges repeated): ``smooth + factor x (pixels - smooth)``, rounded and
    clipped, as one 3x3 filter whose weights are whole 1/1024ths (the centre's makes them sum
    to exactly 1, so flat areas stay flat).

    Why this is the same on any CPU although OpenCV filters 8-bit images in float32: every product
    and partial sum is a multiple of 2^-11 below 2^13 in magnitude, which float32 holds exactly, so
    the sum is exact in any order, SIMD or not; the 1/2048 added keeps it off the halfway points, so
    every rounding rule rounds it the same way. ~2.5x the integer numpy version this replaced."""
    import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

    around = round(1024 * (1 - factor) / 13)
    kernel = np.full((3, 3), around, dtype=np.float32)
    kernel[1, 1] = 1024 - 8 * around
    return cv2.filter2D(pixels, -1, kernel / 1024, delta=1 / 2048, borderType=cv2.BORDER_REPLICATE)


@register
@dataclass(frozen=True)
class Sharpness(_Enhance):
    """Sharpen (``factor`` above 1) or soften (below 1) edges, as PIL's ``ImageEnhance.Sharpness``
    (see ``sharpen``); factor 1 is the identity; alpha untouched."""

    name = "sharpness"

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, factor: float) -> np.ndarray:
        return sharpen(pixels, factor)


@register
@dataclass(frozen=True)
class JpegCompression(Operator):
    """Encode as JPEG at ``quality`` (libjpeg-turbo, 4:2:0 chroma for colour, integer DCT) and
    decode again: the blocking and ringing of a real camera or web pipeline; alpha untouched.

    By OpenCV's libjpeg-turbo (in memory, ~1.7x Pillow's encode and decode through a file object).
    Its SIMD code gives the C code's bytes for the integer DCT, colour conversion and chroma
    resampling (libjpeg-turbo tests exactly that); test_other_cpu checks it on an older CPU model."""

    name = "jpeg"
    modality = "image"
    quality: tuple[float, float] = (50, 95)

    def validate(self) -> None:
        _set_range(self, "quality", 1, 100)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"quality": _int_between(rng, self.quality)}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, quality: int) -> np.ndarray:
        import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

        # OpenCV's codecs take colour as BGR: the luma and chroma must come from the right bands.
        colour = pixels.ndim == 3
        encoded = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if colour else pixels,
                               [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 0,
                                cv2.IMWRITE_JPEG_PROGRESSIVE, 0, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])[1]
        if not colour:
            return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
        # libjpeg-turbo writes RGB as readily as BGR (the same conversion, bands in another order): one
        # copy fewer than decoding to BGR and swapping (OpenCV 4.11 and later; older ones swap).
        if hasattr(cv2, "IMREAD_COLOR_RGB"):
            return cv2.imdecode(encoded, cv2.IMREAD_COLOR_RGB)
        return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@register
@dataclass(frozen=True)
class Grayscale(Operator):
    """Drop the colour (ITU-R 601 luma, OpenCV's integer formula), keeping the mode: an
    RGB image stays RGB with three equal bands; the identity on "L"; alpha untouched."""

    name = "grayscale"
    modality = "image"

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, **params: Any) -> np.ndarray:
        if pixels.ndim == 2:
            return pixels.copy()
        import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

        # OpenCV's fixed-point BT.601 luma (integer: the same on every CPU), 2.5x Pillow's convert.
        return cv2.cvtColor(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


@dataclass(frozen=True)
class _IntegerTable(Operator):
    """An operator that maps every colour sample through a 256-entry table made from one integer
    parameter (``knob``, drawn from its configured range within ``limits``); alpha untouched."""

    modality = "image"
    knob: ClassVar[str]
    limits: ClassVar[tuple[int, int]]

    def validate(self) -> None:
        _set_range(self, self.knob, *self.limits)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {self.knob: _int_between(rng, getattr(self, self.knob))}

    @staticmethod
    def table(value: int) -> np.ndarray:
        raise NotImplementedError

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, **params: int) -> np.ndarray:
        return lookup(pixels, self.table(params[self.knob]))


@register
@dataclass(frozen=True)
class Posterize(_IntegerTable):
    """Keep the top ``bits`` bits of each colour sample (8 is the identity); alpha untouched."""

    name = "posterize"
    knob, limits = "bits", (1, 8)
    bits: tuple[float, float] = (4, 8)

    @staticmethod
    @functools.cache
    def table(bits: int) -> np.ndarray:
        return np.arange(256, dtype=np.uint8) & np.uint8((0xFF << (8 - bits)) & 0xFF)


@register
@dataclass(frozen=True)
class Solarize(_IntegerTable):
    """Invert every colour sample at or above ``threshold`` (256 is the identity); alpha untouched."""

    name = "solarize"
    knob, limits = "threshold", (0, 256)
    threshold: tuple[float, float] = (128, 256)

    @staticmethod
    @functools.cache
    def table(threshold: int) -> np.ndarray:
        values = np.arange(256)
        return np.where(values >= threshold, 255 - values, values).astype(np.uint8)


def _per_band_lookup(pixels: np.ndarray, make_table: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Each band through its own table, made from that band's histogram (int64, 256 bins). The bands are
    split apart, each translated by ``lookup``, and merged again: 0.05 ms on 256x256 RGB, against 0.12 ms
    for OpenCV's LUT with a three-band table."""
    import cv2  # here, not at the top: see tasks.modalities.image.ops.Rotate

    bands = cv2.split(pixels) if pixels.ndim == 3 else [pixels]
    # calcHist counts in float32: exact below 2^24 samples a band; larger images count in numpy.
    exact = pixels.size // len(bands) < 2**24
    out = [lookup(band, make_table(cv2.calcHist([band], [0], None, [256], [0, 256]).ravel().astype(np.int64)
                                   if exact else np.bincount(band.ravel(), minlength=256)))
           for band in bands]
    return out[0] if len(out) == 1 else cv2.merge(out)


def equalize_table(histogram: np.ndarray) -> np.ndarray:
    """PIL's ``ImageOps.equalize`` table for one band, vectorised (the same values: a test compares)."""
    used = histogram[histogram > 0]
    step = int(used.sum() - used[-1]) // 255 if len(used) > 1 else 0
    if not step:
        return np.arange(256, dtype=np.uint8)
    before = np.concatenate([[0], np.cumsum(histogram)[:-1]])
    return np.minimum((step // 2 + before) // step, 255).astype(np.uint8)


def autocontrast_table(histogram: np.ndarray, cutoff: float) -> np.ndarray:
    """PIL's ``ImageOps.autocontrast`` table for one band, vectorised (the same values: a test compares):
    ``cutoff`` percent of the samples cut from each end, the rest stretched to 0..255."""
    histogram = histogram.copy()
    total = int(histogram.sum())
    if cutoff:
        cut = int(total * cutoff // 100)
        through = np.cumsum(histogram)
        first = int(np.argmax(through > cut)) if through[-1] > cut else 255
        histogram[:first] = 0
        histogram[first] = max(0, int(through[first]) - cut)
        cut = int(total * cutoff // 100)
        back = np.cumsum(histogram[::-1])[::-1]
        last = int(np.flatnonzero(back > cut)[-1]) if back[0] > cut else 0
        histogram[last + 1:] = 0
        histogram[last] = max(0, int(back[last]) - cut)
    nonzero = np.flatnonzero(histogram)
    return _stretch_table(*(int(nonzero[0]), int(nonzero[-1])) if len(nonzero) else (255, 0))


@functools.lru_cache(maxsize=1024)  # a function of two bytes: built once each, read-only, shared
def _stretch_table(low: int, high: int) -> np.ndarray:
    """Values ``low``..``high`` stretched to 0..255, as PIL's ``autocontrast`` (its float scale and offset)."""
    if high <= low:
        table = np.arange(256, dtype=np.uint8)
    else:
        scale = 255.0 / (high - low)
        table = np.clip((np.arange(256) * scale + -low * scale).astype(np.int64), 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


@register
@dataclass(frozen=True)
class Equalize(Operator):
    """Equalise each colour band's histogram (PIL's ``ImageOps.equalize``); alpha untouched."""

    name = "equalize"
    modality = "image"

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, **params: Any) -> np.ndarray:
        return _per_band_lookup(pixels, equalize_table)


@register
@dataclass(frozen=True)
class Autocontrast(Operator):
    """Stretch each colour band to 0..255 after cutting ``cutoff`` percent of the darkest and
    brightest samples (PIL's ``ImageOps.autocontrast``); alpha untouched."""

    name = "autocontrast"
    modality = "image"
    cutoff: tuple[float, float] = (0.0, 2.0)

    def validate(self) -> None:
        _set_range(self, "cutoff", 0.0, 49.0)

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {"cutoff": _uniform(rng, *self.cutoff)}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, cutoff: float) -> np.ndarray:
        return _per_band_lookup(pixels, lambda histogram: autocontrast_table(histogram, cutoff))


@register
@dataclass(frozen=True)
class Identity(Operator):
    """Leave the image as it is: one of RandAugment's and TrivialAugment's choices, recorded
    so that a variant's lineage says so rather than listing nothing."""

    name = "identity"
    modality = "image"

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        return {}

    def apply(self, item: Image.Image, **params: Any) -> Image.Image:
        return item.copy()


@register
@dataclass(frozen=True)
class Erasing(Operator):
    """Random erasing / coarse dropout (Zhong et al. 2020; DeVries & Taylor 2017): fill
    ``holes`` rectangles, each with sides a ``size`` fraction of the image's, with grey
    ``fill``. The rectangles are recorded as ``boxes`` [left, top, right, bottom] in pixels
    (right and bottom exclusive), so the lineage says exactly what was hidden; alpha untouched."""

    name = "erasing"
    modality = "image"
    holes: tuple[float, float] = (1, 1)
    size: tuple[float, float] = (0.1, 0.3)
    fill: int = 0

    def validate(self) -> None:
        _set_range(self, "holes", 1, 64)
        _set_range(self, "size", 0.0, 1.0)
        if isinstance(self.fill, bool) or not isinstance(self.fill, int) or not 0 <= self.fill <= 255:
            raise OperatorConfigError(f"{self.name}.fill must be an int grey value in [0, 255], got {self.fill!r}")

    def sample(self, rng: np.random.Generator, item: Image.Image) -> dict[str, Any]:
        width, height = image_size(item)
        boxes = []
        for _ in range(_int_between(rng, self.holes)):
            w = max(1, round(width * rng.uniform(*self.size)))
            h = max(1, round(height * rng.uniform(*self.size)))
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            boxes.append([left, top, left + w, top + h])
        return {"boxes": boxes, "fill": self.fill}

    @_on_pixels(colour_only=True)
    def apply(self, pixels: np.ndarray, *, boxes: list[list[int]], fill: int) -> np.ndarray:
        pixels = pixels.copy()
        for left, top, right, bottom in boxes:
            pixels[top:bottom, left:right] = fill
        return pixels
