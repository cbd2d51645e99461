"""A run of affine operators as one warp (tasks.modalities.image.ops_target_warp): each operator's matrix is its own
point map; a composed mask is exactly "each output pixel takes the source pixel its centre maps back
into, and is empty where that centre left an intermediate frame"; what an intermediate step cut away
stays cut; replay over runs keeps every target invariant; drops land on the run's last operator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from augmill.tasks.modalities.image.ops_target_warp import AFFINE_MAPS, invert, move, warp_instance_mask, warp_label_mask, warp_of
from augmill.tasks.modalities.image.ops_targets import (
    TargetObject,
    TargetRules,
    Targets,
    box_of_mask,
    box_ring,
    clip_ring,
    replay_targets,
    rings_area,
)
from augmill.tasks.ops import policy
from tests.test_targets import STRONG, random_targets

AFFINE = sorted(AFFINE_MAPS)


def sampled(name: str, rng: np.random.Generator, size: tuple[int, int]) -> dict:
    op = policy.operators_for("image")[name](**STRONG[name])
    return op.sample(rng, Image.new("L", size))


def random_steps(seed: int, size: tuple[int, int], count: int) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(seed)
    return [(name, sampled(name, rng, size)) for name in rng.choice(AFFINE, count)]


@pytest.mark.parametrize("name", AFFINE)
def test_each_affine_map_is_the_operators_own_point_map(name):
    rng = np.random.default_rng(4)
    size = (57, 41)
    points = rng.uniform(-20, 80, (50, 2))
    for _ in range(10):
        params = sampled(name, rng, size)
        expected = policy.operators_for("image")[name]().move_points(points, size, **params)
        np.testing.assert_allclose(move(AFFINE_MAPS[name](*size, **params), points), expected, atol=1e-9)


def reference_warp(mask: np.ndarray, steps: list[tuple[str, dict]]) -> tuple[np.ndarray, np.ndarray]:
    """The definition, pixel by pixel in float64: output pixel q takes source pixel floor(T^-1(q + 0.5))
    when that point and q's centre at every intermediate step lie inside the frame. Also how far each
    pixel's source point lies from a pixel edge (OpenCV resolves positions to 1/1024 pixel)."""
    height, width = mask.shape
    ys, xs = np.mgrid[0:height, 0:width]
    points = np.column_stack([xs.ravel(), ys.ravel()]) + 0.5
    inside = np.ones(len(points), dtype=bool)
    for name, params in reversed(steps):  # back through each step: where q's centre was before it
        points = move(invert(AFFINE_MAPS[name](width, height, **params)), points)
        inside &= (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
    index = np.floor(points).astype(int)
    out = np.zeros(len(points), dtype=np.uint8)
    out[inside] = mask[index[inside, 1], index[inside, 0]]
    margin = np.abs(points - np.round(points)).min(axis=1)
    return out.reshape(height, width), margin.reshape(height, width)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 4), width=st.integers(16, 64), height=st.integers(16, 64))
def test_a_composed_mask_is_the_nearest_warp_by_the_composed_map(seed, count, width, height):
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), dtype=np.uint8)
    x0, y0 = int(rng.integers(0, width - 4)), int(rng.integers(0, height - 4))
    x1, y1 = int(rng.integers(x0 + 2, width + 1)), int(rng.integers(y0 + 2, height + 1))
    mask[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.6
    steps = random_steps(seed, (width, height), count)
    warped = warp_instance_mask(mask, warp_of(steps, (width, height)), hint=box_of_mask(mask))
    expected, margin = reference_warp(mask, steps)
    differ = warped.mask != expected
    assert (margin[differ] < 2 / 1024).all(), (steps, np.argwhere(differ)[:5])
    assert warped.box == box_of_mask(warped.mask) and warped.count == int(warped.mask.sum())
    assert warped.source_count == int(mask.sum())


def test_a_wrong_hint_does_not_lose_pixels():
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[2:5, 3:30] = 1
    warp = warp_of([("hflip", {})], (40, 30))
    for hint in [(3.0, 2.0, 30.0, 5.0), (10.0, 2.0, 12.0, 4.0), (35.0, 25.0, 39.0, 29.0)]:
        np.testing.assert_array_equal(warp_instance_mask(mask, warp, hint=hint).mask, mask[:, ::-1])


def test_what_an_intermediate_step_cut_stays_cut():
    """Rotate 45 degrees, then zoom out to half: the corners the rotation cut off come back into view
    as grey fill in the pixels, so the mask, the polygon and the semantic mask must be empty there."""
    size = (64, 64)
    steps = [("rotate", {"angle": 45.0, "fill": 0}), ("scale", {"factor": 0.5, "fill": 0})]
    warp = warp_of(steps, size)
    assert warp.bounds  # the rotated frame cuts the zoomed-out output
    full = np.ones((64, 64), dtype=np.uint8)
    moved = warp_instance_mask(full, warp).mask
    expected, _ = reference_warp(full, steps)
    # Against the plain composition (no intermediate frame), which would show a 32 x 32 square whole.
    assert moved.sum() < 32 * 32 * 0.9 and abs(int(moved.sum()) - int(expected.sum())) <= 8
    # The polygon: clipped to the frame after the rotation, then zoomed, as one operator at a time would.
    ring = box_ring((0.0, 0.0, 64.0, 64.0))
    ops = policy.operators_for("image")
    once = clip_ring(ops["rotate"]().move_points(ring, size, angle=45.0), *size)
    twice = clip_ring(ops["scale"]().move_points(once, size, factor=0.5), *size)
    moved_targets, _ = replay_targets(Targets(64, 64, (TargetObject("o", 1, (0.0, 0.0, 64.0, 64.0), (ring,)),),
                                              semantic=np.full((64, 64), 3, dtype=np.uint8), mask_fill=0),
                                      [{"name": name, "params": params} for name, params in steps])
    assert rings_area(moved_targets.objects[0].polygon) == pytest.approx(rings_area((twice,)), rel=1e-9)
    semantic = moved_targets.semantic
    assert set(np.unique(semantic)) == {0, 3} and abs(int((semantic == 3).sum()) - int(expected.sum())) <= 8
    np.testing.assert_array_equal(warp_label_mask(np.full((64, 64), 3, dtype=np.uint8), warp, 0), semantic)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), width=st.integers(24, 72), height=st.integers(24, 72))
