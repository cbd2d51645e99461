"""Boxes, polygons, masks and keypoints through every image operator (tasks.modalities.image.ops_targets):
property tests over random targets and every geometric operator, pixels and targets agreeing
on a drawn square, photometric operators leaving targets alone, and replay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.path import Path
from PIL import Image

from augmill.tasks.modalities.image.ops import OPERATOR_KINDS
from augmill.tasks.modalities.image.ops_geometric import _upsample_bilinear, elastic_field, field_at
from augmill.tasks.modalities.image.ops_targets import (
    TargetObject,
    TargetRules,
    Targets,
    clip_ring,
    replay_targets,
    rings_area,
    run_policy_with_targets,
    transform_targets,
)
from augmill.tasks.ops import policy

GEOMETRIC = sorted(name for name, kind in OPERATOR_KINDS.items() if kind == "geometric")
PHOTOMETRIC = sorted(name for name, kind in OPERATOR_KINDS.items() if kind == "photometric")
# Wider than the defaults, so objects get cut, shrunk and turned over; elastic stays below folding
# (alpha * 2 * (grid - 1) / (side - 1) < 1 for sides >= 24), where a point has one place to go.
STRONG = {
    "hflip": {}, "vflip": {}, "rotate": {"angle": (-180.0, 180.0)},
    "random_resized_crop": {"scale": (0.1, 1.0), "ratio": (0.5, 2.0)}, "scale": {"factor": (0.4, 2.5)},
    "affine": {"angle": (-90.0, 90.0), "translate_x": (-0.4, 0.4), "translate_y": (-0.4, 0.4), "scale": (0.5, 2.0),
               "shear_x": (-30.0, 30.0), "shear_y": (-30.0, 30.0)},
    "perspective": {"distortion": (0.0, 0.5)}, "elastic": {"alpha": (0.0, 3.0), "grid": 4},
}


def test_every_geometric_operator_has_a_point_map_and_a_strong_config():
    ops = policy.operators_for("image")
    assert sorted(STRONG) == GEOMETRIC
    for name in GEOMETRIC:
        assert callable(getattr(ops[name], "move_points", None)), name


def sampled(name: str, seed: int, size: tuple[int, int]) -> dict:
    op = policy.operators_for("image")[name](**STRONG[name])
    return op.sample(np.random.default_rng(seed), Image.new("L", size))


def star_polygon(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A star-shaped polygon (vertices sorted by angle about a centre): simple, often non-convex."""
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    count = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = rng.uniform(4.0, min(width, height) / 3, count)
    return np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])


