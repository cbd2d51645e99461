"""COCO and YOLO annotations: read -> write -> read round trips, COCO's RLE, and hostile files
quarantined image by image with reason codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augmill.tasks.modalities.image.annotations import (
    AnnotationFileError,
    rle_decode,
    rle_encode,
    rle_from_string,
    rle_to_string,
)
from augmill.tasks.modalities.image.coco import read_coco, write_coco
from augmill.tasks.modalities.image.yolo import read_yolo, write_yolo


def save_image(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (40, 90, 140)).save(path)


def same_objects(a, b, atol=1e-9):
    assert len(a.images) == len(b.images)
    for x, y in zip(sorted(a.images, key=lambda i: i.sample_id), sorted(b.images, key=lambda i: i.sample_id),
                    strict=True):
        assert (x.sample_id, x.split, x.targets.width, x.targets.height) == \
            (y.sample_id, y.split, y.targets.width, y.targets.height)
        assert len(x.targets.objects) == len(y.targets.objects)
        for o, p in zip(x.targets.objects, y.targets.objects, strict=True):
            assert o.category == p.category and o.iscrowd == p.iscrowd
            np.testing.assert_allclose(o.box, p.box, atol=atol)
            assert len(o.polygon) == len(p.polygon)
            for r, s in zip(o.polygon, p.polygon, strict=True):
                np.testing.assert_allclose(r, s, atol=atol)
            assert (o.mask is None) == (p.mask is None)
            if o.mask is not None:
                np.testing.assert_array_equal(o.mask, p.mask)
            if o.keypoints is not None:
                np.testing.assert_allclose(o.keypoints, p.keypoints, atol=atol)


# ---- COCO ----------------------------------------------------------------------------------

MASK = np.zeros((30, 40), dtype=np.uint8)
MASK[5:12, 8:20] = 1
MASK[20:25, 30:33] = 1


def coco_payload() -> dict:
    return {
        "images": [{"id": 7, "file_name": "a.png", "width": 40, "height": 30},
                   {"id": 9, "file_name": "sub/b.png", "width": 64, "height": 48},
                   {"id": 11, "file_name": "empty.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "scratch"}, {"id": 3, "name": "dent"}],
        "annotations": [
            {"id": 100, "image_id": 7, "category_id": 1, "bbox": [2.5, 3.0, 10.0, 6.25], "iscrowd": 0,
             "segmentation": [], "area": 62.5},
            {"id": 101, "image_id": 7, "category_id": 3, "bbox": [8, 5, 25, 20], "iscrowd": 1, "area": 99,
             "segmentation": {"size": [30, 40], "counts": rle_encode(MASK)}},
            {"id": 102, "image_id": 9, "category_id": 3, "bbox": [10, 10, 20, 12], "iscrowd": 0, "area": 120,
             "segmentation": [[10, 10, 30, 10, 30, 22, 10, 22], [40, 30, 50, 30, 45, 40]],
             "keypoints": [12, 12, 2, 29, 21, 1, 0, 0, 0]},
            {"id": 103, "image_id": 9, "category_id": 1, "bbox": [0, 0, 64, 48], "iscrowd": 0, "area": 3072,
             "segmentation": {"size": [48, 64], "counts": rle_to_string(rle_encode(np.ones((48, 64))))}},
        ],
    }


def coco_dataset(tmp_path: Path, payload: dict) -> Path:
    for image in payload["images"]:
        save_image(tmp_path / "images" / image["file_name"], image["width"], image["height"])
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_coco_reads_boxes_polygons_rle_iscrowd_and_keypoints(tmp_path):
    read = read_coco(coco_dataset(tmp_path, coco_payload()), tmp_path / "images")
    assert read.problems == [] and read.categories == {1: "scratch", 3: "dent"}
    images = {image.sample_id: image for image in read.images}
    assert sorted(images) == ["a.png", "empty.png", "sub/b.png"] and images["empty.png"].targets.objects == ()
    box_only, crowd = images["a.png"].targets.objects
    assert box_only.box == (2.5, 3.0, 12.5, 9.25) and box_only.mask is None and not box_only.polygon
    assert crowd.iscrowd and np.array_equal(crowd.mask, MASK)
    polygon, full = images["sub/b.png"].targets.objects
    assert len(polygon.polygon) == 2 and polygon.polygon[1].tolist() == [[40, 30], [50, 30], [45, 40]]
    assert polygon.keypoints.shape == (3, 3) and full.mask.all()


def test_coco_round_trip_gives_the_same_annotations_and_ids(tmp_path):
    source = coco_dataset(tmp_path, coco_payload())
    first = read_coco(source, tmp_path / "images")
    write_coco(first.images, first.categories, tmp_path / "out.json")
    second = read_coco(tmp_path / "out.json", tmp_path / "images")
    assert second.problems == [] and second.categories == first.categories
    same_objects(first, second)
    written = json.loads((tmp_path / "out.json").read_text())
    original = coco_payload()
    assert [(a["id"], a["image_id"], a["bbox"]) for a in written["annotations"]] == \
        [(a["id"], a["image_id"], [float(v) for v in a["bbox"]]) for a in original["annotations"]]
    assert written["annotations"][2]["segmentation"] == [[float(v) for v in part]
                                                        for part in original["annotations"][2]["segmentation"]]


def test_rle_round_trips_and_matches_cocos_compressed_strings():
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (3, 5), (30, 40), (17, 9)]:
        for density in (0.0, 0.1, 0.5, 1.0):
            mask = (rng.random(shape) < density).astype(np.uint8)
            counts = rle_encode(mask)
            assert sum(counts) == mask.size and np.array_equal(rle_decode(counts, *shape), mask)
            assert rle_from_string(rle_to_string(counts)) == counts
    # Column-major, starting with zeros: the 2x2 mask [[0, 1], [1, 1]] is 1 zero, then 3 ones.
    assert rle_encode(np.array([[0, 1], [1, 1]])) == [1, 3]
    assert rle_encode(np.array([[1, 0], [1, 0]])) == [0, 2, 2]
    # pycocotools' string: 5-bit groups + 48, 0x20 = more, deltas from two counts back after the third.
    assert rle_to_string([3, 2, 5]) == "325" and rle_to_string([100]) == "T3"
    assert rle_to_string([1, 2, 3, 1]) == "123O"  # 1 - 2 = -1: the one group 0x1F + 48 = "O"
    assert rle_from_string("123O") == [1, 2, 3, 1]


def hostile_coco_payload() -> dict:
    payload = coco_payload()
    payload["images"] += [{"id": 20 + k, "file_name": f"bad{k}.png", "width": 40, "height": 30} for k in range(6)]
    payload["images"] += [{"id": 40, "file_name": "not_on_disk.png", "width": 40, "height": 30},
                          {"id": 41, "file_name": "wrong_size.png", "width": 40, "height": 30},
                          {"id": 42, "file_name": "no_width.png", "height": 30},
                          {"id": 20, "file_name": "twice.png", "width": 40, "height": 30}]
    payload["annotations"] += [
        {"id": 200, "image_id": 20, "category_id": 1, "bbox": [30, 20, 20, 20]},  # past the 40x30 frame
        {"id": 201, "image_id": 21, "category_id": 1, "bbox": [3, 3, 0, 5]},
        {"id": 202, "image_id": 22, "category_id": 1, "bbox": [3, 3, float("nan"), 5]},
        {"id": 203, "image_id": 23, "category_id": 99, "bbox": [3, 3, 4, 5]},
        {"id": 204, "image_id": 999, "category_id": 1, "bbox": [3, 3, 4, 5]},
        {"id": 205, "image_id": 24, "category_id": 1, "bbox": [3, 3, 4, 5],
         "segmentation": {"size": [31, 40], "counts": [1240]}},
        {"id": 206, "image_id": 25, "category_id": 1, "bbox": [3, 3, -4, 5]},
        {"id": 207, "image_id": 40, "category_id": 1, "bbox": [3, 3, 4, 5]},  # goes with its quarantined image
    ]
    return payload


def test_hostile_coco_annotations_are_quarantined_with_reason_codes(tmp_path):
    payload = hostile_coco_payload()
    for image in payload["images"]:
        if image["file_name"] != "not_on_disk.png":
            size = (41, 30) if image["file_name"] == "wrong_size.png" else (image.get("width", 40), image["height"])
            save_image(tmp_path / "images" / image["file_name"], *size)
    (tmp_path / "hostile.json").write_text(json.dumps(payload), encoding="utf-8")  # NaN as JSON's NaN
    read = read_coco(tmp_path / "hostile.json", tmp_path / "images")
    reasons = {problem.sample: problem.reason_code for problem in read.problems}
    assert reasons == {"bad0.png": "box_outside_image", "bad1.png": "box_degenerate", "bad2.png": "box_not_finite",
                       "bad3.png": "unknown_category", "annotation 204": "annotation_without_image",
                       "bad4.png": "segmentation_malformed", "bad5.png": "box_degenerate",
                       "not_on_disk.png": "image_file_missing", "wrong_size.png": "image_size_mismatch",
                       "no_width.png": "image_entry_malformed", "twice.png": "duplicate_image_id"}
    assert all(str(tmp_path / "hostile.json") in problem.message() for problem in read.problems)
    # Nothing lost: every listed image is read or quarantined, and the good ones are untouched.
    assert sorted(image.sample_id for image in read.images) == ["a.png", "empty.png", "sub/b.png"]
    assert len(read.images) + sum(p.sample.endswith(".png") for p in read.problems) == len(payload["images"])


def test_an_unreadable_coco_file_is_refused_naming_it(tmp_path):
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(AnnotationFileError, match="broken.json"):
        read_coco(tmp_path / "broken.json", tmp_path)


# ---- YOLO ----------------------------------------------------------------------------------

def yolo_dataset(root: Path, extra: dict[str, str] | None = None) -> Path:
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [scratch, dent, hole]\n")
    labels = {
        "train/p1": "0 0.500000 0.500000 0.250000 0.200000\n2 0.100000 0.200000 0.050000 0.100000\n",
        "train/p2": "1 0.100000 0.100000 0.400000 0.100000 0.400000 0.500000 0.100000 0.500000\n",
        "train/p3": "",
        "val/q1": "1 0.900000 0.900000 0.200000 0.200000\n",
    } | (extra or {})
    for key, text in labels.items():
        split, stem = key.split("/")
        save_image(root / "images" / split / f"{stem}.png", 80, 60)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split / f"{stem}.txt").write_text(text)
    return root


def test_yolo_reads_boxes_and_segments_in_pixels(tmp_path):
    read = read_yolo(yolo_dataset(tmp_path / "y"))
    assert read.problems == [] and read.categories == {0: "scratch", 1: "dent", 2: "hole"}
    images = {image.sample_id: image for image in read.images}
    assert sorted(images) == ["images/train/p1.png", "images/train/p2.png", "images/train/p3.png", "images/val/q1.png"]
    first, second = images["images/train/p1.png"].targets.objects
    np.testing.assert_allclose(first.box, (30, 24, 50, 36))
    np.testing.assert_allclose(second.box, (6, 9, 10, 15))
    (segment,) = images["images/train/p2.png"].targets.objects
    np.testing.assert_allclose(segment.polygon[0], [[8, 6], [32, 6], [32, 30], [8, 30]])
    np.testing.assert_allclose(segment.box, (8, 6, 32, 30))
    assert images["images/val/q1.png"].split == "val" and images["images/train/p3.png"].targets.objects == ()


def test_yolo_round_trip_gives_the_same_label_files(tmp_path):
    source = yolo_dataset(tmp_path / "y")
    first = read_yolo(source)
    write_yolo(first.images, first.categories, tmp_path / "out")
    second = read_yolo(tmp_path / "out")
    assert second.problems == [] and second.categories == first.categories
    same_objects(first, second, atol=1e-4)
    for label in sorted((source / "labels").rglob("*.txt")):
        assert (tmp_path / "out" / label.relative_to(source)).read_text() == label.read_text(), label


def test_coco_to_yolo_keeps_the_boxes(tmp_path):
    coco = read_coco(coco_dataset(tmp_path, coco_payload()), tmp_path / "images")
    boxes_only = [image for image in coco.images if image.sample_id == "a.png"]
    write_yolo(boxes_only, coco.categories | {0: "none", 2: "none2"}, tmp_path / "y")
    (back,) = read_yolo(tmp_path / "y").images
    np.testing.assert_allclose([o.box for o in back.targets.objects],
                               [o.box for o in boxes_only[0].targets.objects], atol=1e-3)


def test_hostile_yolo_files_are_quarantined_with_reason_codes(tmp_path):
    root = yolo_dataset(tmp_path / "y", {
        "train/outside": "0 0.950000 0.500000 0.300000 0.200000\n",
        "train/flat": "0 0.500000 0.500000 0.000000 0.200000\n",
        "train/nan": "0 nan 0.5 0.2 0.2\n",
        "train/unknown": "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n",
        "train/short": "0 0.5 0.5 0.2\n",
        "train/words": "dent 0.5 0.5 0.2 0.2\n",
    })
    (root / "labels" / "train" / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    save_image(root / "images" / "val" / "unlabelled.png", 80, 60)
    read = read_yolo(root)
    reasons = {problem.sample: problem.reason_code for problem in read.problems}
    assert reasons == {"train/outside": "box_outside_image", "train/flat": "box_degenerate",
                       "train/nan": "box_not_finite", "train/unknown": "unknown_category",
                       "train/short": "line_malformed", "train/words": "line_malformed",
                       "train/orphan": "label_without_image", "images/val/unlabelled.png": "image_without_label"}
    assert "line 2" in next(p.detail for p in read.problems if p.sample == "train/unknown")
    assert len(read.images) == 4


def test_a_yolo_folder_without_names_or_images_is_refused_naming_it(tmp_path):
    root = yolo_dataset(tmp_path / "y")
    (root / "data.yaml").write_text("train: images/train\n")
    with pytest.raises(AnnotationFileError, match="data.yaml"):
        read_yolo(root)
