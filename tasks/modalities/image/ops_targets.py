"""Targets that live inside an image (boxes, polygons, masks, keypoints) carried through the
image operators with the same recorded params as the pixels.

Coordinates are pixel edges, as COCO's: the image spans [0, w] x [0, h] and pixel (i, j) covers
[i, i + 1) x [j, j + 1). A run of consecutive affine operators (photometric ones between them
included) moves the targets as one warp (tasks.modalities.image.ops_target_warp, whose matrices are the operators'
own point maps, a test checks): each mask warped once over its box, nearest-neighbour. Perspective
and elastic go one at a time: points by the operator's own ``move_points`` (next to its
``apply``, from the same maps, so pixels and targets cannot disagree), masks through its
``apply`` with ``nearest=True``. Photometric operators leave targets as they are.

After each geometric operator (or run) an object's box is recomputed: from its mask where it has one,
else from its polygon, else from its 4 transformed corners; always from the part inside the
image (the outline is clipped to the frame first, so a box never leaves [0, w] x [0, h]). An
object whose box is empty, or whose visibility or area falls below ``TargetRules``, is dropped
and the drop is returned (the policy runner records it in the lineage).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image.ops import OPERATOR_KINDS
from augmill.tasks.modalities.image.ops_target_warp import (
    AFFINE_MAPS,
    Warp,
    clip_to_bounds,
    warp_instance_mask,
    warp_label_mask,
    warp_of,
)
from augmill.tasks.ops.policy import operators_for

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixel-edge coordinates, x0 < x1, y0 < y1
Ring = np.ndarray  # N x 2 float64 vertices of one closed polygon part


@dataclass(frozen=True)
class TargetObject:
    """One annotated object. ``polygon`` may have several parts (COCO does); ``mask`` is an
    H x W uint8 0/1 instance mask; ``keypoints`` is K x 3 (x, y, v) with COCO's v: 0 not
    labelled or not visible, 1 labelled but occluded, 2 visible."""

    object_id: str
    category: int
    box: Box
    polygon: tuple[Ring, ...] = ()
    mask: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    iscrowd: bool = False
    # The share of the source object still in the image after the ops so far (cuts multiply).
    visibility: float = 1.0


@dataclass(frozen=True)
class Targets:
    """Everything one image carries: its objects and, for semantic segmentation, an H x W uint8
    mask of class ids whose uncovered pixels (after a warp) get ``mask_fill``."""

    width: int
    height: int
    objects: tuple[TargetObject, ...] = ()
    semantic: np.ndarray | None = None
    mask_fill: int = 0


@dataclass(frozen=True)
class TargetRules:
    """When an object that a geometric operator moved or cut is dropped: below ``min_visibility``
    (the share of the source object still inside the image, over all the ops so far) or
    ``min_area`` (pixels)."""

    min_visibility: float = 0.0
    min_area: float = 1.0


@dataclass(frozen=True)
class Drop:
    object_id: str
    reason: str  # "outside" (nothing left in the image), "min_visibility" or "min_area"
    visibility: float
    area: float

    def record(self) -> dict[str, Any]:
        return {"object_id": self.object_id, "reason": self.reason, "visibility": round(self.visibility, 4),
                "area": round(self.area, 2)}


@dataclass(frozen=True)
class _Moved:
    obj: TargetObject
    visibility: float
    area: float


# Operators whose point map bends straight lines: outlines get extra vertices before moving.
_CURVED = {"elastic"}
_DENSIFY_STEP = 2.0  # pixels between outline vertices through a curved warp


def transform_targets(targets: Targets, name: str, params: dict[str, Any],
                      rules: TargetRules = TargetRules()) -> tuple[Targets, list[Drop]]:
    """The targets after image operator ``name`` with its recorded ``params``, and the objects dropped."""
    kind = OPERATOR_KINDS.get(name)
    if kind is None:
        raise KeyError(f"image operator {name!r} has no kind in tasks.modalities.image.ops.OPERATOR_KINDS")
    if kind == "photometric":
        return targets, []
    if name in AFFINE_MAPS:
        return _transform_affine_run(targets, [(name, params)], rules)
    op = _instance(name)
    size = (targets.width, targets.height)

    def move(points: np.ndarray) -> np.ndarray:
        return op.move_points(np.asarray(points, dtype=np.float64).reshape(-1, 2), size, **params)

    def warp(mask: np.ndarray, fill: int) -> np.ndarray:
        return warp_mask(op, params, mask, fill)

    masks = warp_instance_masks([obj.mask for obj in targets.objects if obj.mask is not None], warp)
    moved_masks = iter(masks)
    kept, drops = [], []
    for obj in targets.objects:
        moved_mask = None if obj.mask is None else next(moved_masks)
        moved = _move_object(obj, size, move, moved_mask, curved=name in _CURVED)
        reason = _drop_reason(moved.obj.box, moved.visibility, moved.area, rules)
        if reason:
            drops.append(Drop(obj.object_id, reason, moved.visibility, moved.area))
        else:
            kept.append(moved.obj)
    semantic = None if targets.semantic is None else warp(targets.semantic, targets.mask_fill)
    return replace(targets, objects=tuple(kept), semantic=semantic), drops


def replay_targets(targets: Targets, records: list[dict], rules: TargetRules = TargetRules()) -> tuple[Targets, list]:
    """Targets through a manifest row's recorded ops; also each op's drops (lists of records).

    Consecutive affine operators (photometric ones between them move nothing) go through as one
    warp (tasks.modalities.image.ops_target_warp): each mask is warped once per run, not once per operator. An
    object is judged (kept, clipped, or dropped by ``rules``) once per run, on the run's result,
    and its drop is recorded on the run's last geometric operator."""
    all_drops: list[list[dict]] = [[] for _ in records]
    run: list[int] = []

    def flush() -> None:
        nonlocal targets
        if run:
            steps = [(records[k]["name"], records[k]["params"]) for k in run]
            targets, drops = _transform_affine_run(targets, steps, rules)
            all_drops[run[-1]] = [drop.record() for drop in drops]
            run.clear()

    for index, record in enumerate(records):
        name = record["name"]
        if name in AFFINE_MAPS:
            run.append(index)
        elif OPERATOR_KINDS.get(name) != "photometric":  # perspective, elastic, or unknown (refused there)
            flush()
            targets, drops = transform_targets(targets, name, record["params"], rules)
            all_drops[index] = [drop.record() for drop in drops]
    flush()
    return targets, all_drops


