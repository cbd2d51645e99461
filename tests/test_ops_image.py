"""Tests for the image operators: the sample/apply/replay contract for every
registered operator, each operator's behaviour, config validation, and a
property test over sizes and modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from augmill.tasks.ops import policy
from augmill.tasks.ops.base import OperatorConfigError

IMAGE_OPS = policy.operators_for("image")
MODES = ["L", "RGB", "RGBA"]


def make_image(mode: str, width: int = 48, height: int = 32, seed: int = 0) -> Image.Image:
    """A seeded random image, with a varied alpha band for RGBA."""
    rng = np.random.default_rng(seed)
    bands = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(height, width, bands), dtype=np.uint8)
    return Image.fromarray(pixels[..., 0] if bands == 1 else pixels)


def gradient(mode: str = "RGB", size: int = 32) -> Image.Image:
    """A smooth, asymmetric image: red grows left to right, green top to bottom."""
    ramp = np.linspace(40, 200, size, dtype=np.float32)
    rgb = np.stack(
        [np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size)), np.full((size, size), 90.0)],
        axis=-1,
    )
    return Image.fromarray(rgb.astype(np.uint8)).convert(mode)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def channel_spread(image: Image.Image) -> float:
    """Mean distance between a pixel's largest and smallest channel: 0 for grey."""
    return float(np.ptp(pixels(image), axis=-1).mean())


def is_plain_number_or_list(value) -> bool:
    """Recorded params are numbers (floats rounded to 4 places) or lists of them (erasing's boxes)."""
    if isinstance(value, list):
        return all(is_plain_number_or_list(v) for v in value)
    return type(value) in (int, bool) or (type(value) is float and round(value, 4) == value)


def apply_op(name: str, image: Image.Image, **params) -> Image.Image:
    # As replay does: an instance without __init__, so apply can only use params.
    cls = IMAGE_OPS[name]
    return cls.__new__(cls).apply(image, **params)


# --- the contract, for every operator ----------------------------------------------


def test_every_registered_image_operator_is_tested():
    assert set(IMAGE_OPS) == {
        "hflip",
        "vflip",
        "rotate",
        "random_resized_crop",
        "scale",
        "brightness",
        "contrast",
        "saturation",
        "hue",
        "gaussian_noise",
        # tasks/modalities/image/ops_photometric.py
        "gaussian_blur",
        "motion_blur",
        "sharpness",
        "jpeg",
        "grayscale",
        "posterize",
        "solarize",
        "equalize",
        "autocontrast",
        "identity",
        "erasing",
        # tasks/modalities/image/ops_geometric.py
        "affine",
        "perspective",
        "elastic",
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(IMAGE_OPS))
def test_contract_deterministic_replayable_shape_preserving(name, mode):
    op = IMAGE_OPS[name]()
    source = make_image(mode, seed=3)
    before = source.tobytes()

    params = op.sample(np.random.default_rng(42), source)
    again = op.sample(np.random.default_rng(42), source)
    assert params == again
    assert json.loads(json.dumps(params)) == params
    assert all(is_plain_number_or_list(v) for v in params.values())

    out = op.apply(source, **params)
    assert out.mode == mode and out.size == source.size
    assert op.apply(source, **again).tobytes() == out.tobytes()
    assert source.tobytes() == before, "apply must not modify its input"

    records = json.loads(json.dumps([{"name": name, "params": params}]))
    assert policy.replay(source, records, "image").tobytes() == out.tobytes()


