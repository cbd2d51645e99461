"""tasks/png.py: PNGs that any decoder reads back pixel for pixel, deflated by libdeflate
(the locked `deflate` wheel), not by the zlib the process happens to load."""

from __future__ import annotations

import io
import struct
import zlib

import deflate
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from augmill.tasks.png import PNG_DEFLATE_LEVEL, encode_png, figure_png, filtered_scanlines


def images() -> list[Image.Image]:
    rng = np.random.default_rng(3)
    photo = load_sample_image("flower.jpg")[120:220, 200:330]
    gradient = np.add.outer(np.arange(40), np.arange(50)).astype(np.uint8)
    return [Image.fromarray(photo), Image.fromarray(photo).convert("L"), Image.fromarray(gradient, "L"),
            Image.fromarray(rng.integers(0, 256, (17, 9, 4), dtype=np.uint8), "RGBA"),
            Image.fromarray(rng.integers(0, 256, (5, 31, 2), dtype=np.uint8), "LA"), Image.new("RGB", (1, 1), (9, 8, 7))]


@pytest.mark.parametrize("image", images(), ids=lambda image: f"{image.mode}-{image.width}x{image.height}")
def test_pillow_reads_back_the_same_pixels(image):
    decoded = Image.open(io.BytesIO(encode_png(image)))
    decoded.load()
    assert decoded.format == "PNG" and decoded.mode == image.mode and decoded.size == image.size
    assert np.array_equal(np.asarray(decoded), np.asarray(image))


def test_the_image_data_is_libdeflate_output_of_the_filtered_rows():
    image = images()[0]
    data = encode_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = {}, 8
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset:offset + 4]), data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        assert struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        offset += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    rows = filtered_scanlines(np.asarray(image).reshape(image.height, -1), 3)
    assert chunks[b"IDAT"] == deflate.zlib_compress(rows.tobytes(), PNG_DEFLATE_LEVEL)
    # A photo uses more than one filter (the per-row choice works), each a valid PNG filter type.
    assert len(set(rows[:, 0])) > 1 and set(rows[:, 0]) <= {0, 1, 2, 3, 4}


def test_the_filters_do_not_depend_on_the_block_size():
    pixels = np.asarray(images()[0]).reshape(images()[0].height, -1)
    whole = filtered_scanlines(pixels, 3, block_rows=len(pixels))
    assert np.array_equal(filtered_scanlines(pixels, 3, block_rows=1), whole)
    assert np.array_equal(filtered_scanlines(pixels, 3, block_rows=7), whole)


def test_a_mode_png_cannot_hold_as_8_bit_samples_is_refused_by_name():
    with pytest.raises(ValueError, match="'P'"):
        encode_png(Image.new("P", (4, 4)))


def test_a_figure_has_the_pixels_savefig_draws():
    from augmill.tasks.report_plots import plt

    figure, axes = plt.subplots(figsize=(3, 2), dpi=100)
    axes.bar([1, 2, 3], [3, 1, 2])
    ours = np.asarray(Image.open(io.BytesIO(figure_png(figure))))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    assert np.array_equal(ours, np.asarray(Image.open(buffer)))