def run_policy_with_targets(ops: list, rng: np.random.Generator, image: Image.Image, targets: Targets,
                            rules: TargetRules = TargetRules(), keep_class: int | None = None,
                            ) -> tuple[Image.Image, Targets, list[dict]]:
    """``run_policy`` (the very same draws, so the same pixels as without targets), then the targets
    through the ops that fired; each record gains ``dropped``, the objects that op removed. With
    ``keep_class``, an op with ``keep_objects`` set draws its box around the targets as the ops
    before it left them (``safe_crop_params``), so at least one object of that class stays whole."""
    from augmill.tasks.ops.policy import run_policy

    if keep_class is None or not any(getattr(op, "keep_objects", False) for op in ops):
        out, records = run_policy(ops, rng, image)
        moved, drops = replay_targets(targets, records, rules)
        return out, moved, [record | {"dropped": dropped} for record, dropped in zip(records, drops, strict=True)]
    so_far = targets  # the targets as the ops drawn so far left them: what a keep_objects crop draws around

    def draw(op, rng: np.random.Generator, item) -> dict[str, Any]:
        nonlocal so_far
        params = None
        if getattr(op, "keep_objects", False):
            params = safe_crop_params(rng, so_far, keep_class, op.scale, op.ratio)
        params = op.sample(rng, item) if params is None else params | {"keep_class": keep_class}
        so_far, _ = transform_targets(so_far, op.name, params, rules)
        return params

    out, records = run_policy(ops, rng, image, draw_params=draw)
    # The targets themselves as replay makes them (one warp per run of affine operators), so a row
    # replays to exactly these; op by op above they can differ in the last bits.
    moved, drops = replay_targets(targets, records, rules)
    return out, moved, [record | {"dropped": dropped} for record, dropped in zip(records, drops, strict=True)]