# Configs far from the defaults: replay builds operators without __init__, so an
# apply that read its config instead of its params would fall back to the
# defaults and diverge here.
NON_DEFAULT = {
    "rotate": {"angle": (30.0, 40.0), "fill": 77},
    "random_resized_crop": {"scale": (0.2, 0.3), "ratio": (0.5, 0.6)},
    "scale": {"factor": (0.5, 0.6), "fill": 77},
    "brightness": {"factor": (1.5, 1.6)},
    "contrast": {"factor": (0.2, 0.3)},
    "saturation": {"factor": (1.8, 1.9)},
    "hue": {"shift": (0.3, 0.4)},
    "gaussian_noise": {"sigma": (20.0, 30.0)},
    "gaussian_blur": {"sigma": (3.0, 4.0)},
    "motion_blur": {"length": (11, 13), "angle": (40.0, 50.0)},
    "sharpness": {"factor": (2.5, 3.0)},
    "jpeg": {"quality": (5, 10)},
    "posterize": {"bits": (1, 2)},
    "solarize": {"threshold": (10, 20)},
    "autocontrast": {"cutoff": (10.0, 20.0)},
    "erasing": {"holes": (3, 4), "size": (0.3, 0.4), "fill": 200},
    "affine": {"angle": (20.0, 30.0), "translate_x": (0.2, 0.3), "scale": (0.6, 0.7), "shear_y": (15.0, 20.0), "fill": 77},
    "perspective": {"distortion": (0.4, 0.5), "fill": 77},
    "elastic": {"alpha": (8.0, 9.0), "grid": 7, "fill": 77},
}


@pytest.mark.parametrize("name", sorted(IMAGE_OPS))
def test_replay_depends_on_params_not_config(name):
    op = IMAGE_OPS[name](**NON_DEFAULT.get(name, {}))
    source = make_image("RGBA", seed=4)
    _, records = policy.run_policy([op], np.random.default_rng(9), source)
    expected = op.apply(source, **records[0]["params"])
    assert policy.replay(source, records, "image").tobytes() == expected.tobytes()


@pytest.mark.parametrize("mode", ["LA", "I;16", "P"])
@pytest.mark.parametrize("name", sorted(IMAGE_OPS))
def test_unusual_modes_do_not_crash_and_keep_mode_and_size(name, mode):
    source = make_image("RGB", 20, 12).convert("L" if mode == "I;16" else mode).convert(mode)
    op = IMAGE_OPS[name]()
    out = op.apply(source, **op.sample(np.random.default_rng(0), source))
    assert (out.mode, out.size) == (mode, source.size)


@pytest.mark.parametrize("name", sorted(IMAGE_OPS))
def test_sampling_uses_only_the_given_generator(name):
    op = IMAGE_OPS[name]()
    source = make_image("RGB")
    np.random.seed(0)
    first = op.sample(np.random.default_rng(7), source)
    np.random.seed(1)
    assert op.sample(np.random.default_rng(7), source) == first


# --- per-operator behaviour --------------------------------------------------------


def test_hflip_mirrors_and_is_an_involution():
    source = gradient()
    once = apply_op("hflip", source)
    assert once.tobytes() != source.tobytes()
    np.testing.assert_array_equal(np.asarray(once), np.fliplr(np.asarray(source)))
    assert apply_op("hflip", once).tobytes() == source.tobytes()


def test_vflip_mirrors_and_is_an_involution():
    source = gradient()
    once = apply_op("vflip", source)
    np.testing.assert_array_equal(np.asarray(once), np.flipud(np.asarray(source)))
    assert apply_op("vflip", once).tobytes() == source.tobytes()


@pytest.mark.parametrize("mode", MODES)
def test_rotate_zero_is_identity_and_ninety_is_rot90(mode):
    source = make_image(mode, 24, 24)
    assert apply_op("rotate", source, angle=0.0, fill=0).tobytes() == source.tobytes()
    turned = pixels(apply_op("rotate", source, angle=90.0, fill=0))
    assert np.abs(turned - np.rot90(pixels(source))).max() <= 1


def test_rotate_fills_the_corners_with_grey():
    source = Image.new("RGB", (40, 40), (200, 10, 10))
    out = np.asarray(apply_op("rotate", source, angle=45.0, fill=77))
    assert tuple(out[0, 0]) == (77, 77, 77)
    assert tuple(out[20, 20]) == (200, 10, 10)


