"""What validate will check on an annotated variant against its source: one row of measurements
per object and per image, and the reason codes of the rows that fail. The measurements are
the input of the validate stage's Great Expectations suites (``image_annotated_checks.target_checks``:
expectations/image_objects.json, image_object_counts.json); ``failures`` gives the same verdicts alone.

Checks: every box inside the image with a positive area; a box equals the bounding box of its
mask or polygon within ``BOX_SHAPE_TOLERANCE``; the object count is the source's minus the
drops recorded in the lineage; the semantic mask's classes are a subset of the source's (plus
the fill that a warp puts where it uncovers the frame).
"""

from __future__ import annotations

import numpy as np

from augmill.tasks.modalities.image_annotations import AnnotatedImage
from augmill.tasks.ops.targets import box_of_mask, box_of_rings

BOX_SHAPE_TOLERANCE = 1.0  # pixels


def object_measurements(variant: AnnotatedImage) -> list[dict]:
    width, height = variant.targets.width, variant.targets.height
    rows = []
    for obj in variant.targets.objects:
        x0, y0, x1, y1 = obj.box
        shape_box = box_of_mask(obj.mask) if obj.mask is not None else box_of_rings(obj.polygon) if obj.polygon else None
        gap = 0.0 if shape_box is None else max(abs(a - b) for a, b in zip(obj.box, shape_box, strict=True))
        rows.append({"object_id": obj.object_id, "sample_id": variant.sample_id, "category": obj.category,
                     "box_inside": bool(0 <= x0 and 0 <= y0 and x1 <= width and y1 <= height),
                     "box_area": float(max(0.0, x1 - x0) * max(0.0, y1 - y0)), "box_shape_gap": float(gap),
                     "visibility": obj.visibility})
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
                             (row["box_shape_gap"] > BOX_SHAPE_TOLERANCE, "box_shape_mismatch")):
            if failed:
                found.append({"sample_id": row["sample_id"], "object_id": row["object_id"], "reason_code": code})
    for row in image_rows:
        if row["objects"] != row["objects_expected"]:
            found.append({"sample_id": row["sample_id"], "object_id": "", "reason_code": "object_count_mismatch"})
        if not row["mask_classes_in_source"]:
            found.append({"sample_id": row["sample_id"], "object_id": "", "reason_code": "mask_class_not_in_source"})
    return found