def _transform_affine_run(targets: Targets, steps: list[tuple[str, dict[str, Any]]],
                          rules: TargetRules) -> tuple[Targets, list[Drop]]:
    """The targets after a run of affine operators, as one warp: outlines (polygons, else box
    corners) moved as points and clipped to every frame of the run; masks warped once over their
    box; keypoints step by step (a point outside any intermediate frame goes invisible).

    The hot path of targets (#19): every vertex of every object is moved and tested in one pass
    in Python floats, and an object with a mask costs its mask's OpenCV calls and little Python."""
    size = (targets.width, targets.height)
    width, height = size
    warp = warp_of(steps, size)
    objects = targets.objects
    semantic = None if targets.semantic is None else warp_label_mask(targets.semantic, warp, targets.mask_fill)
    if not objects:
        return replace(targets, semantic=semantic), []
    outlines = [obj.polygon or (box_ring(obj.box),) for obj in objects]
    rings = [ring if type(ring) is np.ndarray and ring.dtype == np.float64 and ring.shape[1:] == (2,)
             else np.asarray(ring, dtype=np.float64).reshape(-1, 2) for outline in outlines for ring in outline]
    ends = list(itertools.accumulate(len(ring) for ring in rings))
    starts = [0, *ends[:-1]]
    # Every vertex moved as ops_target_warp.move moves it (the same float operations, so the same
    # bits), in Python floats: cheaper than numpy's calls on an image's few tens of vertices.
    a, b, c, d, e, f = warp.forward
    vertices = [[x * a + (y * b + c), x * d + (y * e + f)]
                for x, y in (np.concatenate(rings) if len(rings) > 1 else rings[0]).tolist()]
    moved_all = np.array(vertices, dtype=np.float64).reshape(-1, 2)
    whole = _rings_inside(vertices, starts, ends, warp)
    kept, drops, first = [], [], 0
    for obj, outline in zip(objects, outlines, strict=True):
        moved_rings, clipped = [], []
        for k in range(first, first + len(outline)):
            ring = moved_all[starts[k]:ends[k]]
            moved_rings.append(ring)
            if not whole[k]:
                ring = clip_ring(clip_to_bounds(ring, warp.bounds), width, height)
            if len(ring) >= 3:  # as clipping keeps only rings that still enclose something
                clipped.append(ring)
        first += len(outline)
        if obj.mask is None or obj.keypoints is not None or type(obj) is not TargetObject:
            moved = _judge_affine(obj, warp, tuple(moved_rings), tuple(clipped), steps, size)
            new, visibility, area = moved.obj, moved.visibility, moved.area
        else:  # the common case, without _judge_affine's keypoints and replace()
            mask, box, area, visibility = _mask_after_run(obj.mask, obj.box, warp)
            visibility *= obj.visibility
            new = TargetObject(obj.object_id, obj.category, box or (0.0, 0.0, 0.0, 0.0),
                               tuple(clipped) if obj.polygon else (), mask, None, obj.iscrowd, visibility)
        reason = _drop_reason(new.box, visibility, area, rules)
        if reason:
            drops.append(Drop(obj.object_id, reason, visibility, area))
        else:
            kept.append(new)
    if type(targets) is Targets:  # as replace() makes it, at half the cost
        return Targets(width, height, tuple(kept), semantic, targets.mask_fill), drops
    return replace(targets, objects=tuple(kept), semantic=semantic), drops


def _rings_inside(vertices: list[list[float]], starts: list[int], ends: list[int], warp: Warp) -> list[bool]:
    """Whether each ring (``vertices[start:end]``, [x, y] each) lies wholly inside the output frame and every
    intermediate one (``Warp.covered``'s tests, in Python floats: on an image's few tens of
    vertices that beats numpy's per-call cost, which doubles when the image work has just run
    through the caches). A NaN is never inside; an empty ring is (there is nothing in it to cut)."""
    width, height = warp.size
    bounds = warp.bounds
    whole = []
    for start, end in zip(starts, ends, strict=True):
        inside = True
        for x, y in vertices[start:end]:
            if not (0 <= x <= width and 0 <= y <= height):
                inside = False
                break
            if bounds and not all(0 <= a * x + (b * y + c) <= limit for a, b, c, limit in bounds):
                inside = False
                break
        whole.append(inside)
    return whole


