"""validate's per-object checks on annotated variants: true variants pass, tampered ones fail
with the right reason code."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from augmill.tasks.modalities.image_shapes import write_shapes
from augmill.tasks.modalities.image_target_checks import failures, image_measurements, object_measurements
from augmill.tasks.modalities.image_targets import augment_annotated
from augmill.tasks.ops.targets import TargetRules

POLICY = [{"name": "rotate", "p": 0.8, "angle": [-40, 40]}, {"name": "random_resized_crop", "p": 0.8, "scale": [0.3, 1]},
          {"name": "elastic", "p": 0.3}, {"name": "contrast", "p": 0.5}]


def variants(tmp_path):
    sources = write_shapes(tmp_path / "src", {"train": 8}, seed=2)
    # A semantic mask too: class id = the object's category where its mask is, 0 elsewhere.
    with_semantic = []
    for image in sources:
        semantic = np.zeros((image.targets.height, image.targets.width), dtype=np.uint8)
        for obj in image.targets.objects:
            semantic[obj.mask > 0] = obj.category
        with_semantic.append(replace(image, targets=replace(image.targets, semantic=semantic)))
    made, lineage = augment_annotated(with_semantic, POLICY, 3, 3, TargetRules(0.25, 4.0), tmp_path / "out")
    by_id = {image.sample_id: image for image in with_semantic}
    return [(by_id[row["source_id"]], variant, json.loads(row["ops"])) for variant, row in zip(made, lineage, strict=True)]


def measure(triples):
    objects = [row for _, variant, _ in triples for row in object_measurements(variant)]
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