def rasterise(ring: np.ndarray, width: int, height: int) -> np.ndarray:
    """The pixels whose centre lies inside the polygon (ImageDraw also fills the outline's pixels,
    a pixel beyond it)."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    inside = Path(ring).contains_points(np.column_stack([xs.ravel(), ys.ravel()]))
    return inside.reshape(height, width).astype(np.uint8)


def random_targets(seed: int, width: int, height: int) -> Targets:
    """Box-only objects, polygon objects and polygon + mask objects, plus a semantic mask."""
    rng = np.random.default_rng(seed)
    objects = []
    for index in range(int(rng.integers(1, 6))):
        kind = index % 3
        if kind == 0:
            x0, y0 = rng.uniform(0, width - 2), rng.uniform(0, height - 2)
            box = (x0, y0, rng.uniform(x0 + 1, width), rng.uniform(y0 + 1, height))
            objects.append(TargetObject(f"o{index}", int(rng.integers(1, 4)), tuple(map(float, box))))
            continue
        ring = clip_ring(star_polygon(rng, width, height), width, height)
        if len(ring) < 3:  # a star wholly outside a small frame: nothing left to annotate
            continue
        mask = rasterise(ring, width, height) if kind == 2 else None
        if mask is not None and not mask.any():
            mask = None
        box = (*ring.min(axis=0), *ring.max(axis=0))
        objects.append(TargetObject(f"o{index}", int(rng.integers(1, 4)), tuple(map(float, box)), (ring,), mask))
    semantic = rng.integers(1, 5, size=(height, width), dtype=np.uint8)
    semantic[: height // 3] = 7
    return Targets(width, height, tuple(objects), semantic, mask_fill=0)


def stretch(name: str, params: dict, size: tuple[int, int], near: np.ndarray) -> float:
    """How far the op moves two points a pixel apart, at most, around ``near`` (its local zoom)."""
    op = policy.operators_for("image")[name]()
    lo, hi = near.min(axis=0) - 4, near.max(axis=0) + 4
    grid = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 9), np.linspace(lo[1], hi[1], 9)), -1).reshape(-1, 2)
    base = op.move_points(grid, size, **params)
    return max(float(np.hypot(*(op.move_points(grid + step, size, **params) - base).T).max())
               for step in ([1.0, 0.0], [0.0, 1.0]))


def bounding(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def moved_outline(source: Targets, object_id: str, name: str, params: dict, size: tuple[int, int], grow: float) -> np.ndarray:
    """An object's polygon through the operator's point map (densified for elastic, as transform_targets
    does), unclipped, then cut to the frame grown by ``grow`` on every side."""
    from augmill.tasks.modalities.image.ops_targets import _DENSIFY_STEP, _densify

    op = policy.operators_for("image")[name]()
    (obj,) = [o for o in source.objects if o.object_id == object_id]
    rings = [_densify(ring, _DENSIFY_STEP) if name == "elastic" else ring for ring in obj.polygon]
    cut = [clip_ring(op.move_points(ring, size, **params) + grow, size[0] + 2 * grow, size[1] + 2 * grow) - grow
           for ring in rings]
    return np.concatenate(cut)


def mask_bounding(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(GEOMETRIC), width=st.integers(24, 72), height=st.integers(24, 72),
       targets_seed=st.integers(0, 2**32 - 1), op_seed=st.integers(0, 2**32 - 1))
def test_every_geometric_operator_keeps_every_target_invariant(name, width, height, targets_seed, op_seed):
    source, params = random_targets(targets_seed, width, height), sampled(name, op_seed, (width, height))
    moved, drops = transform_targets(source, name, params, TargetRules(0.0, 1.0))
    # Nothing is lost silently: every object is kept or its drop recorded, once.
    assert sorted(o.object_id for o in moved.objects) + sorted(d.object_id for d in drops) != [] or not source.objects
    assert sorted([o.object_id for o in moved.objects] + [d.object_id for d in drops]) == \
        sorted(o.object_id for o in source.objects)
    for obj in moved.objects:
        x0, y0, x1, y1 = obj.box
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (obj.object_id, obj.box)
        if obj.polygon:
            outline = np.concatenate(obj.polygon)
            assert (outline >= -1e-9).all() and (outline[:, 0] <= width + 1e-9).all() and \
                (outline[:, 1] <= height + 1e-9).all()
        if obj.mask is not None:
            assert obj.mask.shape == (height, width) and set(np.unique(obj.mask)) <= {0, 1}
            np.testing.assert_array_equal(obj.box, mask_bounding(obj.mask))
            if obj.polygon:
                # The mask went through the operator's pixels (nearest), the polygon through its point map:
                # the mask lies within the polygon's box, up to the nearest source centre's offset (half a
                # pixel on each axis, stretched by the op's local zoom) and half an output pixel. (The other
                # way round a sliver thinner than a pixel legitimately has a longer polygon than raster.)
                slack = 0.5 + stretch(name, params, (width, height), np.concatenate(obj.polygon)) + 1e-6
                # Against the moved outline before clipping, cut to the frame grown by the slack: an edge
                # running just outside the frame has mask pixels within the slack of it all along (the
                # clipped polygon can keep only a sliver of it).
                lo, hi = np.split(bounding(moved_outline(source, obj.object_id, name, params, (width, height), slack)), 2)
                mask_lo, mask_hi = np.split(mask_bounding(obj.mask), 2)
                assert (mask_lo >= lo - slack).all() and (mask_hi <= hi + slack).all()
        elif obj.polygon:
            np.testing.assert_allclose(obj.box, bounding(np.concatenate(obj.polygon)), atol=1e-9)
    assert set(np.unique(moved.semantic)) <= set(np.unique(source.semantic)) | {source.mask_fill}
    assert moved.semantic.shape == (height, width)


@pytest.mark.parametrize("name", GEOMETRIC)
@pytest.mark.parametrize("seed", range(6))
def test_a_drawn_square_lands_where_its_box_goes(name, seed):
    """Pixels and targets agree: the box of a white square's pixels after the op is its moved box."""
    width, height, box = 96, 80, (30.0, 25.0, 50.0, 45.0)
    image = np.zeros((height, width), dtype=np.uint8)
    image[25:45, 30:50] = 255
    params = sampled(name, seed, (width, height))
    if name == "random_resized_crop":  # keep the square in the crop, so there is a box to compare
        params = {"left": 20, "top": 15 + seed, "width": 45 + seed, "height": 40}
    out = np.asarray(policy.operators_for("image")[name]().apply(Image.fromarray(image), **params))
    targets = Targets(width, height, (TargetObject("square", 1, box), TargetObject("mask", 1, box, mask=image // 255)))
    moved, drops = transform_targets(targets, name, params, TargetRules(0.0, 0.0))
    bright = out > 127
    if not bright.any():
        assert not moved.objects and len(drops) == 2
        return
    square, mask = moved.objects
    assert np.abs(np.array(square.box) - mask_bounding(bright)).max() <= 1.5, (params, square.box)
    assert np.abs(np.array(square.box) - mask_bounding(mask.mask)).max() <= 1.5, (params, square.box)


@pytest.mark.parametrize("name", PHOTOMETRIC)
def test_photometric_operators_leave_targets_alone(name):
    targets = random_targets(3, 40, 30)
    op = policy.operators_for("image")[name]()
    params = op.sample(np.random.default_rng(1), Image.new("RGB", (40, 30)))
    moved, drops = transform_targets(targets, name, params)
    assert moved is targets and drops == []


def test_replay_reproduces_targets_and_drops():
    entries = [{"name": name, "p": 0.7, **STRONG[name]} for name in GEOMETRIC] + [{"name": "brightness"}]
    ops = policy.build_policy(entries, "image")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    dropped_any = False
    for seed in range(12):
        source = random_targets(seed, 64, 48)
        out, moved, records = run_policy_with_targets(ops, np.random.default_rng(seed), image, source,
                                                      TargetRules(0.3, 4.0))
        # The same draws as the image-only runner: identical pixels and records.
        plain, plain_records = policy.run_policy(ops, np.random.default_rng(seed), image)
        assert out.tobytes() == plain.tobytes()
        assert [{"name": r["name"], "params": r["params"]} for r in records] == plain_records
        again, drops = replay_targets(source, records, TargetRules(0.3, 4.0))
        assert drops == [r["dropped"] for r in records]
        dropped_any |= any(drops)
        assert len(again.objects) == len(moved.objects) == len(source.objects) - sum(map(len, drops))
        for a, b in zip(again.objects, moved.objects, strict=True):
            assert a.object_id == b.object_id and a.box == b.box
            assert all(np.array_equal(p, q) for p, q in zip(a.polygon, b.polygon, strict=True))
            assert (a.mask is None) == (b.mask is None) and (a.mask is None or np.array_equal(a.mask, b.mask))
        np.testing.assert_array_equal(again.semantic, moved.semantic)
    assert dropped_any  # the strong ops do cut objects away, so the drop records were exercised


def test_a_rotated_box_grows_and_a_rotated_polygon_box_does_not():
    diamond = np.array([[20.0, 10.0], [30.0, 20.0], [20.0, 30.0], [10.0, 20.0]])
    targets = Targets(40, 40, (TargetObject("box", 1, (10.0, 10.0, 30.0, 30.0)),
                               TargetObject("diamond", 1, (10.0, 10.0, 30.0, 30.0), (diamond,))))
    moved, _ = transform_targets(targets, "rotate", {"angle": 45.0, "fill": 0})
    box, rotated_diamond = (np.array(o.box) for o in moved.objects)
    side = 20 * np.sqrt(2)  # the box's corners turn out to a square of that side
    np.testing.assert_allclose(box[2:] - box[:2], [side, side], atol=1e-6)
    np.testing.assert_allclose(rotated_diamond[2:] - rotated_diamond[:2], [side / 2, side / 2], atol=1e-6)


def test_objects_cut_by_a_crop_are_clipped_and_the_small_remainders_dropped():
    targets = Targets(100, 100, (TargetObject("inside", 1, (40.0, 40.0, 60.0, 60.0)),
                                 TargetObject("half", 1, (0.0, 40.0, 30.0, 60.0)),
                                 TargetObject("sliver", 1, (0.0, 60.0, 22.0, 68.0)),
                                 TargetObject("gone", 1, (0.0, 0.0, 10.0, 10.0))))
    crop = {"left": 20, "top": 20, "width": 50, "height": 50}  # doubles everything it keeps
    moved, drops = transform_targets(targets, "random_resized_crop", crop, TargetRules(min_visibility=0.25))
    assert {o.object_id: o.box for o in moved.objects} == {"inside": (40.0, 40.0, 80.0, 80.0),
                                                           "half": (0.0, 40.0, 20.0, 80.0)}
    assert {d.object_id: d.reason for d in drops} == {"sliver": "min_visibility", "gone": "outside"}
    assert [d.visibility for d in drops if d.object_id == "sliver"] == [pytest.approx(2 / 22)]


def test_keypoints_move_with_the_image_and_go_invisible_outside():
    keypoints = np.array([[10.5, 5.5, 2], [95.0, 5.0, 2], [50.0, 35.0, 1]])
    targets = Targets(100, 60, (TargetObject("k", 1, (5.0, 2.0, 96.0, 55.0), keypoints=keypoints),))
    flipped, _ = transform_targets(targets, "hflip", {})
    np.testing.assert_allclose(flipped.objects[0].keypoints, [[89.5, 5.5, 2], [5.0, 5.0, 2], [50.0, 35.0, 1]])
    zoomed, _ = transform_targets(targets, "scale", {"factor": 2.0, "fill": 0})
    np.testing.assert_allclose(zoomed.objects[0].keypoints[:, 2], [0, 0, 1])  # the corners left, the centre stayed
    np.testing.assert_allclose(zoomed.objects[0].keypoints[2, :2], [50.0, 40.0])


def test_elastic_point_field_is_the_pixel_field_at_pixel_centres():
    field = elastic_field(5, 11)
    width, height = 37, 23
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    points = np.column_stack([xs.ravel(), ys.ravel()])
    for axis in range(2):
        np.testing.assert_allclose(field_at(field, width, height, points)[:, axis],
                                   _upsample_bilinear(field[axis], width, height).ravel(), atol=1e-12)


def test_clip_ring_keeps_the_part_inside_the_frame():
    square = np.array([[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]])
    clipped = clip_ring(square, 10, 10)
    assert rings_area((clipped,)) == pytest.approx(25.0)
    assert clipped.min() == 0.0 and clipped.max() == 5.0
    assert len(clip_ring(square + 20, 10, 10)) == 0


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 30), width=st.integers(1, 120), height=st.integers(1, 120))
def test_clip_ring_in_python_floats_is_the_vectorised_pass_bit_for_bit(seed, count, width, height):
    """clip_ring loops over vertices in Python floats (faster on outlines of tens of vertices); the
    vectorised pass it replaced, _clip_by_line, gives the very same bytes, on the frame's edges too."""
    from augmill.tasks.modalities.image.ops_targets import _clip_by_line

    rng = np.random.default_rng(seed)
    points = rng.uniform(-60, 180, (count, 2))
    if seed % 3 == 0:  # vertices on the frame and on whole pixels
        points = np.round(points)
        points[rng.integers(count)] = [0.0, float(height)]
    vectorised = points
    (low_x, low_y), (high_x, high_y) = points.min(axis=0), points.max(axis=0)
    for axis, limit, keep_below, out in ((0, 0.0, False, low_x < 0), (0, width, True, high_x > width),
                                         (1, 0.0, False, low_y < 0), (1, height, True, high_y > height)):
        if out and len(vectorised):  # the sides the ring crosses, as clip_ring has always chosen them
            vectorised = _clip_by_line(vectorised, axis, float(limit), keep_below)
    clipped = clip_ring(points, width, height)
    assert clipped.dtype == np.float64 and clipped.shape == vectorised.shape
    assert clipped.tobytes() == vectorised.tobytes()


def test_visibility_is_of_the_source_object_across_ops():
    """Two crops each keeping half of an object leave a quarter of it: dropped below 0.3, not at 0.5 each."""
    targets = Targets(100, 100, (TargetObject("o", 1, (40.0, 0.0, 60.0, 100.0)),))
    half = {"left": 50, "top": 0, "width": 50, "height": 100}  # keeps x 50..100, stretched to 0..100
    once, drops = transform_targets(targets, "random_resized_crop", half, TargetRules(min_visibility=0.3))
    assert drops == [] and once.objects[0].visibility == pytest.approx(0.5) and once.objects[0].box == (0.0, 0.0, 20.0, 100.0)
    quarter = {"left": 10, "top": 0, "width": 90, "height": 100}  # keeps x 10..100: half of 0..20
    _, drops = transform_targets(once, "random_resized_crop", quarter, TargetRules(min_visibility=0.3))
    assert [(d.reason, round(d.visibility, 6)) for d in drops] == [("min_visibility", 0.25)]


@pytest.mark.parametrize("name", GEOMETRIC)
def test_masks_warped_together_as_bits_equal_masks_warped_alone(name):
    from augmill.tasks.modalities.image.ops_targets import _instance, warp_instance_masks, warp_mask

    rng = np.random.default_rng(2)
    masks = [(rng.random((40, 56)) < density).astype(np.uint8) for density in np.linspace(0.05, 0.9, 11)]
    params = sampled(name, 5, (56, 40))
    op = _instance(name)
    together = warp_instance_masks(masks, lambda mask, fill: warp_mask(op, params, mask, fill))
    for mask, moved in zip(masks, together, strict=True):
        np.testing.assert_array_equal(moved, warp_mask(op, params, mask, 0))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), width=st.integers(16, 90), height=st.integers(16, 90))
