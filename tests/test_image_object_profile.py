"""explore's per-object profile of annotated images."""

from __future__ import annotations

import numpy as np

from augmill.tasks.modalities.image.annotations import AnnotatedImage
from augmill.tasks.modalities.image.object_profile import box_iou, object_profile
from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets
from augmill.tasks.modalities.image.targets import object_table


def image(sample_id, boxes):
    objects = tuple(TargetObject(f"{sample_id}:{k}", category, box) for k, (category, box) in enumerate(boxes))
    return AnnotatedImage(sample_id, "train", f"/nowhere/{sample_id}", Targets(200, 100, objects))


def test_profile_counts_classes_images_sizes_tiny_and_duplicates():
    images = [image("a", [(1, (0, 0, 100, 50)), (1, (1, 0, 100, 50)), (2, (10, 10, 20, 20))]),
              image("b", [(1, (0, 0, 50, 100)), (2, (0, 0, 50, 100))]),  # same box, different class: not a duplicate
              image("c", [])]
    table = object_table(images, {1: "scratch", 2: "dent"}, "original")
    profile = object_profile(table, images)
    assert profile["objects"] == 5 and profile["objects_per_class"] == {"dent": 2, "scratch": 3}
    assert profile["images_without_objects"] == ["c"]
    assert profile["objects_per_image"]["p0"] == 0 and profile["objects_per_image"]["p100"] == 3
    assert profile["tiny_objects"] == 1  # the 10x10 dent
    assert profile["box_aspect"]["p0"] == 0.5 and profile["box_aspect"]["p100"] == 2.0
    assert profile["duplicate_pairs"] == [("a:0", "a:1", 0.99)]


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], dtype=float)
    np.testing.assert_allclose(box_iou(a, a), [[1, 25 / 175], [25 / 175, 1]])
