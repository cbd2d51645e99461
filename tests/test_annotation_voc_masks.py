"""Pascal VOC XML and semantic-mask folders: read, with hostile files quarantined by reason code."""

from __future__ import annotations

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image_masks import read_mask_folders
from augmill.tasks.modalities.image_voc import read_voc

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
