"""The generated shapes dataset, and variants of annotated images end to end: read COCO,
augment images with their targets, write COCO and YOLO, read them back, replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image.coco import annotation_ids, read_coco, write_coco
from augmill.tasks.modalities.image.ops_targets import TargetRules, box_of_mask, box_of_rings, replay_targets
from augmill.tasks.modalities.image.shapes import CATEGORIES, write_shapes
from augmill.tasks.modalities.image.targets import augment_annotated, object_table
from augmill.tasks.modalities.image.yolo import read_yolo, write_yolo
from augmill.tasks.ops import policy

POLICY = [{"name": "hflip", "p": 0.5}, {"name": "rotate", "p": 0.7, "angle": [-30, 30]},
          {"name": "random_resized_crop", "p": 0.7, "scale": [0.3, 1.0]}, {"name": "perspective", "p": 0.3},
          {"name": "elastic", "p": 0.3}, {"name": "brightness", "p": 0.5}]
RULES = TargetRules(min_visibility=0.3, min_area=4.0)


def shapes_coco(root: Path) -> Path:
    annotated = write_shapes(root, {"train": 10, "val": 4}, seed=5)
    write_coco(annotated, CATEGORIES, root / "annotations.json")
    return root / "annotations.json"


def test_the_shapes_demo_is_exact_reproducible_and_imbalanced(tmp_path):
    first = write_shapes(tmp_path / "a", {"train": 30, "val": 30}, seed=3)
    second = write_shapes(tmp_path / "b", {"train": 30, "val": 30}, seed=3)
    for x, y in zip(first, second, strict=True):
        assert Path(x.path).read_bytes() == Path(y.path).read_bytes()
        for o, p in zip(x.targets.objects, y.targets.objects, strict=True):
            assert o.box == p.box and np.array_equal(o.mask, p.mask)
    counts = {split: {c: 0 for c in CATEGORIES} for split in ("train", "val")}
    for image in first:
        for obj in image.targets.objects:
            counts[image.split][obj.category] += 1
            assert obj.box == box_of_mask(obj.mask)
            # The mask (pixel centres inside the outline) lies in the polygon's box; the other way a tip
            # narrower than the pixel grid can reach further than the last pixel centre inside it.
            mask_box, outline_box = np.array(obj.box), np.array(box_of_rings(obj.polygon))
            assert (mask_box[:2] >= outline_box[:2] - 0.5).all() and (mask_box[2:] <= outline_box[2:] + 0.5).all()
            pixels = np.asarray(Image.open(image.path))[obj.mask > 0]
            assert (pixels == pixels[0]).all()  # the mask covers exactly one drawn shape's flat colour
    share = {split: counts[split][3] / sum(counts[split].values()) for split in counts}
    assert share["train"] < 0.2 < share["val"]


def test_variants_keep_every_object_invariant_and_write_coco_and_yolo(tmp_path):
    source = read_coco(shapes_coco(tmp_path / "src"), tmp_path / "src" / "images")
    assert source.problems == []
    variants, lineage = augment_annotated(source.images, POLICY, seed=11, variants=3, rules=RULES,
                                          output_dir=tmp_path / "out" / "images")
    assert len(variants) == 3 * len(source.images)
    sources = {image.sample_id: image for image in source.images}
    total_drops = 0
    for image, row in zip(variants, lineage, strict=True):
        records = json.loads(row["ops"])
        drops = sum(len(record["dropped"]) for record in records)
        total_drops += drops
        parent = sources[row["source_id"]]
        # The object count is the source's minus the recorded drops.
        assert len(image.targets.objects) == len(parent.targets.objects) - drops
        for obj in image.targets.objects:
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= image.targets.width and 0 <= y0 < y1 <= image.targets.height
            assert obj.box == box_of_mask(obj.mask) and obj.visibility >= RULES.min_visibility
        # Replay: the recorded ops give the same pixels and targets again.
        replayed = policy.replay(Image.open(parent.path).convert("RGB"), records, "image")
        assert replayed.tobytes() == Image.open(image.path).tobytes()
        again, _ = replay_targets(parent.targets, records, RULES)
        assert [o.box for o in again.objects] == [o.box for o in image.targets.objects]
    assert total_drops > 0  # crops of 30% do cut objects away: the drop path ran

    everything = source.images + variants
    ids = annotation_ids(everything)
    assert len(set(ids.values())) == len(ids)  # no collision between originals and variants, nor splits
    for split in ("train", "val"):
        write_coco([i for i in everything if i.split == split], CATEGORIES, tmp_path / "out" / f"{split}.json", ids)
    for split in ("train", "val"):
        back = read_coco(tmp_path / "out" / f"{split}.json", tmp_path / "out" / "images")
        # Variants are under out/images; the originals' files are elsewhere: quarantined as missing, not lost.
        assert {p.reason_code for p in back.problems} <= {"image_file_missing"}
        assert len(back.images) == sum(1 for v in variants if v.split == split)

    write_yolo(everything, CATEGORIES | {0: "background"}, tmp_path / "yolo")
    yolo = read_yolo(tmp_path / "yolo")
    assert yolo.problems == [] and len(yolo.images) == len(everything)
    assert sum(len(i.targets.objects) for i in yolo.images) == sum(len(i.targets.objects) for i in everything)

    table = object_table(everything, CATEGORIES, "mixed")
    assert table["object_id"].is_unique and len(table) == sum(len(i.targets.objects) for i in everything)
    originals = {o.object_id for i in source.images for o in i.targets.objects}
    assert set(table["source_object_id"]) <= originals


def test_variants_are_byte_identical_for_the_same_seed(tmp_path):
    source = read_coco(shapes_coco(tmp_path / "src"), tmp_path / "src" / "images")
    one, lineage_one = augment_annotated(source.images, POLICY, 4, 2, RULES, tmp_path / "one")
    two, lineage_two = augment_annotated(source.images, POLICY, 4, 2, RULES, tmp_path / "two")
    assert lineage_one == lineage_two
    for a, b in zip(one, two, strict=True):
        assert Path(a.path).read_bytes() == Path(b.path).read_bytes()
