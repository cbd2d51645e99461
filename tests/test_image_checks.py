"""validate's image comparisons (tasks/modalities/image/checks.py): a variant is compared
with its source aligned by the variant's own recorded geometric ops, on real photos
(scikit-learn's bundled sample photos) and a real MRI slice (matplotlib's sample data)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from augmill.tasks.imaging import similarity
from augmill.tasks.modalities.image.checks import aligned_source, compare, geometric_ops, geometry
from augmill.tasks.modalities.image.modality import REASON_CODES
from augmill.tasks.modalities.image.ops import OPERATOR_KINDS
from augmill.tasks.ops.policy import build_policy, operators_for, replay, run_policy, sample_seed
from augmill.tasks.params import ValidateParams
from augmill.tasks.validate import decide

DEFAULTS = ValidateParams()


def photo_tiles(side: int = 128) -> list[Image.Image]:
    from sklearn.datasets import load_sample_images

    tiles = []
    for pixels in load_sample_images().images:  # china.jpg, flower.jpg: 427x640 photos
        for top in range(0, pixels.shape[0] - side + 1, side):
            for left in range(0, pixels.shape[1] - side + 1, side):
                tiles.append(Image.fromarray(pixels[top:top + side, left:left + side]))
    return tiles


def mri_tiles(side: int = 128) -> list[Image.Image]:
    import matplotlib.cbook

    with gzip.open(matplotlib.cbook.get_sample_data("s1045.ima.gz", asfileobj=False)) as handle:
        pixels = np.frombuffer(handle.read(), np.uint16).reshape(256, 256).astype(np.float64)
    grey = np.round(pixels / pixels.max() * 255).astype(np.uint8)
    stride = side // 2
    return [Image.fromarray(grey[t:t + side, s:s + side], "L") for t in range(0, 256 - side + 1, stride)
            for s in range(0, 256 - side + 1, stride)]


STANDARD_POLICY = [{"name": "hflip", "p": 0.5}, {"name": "rotate", "p": 1.0, "angle": [-15, 15]},
                   {"name": "random_resized_crop", "p": 1.0, "scale": [0.8, 1.0]},
                   {"name": "brightness", "p": 1.0, "factor": [0.8, 1.2]},
                   {"name": "gaussian_noise", "p": 1.0, "sigma": [5, 10]}]


def accepted(source: Image.Image, variant: Image.Image, ops) -> bool:
    m = compare(source, variant, ops)
    return (m.content_kept >= DEFAULTS.min_content_kept and m.fill_fraction <= DEFAULTS.max_fill_fraction
            and m.photometric_similarity >= DEFAULTS.min_photometric_similarity and m.difference >= DEFAULTS.min_difference)


def standard_variants(sources: list[Image.Image], per_source: int = 3):
    policy = build_policy(STANDARD_POLICY, "image")
    for index, source in enumerate(sources):
        for variant in range(per_source):
            image, ops = run_policy(policy, np.random.default_rng(sample_seed(7, f"s{index}", variant)), source)
            yield source, image, ops


def test_every_image_operator_is_classed_geometric_or_photometric():
    """A new operator without a class fails here (and validate could not align its variants)."""
    assert set(OPERATOR_KINDS) == set(operators_for("image"))
    assert set(OPERATOR_KINDS.values()) == {"geometric", "photometric"}


def test_aligned_source_replays_only_the_geometric_ops():
    source = photo_tiles()[3]
    ops = [{"name": "rotate", "params": {"angle": 9.0, "fill": 0}},
           {"name": "brightness", "params": {"factor": 1.2}},
           {"name": "hflip", "params": {}}]
    assert [op["name"] for op in geometric_ops(ops)] == ["rotate", "hflip"]
    aligned = aligned_source(source, ops)
    assert aligned.size == source.size
    assert not np.array_equal(np.asarray(aligned), np.asarray(source))
    variant, _ = run_policy(build_policy([{"name": "rotate", "angle": [9, 9]}, {"name": "hflip"}], "image"),
                            np.random.default_rng(0), source)
    assert np.array_equal(np.asarray(aligned), np.asarray(variant))


def test_a_rotated_photo_matches_its_aligned_source_where_plain_ssim_does_not():
    source = photo_tiles()[5]
    ops = [{"name": "rotate", "params": {"angle": 12.0, "fill": 0}}]
    variant = aligned_source(source, ops)
    measured = compare(source, variant, ops)
    assert similarity(source, variant) < 0.5  # the old check: the pixels no longer line up
    assert measured.photometric_similarity > 0.99
    assert 0.02 < measured.fill_fraction < 0.2  # the four corners
    assert 0.7 < measured.content_kept < 1.0


def test_fill_and_content_of_a_zoom_out_and_a_small_crop():
    rng = np.random.default_rng(1)
    flat_detail = Image.fromarray(rng.integers(0, 256, (96, 96), dtype=np.uint8), "L")  # detail everywhere alike
    kept, fill, valid = geometry(flat_detail, [{"name": "scale", "params": {"factor": 0.5, "fill": 128}}])
    assert fill == pytest.approx(0.75, abs=0.03) and kept == pytest.approx(1.0, abs=0.01)
    assert valid.mean() == pytest.approx(0.25, abs=0.03)
    crop = {"name": "random_resized_crop", "params": {"left": 10, "top": 20, "width": 48, "height": 48}}
    kept, fill, _ = geometry(flat_detail, [crop])
    assert kept == pytest.approx(48 * 48 / 96 ** 2, abs=0.03) and fill == 0.0


def test_content_is_weighted_by_detail():
    """Cropping away an empty border costs nothing; cropping into the object costs."""
    image = Image.new("L", (64, 64), 0)
    image.paste(Image.fromarray(np.random.default_rng(2).integers(0, 256, (24, 24), dtype=np.uint8)), (20, 20))
    around = {"name": "random_resized_crop", "params": {"left": 14, "top": 14, "width": 36, "height": 36}}
    corner = {"name": "random_resized_crop", "params": {"left": 0, "top": 0, "width": 32, "height": 32}}
    assert geometry(image, [around])[0] > 0.9
    assert geometry(image, [corner])[0] < 0.45


@pytest.mark.parametrize("sources", [photo_tiles, mri_tiles], ids=["photos", "mri"])
def test_standard_policy_is_accepted_where_the_old_ssim_check_was_not(sources):
    variants = list(standard_variants(sources()))
    rate = np.mean([accepted(s, v, ops) for s, v, ops in variants])
    old = np.mean([0.3 <= similarity(s, v) <= 0.995 for s, v, _ in variants])
    assert rate > 0.95, rate
    assert old < 0.85, old  # the issue: the plain SSIM check rejected many of these


def destroy(variant: Image.Image, how: str) -> Image.Image:
    pixels = np.asarray(variant).copy()
    if how == "black":
        return Image.fromarray(np.zeros_like(pixels))
    if how == "erased":
        h, w = pixels.shape[:2]
        pixels[: round(h * 0.9 ** 0.5), : round(w * 0.9 ** 0.5)] = 0
        return Image.fromarray(pixels)
    if how == "noise":
        return Image.fromarray(np.random.default_rng(3).integers(0, 256, pixels.shape, dtype=np.uint8))
    return Image.fromarray(pixels[..., ::-1].copy())  # red and blue swapped


@pytest.mark.parametrize("how", ["black", "erased", "noise", "channel swap"])
def test_destroyed_variants_are_caught_by_the_photometric_check(how):
    variants = list(standard_variants(photo_tiles(), per_source=1))
    scores = [compare(s, destroy(v, how), ops).photometric_similarity for s, v, ops in variants]
    caught = np.mean([score < DEFAULTS.min_photometric_similarity for score in scores])
    assert caught >= 0.9, (how, sorted(scores)[-5:])


@pytest.mark.parametrize("sources", [photo_tiles, mri_tiles], ids=["photos", "mri"])
def test_near_copy_is_measured_against_a_jpeg_resave_of_the_same_source(sources):
    """A 0.3 % brightness change is a copy, a 10 % one and a flip are not: on busy photo tiles
    and on a smooth MRI slice alike, though their pixel statistics differ widely."""
    for source in sources()[:4]:
        def brighter(factor, source=source):
            ops = [{"name": "brightness", "params": {"factor": factor}}]
            return compare(source, replay(source, ops, "image"), ops).difference

        flipped = [{"name": "hflip", "params": {}}]
        assert brighter(1.003) < DEFAULTS.min_difference < brighter(1.1)
        assert compare(source, aligned_source(source, flipped), flipped).difference > DEFAULTS.min_difference


def test_failed_bounds_get_their_own_reason_code_and_message():
    augmented = pd.DataFrame({"sample_id": ["a", "b", "c"]})
    features = pd.DataFrame({"sample_id": ["a", "b", "c"], "unreadable": ["", "", ""]})
    failures = {"a": ["photometric_similarity not at least 0.5 (got 0.12)"], "b": ["content_kept is null"]}
    decided = decide(augmented, features, failures, REASON_CODES).set_index("sample_id")
    assert decided.loc["a", "reason_code"] == "photometric_destroyed"
    assert decided.loc["a", "reason"] == ("photometric_destroyed: the variant no longer matches its aligned source "
                                          "(photometric_similarity not at least 0.5 (got 0.12))")
    assert decided.loc["b", "reason_code"] == "check_content_kept"  # a null is not a failed bound
    assert decided.loc["c", "status"] == "accepted"
    assert {code for code, _ in REASON_CODES.values()} == {"content_cropped_out", "too_much_fill",
                                                          "photometric_destroyed", "near_copy",
                                                          # images with targets (data.targets)
                                                          "box_outside_image", "box_degenerate", "box_shape_mismatch",
                                                          "object_count_mismatch", "mask_class_not_in_source",
                                                          "keypoint_visible_outside", "keypoint_visibility_mismatch"}
