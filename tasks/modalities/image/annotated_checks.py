"""validate for images with targets (data.targets): per-object and per-image measurements of the
variants, run through their Great Expectations suites (expectations/image_objects.json,
image_object_counts.json); failures by sample, each naming its object."""

from __future__ import annotations

import json

import pandas as pd

from augmill.tasks import paths
from augmill.tasks.modalities.image.annotated import targets_from_json
from augmill.tasks.modalities.image.annotations import AnnotatedImage
from augmill.tasks.modalities.image.target_checks import BOX_SHAPE_TOLERANCE, image_measurements, object_measurements
from augmill.tasks.params import Params

OBJECT_SUITE = paths.EXPECTATIONS / "image_objects.json"
COUNT_SUITE = paths.EXPECTATIONS / "image_object_counts.json"
MIN_BOX_AREA = 1e-6  # "positive": any box a drop rule left has at least this


def target_measurements(augmented: pd.DataFrame, sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per object (box inside, area, gap to its shape, keypoints against the source object's) and per
    image (object count against the source's minus the recorded drops) of every variant, from the
    manifests' targets."""
    source_targets = dict(zip(sources["sample_id"], sources["targets"], strict=True))
    object_rows, image_rows = [], []
    for row in augmented[["sample_id", "source_id", "ops", "targets"]].itertuples(index=False):
        variant = AnnotatedImage(row.sample_id, "train", "", targets_from_json(row.targets))
        source = AnnotatedImage(row.source_id, "train", "", targets_from_json(source_targets[row.source_id]))
        records = json.loads(row.ops)
        object_rows += object_measurements(variant, source, records)
        counted = image_measurements(source, variant, records)
        image_rows.append(counted | {"object_count_gap": counted["objects"] - counted["objects_expected"]})
    objects = pd.DataFrame(object_rows, columns=["object_id", "sample_id", "category", "box_inside", "box_area",
                                                 "box_shape_gap", "visibility", "keypoints_visible_outside",
                                                 "keypoint_visibility_gap"])
    images = pd.DataFrame(image_rows, columns=["sample_id", "source_id", "objects_expected", "objects",
                                               "mask_classes_in_source", "object_count_gap"])
    return objects, images


def target_checks(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> tuple[dict[str, list[str]], dict]:
    """Both target suites over the variants: the failures by sample id (an object's naming it), and
    a summary for reports/validation.json."""
    from augmill.tasks.gx_validation import run_suite

    objects, images = target_measurements(augmented, sources)
    failures: dict[str, list[str]] = {}
    outcomes = []
    sample_of = dict(zip(objects["object_id"], objects["sample_id"], strict=True))
    if len(objects):
        outcome = run_suite(objects, OBJECT_SUITE, id_column="object_id",
                            parameters={"min_box_area": MIN_BOX_AREA, "max_box_shape_gap": BOX_SHAPE_TOLERANCE})
        outcomes.append(outcome)
        for object_id, reasons in outcome.failures.items():
            failures.setdefault(sample_of[object_id], []).extend(f"{r}, object {object_id}" for r in reasons)
    if len(images):
        outcome = run_suite(images, COUNT_SUITE, id_column="sample_id", parameters={})
        outcomes.append(outcome)
        for sample_id, reasons in outcome.failures.items():
            failures.setdefault(sample_id, []).extend(reasons)
    dropped = sum(len(record.get("dropped", [])) for ops in augmented["ops"] for record in json.loads(ops))
    summary = {"objects": len(objects), "images": len(images), "objects_dropped": int(dropped),
               "suites": {o.suite_name: {"success": o.success, "failed_rows": len(o.failures)} for o in outcomes}}
    return {k: sorted(v) for k, v in sorted(failures.items())}, summary
