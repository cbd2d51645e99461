"""Image operators on pixel arrays (the form a policy holds between operators) and the fast
paths that replaced Pillow calls: each gives what it replaced, or what it claims, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from augmill.tasks.modalities.image.ops import Brightness, Contrast, _uniform, lookup
from augmill.tasks.modalities.image.ops_photometric import Autocontrast, Equalize, MotionBlur, gaussian_kernel, line_offsets
from augmill.tasks.ops import policy
from augmill.tasks.ops.presets import RANDAUGMENT, TRIVIALAUGMENT, RandomPick
from augmill.tasks.ops.registry import operators_for


def random_images(count: int, seed: int = 0):
    """Small images of every native mode, some flat, some with few levels, some narrow in range."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        height, width = (int(v) for v in rng.integers(1, 30, 2))
        shape = {0: (height, width), 1: (height, width, 3), 2: (height, width, 4)}[index % 3]
        kind = index % 4
        if kind == 0:
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        elif kind == 1:
            pixels = np.full(shape, rng.integers(0, 256), dtype=np.uint8)
        elif kind == 2:
            pixels = (rng.integers(0, 4, shape) * rng.integers(1, 90)).clip(0, 255).astype(np.uint8)
        else:
            low = int(rng.integers(0, 200))
            pixels = rng.integers(low, low + 40, shape).clip(0, 255).astype(np.uint8)
        yield Image.fromarray(pixels)


def colour(image: Image.Image) -> Image.Image:
    return image.convert("RGB") if image.mode == "RGBA" else image


def test_equalize_and_autocontrast_give_pillows_bytes():
    rng = np.random.default_rng(1)
    for image in random_images(600):
        cutoff = float(rng.choice([0.0, 0.5, 2.0, 10.0, 30.0, 49.0]))
        assert np.array_equal(np.asarray(colour(Equalize().apply(image))), np.asarray(ImageOps.equalize(colour(image))))
        assert np.array_equal(np.asarray(colour(Autocontrast().apply(image, cutoff=cutoff))),
                              np.asarray(ImageOps.autocontrast(colour(image), cutoff=cutoff))), cutoff


def test_brightness_and_contrast_tables_give_pillows_bytes():
    rng = np.random.default_rng(2)
    for image in random_images(600):
        factor = round(float(rng.choice([rng.uniform(0, 2), rng.uniform(0, 10), 0.0, 1.0])), 4)
        for op, enhancer in ((Brightness(), ImageEnhance.Brightness), (Contrast(), ImageEnhance.Contrast)):
            ours = colour(op.apply(image, factor=factor))
            assert np.array_equal(np.asarray(ours), np.asarray(enhancer(colour(image)).enhance(factor))), (op.name, factor)


def test_lookup_gives_numpys_indexing_on_every_layout_and_leaves_its_input_alone():
    rng = np.random.default_rng(3)
    for image in random_images(300):
        pixels = np.asarray(image)  # read-only, as Pillow's arrays are
        table = rng.integers(0, 256, 256, dtype=np.uint8)
        for view in (pixels, pixels[:, ::-1], pixels[::2]):  # contiguous, and two strided views
            before = view.copy()
            out = lookup(view, table)
            assert out.dtype == np.uint8 and np.array_equal(out, table[view]) and np.array_equal(view, before)


@pytest.mark.parametrize("name", ["rotate", "affine", "perspective", "elastic"])
@pytest.mark.parametrize("nearest", [False, True])
def test_a_warp_of_rgb_gives_each_band_as_warped_alone(name, nearest):
    # RGB goes through OpenCV's warps as four bands (faster): each band must still be interpolated on its own.
    operator = policy.operators_for("image")[name]()
    rng = np.random.default_rng(6)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(2, 70, 2))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        params = operator.sample(rng, pixels) | {"fill": int(rng.integers(256)), "nearest": nearest}
        bands = [operator.apply(np.ascontiguousarray(pixels[..., band]), **params) for band in range(3)]
        assert np.array_equal(operator.apply(pixels, **params), np.dstack(bands)), params