def test_rotate_rgba_corners_are_opaque_fill():
    source = Image.new("RGBA", (40, 40), (200, 10, 10, 128))
    out = np.asarray(apply_op("rotate", source, angle=30.0, fill=5))
    assert tuple(out[0, 0]) == (5, 5, 5, 255)


def test_rotate_agrees_with_pillow_away_from_the_edge():
    # OpenCV does the rotation; Pillow's rotate is the reference it replaced.
    source = gradient(size=64)
    for angle in (-14.3, 7.5, 33.0):
        ours = pixels(apply_op("rotate", source, angle=angle, fill=0))
        pillow = pixels(source.rotate(angle, Image.Resampling.BILINEAR))
        assert np.abs(ours - pillow)[16:-16, 16:-16].max() <= 1


def test_rotate_does_not_depend_on_opencv_threads():
    import cv2

    source = make_image("RGB", 300, 200, seed=2)
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = apply_op("rotate", source, angle=12.3, fill=9).tobytes()
        cv2.setNumThreads(4)
        assert apply_op("rotate", source, angle=12.3, fill=9).tobytes() == one
    finally:
        cv2.setNumThreads(threads)


def test_rotate_of_an_image_too_wide_for_opencv_falls_back_to_pillow():
    source = Image.new("L", (32_767, 2), 200)
    out = apply_op("rotate", source, angle=1.0, fill=0)
    assert out.size == source.size and out.tobytes() == source.rotate(1.0, Image.Resampling.BILINEAR).tobytes()


def test_random_resized_crop_box_lies_inside_the_image():
    op = IMAGE_OPS["random_resized_crop"](scale=(0.1, 1.0), ratio=(0.5, 2.0))
    for width, height in [(64, 48), (1, 64), (64, 1), (1, 1), (3, 50)]:
        source = Image.new("RGB", (width, height))
        for seed in range(50):
            box = op.sample(np.random.default_rng(seed), source)
            assert box["width"] >= 1 and box["height"] >= 1
            assert 0 <= box["left"] and box["left"] + box["width"] <= width
            assert 0 <= box["top"] and box["top"] + box["height"] <= height
            assert all(type(v) is int for v in box.values())


def test_random_resized_crop_falls_back_to_a_centred_box():
    # On a 1x64 strip no box of >=80% area fits the aspect range: centred fallback.
    op = IMAGE_OPS["random_resized_crop"]()
    for seed in range(10):
        box = op.sample(np.random.default_rng(seed), Image.new("L", (1, 64)))
        assert box == {"left": 0, "top": 31, "width": 1, "height": 1}
    wide = op.sample(np.random.default_rng(0), Image.new("L", (64, 2)))
    assert wide == {"left": 30, "top": 0, "width": 3, "height": 2}


def test_random_resized_crop_area_follows_scale():
    op = IMAGE_OPS["random_resized_crop"](scale=(0.5, 0.5), ratio=(1.0, 1.0))
    box = op.sample(np.random.default_rng(0), Image.new("RGB", (100, 100)))
    assert (box["width"], box["height"]) == (71, 71)


def test_random_resized_crop_full_box_is_identity_and_crop_zooms():
    source = gradient()
    full = {"left": 0, "top": 0, "width": 32, "height": 32}
    assert apply_op("random_resized_crop", source, **full).tobytes() == source.tobytes()
    left_half = np.asarray(apply_op("random_resized_crop", source, left=0, top=0, width=16, height=32))
    # Only the left (darker red) half survives, stretched to the full width.
    assert left_half[..., 0].max() < np.asarray(source)[..., 0].max() - 50


