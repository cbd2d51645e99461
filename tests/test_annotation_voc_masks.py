"""Pascal VOC XML and semantic-mask folders: read, with hostile files quarantined by reason code."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from augmill.tasks.modalities.image.annotations import AnnotationFileError
from augmill.tasks.modalities.image.masks import mask_of_objects, read_mask_folders, read_mask_tree, write_masks
from augmill.tasks.modalities.image.shapes import CATEGORIES, write_shapes
from augmill.tasks.modalities.image.voc import read_voc

VOC = """<annotation><filename>{file}</filename><size><width>{w}</width><height>{h}</height></size>
{objects}</annotation>"""
OBJECT = "<object><name>{name}</name><bndbox><xmin>{0}</xmin><ymin>{1}</ymin><xmax>{2}</xmax><ymax>{3}</ymax></bndbox></object>"


def write_voc(folder, stem, objects, size=(50, 40), declared=None, image=True):
    (folder / "ann").mkdir(parents=True, exist_ok=True)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    if image:
        Image.new("RGB", size).save(folder / "img" / f"{stem}.png")
    w, h = declared or size
    body = "".join(OBJECT.format(*box, name=name) for name, box in objects)
    (folder / "ann" / f"{stem}.xml").write_text(VOC.format(file=f"{stem}.png", w=w, h=h, objects=body))


def test_voc_boxes_are_one_based_inclusive(tmp_path):
    write_voc(tmp_path, "a", [("cat", (1, 1, 10, 20)), ("dog", (5, 6, 50, 40))])
    read = read_voc(tmp_path / "ann", tmp_path / "img", ["cat", "dog"])
    assert read.problems == []
    (image,) = read.images
    assert [(o.category, o.box) for o in image.targets.objects] == [(0, (0.0, 0.0, 10.0, 20.0)), (1, (4.0, 5.0, 50.0, 40.0))]


def test_hostile_voc_files_are_quarantined(tmp_path):
    write_voc(tmp_path, "ok", [("cat", (1, 1, 10, 10))])
    write_voc(tmp_path, "outside", [("cat", (1, 1, 80, 10))])
    write_voc(tmp_path, "flat", [("cat", (5, 5, 4, 10))])
    write_voc(tmp_path, "nan", [("cat", ("x", 5, 9, 10))])
    write_voc(tmp_path, "bird", [("bird", (1, 1, 10, 10))])
    write_voc(tmp_path, "resized", [("cat", (1, 1, 10, 10))], declared=(60, 40))
    write_voc(tmp_path, "orphan", [("cat", (1, 1, 10, 10))], image=False)
    Image.new("RGB", (50, 40)).save(tmp_path / "img" / "lonely.png")
    (tmp_path / "ann" / "broken.xml").write_text("<annotation><filename>")
    read = read_voc(tmp_path / "ann", tmp_path / "img", ["cat"])
    reasons = {p.sample: p.reason_code for p in read.problems}
    assert reasons == {"outside.png": "box_outside_image", "flat.png": "box_degenerate", "nan.png": "box_not_finite",
                       "bird.png": "unknown_category", "resized.png": "image_size_mismatch",
                       "orphan.png": "label_without_image", "lonely.png": "image_without_label",
                       "broken": "annotation_unreadable"}
    assert [i.sample_id for i in read.images] == ["ok.png"]


def test_mask_folders_pair_by_stem_and_refuse_bad_masks(tmp_path):
    for folder in ("img", "mask"):
        (tmp_path / folder).mkdir()
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[5:10, 5:20] = 2
    for stem in ("a", "wrong_size", "bad_class", "no_mask"):
        Image.new("RGB", (30, 20)).save(tmp_path / "img" / f"{stem}.jpg")
    Image.fromarray(mask).save(tmp_path / "mask" / "a.png")
    Image.fromarray(mask[:, :25]).save(tmp_path / "mask" / "wrong_size.png")
    Image.fromarray(mask * 3).save(tmp_path / "mask" / "bad_class.png")
    Image.fromarray(mask).save(tmp_path / "mask" / "no_image.png")
    read = read_mask_folders(tmp_path / "img", tmp_path / "mask", ["background", "crack", "stain"])
    reasons = {p.sample: p.reason_code for p in read.problems}
    assert reasons == {"wrong_size.jpg": "mask_size_mismatch", "bad_class.jpg": "unknown_category",
                       "no_mask.jpg": "image_without_label", "no_image": "label_without_image"}
    (image,) = read.images
    np.testing.assert_array_equal(image.targets.semantic, mask)


def test_hostile_mask_files_are_quarantined_with_reason_codes(tmp_path):
    for folder in ("img", "mask"):
        (tmp_path / folder).mkdir()
    Image.new("RGB", (30, 20)).save(tmp_path / "img" / "colour.png")
    Image.new("RGB", (30, 20), (1, 1, 1)).save(tmp_path / "mask" / "colour.png")  # RGB: not class ids
    (tmp_path / "img" / "broken.png").write_bytes(b"not an image")
    Image.new("L", (30, 20)).save(tmp_path / "mask" / "broken.png")
    Image.new("RGB", (30, 20)).save(tmp_path / "img" / "cut.png")
    (tmp_path / "mask" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    read = read_mask_folders(tmp_path / "img", tmp_path / "mask", ["background", "crack"])
    reasons = {p.sample: p.reason_code for p in read.problems}
    assert reasons == {"colour.png": "segmentation_malformed", "broken.png": "corrupt",
                       "cut.png": "annotation_unreadable"}
    assert read.images == []


def test_each_class_in_a_mask_is_one_object_and_undeclared_classes_are_named_by_id(tmp_path):
    for folder in ("images/train", "masks/train"):
        (tmp_path / folder).mkdir(parents=True)
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[2:5, 3:9] = 7
    mask[10:12, 20:30] = 7
    mask[15:20, 0:2] = 3
    Image.new("RGB", (30, 20)).save(tmp_path / "images/train/a.jpg")
    Image.fromarray(mask).save(tmp_path / "masks/train/a.png")
    read = read_mask_tree(tmp_path)
    assert read.problems == [] and read.categories == {0: "0", 3: "3", 7: "7"}
    (image,) = read.images
    assert image.sample_id == "train/a.jpg"
    assert [(o.object_id, o.category, o.box) for o in image.targets.objects] == [
        ("train/a:3", 3, (0.0, 15.0, 2.0, 20.0)), ("train/a:7", 7, (3.0, 2.0, 30.0, 12.0))]
    np.testing.assert_array_equal(mask_of_objects(image.targets), mask)


def test_mask_folders_round_trip_read_write_read(tmp_path):
    annotated = write_shapes(tmp_path / "in", {"train": 3, "val": 2}, seed=3)
    write_masks(annotated, {0: "background"} | CATEGORIES, tmp_path / "in", tmp_path / "in" / "images")
    first = read_mask_tree(tmp_path / "in")
    assert first.problems == [] and first.categories == {0: "background"} | CATEGORIES
    assert len(first.images) == 5
    # Each shape's class is in the mask it was drawn with; the objects are the classes present.
    for shapes, image in zip(annotated, first.images, strict=True):
        assert {o.category for o in image.targets.objects} == {o.category for o in shapes.targets.objects}
    out = tmp_path / "out"
    copied = []
    for image in first.images:
        target = out / "images" / image.sample_id
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image.path, target)
        copied.append(replace(image, path=str(target)))
    write_masks(copied, first.categories, out, out / "images")
    second = read_mask_tree(out)
    assert second.problems == [] and second.categories == first.categories
    for a, b in zip(first.images, second.images, strict=True):
        assert a.sample_id == b.sample_id
        np.testing.assert_array_equal(a.targets.semantic, b.targets.semantic)
        assert [(o.object_id, o.category, o.box) for o in a.targets.objects] == [
            (o.object_id, o.category, o.box) for o in b.targets.objects]
    assert (out / "masks/train/train_0000.png").read_bytes() == (tmp_path / "in/masks/train/train_0000.png").read_bytes()


def test_a_bad_classes_file_is_refused_naming_it(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    (tmp_path / "classes.txt").write_text("background\n\ncrack\n")
    with pytest.raises(AnnotationFileError, match="classes.txt: one class name per line"):
        read_mask_tree(tmp_path)
    (tmp_path / "masks").rmdir()
    with pytest.raises(AnnotationFileError, match="expects images/ and masks/"):
        read_mask_tree(tmp_path)


def test_images_or_masks_sharing_a_stem_are_quarantined_not_silently_paired(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    for name in ("a.jpg", "a.png", "b.png"):
        Image.new("RGB", (8, 6)).save(tmp_path / "images" / name)
    for name in ("a.png", "b.png", "b.bmp"):
        Image.new("L", (8, 6)).save(tmp_path / "masks" / name)
    read = read_mask_tree(tmp_path)
    assert sorted((p.sample, p.reason_code) for p in read.problems) == [
        ("a", "label_without_image"), ("a.jpg", "duplicate_stem"), ("a.png", "duplicate_stem"),
        ("b.bmp", "duplicate_stem"), ("b.png", "duplicate_stem"), ("b.png", "image_without_label")]
    assert read.images == []