def _judge_affine(obj: TargetObject, warp: Warp, moved_outline: tuple[Ring, ...], clipped: tuple[Ring, ...],
                  steps: list[tuple[str, dict[str, Any]]], size: tuple[int, int]) -> _Moved:
    """An object's box, area and visibility after a run, from its mask where it has one (else its
    clipped outline), as ``_move_object`` does for one operator."""
    keypoints = obj.keypoints
    if keypoints is not None:
        for name, params in steps:
            op = _instance(name)
            keypoints = _move_keypoints(keypoints, size, lambda points, op=op, params=params: op.move_points(
                np.asarray(points, dtype=np.float64).reshape(-1, 2), size, **params))
    if obj.mask is not None:
        mask, box, area, visibility = _mask_after_run(obj.mask, obj.box, warp)
    else:
        mask = None
        box = box_of_rings(clipped)
        area = rings_area(clipped) if obj.polygon else _box_area(box)
        if len(clipped) == len(moved_outline) and all(a is b for a, b in zip(clipped, moved_outline, strict=True)):
            visibility = 1.0  # nothing cut
        else:
            unclipped_area = rings_area(moved_outline)
            visibility = min(1.0, rings_area(clipped) / unclipped_area) if unclipped_area > 0 else 0.0
    if box is None:
        box = (0.0, 0.0, 0.0, 0.0)
    visibility *= obj.visibility
    polygon = clipped if obj.polygon else ()
    moved = replace(obj, box=box, polygon=polygon, mask=mask, keypoints=keypoints, visibility=visibility)
    return _Moved(moved, visibility, area)


def _mask_after_run(mask: np.ndarray, box: Box, warp: Warp) -> tuple[np.ndarray, Box | None, float, float]:
    """An instance mask after a run's warp: the mask, its box (None when empty), its area and its
    visibility (of this run alone)."""
    moved, moved_box, count, source_count = warp_instance_mask(mask, warp, hint=box)
    area = float(count)
    # The mask's area before cutting is its source area times the warp's area scale.
    expected = source_count * warp.area_scale
    return moved, moved_box, area, min(1.0, area / expected) if expected > 0 else 0.0


def warp_mask(op: Any, params: dict[str, Any], mask: np.ndarray, fill: int) -> np.ndarray:
    """An H x W uint8 mask through the operator's own ``apply``, nearest-neighbour, uncovered pixels = ``fill``."""
    params = dict(params, nearest=True)
    if "fill" in params:
        params["fill"] = fill
    return np.asarray(op.apply(Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)), **params))


def warp_instance_masks(masks: list[np.ndarray], warp) -> list[np.ndarray]:
    """0/1 masks through ``warp``, 8 at a time as the bits of one uint8 image: nearest-neighbour
    resampling copies whole bytes, so each bit arrives exactly as its mask alone would (a test
    checks it), at an eighth of the calls."""
    out = []
    for start in range(0, len(masks), 8):
        chunk = masks[start:start + 8]
        packed = np.zeros(chunk[0].shape, dtype=np.uint8)
        for bit, mask in enumerate(chunk):
            packed |= (np.asarray(mask) > 0).astype(np.uint8) << bit
        moved = warp(packed, 0)
        out += [(moved >> bit) & 1 for bit in range(len(chunk))]
    return out


