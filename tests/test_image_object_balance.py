"""bias's object-level plan for annotated images."""

from __future__ import annotations

from augmill.tasks.modalities.image.annotations import AnnotatedImage
from augmill.tasks.modalities.image.object_balance import object_balance_plan
from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets


def image(sample_id, categories):
    objects = tuple(TargetObject(f"{sample_id}:{k}", c, (0.0, 0.0, 5.0, 5.0)) for k, c in enumerate(categories))
    return AnnotatedImage(sample_id, "train", "", Targets(10, 10, objects))


def test_images_holding_only_the_rare_class_get_the_variants_and_balance_is_reached():
    images = [image(f"common{k}", [1, 1]) for k in range(5)] + [image("rare", [2, 2])]
    plan = object_balance_plan(images, max_variants_per_image=10)
    assert plan["objects_per_class"] == {1: 10, 2: 2}
    assert plan["variants_per_image"] == {"rare": 4}
    assert plan["projected_objects_per_class"] == {1: 10, 2: 10}
    assert plan["imbalance_before"] == 5.0 and plan["imbalance_after"] == 1.0 and plan["limited_classes"] == []


def test_the_plan_prefers_images_with_fewer_common_objects_and_says_when_it_is_limited():
    images = [image("crowded", [2, 1, 1, 1]), image("clean", [2]), image("bulk", [1] * 12)]
    plan = object_balance_plan(images, max_variants_per_image=3)
    # "clean" first (no common objects along), then "crowded", each capped at 3 variants.
    assert plan["variants_per_image"] == {"clean": 3, "crowded": 3}
    assert plan["projected_objects_per_class"] == {1: 24, 2: 8}
    assert plan["limited_classes"] == [2] and plan["imbalance_after"] == 3.0 < plan["imbalance_before"] == 7.5


def test_a_rare_class_that_always_shares_images_with_the_common_one_cannot_be_balanced():
    images = [image(f"i{k}", [1, 1, 1, 2]) for k in range(3)]
    plan = object_balance_plan(images, max_variants_per_image=5)
    assert plan["imbalance_after"] == plan["imbalance_before"] == 3.0 and plan["limited_classes"] == [2]


def test_the_plan_names_the_class_each_image_got_its_variants_for():
    images = [image("both", [1, 3]), image("mid", [2, 2])] + [image(f"common{k}", [1, 1, 1]) for k in range(3)]
    plan = object_balance_plan(images, max_variants_per_image=10)
    # "both" grows class 3 (its variants also carry a 1), "mid" grows class 2: what a keep_objects crop keeps.
    assert plan["class_per_image"] == {"both": 3, "mid": 2}
    assert set(plan["class_per_image"]) == set(plan["variants_per_image"])