def test_a_safe_crop_keeps_an_object_of_the_class_whole(seed, width, height):
    from augmill.tasks.modalities.image.ops_targets import safe_crop_params

    targets = random_targets(seed, width, height)
    rare = targets.objects[-1].category
    params = safe_crop_params(np.random.default_rng(seed), targets, rare, scale=(0.05, 0.3))
    assert 0 <= params["left"] and params["left"] + params["width"] <= width
    assert 0 <= params["top"] and params["top"] + params["height"] <= height
    left, top, right, bottom = params["left"], params["top"], params["left"] + params["width"], params["top"] + params["height"]
    whole = {o.object_id for o in targets.objects if o.category == rare and left <= o.box[0] and top <= o.box[1]
             and o.box[2] <= right and o.box[3] <= bottom}
    assert whole  # at least one object of the class inside the crop, entirely
    # Kept, even by a strict rule (a mask's visibility is estimated from its pixels: not exactly 1).
    # Not min_area: random_targets can draw a star under a pixel, which that rule drops wherever it is.
    moved, _ = transform_targets(targets, "random_resized_crop", params, TargetRules(min_visibility=0.5, min_area=0.0))
    assert whole <= {o.object_id for o in moved.objects}
    assert safe_crop_params(np.random.default_rng(seed), Targets(width, height), rare) is None


