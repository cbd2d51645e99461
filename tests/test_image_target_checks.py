"""validate's per-object checks on annotated variants: true variants pass, tampered ones fail
with the right reason code."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd

from augmill.tasks.modalities.image.annotated import targets_to_json
from augmill.tasks.modalities.image.annotated_checks import target_checks
from augmill.tasks.modalities.image.ops_targets import TargetRules
from augmill.tasks.modalities.image.shapes import write_shapes
from augmill.tasks.modalities.image.target_checks import failures, image_measurements, object_measurements
from augmill.tasks.modalities.image.targets import augment_annotated

POLICY = [{"name": "rotate", "p": 0.8, "angle": [-40, 40]}, {"name": "random_resized_crop", "p": 0.8, "scale": [0.3, 1]},
          {"name": "elastic", "p": 0.3}, {"name": "contrast", "p": 0.5}]


def variants(tmp_path):
    sources = write_shapes(tmp_path / "src", {"train": 8}, seed=2)
    # A semantic mask too: class id = the object's category where its mask is, 0 elsewhere; and
    # keypoints: each shape's outline vertices (visible, so strong ops move some out of the image)
    # and its centre, labelled but not visible.
    with_semantic = []
    for image in sources:
        semantic = np.zeros((image.targets.height, image.targets.width), dtype=np.uint8)
        objects = []
        for obj in image.targets.objects:
            semantic[obj.mask > 0] = obj.category
            ring = obj.polygon[0]
            keypoints = np.vstack([np.column_stack([ring, np.full(len(ring), 2.0)]), [*ring.mean(axis=0), 0.0]])
            objects.append(replace(obj, keypoints=keypoints))
        targets = replace(image.targets, objects=tuple(objects), semantic=semantic)
        with_semantic.append(replace(image, targets=targets))
    made, lineage = augment_annotated(with_semantic, POLICY, 3, 3, TargetRules(0.25, 4.0), tmp_path / "out")
    by_id = {image.sample_id: image for image in with_semantic}
    return [(by_id[row["source_id"]], variant, json.loads(row["ops"])) for variant, row in zip(made, lineage, strict=True)]


def measure(triples):
    objects = [row for source, variant, records in triples for row in object_measurements(variant, source, records)]
    images = [image_measurements(source, variant, records) for source, variant, records in triples]
    return objects, images


def test_true_variants_pass_every_check(tmp_path):
    triples = variants(tmp_path)
    objects, images = measure(triples)
    assert len(objects) > 0 and failures(objects, images) == []


def test_tampered_variants_fail_with_their_reason_codes(tmp_path):
    triples = variants(tmp_path)
    (s0, v0, r0), (s1, v1, r1), (s2, v2, r2) = [t for t in triples if t[1].targets.objects][:3]
    first = v0.targets.objects[0]
    moved_out = replace(first, box=(first.box[0], first.box[1], v0.targets.width + 5.0, first.box[3]))
    v0 = replace(v0, targets=replace(v0.targets, objects=(moved_out, *v0.targets.objects[1:])))
    v1 = replace(v1, targets=replace(v1.targets, objects=v1.targets.objects[1:]))  # lost without a recorded drop
    semantic = v2.targets.semantic.copy()
    semantic[0, 0] = 9
    v2 = replace(v2, targets=replace(v2.targets, semantic=semantic))
    objects, images = measure([(s0, v0, r0), (s1, v1, r1), (s2, v2, r2)])
    codes = {(f["sample_id"], f["reason_code"]) for f in failures(objects, images)}
    assert codes == {(v0.sample_id, "box_outside_image"), (v0.sample_id, "box_shape_mismatch"),
                     (v1.sample_id, "object_count_mismatch"), (v2.sample_id, "mask_class_not_in_source")}


def keypoints_left(triples) -> int:
    """Source keypoints that were visible and are marked invisible in a variant (moved out of it)."""
    left = 0
    for source, variant, _ in triples:
        sources = {obj.object_id: obj for obj in source.targets.objects}
        for obj in variant.targets.objects:
            before = sources[obj.object_id.split("#", 1)[1]].keypoints
            left += int(((before[:, 2] > 0) & (obj.keypoints[:, 2] == 0)).sum())
    return left


def with_keypoints(variant, index, keypoints):
    obj = replace(variant.targets.objects[index], keypoints=keypoints)
    objects = list(variant.targets.objects)
    objects[index] = obj
    return replace(variant, targets=replace(variant.targets, objects=tuple(objects)))


def test_keypoints_outside_are_invisible_and_the_visible_ones_are_the_sources_still_inside(tmp_path):
    triples = variants(tmp_path)
    assert keypoints_left(triples) > 0  # the policy moves some keypoints out: the check has work to do
    objects, images = measure(triples)
    assert failures(objects, images) == []
    (s0, v0, r0), (s1, v1, r1), (s2, v2, r2) = [t for t in triples if t[1].targets.objects][:3]
    width, height = v0.targets.width, v0.targets.height
    # v0: a keypoint moved outside but still marked visible.
    outside = v0.targets.objects[0].keypoints.copy()
    outside[0] = [width + 3.0, 1.0, 2.0]
    # v1: a visible keypoint inside the image turned invisible (the count no longer the source's minus leaves).
    hidden = v1.targets.objects[0].keypoints.copy()
    inside = np.flatnonzero((hidden[:, 2] > 0) & (hidden[:, 0] >= 0) & (hidden[:, 0] < width) & (hidden[:, 1] >= 0)
                            & (hidden[:, 1] < height))
    hidden[inside[0], 2] = 0
    # v2: the source's invisible centre turned visible.
    shown = v2.targets.objects[0].keypoints.copy()
    shown[-1, 2] = 2 if 0 <= shown[-1, 0] < width and 0 <= shown[-1, 1] < height else 0
    tampered = [(s0, with_keypoints(v0, 0, outside), r0), (s1, with_keypoints(v1, 0, hidden), r1),
                (s2, with_keypoints(v2, 0, shown), r2)]
    objects, images = measure(tampered)
    codes = {(f["sample_id"], f["reason_code"]) for f in failures(objects, images)}
    expected = {(v0.sample_id, "keypoint_visible_outside"), (v0.sample_id, "keypoint_visibility_mismatch"),
                (v1.sample_id, "keypoint_visibility_mismatch")}
    assert codes == expected | ({(v2.sample_id, "keypoint_visibility_mismatch")} if shown[-1, 2] else set())


def test_the_object_suite_flags_keypoints_through_great_expectations(tmp_path):
    triples = variants(tmp_path)
    (s0, v0, r0) = next(t for t in triples if t[1].targets.objects)
    outside = v0.targets.objects[0].keypoints.copy()
    outside[0] = [-4.0, 1.0, 2.0]
    tampered = with_keypoints(v0, 0, outside)
    sources = pd.DataFrame({"sample_id": [s0.sample_id], "targets": [targets_to_json(s0.targets)]})
    for variant, ok in ((v0, True), (tampered, False)):
        augmented = pd.DataFrame({"sample_id": [variant.sample_id], "source_id": [s0.sample_id],
                                  "ops": [json.dumps(r0)], "targets": [targets_to_json(variant.targets)]})
        found, summary = target_checks(augmented, sources, None)
        assert summary["suites"]["image_objects"]["success"] is ok
        assert found == ({} if ok else {variant.sample_id: [
            f"keypoint_visibility_gap not between 0 and 0 (got 1), object {variant.targets.objects[0].object_id}",
            f"keypoints_visible_outside not between 0 and 0 (got 1), object {variant.targets.objects[0].object_id}"]})
