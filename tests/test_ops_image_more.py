"""Behaviour of the photometric and geometric operators beyond the first ten, and of the
RandAugment / TrivialAugment presets. The contract (determinism, replay, modes, sizes) runs
over every registered operator in test_ops_image.py; these check what each one does."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from augmill.tasks.modalities.image.ops_geometric import _outer_sum, homography
from augmill.tasks.modalities.image.ops_photometric import line_offsets
from augmill.tasks.ops import policy
from augmill.tasks.ops.base import OperatorConfigError
from augmill.tasks.ops.presets import RANDAUGMENT, TRIVIALAUGMENT, build_preset
from tests.test_ops_image import apply_op, make_image, pixels

NOISE = make_image("RGB", 48, 32, seed=5)


def test_zero_magnitude_is_the_identity_for_every_parametrised_operator():
    for name, params in [("gaussian_blur", {"sigma": 0.0}), ("motion_blur", {"length": 1, "angle": 30.0}),
                         ("sharpness", {"factor": 1.0}), ("posterize", {"bits": 8}), ("solarize", {"threshold": 256}),
                         ("identity", {}), ("erasing", {"boxes": [], "fill": 0}),
                         ("affine", {"angle": 0.0, "translate_x": 0.0, "translate_y": 0.0, "scale": 1.0,
                                     "shear_x": 0.0, "shear_y": 0.0, "fill": 9}),
                         ("perspective", {"corners": [[0, 0]] * 4, "fill": 9}),
                         ("elastic", {"alpha": 0.0, "grid": 4, "field_seed": 3, "fill": 9})]:
        assert apply_op(name, NOISE, **params).tobytes() == NOISE.tobytes(), name


def test_blurs_lower_the_pixel_to_pixel_variation():
    def roughness(image):
        return float(np.abs(np.diff(pixels(image).astype(int), axis=1)).mean())

    assert roughness(apply_op("gaussian_blur", NOISE, sigma=2.0)) < 0.5 * roughness(NOISE)
    assert roughness(apply_op("motion_blur", NOISE, length=7, angle=0.0)) < 0.5 * roughness(NOISE)


def test_horizontal_motion_blur_spreads_a_vertical_line_sideways_only():
    line = np.zeros((9, 15), dtype=np.uint8)
    line[:, 7] = 210
    out = pixels(apply_op("motion_blur", Image.fromarray(line), length=3, angle=0.0))
    assert (out[:, 6:9] == 70).all() and (out[:, :6] == 0).all() and (out[:, 9:] == 0).all()
    assert line_offsets(3, 90.0) == [(0, 1), (0, 0), (0, -1)]


def test_jpeg_quality_orders_the_error():
    smooth = make_image("RGB", 64, 64, seed=1).resize((64, 64))
    error = {q: np.abs(pixels(apply_op("jpeg", smooth, quality=q)).astype(int) - pixels(smooth)).mean() for q in (10, 95)}
    assert 0 < error[95] < error[10]


def test_grayscale_posterize_solarize_equalize_autocontrast():
    grey = pixels(apply_op("grayscale", NOISE))
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert set(np.unique(pixels(apply_op("posterize", NOISE, bits=1)))) <= {0, 128}
    assert (pixels(apply_op("solarize", NOISE, threshold=0)) == 255 - pixels(NOISE)).all()
    dim = Image.fromarray((pixels(NOISE) // 4 + 100).astype(np.uint8))
    for name, params in (("equalize", {}), ("autocontrast", {"cutoff": 0.0})):
        out = pixels(apply_op(name, dim, **params))
        assert out.min() <= 5 and out.max() >= 250, name  # stretched from 100..163 to about 0..255


def test_erasing_fills_exactly_its_recorded_boxes():
    op = policy.operators_for("image")["erasing"](holes=(2, 2), size=(0.2, 0.3), fill=123)
    params = op.sample(np.random.default_rng(4), NOISE)
    assert len(params["boxes"]) == 2
    out, inside = pixels(op.apply(NOISE, **params)), np.zeros(NOISE.size[::-1], dtype=bool)
    for left, top, right, bottom in params["boxes"]:
        assert 0 <= left < right <= NOISE.width and 0 <= top < bottom <= NOISE.height
        inside[top:bottom, left:right] = True
    assert (out[inside] == 123).all() and (out[~inside] == pixels(NOISE)[~inside]).all()


def test_affine_translation_moves_content_by_the_recorded_fraction():
    image = np.zeros((32, 48), dtype=np.uint8)
    image[10:14, 5:9] = 255
    out = pixels(apply_op("affine", Image.fromarray(image), angle=0.0, translate_x=0.25, translate_y=0.0,
                          scale=1.0, shear_x=0.0, shear_y=0.0, fill=0))
    assert (out[10:14, 17:21] == 255).all() and out.sum() == image.sum()  # 0.25 x 48 = 12 pixels right


def test_perspective_pulls_the_corners_in_and_fills_the_border():
    homography_of_unit = homography([(0, 0), (1, 0), (1, 1), (0, 1)], [(0, 0), (2, 0), (2, 2), (0, 2)])
    assert homography_of_unit == [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
    white = Image.new("L", (40, 40), 255)
    out = pixels(apply_op("perspective", white, corners=[[8, 8], [-8, 8], [-8, -8], [8, -8]], fill=0))
    assert out[0, 0] == 0 and out[20, 20] == 255 and (out[12:28, 12:28] == 255).all()


def test_perspective_maps_outer_sum_is_numpys_broadcast_add():
    # The matrix product [column, 1] @ [1; row] that perspective's maps are built with: every entry one exact
    # float32 sum, so the same as numpy's element-wise add (across signs, magnitudes, cancellation, odd sizes).
    rng = np.random.default_rng(3)
    for rows, cols in [(256, 256), (384, 512), (37, 91), (2, 3), (1, 7)]:
        column = (rng.standard_normal(rows) * 10.0 ** rng.integers(-6, 6, rows)).astype(np.float32)
        row = (rng.standard_normal(cols) * 10.0 ** rng.integers(-6, 6, cols)).astype(np.float32)
        row[: cols // 2] = -column[0]  # exact cancellations
        expected = column[:, None] + row[None, :]
        got = _outer_sum(column, row)
        assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_elastic_moves_pixels_by_at_most_alpha():
    ramp = Image.fromarray(np.tile(np.arange(0, 240, 3, dtype=np.uint8), (40, 1)))  # +3 grey a pixel to the right
    out = pixels(apply_op("elastic", ramp, alpha=2.0, grid=4, field_seed=8, fill=0)).astype(int)
    inner = (out - pixels(ramp).astype(int))[3:-3, 3:-3]
    assert np.abs(inner).max() <= 6 + 1 and np.abs(inner).max() > 0  # 2 pixels of 3 grey, plus rounding


# --- presets ------------------------------------------------------------------------


@pytest.mark.parametrize("entry, table, count", [({"preset": "randaugment", "n": 3, "m": 9}, RANDAUGMENT, 3),
                                                 ({"preset": "trivialaugment"}, TRIVIALAUGMENT, 1)])
def test_presets_record_the_concrete_operators_and_replay(entry, table, count):
    ops = policy.build_policy(entry, "image")
    operators = {operator for operator, _, _ in table.values()}
    for seed in range(20):
        out, records = policy.run_policy(ops, np.random.default_rng(seed), NOISE)
        assert len(records) == count and {r["name"] for r in records} <= operators
        again, _ = policy.run_policy(ops, np.random.default_rng(seed), NOISE)
        assert again.tobytes() == out.tobytes()
        assert policy.replay(NOISE, json.loads(json.dumps(records)), "image").tobytes() == out.tobytes()


def test_randaugment_magnitude_follows_torchvision_scales():
    ops = policy.build_policy({"preset": "randaugment", "n": 1, "m": 9}, "image")
    seen = {}
    for seed in range(200):
        (record,) = policy.run_policy(ops, np.random.default_rng(seed), NOISE)[1]
        seen.setdefault(record["name"], set()).add(json.dumps(record["params"], sort_keys=True))
    assert {json.loads(p)["angle"] for p in seen["rotate"]} == {-9.0, 9.0}  # 30 x 9/30, either way
    assert {json.loads(p)["bits"] for p in seen["posterize"]} == {7}  # 8 - round(9 / 7.5)
    assert {json.loads(p)["factor"] for p in seen["brightness"]} == {0.73, 1.27}  # 1 -/+ 0.9 x 9/30
    assert len(seen) == len({operator for operator, _, _ in RANDAUGMENT.values()})  # every operator drawn


@pytest.mark.parametrize("entry, message", [
    ({"preset": "autoaugment"}, "augment.policy.preset: 'autoaugment' is not one of"),
    ({"preset": "randaugment", "m": 31}, r"augment.policy.m must be an int in \[0, 30\], got 31"),
    ({"preset": "randaugment", "n": 0}, r"augment.policy.n must be an int in \[1, 14\], got 0"),
    ({"preset": "trivialaugment", "n": 2}, r"unknown option\(s\) \['n'\]"),
])
def test_bad_presets_are_refused_naming_the_key(entry, message):
    with pytest.raises(OperatorConfigError, match=message):
        build_preset(entry, "image")


def test_an_image_preset_is_refused_for_another_modality():
    with pytest.raises(OperatorConfigError, match="randaugment is an image preset; text takes a list"):
        policy.build_policy({"preset": "randaugment"}, "text")


def test_sharpness_raises_edge_contrast_and_softens_below_one():
    from augmill.tasks.modalities.image.ops_photometric import sharpen

    step = np.zeros((8, 8), dtype=np.uint8)
    step[:, 4:] = 200
    sharp, soft = sharpen(step, 2.0), sharpen(step, 0.0)
    assert sharp[0, 3] == 0 and sharp[0, 4] > 200  # overshoot on the bright side, clipped at 0 on the dark
    assert 0 < soft[0, 3] < soft[0, 4] < 200 and (soft[:, 0] == 0).all()  # a 3-pixel ramp; flat parts stay
