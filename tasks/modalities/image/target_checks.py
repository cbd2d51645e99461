"""What validate will check on an annotated variant against its source: one row of measurements
per object and per image, and the reason codes of the rows that fail. The measurements are
the input of the validate stage's Great Expectations suites (``image_annotated_checks.target_checks``:
expectations/image_objects.json, image_object_counts.json); ``failures`` gives the same verdicts alone.

Checks: every box inside the image with a positive area; a box equals the bounding box of its
mask or polygon within ``BOX_SHAPE_TOLERANCE``; the object count is the source's minus the
drops recorded in the lineage; the semantic mask's classes are a subset of the source's (plus
the fill that a warp puts where it uncovers the frame). Keypoints: none marked visible outside the
image, and the visible ones are exactly the source object's visible keypoints that stayed inside
through every recorded geometric op (one that left and a later op brought back stays invisible:
its pixels were cut away), so the visible count is the source's minus the keypoints that left.
"""

from __future__ import annotations

import numpy as np

from augmill.tasks.modalities.image.annotations import AnnotatedImage
from augmill.tasks.modalities.image.ops_targets import TargetObject, box_of_mask, box_of_rings, in_frame

BOX_SHAPE_TOLERANCE = 1.0  # pixels


def stayed_inside(points: np.ndarray, records: list[dict], size: tuple[int, int]) -> np.ndarray:
    """Which points (N x 2) are inside the image before and after each recorded geometric op."""
    from augmill.tasks.modalities.image.ops import OPERATOR_KINDS
    from augmill.tasks.ops.policy import operators_for

    operators = operators_for("image")
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    inside = in_frame(points, *size)
    for record in records:
        if OPERATOR_KINDS.get(record["name"]) == "geometric":
            cls = operators[record["name"]]
            points = cls.__new__(cls).move_points(points, size, **record["params"])
            inside &= in_frame(points, *size)
    return inside


def keypoint_measurements(obj: TargetObject, source: TargetObject | None, records: list[dict] | None,
                          size: tuple[int, int]) -> tuple[int, int]:
    """(visible keypoints outside the image, keypoints whose visibility is not "visible in the
    source object and inside the image through every op"); (0, 0) without keypoints."""
    if obj.keypoints is None or not len(obj.keypoints):
        return 0, 0
    points = np.asarray(obj.keypoints, dtype=np.float64)
    visible = points[:, 2] > 0
    outside = int((visible & ~in_frame(points, *size)).sum())
    if source is None or source.keypoints is None or len(source.keypoints) != len(points) or records is None:
        return outside, len(points)  # nothing to match them to: every one is off
    before = np.asarray(source.keypoints, dtype=np.float64)
    expected = (before[:, 2] > 0) & stayed_inside(before[:, :2], records, size)
    return outside, int((visible != expected).sum())


def object_measurements(variant: AnnotatedImage, source: AnnotatedImage | None = None,
                        records: list[dict] | None = None) -> list[dict]:
    """One row per object; with its ``source`` image and the variant's ``records`` (ops), the
    keypoints are matched to the source object's (a variant's object id is ``<variant>#<source object id>``)."""
    width, height = variant.targets.width, variant.targets.height
    source_objects = {} if source is None else {obj.object_id: obj for obj in source.targets.objects}
    rows = []
    for obj in variant.targets.objects:
        x0, y0, x1, y1 = obj.box
        shape_box = box_of_mask(obj.mask) if obj.mask is not None else box_of_rings(obj.polygon) if obj.polygon else None
        gap = 0.0 if shape_box is None else max(abs(a - b) for a, b in zip(obj.box, shape_box, strict=True))
        outside, mismatched = keypoint_measurements(obj, source_objects.get(obj.object_id.split("#", 1)[-1]),
                                                    records, (width, height))
        rows.append({"object_id": obj.object_id, "sample_id": variant.sample_id, "category": obj.category,
                     "box_inside": bool(0 <= x0 and 0 <= y0 and x1 <= width and y1 <= height),
                     "box_area": float(max(0.0, x1 - x0) * max(0.0, y1 - y0)), "box_shape_gap": float(gap),
                     "visibility": obj.visibility, "keypoints_visible_outside": outside,
                     "keypoint_visibility_gap": mismatched})
    return rows


def image_measurements(source: AnnotatedImage, variant: AnnotatedImage, records: list[dict]) -> dict:
    dropped = sum(len(record.get("dropped", [])) for record in records)
    classes_ok = True
    if variant.targets.semantic is not None:
        allowed = set(np.unique(source.targets.semantic).tolist()) | {source.targets.mask_fill}
        classes_ok = set(np.unique(variant.targets.semantic).tolist()) <= allowed
    return {"sample_id": variant.sample_id, "source_id": source.sample_id,
            "objects_expected": len(source.targets.objects) - dropped, "objects": len(variant.targets.objects),
            "mask_classes_in_source": classes_ok}


def failures(object_rows: list[dict], image_rows: list[dict]) -> list[dict]:
    """(sample_id, object_id, reason_code) of every measurement that breaks a check."""
    found = []
    for row in object_rows:
        for failed, code in ((not row["box_inside"], "box_outside_image"), (row["box_area"] <= 0, "box_degenerate"),
                             (row["box_shape_gap"] > BOX_SHAPE_TOLERANCE, "box_shape_mismatch"),
                             (row["keypoints_visible_outside"] > 0, "keypoint_visible_outside"),
                             (row["keypoint_visibility_gap"] > 0, "keypoint_visibility_mismatch")):
            if failed:
                found.append({"sample_id": row["sample_id"], "object_id": row["object_id"], "reason_code": code})
    for row in image_rows:
        if row["objects"] != row["objects_expected"]:
            found.append({"sample_id": row["sample_id"], "object_id": "", "reason_code": "object_count_mismatch"})
        if not row["mask_classes_in_source"]:
            found.append({"sample_id": row["sample_id"], "object_id": "", "reason_code": "mask_class_not_in_source"})
    return found