def test_random_resized_crop_agrees_with_pillow():
    # OpenCV does the resize; Pillow's box resize is the reference it replaced.
    source = gradient(size=64)
    for left, top, width, height in [(0, 0, 64, 64), (5, 9, 50, 40), (13, 0, 51, 64)]:
        ours = pixels(apply_op("random_resized_crop", source, left=left, top=top, width=width, height=height))
        box = (left, top, left + width, top + height)
        assert np.abs(ours - pixels(source.resize(source.size, Image.Resampling.BILINEAR, box=box))).max() <= 1


def test_scale_one_is_identity_zoom_out_pads_zoom_in_crops():
    source = gradient()
    assert apply_op("scale", source, factor=1.0, fill=0).tobytes() == source.tobytes()
    shrunk = np.asarray(apply_op("scale", source, factor=0.5, fill=33))
    assert tuple(shrunk[0, 0]) == (33, 33, 33)
    assert tuple(shrunk[16, 16]) != (33, 33, 33)
    zoomed = np.asarray(apply_op("scale", source, factor=2.0, fill=33))
    red = np.asarray(source)[..., 0]
    assert red.min() < zoomed[..., 0].min() and zoomed[..., 0].max() < red.max()


def test_brightness():
    source = gradient()
    assert apply_op("brightness", source, factor=1.0).tobytes() == source.tobytes()
    assert pixels(apply_op("brightness", source, factor=1.2)).mean() > pixels(source).mean() + 5
    assert pixels(apply_op("brightness", source, factor=0.8)).mean() < pixels(source).mean() - 5


def test_contrast():
    source = gradient()
    assert apply_op("contrast", source, factor=1.0).tobytes() == source.tobytes()
    flat = pixels(apply_op("contrast", source, factor=0.0))
    assert flat.std() == 0
    assert pixels(apply_op("contrast", source, factor=1.5)).std() > pixels(source).std()


def test_saturation():
    source = gradient()
    grey = np.asarray(apply_op("saturation", source, factor=0.0))
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert channel_spread(apply_op("saturation", source, factor=1.2)) > channel_spread(source)
    grey_source = gradient("L")
    assert apply_op("saturation", grey_source, factor=1.2).tobytes() == grey_source.tobytes()


def luminance(image: Image.Image) -> np.ndarray:
    return pixels(image) @ np.array([0.213, 0.715, 0.072])


def test_hue_zero_is_identity_and_a_third_turns_red_to_green():
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    assert apply_op("hue", red, shift=0.0).tobytes() == red.tobytes()
    r, g, b = np.asarray(apply_op("hue", red, shift=1 / 3))[0, 0]
    # Luminance-preserving (as CSS hue-rotate), so a darker green, not (0, 255, 0).
    assert g > 100 and r <= 2 and b <= 2
    r, g, b = np.asarray(apply_op("hue", red, shift=1 / 6))[0, 0]
    assert r > g > b  # a small positive shift turns red towards yellow, as in HSV


def test_hue_keeps_grey_and_luminance_and_is_undone_by_the_opposite_shift():
    rng = np.random.default_rng(1)
    grey = Image.fromarray(np.repeat(rng.integers(0, 256, (16, 16, 1), dtype=np.uint8), 3, axis=2))
    # Mid-range colours, so that no channel clips: then luminance is kept up to rounding.
    colours = Image.fromarray(rng.integers(96, 161, (16, 16, 3), dtype=np.uint8))
    for shift in (0.05, -0.2, 0.3, 0.5):
        assert apply_op("hue", grey, shift=shift).tobytes() == grey.tobytes()
        turned = apply_op("hue", colours, shift=shift)
        assert turned.tobytes() != colours.tobytes()
        assert np.abs(luminance(turned) - luminance(colours)).max() <= 0.5
        back = apply_op("hue", turned, shift=-shift)
        assert np.abs(pixels(back) - pixels(colours)).max() <= 1
    # Half a turn either way is the same turn.
    assert apply_op("hue", colours, shift=0.5).tobytes() == apply_op("hue", colours, shift=-0.5).tobytes()
    grey_source = gradient("L")
    assert apply_op("hue", grey_source, shift=0.05).tobytes() == grey_source.tobytes()