def box_of_mask(mask: np.ndarray) -> Box | None:
    """The pixel-edge bounding box of a mask's nonzero pixels, or None if it has none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def box_of_rings(rings: tuple[Ring, ...]) -> Box | None:
    points = [ring for ring in rings if len(ring)]
    if not points:
        return None
    stacked = points[0] if len(points) == 1 else np.concatenate(points)
    x0, y0 = stacked.min(axis=0).tolist()
    x1, y1 = stacked.max(axis=0).tolist()
    return x0, y0, x1, y1


def rings_area(rings: tuple[Ring, ...]) -> float:
    """Sum of the parts' shoelace areas (COCO's parts do not overlap)."""
    total = 0.0
    for ring in rings:
        if len(ring) >= 3:
            x, y = ring[:, 0], ring[:, 1]
            cross = np.dot(x[:-1], y[1:]) - np.dot(y[:-1], x[1:]) + x[-1] * y[0] - y[-1] * x[0]
            total += abs(float(cross)) / 2
    return total


def box_ring(box: Box) -> Ring:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def clip_ring(ring: Ring, width: float, height: float) -> Ring:
    """Sutherland-Hodgman: the part of a polygon inside [0, width] x [0, height] (a non-convex
    polygon cut in two stays one ring joined along the frame, which has zero area there)."""
    points = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
    if not len(points):
        return points
    (low_x, low_y), (high_x, high_y) = points.min(axis=0).tolist(), points.max(axis=0).tolist()
    # Only the sides the ring crosses, in Python floats: an outline has tens of vertices, where a
    # pass of a dozen numpy calls costs more than a loop over them (the same operations, so the
    # same bits: tests compare it with the vectorised pass, _clip_by_line).
    vertices = None
    for axis, limit, keep_below, out in ((0, 0.0, False, low_x < 0), (0, width, True, high_x > width),
                                         (1, 0.0, False, low_y < 0), (1, height, True, high_y > height)):
        if out:
            vertices = _clip_vertices(points.tolist() if vertices is None else vertices, axis, float(limit), keep_below)
            if not vertices:
                break
    return points if vertices is None else np.array(vertices, dtype=np.float64).reshape(-1, 2)


def _clip_vertices(vertices: list[list[float]], axis: int, limit: float, keep_below: bool) -> list[list[float]]:
    """One Sutherland-Hodgman pass over [x, y] vertices: for each vertex, the crossing of the edge
    that reaches it (when that edge crosses the line), then the vertex itself (when it is on the kept side)."""
    out = []
    previous_x, previous_y = vertices[-1]
    value = vertices[-1][axis]
    previous_inside = value <= limit if keep_below else value >= limit
    for vertex in vertices:
        x, y = vertex
        value = vertex[axis]
        inside = value <= limit if keep_below else value >= limit
        if inside is not previous_inside:  # a crossing edge: its ends differ along the axis, no division by zero
            if axis == 0:
                out.append([limit, previous_y + (limit - previous_x) / (x - previous_x) * (y - previous_y)])
            else:
                out.append([previous_x + (limit - previous_y) / (y - previous_y) * (x - previous_x), limit])
        if inside:
            out.append(vertex)
        previous_x, previous_y, previous_inside = x, y, inside
    return out


def _clip_by_line(points: np.ndarray, axis: int, limit: float, keep_below: bool) -> np.ndarray:
    """One Sutherland-Hodgman pass, vectorised: for each vertex, the crossing of the edge that reaches
    it (when that edge crosses the line), then the vertex itself (when it is on the kept side).
    What ``_clip_vertices`` computes, bit for bit (a test checks it)."""
    inside = points[:, axis] <= limit if keep_below else points[:, axis] >= limit
    if inside.all():
        return points
    # Each vertex's predecessor around the ring (np.roll by 1, without its overhead).
    previous, previous_inside = np.concatenate([points[-1:], points[:-1]]), np.concatenate([inside[-1:], inside[:-1]])
    crosses = inside != previous_inside
    delta = points - previous
    # Only crossing edges are used, and they have delta != 0 (the others divide by 1).
    t = np.where(crosses, (limit - previous[:, axis]) / np.where(crosses, delta[:, axis], 1.0), 0.0)
    crossings = previous + t[:, None] * delta
    crossings[:, axis] = limit  # exactly on the frame, whatever the rounding of t
    return np.stack([crossings, points], axis=1)[np.stack([crosses, inside], axis=1)]


@functools.cache
def _instance(name: str) -> Any:
    cls = operators_for("image")[name]
    return cls.__new__(cls)  # apply and move_points need only the recorded params, as replay


def _densify(ring: Ring, step: float) -> Ring:
    """Extra vertices along each edge, at most ``step`` apart, so a curved warp bends the outline too."""
    out = []
    for start, end in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        count = max(1, int(np.ceil(np.hypot(*(end - start)) / step)))
        out.append(start + (end - start) * (np.arange(count)[:, None] / count))
    return np.concatenate(out)


def _move_object(obj: TargetObject, size: tuple[int, int], move, moved_mask: np.ndarray | None,
                 curved: bool) -> _Moved:
    width, height = size
    outline = obj.polygon or (box_ring(obj.box),)
    if curved:
        outline = tuple(_densify(ring, _DENSIFY_STEP) for ring in outline)
    moved_outline = tuple(move(ring) for ring in outline)
    clipped = tuple(ring for ring in (clip_ring(ring, width, height) for ring in moved_outline) if len(ring) >= 3)
    unclipped_area = rings_area(moved_outline)
    keypoints = None if obj.keypoints is None else _move_keypoints(obj.keypoints, size, move)
    if obj.mask is not None:
        mask = moved_mask
        box, area = box_of_mask(mask), float(np.count_nonzero(mask))
        # The mask's transformed area before cutting is its source area times the warp's local
        # area scale, measured on its outline (the warp shrinks or stretches both alike).
        source_area = float(np.count_nonzero(obj.mask))
        scale = unclipped_area / max(rings_area(outline), 1e-12)
        visibility = min(1.0, area / (source_area * scale)) if source_area * scale > 0 else 0.0
        polygon = clipped if obj.polygon else ()
    else:
        mask = None
        box = box_of_rings(clipped)
        area = rings_area(clipped) if obj.polygon else _box_area(box)
        visibility = min(1.0, rings_area(clipped) / unclipped_area) if unclipped_area > 0 else 0.0
        polygon = clipped if obj.polygon else ()
    if box is None:
        box = (0.0, 0.0, 0.0, 0.0)
    visibility *= obj.visibility  # of the source object, not only of this op's input
    moved = replace(obj, box=box, polygon=polygon, mask=mask, keypoints=keypoints, visibility=visibility)
    return _Moved(moved, visibility, area)


def _box_area(box: Box | None) -> float:
    return 0.0 if box is None else max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def in_frame(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which points (N x 2, x y) lie inside a width x height image: [0, width) x [0, height)."""
    return (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)