def test_uniform_draws_numpys_uniform_value_from_the_same_stream():
    ours, numpys = np.random.default_rng(4), np.random.default_rng(4)
    pairs = [(0.0, 1.0), (-15.0, 15.0), (0.73, 0.73), (-0.0, -0.0), (1e-9, 3e5), (-360.0, -359.9999)]
    for _ in range(2000):
        for low, high in pairs:
            value = _uniform(ours, low, high)
            expected = round(float(numpys.uniform(low, high)), 4)
            assert value == expected and str(value) == str(expected), (low, high)


@pytest.mark.parametrize("table, n, m", [(RANDAUGMENT, 3, 9), (RANDAUGMENT, 2, 30), (TRIVIALAUGMENT, 1, None)])
def test_a_preset_reuses_its_operators_and_each_is_the_one_its_config_builds(table, n, m):
    preset = RandomPick(table, n=n, m=m, name="test")
    sizes = [(40, 30), (31, 57), (40, 30)]
    rng = np.random.default_rng(5)
    for draw in range(300):
        item = np.zeros(sizes[draw % 3][::-1] + (3,), dtype=np.uint8)
        state = rng.bit_generator.state
        chosen = preset.choose(rng, item)
        # The same draws, made by hand, give operators equal to fresh ones built from each config.
        replay = np.random.default_rng()
        replay.bit_generator.state = state
        names = sorted(table)
        for operator in chosen:
            name = names[int(replay.integers(len(names)))]
            magnitude = m if m is not None else int(replay.integers(31))
            operator_name, signed, config = table[name]
            sign = -1 if signed and replay.random() < 0.5 else 1
            assert operator == operators_for("image")[operator_name](**config(magnitude, sign, item))


@pytest.mark.parametrize("sigma", [0.3, 0.8, 1.7, 4.0, 12.0])
def test_gaussian_kernel_is_symmetric_in_256ths_and_sums_to_one(sigma):
    taps = gaussian_kernel(sigma) * 256
    assert np.array_equal(taps, np.round(taps)) and taps.sum() == 256
    assert np.array_equal(taps, taps[::-1]) and taps[0] > 0 and len(taps) % 2 == 1
    assert len(taps) <= 2 * np.ceil(3 * sigma) + 1


@pytest.mark.parametrize(("length", "angle"), [(3, 30.0), (7, 45.0), (9, 10.0), (21, 63.0), (31, 0.0)])
def test_motion_blur_is_the_rounded_mean_of_its_shifted_copies(length, angle):
    # The filter path (small kernels) and the shifted-sum path (large ones) against the definition.
    pixels = np.random.default_rng(3).integers(0, 256, (23, 37, 3), dtype=np.uint8)
    height, width = pixels.shape[:2]
    total = np.zeros(pixels.shape, dtype=np.int64)
    for dx, dy in line_offsets(length, angle):
        rows = np.clip(np.arange(height) + dy, 0, height - 1)
        columns = np.clip(np.arange(width) + dx, 0, width - 1)
        total += pixels[rows][:, columns]
    expected = ((total + length // 2) // length).astype(np.uint8)
    assert np.array_equal(MotionBlur().apply(pixels, length=length, angle=angle), expected)


def test_a_policy_gives_the_same_bytes_on_an_image_and_on_its_pixels_and_leaves_the_source_alone():
    entries = [{"name": name, "p": 0.7} for name in sorted(policy.operators_for("image"))]
    ops = policy.build_policy(entries, "image")
    for index, image in enumerate(random_images(30, seed=4)):
        source = np.asarray(image).copy()
        pixels = np.asarray(image).copy()
        from_image, records = policy.run_policy(ops, np.random.default_rng(index), image)
        from_pixels, same_records = policy.run_policy(ops, np.random.default_rng(index), pixels)
        assert isinstance(from_image, Image.Image) and isinstance(from_pixels, np.ndarray)
        assert records == same_records
        assert from_image.mode == image.mode and np.array_equal(np.asarray(from_image), from_pixels)
        assert np.array_equal(pixels, source)  # no operator wrote into its input
        assert np.array_equal(np.asarray(policy.replay(image, records, "image")), from_pixels)