def test_gaussian_noise():
    flat = Image.new("RGB", (128, 128), (128, 128, 128))
    assert apply_op("gaussian_noise", flat, sigma=0.0, noise_seed=1).tobytes() == flat.tobytes()
    noisy = pixels(apply_op("gaussian_noise", flat, sigma=10.0, noise_seed=1))
    assert noisy.std() == pytest.approx(10.0, abs=1.5)
    assert noisy.mean() == pytest.approx(128.0, abs=0.5)
    other_seed = apply_op("gaussian_noise", flat, sigma=10.0, noise_seed=2)
    assert other_seed.tobytes() != Image.fromarray(noisy.astype(np.uint8)).tobytes()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("brightness", {"factor": 1.2}),
        ("contrast", {"factor": 0.5}),
        ("saturation", {"factor": 0.5}),
        ("hue", {"shift": 0.1}),
        ("gaussian_noise", {"sigma": 10.0, "noise_seed": 3}),
    ],
)
def test_photometric_operators_leave_alpha_untouched(name, params):
    source = make_image("RGBA", seed=5)
    out = apply_op(name, source, **params)
    assert out.getchannel("A").tobytes() == source.getchannel("A").tobytes()
    assert out.convert("RGB").tobytes() != source.convert("RGB").tobytes()


# --- configuration -----------------------------------------------------------------


def test_inverted_range_is_rejected_naming_operator_and_field():
    with pytest.raises(OperatorConfigError) as error:
        policy.build_policy([{"name": "rotate", "angle": [20, 10]}], "image")
    assert "rotate" in str(error.value) and "angle" in str(error.value)


def test_unknown_option_is_rejected():
    with pytest.raises(OperatorConfigError, match="degrees"):
        policy.build_policy([{"name": "rotate", "degrees": [-5, 5]}], "image")


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "rotate", "fill": 300},
        {"name": "rotate", "fill": "grey"},
        {"name": "scale", "factor": [0.0, 1.0]},
        {"name": "random_resized_crop", "scale": [0.0, 1.0]},
        {"name": "random_resized_crop", "ratio": [1.0]},
        {"name": "gaussian_noise", "sigma": [-1, 5]},
        {"name": "hue", "shift": [-0.6, 0.1]},
        {"name": "contrast", "factor": "high"},
    ],
)
def test_invalid_values_are_rejected_naming_the_field(entry):
    field = next(key for key in entry if key != "name")
    with pytest.raises(OperatorConfigError, match=f"{entry['name']}.{field}"):
        policy.build_policy([entry], "image")


def test_yaml_lists_are_accepted_and_stored_as_float_pairs():
    (op,) = policy.build_policy([{"name": "rotate", "angle": [-5, 5], "p": 0.5}], "image")
    assert op.angle == (-5.0, 5.0)
    hash(op)


# --- property: any size, any mode, the whole policy --------------------------------


@settings(max_examples=80, deadline=None)
@given(
    width=st.sampled_from([1, 2, 3, 64]) | st.integers(1, 64),
    height=st.sampled_from([1, 2, 3, 64]) | st.integers(1, 64),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**32 - 1),
)
def test_full_policy_keeps_mode_and_size_and_replays_exactly(width, height, mode, seed):
    ops = policy.build_policy([{"name": name, "p": 1.0} for name in sorted(IMAGE_OPS)], "image")
    source = make_image(mode, width, height, seed=seed % 1000)
    out, records = policy.run_policy(ops, np.random.default_rng(seed), source)
    assert (out.mode, out.size) == (mode, (width, height))
    assert [record["name"] for record in records] == sorted(IMAGE_OPS)
    records = json.loads(json.dumps(records))
    assert policy.replay(source, records, "image").tobytes() == out.tobytes()
