"""Reading images the way users expect, and the per-image measurements the
stages share. No Prefect, DVC or manifests here: paths and pixels only."""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from augmill.tasks.png import encode_png
from augmill.tasks.samples import UnusableSample

# Modes the operators work on; every readable input is brought to one of them.
WORKING_MODES = ("L", "RGB", "RGBA")
_FORMAT_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif"}


class UnreadableImage(UnusableSample):
    """A file that cannot become a training image."""


@dataclass(frozen=True)
class LoadedImage:
    image: Image.Image  # in one of WORKING_MODES, EXIF orientation applied
    source_format: str  # "PNG", "JPEG", ...
    source_mode: str  # the mode as stored, before normalising


@functools.cache
def keep_freed_memory() -> None:
    """Let this process reuse the memory it frees rather than hand it back to the kernel at once
    (glibc: allocations up to 32 MiB from the heap, the heap trimmed past 128 MiB free).

    Why: every operator returns a fresh image-sized array (196 KB at 256x256 RGB). glibc serves
    those with mmap and gives them back on free, so each one page-faults anew; that was most of
    a table operator's time (cv2.LUT: 0.52 ms fresh against 0.06 ms on reused memory, measured).
    Peak memory is unchanged: what is kept is what the process held at its peak. A no-op where
    the C library has no ``mallopt`` (not glibc)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 128 << 20)


def load_image(path: Path, max_pixels: int) -> LoadedImage:
    """Open, check and normalise one image, or raise UnreadableImage with a reason."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UnreadableImage("empty_file", f"{path}: the file is empty (0 bytes)")
    with warnings.catch_warnings():
        # Pillow warns (not raises) between its limit and twice it; we decide ourselves.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as handle:
                width, height = handle.size
                if width * height > max_pixels:
                    raise UnreadableImage(
                        "too_many_pixels",
                        f"{path}: {width}x{height} = {width * height} pixels exceeds "
                        f"data.max_image_pixels={max_pixels} (decompression-bomb guard)",
                    )
                if getattr(handle, "n_frames", 1) > 1:
                    raise UnreadableImage(
                        "animated", f"{path}: animated image with {handle.n_frames} frames; augmill takes still images"
                    )
                source_format, source_mode = handle.format or "UNKNOWN", handle.mode
                handle.load()
                image = ImageOps.exif_transpose(handle)
        except UnreadableImage:
            raise
        except UnidentifiedImageError:
            raise UnreadableImage("not_an_image", f"{path}: not an image Pillow can identify") from None
        except Image.DecompressionBombError as error:
            raise UnreadableImage("too_many_pixels", f"{path}: {error}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise UnreadableImage("corrupt", f"{path}: cannot decode ({error})") from None
    return LoadedImage(normalise_mode(image, path), source_format, source_mode)


def normalise_mode(image: Image.Image, path: Path | str = "") -> Image.Image:
    """Bring any Pillow mode to L, RGB or RGBA without losing what matters."""
    mode = image.mode
    if mode in WORKING_MODES:
        return image
    if mode in ("1",):
        return image.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "LA":
        return image.convert("RGBA")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    if mode.startswith("I;16") or mode == "I":
        # 16/32-bit greyscale: scale the full integer range to 8 bits instead of clipping.
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or pixels.max() <= 65535 else float(pixels.max())
        return Image.fromarray(np.clip(np.round(pixels / top * 255.0), 0, 255).astype(np.uint8), "L")
    if mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        if not np.isfinite(pixels).all():
            raise UnreadableImage("non_finite_pixels", f"{path}: float image contains NaN or infinity")
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) / (high - low) * 255.0 if high > low else np.zeros_like(pixels)
        return Image.fromarray(np.round(scaled).astype(np.uint8), "L")
    raise UnreadableImage("unsupported_mode", f"{path}: unsupported image mode {mode!r}")


def output_format(source_format: str, mode: str, wanted: str) -> str:
    """The Pillow format to write an augmented image in (params: augment.image_format)."""
    chosen = source_format if wanted == "keep" else wanted.upper()
    if chosen not in ("PNG", "JPEG", "WEBP"):
        chosen = "PNG"  # BMP, TIFF, GIF... are stored losslessly as PNG
    if chosen == "JPEG" and mode == "RGBA":
        chosen = "PNG"  # JPEG has no alpha
    return chosen


def extension_for(image_format: str) -> str:
    return _FORMAT_EXTENSIONS.get(image_format, ".png")


def encode_image(image: Image.Image, image_format: str, jpeg_quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    if image_format == "JPEG":
        image.save(buffer, "JPEG", quality=jpeg_quality)
    elif image_format == "WEBP":
        image.save(buffer, "WEBP", quality=jpeg_quality)
    else:
        return encode_png(image)
    return buffer.getvalue()


def perceptual_hash(image: Image.Image) -> str:
    return str(imagehash.phash(image))


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def pixel_stats(image: Image.Image) -> dict[str, float]:
    """Not blank (std) and not saturated (share of pixels at 0 or 255)."""
    grey = _grey(image)
    saturated = np.count_nonzero((grey <= 0) | (grey >= 255)) / grey.size
    return {"std": round(float(grey.std()), 4), "saturated_fraction": round(float(saturated), 4)}


def similarity(a: Image.Image, b: Image.Image, max_side: int = 128) -> float:
    """Mean structural similarity (SSIM, Wang et al. 2004; 7x7 windows) of the
    greyscale images at a common size: 1.0 means unchanged, near 0 means the
    content is gone. Unlike a plain correlation it also sees brightness and
    contrast changes, so a photometric-only variant is not mistaken for a copy."""
    from scipy.ndimage import uniform_filter

    scale = min(1.0, max_side / max(b.size))
    size = (max(7, round(b.width * scale)), max(7, round(b.height * scale)))
    x = _grey(a.resize(size, Image.Resampling.BILINEAR)).astype(np.float64)
    y = _grey(b.resize(size, Image.Resampling.BILINEAR)).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def mean(values: np.ndarray) -> np.ndarray:
        return uniform_filter(values, size=7, mode="reflect")

    mx, my = mean(x), mean(y)
    vx, vy, cxy = mean(x * x) - mx * mx, mean(y * y) - my * my, mean(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return round(float(ssim.mean()), 4)


def channel_sums(image: Image.Image) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel sum and sum of squares, to compute dataset mean/std in one pass."""
    pixels = np.asarray(image, dtype=np.float64).reshape(image.height * image.width, -1) / 255.0
    return pixels.sum(axis=0), (pixels * pixels).sum(axis=0), pixels.shape[0]


def image_suffix(path: str) -> str:
    """The file's lower-case suffix as data/final names it ('' when it is not a plain one)."""
    import re

    suffix = Path(path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""
