"""PNG files whose bytes depend on the pixels and the locked `deflate` version only, on
any machine. Pillow's and matplotlib's PNG writers deflate with whatever zlib the process
loads: on Linux the OS's libz.so.1 (Debian 12's zlib 1.2.13 here: Pillow 13's wheel does not
bundle one), elsewhere the zlib-ng that Pillow's macOS and Windows wheels bundle. Those give
different bytes for the same pixels. libdeflate is linked into the `deflate` wheel; it picks
its matches the same way on every CPU (its SIMD paths only compute checksums and reset
tables), and its author states its output depends on its version only."""

from __future__ import annotations

import struct
import zlib

import deflate
import numpy as np
from PIL import Image

# PNG colour types of the modes augmill writes (8 bits per sample).
_PNG_COLOUR_TYPES = {"L": 0, "LA": 4, "RGB": 2, "RGBA": 6}
PNG_DEFLATE_LEVEL = 6


def encode_png(image: Image.Image) -> bytes:
    """The image (mode L, LA, RGB or RGBA) as an 8-bit, non-interlaced PNG with no metadata."""
    colour_type = _PNG_COLOUR_TYPES.get(image.mode)
    if colour_type is None:
        raise ValueError(f"encode_png: image mode {image.mode!r} is not one of {sorted(_PNG_COLOUR_TYPES)}")
    pixels = np.asarray(image, dtype=np.uint8).reshape(image.height, -1)
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, colour_type, 0, 0, 0)
    # The rows' own buffer, not a bytes copy of it.
    data = deflate.zlib_compress(memoryview(filtered_scanlines(pixels, len(image.mode))).cast("B"), PNG_DEFLATE_LEVEL)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def filtered_scanlines(pixels: np.ndarray, channels: int, block_rows: int = 64) -> np.ndarray:
    """Each row prefixed by the PNG filter (None, Sub, Up, Average, Paeth) that leaves the
    smallest sum of absolute signed bytes, the heuristic libpng and Pillow use; integer
    arithmetic only, so the choice is the same on every machine. Ties go to the lower type.
    In blocks of rows (each needs only the row above it): a 12-megapixel photo's working
    arrays stay near 20 MB instead of a gigabyte."""
    out = np.empty((len(pixels), pixels.shape[1] + 1), dtype=np.uint8)
    for start in range(0, len(pixels), block_rows):
        above = pixels[start - 1] if start else np.zeros(pixels.shape[1], dtype=np.uint8)
        out[start:start + block_rows] = _filter_block(pixels[start:start + block_rows], above, channels)
    return out


def _filter_block(rows: np.ndarray, above: np.ndarray, channels: int) -> np.ndarray:
    x = rows.astype(np.int16)
    left = np.zeros_like(x)
    left[:, channels:] = x[:, :-channels]
    up = np.empty_like(x)
    up[0], up[1:] = above, x[:-1]
    upper_left = np.zeros_like(x)
    upper_left[:, channels:] = up[:, :-channels]
    estimate = left + up - upper_left
    distance_left, distance_up, distance_corner = (np.abs(estimate - v) for v in (left, up, upper_left))
    paeth = np.where((distance_left <= distance_up) & (distance_left <= distance_corner), left,
                     np.where(distance_up <= distance_corner, up, upper_left))
    candidates = np.stack([x, x - left, x - up, x - (left + up) // 2, x - paeth]) & 0xFF  # (5, rows, bytes)
    cost = np.minimum(candidates, 256 - candidates).sum(axis=2, dtype=np.int64)
    chosen = np.argmin(cost, axis=0)
    filtered = candidates[chosen, np.arange(len(x))].astype(np.uint8)
    return np.concatenate([chosen.astype(np.uint8)[:, None], filtered], axis=1)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    # crc32 is a fixed function: any zlib gives the same value.
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def figure_png(figure) -> bytes:
    """A matplotlib figure as PNG at its own dpi, as savefig draws it (Agg), encoded here."""
    figure.canvas.draw()
    return encode_png(Image.fromarray(np.asarray(figure.canvas.buffer_rgba()), "RGBA"))