def test_replay_over_runs_keeps_every_target_invariant(seed, width, height):
    rng = np.random.default_rng(seed)
    names = list(rng.choice(sorted(STRONG) + ["brightness"], int(rng.integers(1, 6))))
    records = []
    for name in names:
        op = policy.operators_for("image")[name](**STRONG.get(name, {}))
        records.append({"name": name, "params": op.sample(rng, Image.new("L", (width, height)))})
    source = random_targets(seed, width, height)
    moved, drops = replay_targets(source, records, TargetRules(0.2, 2.0))
    assert sorted([o.object_id for o in moved.objects] + [d["object_id"] for ds in drops for d in ds]) == \
        sorted(o.object_id for o in source.objects)
    for obj in moved.objects:
        x0, y0, x1, y1 = obj.box
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        if obj.mask is not None:
            assert obj.mask.shape == (height, width) and set(np.unique(obj.mask)) <= {0, 1}
            assert obj.box == box_of_mask(obj.mask)
        for ring in obj.polygon:
            assert (ring >= -1e-9).all() and (ring[:, 0] <= width + 1e-9).all() and (ring[:, 1] <= height + 1e-9).all()
    assert moved.semantic.shape == (height, width)
    again, drops_again = replay_targets(source, records, TargetRules(0.2, 2.0))
    assert drops_again == drops and [o.box for o in again.objects] == [o.box for o in moved.objects]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 4), width=st.integers(24, 72), height=st.integers(24, 72))
def test_a_runs_polygons_are_move_then_clip_bit_for_bit(seed, count, width, height):
    """The run moves and tests vertices in Python floats (#19: cheaper than numpy on tens of
    vertices); its polygons are still exactly ``move`` by the composed map, clipped to every frame."""
    from augmill.tasks.modalities.image.ops_target_warp import clip_to_bounds

    steps = random_steps(seed, (width, height), count)
    warp = warp_of(steps, (width, height))
    source = random_targets(seed, width, height)
    moved, _ = replay_targets(source, [{"name": name, "params": params} for name, params in steps], TargetRules(0.0, 0.0))
    kept = {obj.object_id: obj for obj in moved.objects}
    for obj in source.objects:
        if obj.object_id not in kept or not obj.polygon:
            continue
        expected = []
        for ring in obj.polygon:
            points = move(warp.forward, np.asarray(ring, dtype=np.float64))
            inside = warp.covered(points).all()
            points = points if inside else clip_ring(clip_to_bounds(points, warp.bounds), width, height)
            if len(points) >= 3:
                expected.append(points)
        got = kept[obj.object_id].polygon
        assert [ring.tobytes() for ring in got] == [ring.tobytes() for ring in expected]


def test_a_drop_is_recorded_on_the_last_operator_of_its_run():
    targets = Targets(100, 100, (TargetObject("corner", 1, (0.0, 0.0, 10.0, 10.0)),
                                 TargetObject("centre", 1, (45.0, 45.0, 55.0, 55.0))))
    records = [{"name": "hflip", "params": {}}, {"name": "brightness", "params": {"factor": 1.1}},
               {"name": "random_resized_crop", "params": {"left": 25, "top": 25, "width": 50, "height": 50}},
               {"name": "brightness", "params": {"factor": 0.9}}]
    moved, drops = replay_targets(targets, records)
    assert [len(d) for d in drops] == [0, 0, 1, 0] and drops[2][0]["object_id"] == "corner"
    assert drops[2][0]["reason"] == "outside"
    assert [o.box for o in moved.objects] == [(40.0, 40.0, 60.0, 60.0)]
    assert math.isclose(moved.objects[0].visibility, 1.0)


def test_an_affine_that_flattens_the_image_leaves_no_mask():
    """Shears of 45 degrees on both axes make the map singular: the image collapses onto a line."""
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[5:15, 5:25] = 1
    params = {"angle": 0.0, "translate_x": 0.0, "translate_y": 0.0, "scale": 1.0, "shear_x": 45.0, "shear_y": 45.0,
              "fill": 0}
    targets = Targets(30, 20, (TargetObject("m", 1, (5.0, 5.0, 25.0, 15.0), mask=mask),),
                      semantic=np.full((20, 30), 2, dtype=np.uint8), mask_fill=0)
    moved, drops = replay_targets(targets, [{"name": "affine", "params": params}])
    assert moved.objects == () and [d["reason"] for d in drops[0]] == ["outside"]
    assert not moved.semantic.any()
