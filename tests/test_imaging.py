"""Tests for tasks/imaging.py: reading every kind of input file the way users
expect (or refusing it with a machine-readable code), the SSIM similarity,
pixel statistics and the output format choice."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from augmill.tasks.imaging import UnreadableImage, load_image, output_format, pixel_stats, similarity

BIG = 10_000_000


def noise_png_bytes(size: int = 64, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def digit_like(size: int = 32) -> Image.Image:
    """A grey ring on a dark background, with mid-tones so brightness changes show."""
    image = Image.new("L", (size, size), 30)
    draw = ImageDraw.Draw(image)
    draw.ellipse((size // 4, size // 8, size * 3 // 4, size * 7 // 8), outline=170, width=max(2, size // 10))
    draw.line((size // 2, size // 4, size // 2, size * 3 // 4), fill=120, width=2)
    return image


def code_of(path: Path, max_pixels: int = BIG) -> str:
    with pytest.raises(UnreadableImage) as caught:
        load_image(path, max_pixels)
    assert str(path) in caught.value.message
    return caught.value.code


# ---------------------------------------------------------------- load_image: good inputs


def test_rgb_png_loads_unchanged(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png", BIG)
    assert (loaded.source_format, loaded.source_mode) == ("PNG", "RGB")
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (20, 12)
    np.testing.assert_array_equal(np.asarray(loaded.image), pixels)


def test_jpeg_exif_orientation_is_applied(tmp_path):
    # 40 wide x 20 high, a red block in the top-left corner, EXIF orientation 6 (rotate 90 clockwise).
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:6, :6] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=100)

    loaded = load_image(tmp_path / "rotated.jpg", BIG)
    assert loaded.source_format == "JPEG"
    assert loaded.image.size == (20, 40)  # width and height swapped
    out = np.asarray(loaded.image).astype(int)
    top_right = out[:4, -4:].mean(axis=(0, 1))
    top_left = out[:4, :4].mean(axis=(0, 1))
    assert top_right[0] > 200 and top_right[1] < 60  # the red corner moved to the top right
    assert top_left.max() < 40  # and is gone from the top left
    assert loaded.image.getexif().get(0x0112, 1) == 1  # tag consumed, so it cannot be applied twice


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    loaded = load_image(tmp_path / "cmyk.jpg", BIG)
    assert loaded.source_mode == "CMYK"
    assert loaded.image.mode == "RGB"
    red, green, blue = loaded.image.getpixel((4, 4))
    assert red > 240 and green < 15 and blue < 15


def test_16_bit_greyscale_png_is_scaled_to_8_bit(tmp_path):
    values = np.array([[0, 32768, 65535, 257]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "grey16.png")
    loaded = load_image(tmp_path / "grey16.png", BIG)
    assert loaded.source_mode.startswith("I")
    assert loaded.image.mode == "L"
    out = np.asarray(loaded.image)
    assert out[0, 0] == 0
    assert abs(int(out[0, 1]) - 128) <= 1
    assert out[0, 2] == 255
    assert out[0, 3] == 1


def test_palette_png_with_transparency_becomes_rgba(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    image.putpixel((0, 0), 1)
    image.save(tmp_path / "palette.png", transparency=0)
    loaded = load_image(tmp_path / "palette.png", BIG)
    assert loaded.source_mode == "P"
    assert loaded.image.mode == "RGBA"
    assert loaded.image.getpixel((0, 0)) == (255, 0, 0, 255)
    assert loaded.image.getpixel((2, 2))[3] == 0  # transparent index stays transparent


def test_palette_png_without_transparency_becomes_rgb(tmp_path):
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * (256 * 3 - 6))
    image.save(tmp_path / "palette.png")
    loaded = load_image(tmp_path / "palette.png", BIG)
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((1, 1)) == (10, 200, 30)


def test_la_becomes_rgba(tmp_path):
    Image.new("LA", (5, 3), (100, 50)).save(tmp_path / "la.png")
    loaded = load_image(tmp_path / "la.png", BIG)
    assert loaded.source_mode == "LA"
    assert loaded.image.mode == "RGBA"
    assert loaded.image.getpixel((0, 0)) == (100, 100, 100, 50)


def test_one_bit_becomes_l(tmp_path):
    image = Image.new("1", (4, 4), 0)
    image.putpixel((1, 1), 1)
    image.save(tmp_path / "bw.png")
    loaded = load_image(tmp_path / "bw.png", BIG)
    assert loaded.source_mode == "1"
    assert loaded.image.mode == "L"
    assert loaded.image.getpixel((1, 1)) == 255
    assert loaded.image.getpixel((0, 0)) == 0


def test_one_by_one_image_loads(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "dot.png")
    loaded = load_image(tmp_path / "dot.png", BIG)
    assert loaded.image.size == (1, 1)
    assert loaded.image.getpixel((0, 0)) == (1, 2, 3)


def test_image_exactly_at_the_pixel_limit_loads(tmp_path):
    Image.new("L", (10, 10)).save(tmp_path / "edge.png")
    assert load_image(tmp_path / "edge.png", 100).image.size == (10, 10)


# ---------------------------------------------------------------- load_image: refused inputs


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert code_of(tmp_path / "empty.png") == "empty_file"


def test_truncated_png(tmp_path):
    data = noise_png_bytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    assert code_of(tmp_path / "half.png") == "corrupt"


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n", encoding="utf-8")
    assert code_of(tmp_path / "notes.png") == "not_an_image"


def test_too_many_pixels_leaves_pillow_global_limit_alone(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    Image.new("L", (100, 50)).save(tmp_path / "big.png")
    with pytest.raises(UnreadableImage) as caught:
        load_image(tmp_path / "big.png", 4999)
    assert caught.value.code == "too_many_pixels"
    assert "max_image_pixels=4999" in caught.value.message
    assert Image.MAX_IMAGE_PIXELS == before


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_pixel_limit_cannot_exceed_pillows_own_ceiling():
    """Pillow refuses more than 2 x Image.MAX_IMAGE_PIXELS while opening, whatever we ask:
    so params refuse a larger data.max_image_pixels instead of promising what Pillow won't do."""
    import yaml

    from augmill.tasks.params import ParamsError
    from augmill.tasks.params_load import apply_overrides, parse_params
    from tests.project import REPO

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    with pytest.raises(ParamsError, match="data.max_image_pixels"):
        parse_params(apply_overrides(raw, [f"data.max_image_pixels={2 * Image.MAX_IMAGE_PIXELS + 1}"]))
    parse_params(apply_overrides(raw, [f"data.max_image_pixels={2 * Image.MAX_IMAGE_PIXELS}"]))