# A flip first: the crop draws its box around the objects where the flip moved them (an op that can
# drop objects, as rotate, could remove the class before the crop: the crop keeps what is left).
KEEPING_CROP = [{"name": "hflip", "p": 0.5},
                {"name": "random_resized_crop", "scale": [0.05, 0.3], "ratio": [0.75, 1.3333], "p": 1.0}]


def policy_with_crop(keep_objects: bool) -> list:
    return policy.build_policy([dict(KEEPING_CROP[0]), dict(KEEPING_CROP[1], keep_objects=keep_objects)], "image")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), width=st.integers(24, 80), height=st.integers(24, 80))
def test_a_keep_objects_crop_keeps_an_object_of_the_plans_class_in_every_variant_and_replays(seed, width, height):
    source = random_targets(seed, width, height)
    kept_class = source.objects[-1].category
    image = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))
    # Not min_area: random_targets can draw the class's only object as a sliver under a pixel, which that
    # rule drops wherever the crop is, so the crop rightly falls back to a plain one (seed 650, 38x38).
    rules = TargetRules(min_visibility=0.5, min_area=0.0)
    out, moved, records = run_policy_with_targets(policy_with_crop(True), np.random.default_rng(seed), image, source,
                                                  rules, kept_class)
    assert any(obj.category == kept_class for obj in moved.objects)
    crop = next(r for r in records if r["name"] == "random_resized_crop")
    assert crop["params"]["keep_class"] == kept_class  # recorded, so the lineage says what was kept
    # Replay from the records alone gives the same targets and pixels.
    again, drops = replay_targets(source, [{"name": r["name"], "params": r["params"]} for r in records], rules)
    assert [o.box for o in again.objects] == [o.box for o in moved.objects]
    assert drops == [r["dropped"] for r in records]
    replayed = policy.replay(image, [{"name": r["name"], "params": r["params"]} for r in records], "image")
    assert np.array_equal(np.asarray(replayed), np.asarray(out))


def test_without_keep_objects_the_same_crop_can_lose_every_object_of_the_class():
    lost = 0
    for seed in range(40):
        source = random_targets(seed, 64, 48)
        kept_class = source.objects[-1].category
        image = Image.new("RGB", (64, 48))
        for keep in (False, True):
            _, moved, _ = run_policy_with_targets(policy_with_crop(keep), np.random.default_rng(seed), image, source,
                                                  TargetRules(min_visibility=0.5), kept_class)
            has_class = any(obj.category == kept_class for obj in moved.objects)
            assert has_class or not keep
            lost += not has_class
    assert lost > 0