def _move_keypoints(keypoints: np.ndarray, size: tuple[int, int], move) -> np.ndarray:
    out = np.array(keypoints, dtype=np.float64)
    if not len(out):
        return out
    out[:, :2] = move(out[:, :2])
    out[~in_frame(out, *size), 2] = 0  # left the image: no longer visible (the coordinates stay, for lineage)
    return out


def _drop_reason(box: Box, visibility: float, area: float, rules: TargetRules) -> str | None:
    if _box_area(box) <= 0:
        return "outside"
    if visibility < rules.min_visibility:
        return "min_visibility"
    if area < rules.min_area:
        return "min_area"
    return None


def safe_crop_params(rng: np.random.Generator, targets: Targets, category: int, scale: tuple[float, float] = (0.3, 1.0),
                     ratio: tuple[float, float] = (0.75, 1.3333), tries: int = 10) -> dict[str, int] | None:
    """Params for ``random_resized_crop`` whose box keeps at least one object of ``category`` whole:
    crops drawn as that operator draws them (area share in ``scale``, aspect in ``ratio``) until one
    does; failing that, the smallest crop of the image's aspect around one such object, drawn at
    random. Recorded as a plain ``random_resized_crop``, so replay needs nothing new. None when the
    image holds no object of the class."""
    import math

    boxes = [obj.box for obj in targets.objects if obj.category == category]
    if not boxes:
        return None
    width, height = targets.width, targets.height

    def keeps(left: int, top: int, w: int, h: int) -> bool:
        return any(left <= x0 and top <= y0 and x1 <= left + w and y1 <= top + h for x0, y0, x1, y1 in boxes)

    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(tries):
        area = width * height * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            if keeps(left, top, w, h):
                return {"left": left, "top": top, "width": w, "height": h}
    x0, y0, x1, y1 = boxes[int(rng.integers(len(boxes)))]
    # The smallest integer crop holding the box whole, grown to the image's aspect where it fits.
    need_w, need_h = math.ceil(x1) - math.floor(x0), math.ceil(y1) - math.floor(y0)
    w = min(width, max(need_w, round(need_h * width / height)))
    h = min(height, max(need_h, round(need_w * height / width)))
    low_x, high_x = max(0, math.ceil(x1) - w), min(math.floor(x0), width - w)
    low_y, high_y = max(0, math.ceil(y1) - h), min(math.floor(y0), height - h)
    return {"left": int(rng.integers(low_x, high_x + 1)), "top": int(rng.integers(low_y, high_y + 1)), "width": w,
            "height": h}