def test_animated_gif(tmp_path):
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(UnreadableImage) as caught:
        load_image(tmp_path / "anim.gif", BIG)
    assert caught.value.code == "animated"
    assert "2 frames" in caught.value.message


def test_single_frame_gif_loads(tmp_path):
    Image.new("P", (8, 8), 3).save(tmp_path / "still.gif")
    loaded = load_image(tmp_path / "still.gif", BIG)
    assert loaded.source_format == "GIF"
    assert loaded.image.mode in ("RGB", "RGBA")


# ---------------------------------------------------------------- similarity and stats


def test_similarity_of_an_image_with_itself_is_one():
    image = digit_like()
    assert similarity(image, image) == 1.0
    rgb = Image.fromarray(np.random.default_rng(3).integers(0, 256, size=(40, 60, 3), dtype=np.uint8))
    assert similarity(rgb, rgb.copy()) == 1.0


@pytest.mark.parametrize("factor", [0.7, 1.3])
def test_similarity_sees_brightness_changes(factor):
    image = digit_like()
    changed = ImageEnhance.Brightness(image).enhance(factor)
    assert not np.array_equal(np.asarray(changed), np.asarray(image))
    value = similarity(image, changed)
    assert value < 0.995
    assert value > 0.3  # still clearly the same content


def test_similarity_of_noise_and_a_digit_is_low():
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, size=(32, 32), dtype=np.uint8))
    assert similarity(noise, digit_like()) < 0.3
    assert similarity(digit_like(), noise) < 0.3


def test_similarity_compares_at_a_common_size():
    image = digit_like(64)
    assert similarity(image.resize((32, 32)), image) > 0.8


def test_pixel_stats_all_black():
    assert pixel_stats(Image.new("L", (10, 10), 0)) == {"std": 0.0, "saturated_fraction": 1.0}
    assert pixel_stats(Image.new("RGB", (10, 10), (0, 0, 0))) == {"std": 0.0, "saturated_fraction": 1.0}


def test_pixel_stats_mid_grey_and_half_white():
    assert pixel_stats(Image.new("L", (10, 10), 128)) == {"std": 0.0, "saturated_fraction": 0.0}
    half = np.full((10, 10), 100, dtype=np.uint8)
    half[:, :5] = 255
    stats = pixel_stats(Image.fromarray(half))
    assert stats["saturated_fraction"] == 0.5
    assert stats["std"] == pytest.approx(77.5)


# ---------------------------------------------------------------- output_format


@pytest.mark.parametrize(
    ("source_format", "mode", "wanted", "expected"),
    [
        ("PNG", "RGB", "keep", "PNG"),
        ("JPEG", "RGB", "keep", "JPEG"),
        ("JPEG", "RGBA", "keep", "PNG"),
        ("PNG", "RGB", "jpeg", "JPEG"),
        ("PNG", "RGBA", "jpeg", "PNG"),
        ("BMP", "RGB", "keep", "PNG"),
        ("GIF", "L", "keep", "PNG"),
        ("TIFF", "RGB", "keep", "PNG"),
        ("PNG", "L", "webp", "WEBP"),
        ("JPEG", "RGB", "png", "PNG"),
    ],
)
def test_output_format(source_format, mode, wanted, expected):
    assert output_format(source_format, mode, wanted) == expected
