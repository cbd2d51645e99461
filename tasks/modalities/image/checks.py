"""How an augmented image compares with its source, measured like with like.

A rotated or cropped photo no longer lines up with its source pixel for pixel, so
comparing the two directly (as a plain SSIM does) punishes exactly the geometric
transforms users choose. The ops are recorded, so the geometry is known:

- geometric damage: replay the variant's geometric ops on a map of the source's
  coordinates, which says which parts of the source are still in frame
  (``content_kept``, weighted by detail) and how much of the frame is padding
  (``fill_fraction``);
- photometric damage: replay the geometric ops alone on the source (the *aligned
  source*) and correlate it with the variant over the pixels that are not fill
  (``photometric_similarity``);
- near copies: how much the variant differs from its source at all, in units of what
  re-saving that same source as a JPEG (quality 90) changes (``difference``): each image's
  own yardstick of an invisible change, so one bound fits smooth MRI slices (a re-save
  moves them ~0.02 std) and busy photo tiles (~0.06 std) alike.

Why a correlation and not SSIM for the photometric check: SSIM's luminance and
contrast terms count a deliberate brightness or contrast change as damage, and its
7x7 windows fall apart on flat or dark regions under mild noise (a noisy black digit
background scores ~0.3). A correlation of the aligned images at <= 128 px is blind
to gain and offset, averages mild noise away, and still drops to ~0 for a black
image, pure noise or erased content. Colour is checked on two opponent channels
(red-green, blue-yellow) as well as luminance, so a swapped channel is seen.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image.ops import OPERATOR_KINDS
from augmill.tasks.ops.mixing import MIXERS
from augmill.tasks.ops.policy import replay

WORKING_SIDE = 128  # the photometric comparison's scale: sees structure, averages pixel noise away
_BLOCKS = 64  # the coordinate map's resolution per side: content_kept to ~1/64 of a side
_BLOCK_PIXELS = 4  # at least this many pixels per block, so a zoom-out to 1/4 still reads every block back
_MIN_SIDE = 8  # coarser than this, a correlation of pure noise can come out high by chance
_MIN_CHROMA_STD = 2.0  # opponent channels flatter than this (grey images) carry no colour to compare


@dataclass(frozen=True)
class Comparison:
    content_kept: float  # share of the source's detail still in frame, 0..1
    fill_fraction: float  # share of the variant that is padding, 0..1
    photometric_similarity: float  # correlation with the aligned source over the valid region, -1..1
    difference: float  # RMS difference from the unaligned source / that of a JPEG re-save of the source

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def geometric_ops(ops: list[dict] | str) -> list[dict]:
    """The recorded ops that move pixels (see OPERATOR_KINDS), in their order."""
    records = json.loads(ops) if isinstance(ops, str) else ops
    return [op for op in records if OPERATOR_KINDS.get(op["name"]) == "geometric"]


def aligned_source(source: Image.Image, ops: list[dict] | str, load_partner=None) -> Image.Image:
    """The source with the variant's geometric ops alone: what the variant would be
    without its photometric ops, to compare like with like. A MixUp/CutMix is replayed
    too (its partner from ``load_partner``): the mix is the variant's intended content,
    so a mixed variant is compared with the aligned mix, not quarantined for being one."""
    records = json.loads(ops) if isinstance(ops, str) else ops
    kept = [op for op in records if OPERATOR_KINDS.get(op["name"]) == "geometric"
            or (load_partner is not None and op["name"] in MIXERS)]
    return replay(source, kept, "image", load_partner)


def _block_grid(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    return max(1, min(_BLOCKS, width // _BLOCK_PIXELS)), max(1, min(_BLOCKS, height // _BLOCK_PIXELS))


def _coordinate_map(size: tuple[int, int]) -> tuple[Image.Image, int, int]:
    """RGB: red and green number the block column and row of each source pixel, blue is
    255 (the valid mark; geometric ops pad with 0 here). Bilinear resampling blends
    only neighbouring block numbers, so every code read back is a real block."""
    width, height = size
    columns, rows = _block_grid(size)
    x = (np.arange(width) * columns // width).astype(np.uint8)
    y = (np.arange(height) * rows // height).astype(np.uint8)
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = x[None, :], y[:, None], 255
    return Image.fromarray(pixels, "RGB"), columns, rows


def _without_fill_colour(ops: list[dict]) -> list[dict]:
    return [{"name": op["name"], "params": op["params"] | {"fill": 0}} if "fill" in op["params"] else op
            for op in ops]


def _detail_weights(source: Image.Image, columns: int, rows: int) -> np.ndarray:
    """Per block, the mean gradient magnitude of the grey source, plus a floor of a tenth
    of its mean so that flat regions count a little: cropping away a digit's empty border
    costs almost nothing, cutting into the digit costs a lot."""
    grey = source.convert("L")
    if grey.width > 4 * columns and grey.height > 4 * rows:  # 4 px a block is detail enough, and cheap
        grey = grey.resize((4 * columns, 4 * rows), Image.Resampling.BOX)
    grey = np.asarray(grey, dtype=np.float32)
    gy, gx = np.gradient(grey) if min(grey.shape) > 1 else (np.zeros_like(grey), np.zeros_like(grey))
    magnitude = Image.fromarray(np.hypot(gx, gy).astype(np.float32), "F")
    blocks = np.asarray(magnitude.resize((columns, rows), Image.Resampling.BOX), dtype=np.float64)
    floor = 0.1 * blocks.mean() if blocks.mean() > 0 else 1.0
    return blocks + floor


def geometry(source: Image.Image, ops: list[dict] | str, facts: SourceFacts | None = None) -> tuple[float, float, np.ndarray]:
    """(content_kept, fill_fraction, valid) for the variant's geometric ops; valid marks
    the variant's pixels (full size) that come wholly from the source, not from fill."""
    steps = _without_fill_colour(geometric_ops(ops))
    codes, columns, rows = _coordinate_map(source.size)
    moved = np.asarray(replay(codes, steps, "image")) if steps else np.asarray(codes)
    valid = moved[..., 2] == 255
    # Every block spans >= 4 output pixels a side unless zoomed out past 1/4: a stride of a
    # quarter block still reads each visible block back, at a fraction of the cost.
    stride = max(1, min(source.width // columns, source.height // rows) // 4)
    sampled, inside = moved[::stride, ::stride], valid[::stride, ::stride]
    seen = np.zeros((rows, columns), bool)
    seen[np.minimum(sampled[..., 1][inside], rows - 1), np.minimum(sampled[..., 0][inside], columns - 1)] = True
    weights = (facts or source_facts(source)).detail_weights
    content_kept = float(weights[seen].sum() / weights.sum())
    fill_fraction = float(1.0 - moved[..., 2].mean() / 255.0)
    return content_kept, fill_fraction, valid


def _channels(image: Image.Image, size: tuple[int, int]) -> list[np.ndarray]:
    """Luminance, then (colour images only) the red-green and blue-yellow opponent channels."""
    image = image.convert("RGB" if image.mode in ("RGB", "RGBA") else "L")
    pixels = np.asarray(image if image.size == size else image.resize(size, Image.Resampling.BOX), dtype=np.float64)
    if pixels.ndim == 2:
        return [pixels]
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return [0.299 * r + 0.587 * g + 0.114 * b, r - g, b - (r + g) / 2]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 1e-9 else 0.0  # a flat image correlates with nothing


def _shrink(aligned: Image.Image, variant: Image.Image, valid: Image.Image, side: int):
    """Both images and the valid mask ("L", 255 = valid) at most `side` px a side."""
    scale = min(1.0, side / max(variant.size))
    size = (max(1, round(variant.width * scale)), max(1, round(variant.height * scale)))
    if size == variant.size:
        return aligned, variant, valid
    # A working pixel is valid only if every pixel under it is: BOX keeps 255 only then.
    mask = valid.resize(size, Image.Resampling.BOX).point(lambda v: 255 if v == 255 else 0)
    return aligned.resize(size, Image.Resampling.BOX), variant.resize(size, Image.Resampling.BOX), mask


def _working(aligned: Image.Image, variant: Image.Image, valid: Image.Image, side: int):
    """The channels of both images and the valid mask at most `side` px a side."""
    aligned, variant, valid = _shrink(aligned, variant, valid, side)
    return _channels(aligned, variant.size), _channels(variant, variant.size), np.asarray(valid) == 255


def photometric_similarity(aligned: Image.Image, variant: Image.Image, valid: np.ndarray) -> float:
    """How well the variant still matches its aligned source over the valid region: per
    channel (luminance, and the opponent channels that carry colour in both at the finest
    scale, so that a desaturated variant is not punished and a channel swap is), the best
    correlation over the scales WORKING_SIDE, /2, /4, /8 px a side; then the worst channel.
    Content that a photometric op destroyed is gone at every scale; pixel noise only at the
    finest, and a low-contrast region (sky, tissue background) under mild noise still
    matches at a coarser one."""
    sides = [side for side in (WORKING_SIDE, WORKING_SIDE // 2, WORKING_SIDE // 4, WORKING_SIDE // 8)
             if side >= _MIN_SIDE and (side < max(variant.size) or side == WORKING_SIDE)]
    colour = "RGB" if variant.mode in ("RGB", "RGBA") else "L"
    # Shrunk once to the finest working scale; the coarser ones from there.
    aligned, variant, mask = _shrink(aligned.convert(colour), variant.convert(colour),
                                     Image.fromarray(valid.astype(np.uint8) * 255, "L"), sides[0])
    source_channels, variant_channels, inside = _working(aligned, variant, mask, sides[0])
    if inside.sum() < 2:
        return 0.0
    counted = [0] + [c for c in range(1, len(source_channels))
                     if min(source_channels[c][inside].std(), variant_channels[c][inside].std()) >= _MIN_CHROMA_STD]
    best = dict.fromkeys(counted, -1.0)
    for side in sides:
        a, b, inside = _working(aligned, variant, mask, side)
        if inside.sum() < 2:
            continue
        for c in counted:
            best[c] = max(best[c], _correlation(a[c][inside], b[c][inside]))
    return min(best.values())


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    import cv2  # lazily, as the operators do; its L2 norm of uint8 images is ~10x numpy's float path

    return float(cv2.norm(np.ascontiguousarray(a), np.ascontiguousarray(b), cv2.NORM_L2)) / np.sqrt(a.size)


def resave_difference(source: Image.Image) -> float:
    """RMS change (0..255) that re-saving the source as a JPEG at quality 90 makes."""
    colour = source.convert("RGB" if source.mode in ("RGB", "RGBA") else "L")
    buffer = io.BytesIO()
    colour.save(buffer, "JPEG", quality=90)
    with Image.open(buffer) as resaved:
        return _rms(np.asarray(colour), np.asarray(resaved.convert(colour.mode)))


def difference(source: Image.Image, variant: Image.Image, facts: SourceFacts | None = None) -> float:
    """RMS difference of the variant from its (unaligned) source over every channel, in
    units of a JPEG re-save's (floored at 0.5 grey levels: a flat source re-saves exactly).
    Below 1 the variant changed less than saving the source again would: a near copy."""
    if source.size != variant.size or source.mode != variant.mode:
        variant = variant.convert(source.mode).resize(source.size, Image.Resampling.BILINEAR)
    yardstick = (facts or source_facts(source)).resave_difference
    return _rms(np.asarray(source), np.asarray(variant)) / max(yardstick, 0.5)


@dataclass(frozen=True)
class SourceFacts:
    """What the comparisons need of the source alone: computed once for all its variants."""

    detail_weights: np.ndarray  # per block of the coordinate map
    resave_difference: float


def source_facts(source: Image.Image) -> SourceFacts:
    return SourceFacts(_detail_weights(source, *_block_grid(source.size)), resave_difference(source))


def compare(source: Image.Image, variant: Image.Image, ops: list[dict] | str, facts: SourceFacts | None = None,
            load_partner=None) -> Comparison:
    """Every measure of one variant against its source; see the module docstring. Pass
    source_facts(source) when comparing several variants of one source, and load_partner
    (source_id -> image) for a MixUp/CutMix variant's partner."""
    facts = facts or source_facts(source)
    content_kept, fill_fraction, valid = geometry(source, ops, facts)
    aligned = aligned_source(source, ops, load_partner)
    if aligned.size != variant.size:  # not made by these ops (a stray file): nothing lines up
        valid = np.zeros((variant.height, variant.width), bool)
    return Comparison(content_kept, fill_fraction, photometric_similarity(aligned, variant, valid),
                      difference(source, variant, facts))
