"""Pascal VOC XML (one file per image: ``<size>``, ``<object>`` with ``<name>`` and ``<bndbox>``)
and semantic-mask folders (an image folder and a mask folder with the same stems, pixel value =
class id), read into ``AnnotatedSet``.

VOC's ``bndbox`` is 1-based and inclusive (xmin = 1 is the first pixel's column): as pixel
edges that is (xmin - 1, ymin - 1, xmax, ymax). Writing VOC back is not done yet.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.modalities.image_annotations import (
    AnnotatedImage,
    AnnotatedSet,
    Problem,
    box_problem,
    clip_box,
)
from tasks.ops.targets import TargetObject, Targets

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def read_voc(annotation_dir: Path, image_dir: Path, categories: list[str]) -> AnnotatedSet:
    """Every ``*.xml`` of ``annotation_dir``; ``categories`` names the classes in id order (VOC files
    name them; an object of another name is an unknown_category)."""
    ids = {name: index for index, name in enumerate(categories)}
    problems, images = [], []
    xml_stems = set()
    for xml_file in sorted(Path(annotation_dir).glob("*.xml")):
        xml_stems.add(xml_file.stem)
        parsed = _voc_image(xml_file, Path(image_dir), ids)
        (problems if isinstance(parsed, Problem) else images).append(parsed)
    for image_file in sorted(Path(image_dir).iterdir()):
        if image_file.suffix.lower() in IMAGE_SUFFIXES and image_file.stem not in xml_stems:
            problems.append(Problem(str(image_file), image_file.name, "image_without_label",
                                    f"no {image_file.stem}.xml in {annotation_dir}"))
    return AnnotatedSet("voc", dict(enumerate(categories)), images, problems)


def _voc_image(xml_file: Path, image_dir: Path, ids: dict[str, int]) -> AnnotatedImage | Problem:
    name = str(xml_file)
    try:
        root = ElementTree.parse(xml_file).getroot()
        file_name = (root.findtext("filename") or "").strip()
    except (ElementTree.ParseError, OSError) as error:
        return Problem(name, xml_file.stem, "annotation_unreadable", str(error))
    image_path = image_dir / file_name
    try:
        with Image.open(image_path) as opened:
            width, height = opened.size
    except OSError:
        return Problem(name, file_name or xml_file.stem, "label_without_image", f"no readable image {image_path}")
    declared = (root.findtext("size/width"), root.findtext("size/height"))
    if all(declared) and (_number(declared[0]), _number(declared[1])) != (width, height):
        return Problem(name, file_name, "image_size_mismatch",
                       f"<size> says {declared[0]}x{declared[1]}, the image is {width}x{height}")
    objects = []
    for index, element in enumerate(root.iter("object")):
        label = (element.findtext("name") or "").strip()
        if label not in ids:
            return Problem(name, file_name, "unknown_category", f"object {index}: {label!r} is not among {sorted(ids)}")
        values = [_number(element.findtext(f"bndbox/{key}")) for key in ("xmin", "ymin", "xmax", "ymax")]
        box = (values[0] - 1, values[1] - 1, values[2], values[3])
        problem = box_problem(box, width, height)
        if problem:
            return Problem(name, file_name, problem[0], f"object {index}: {problem[1]}")
        objects.append(TargetObject(f"{xml_file.stem}:{index}", ids[label], clip_box(box, width, height)))
    return AnnotatedImage(file_name, "", str(image_path), Targets(width, height, tuple(objects)))


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else math.nan
    except ValueError:
        return math.nan


def read_mask_folders(image_dir: Path, mask_dir: Path, classes: list[str]) -> AnnotatedSet:
    """Images and their class-id masks, paired by stem. A mask of another size than its image, a
    pixel value past the classes, and an image or mask without its partner are quarantined."""
    images = {p.stem: p for p in sorted(Path(image_dir).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    masks = {p.stem: p for p in sorted(Path(mask_dir).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    problems, read = [], []
    for stem in sorted(set(masks) - set(images)):
        problems.append(Problem(str(masks[stem]), stem, "label_without_image", f"no image {stem}.* in {image_dir}"))
    for stem, image_path in images.items():
        if stem not in masks:
            problems.append(Problem(str(image_path), image_path.name, "image_without_label", f"no mask {stem}.* in {mask_dir}"))
            continue
        with Image.open(image_path) as opened:
            size = opened.size
        with Image.open(masks[stem]) as opened:
            mask = np.asarray(opened.convert("L") if opened.mode not in ("L", "P") else opened).astype(np.uint8)
        if mask.shape != size[::-1]:
            problems.append(Problem(str(masks[stem]), image_path.name, "mask_size_mismatch",
                                    f"mask {mask.shape[1]}x{mask.shape[0]}, image {size[0]}x{size[1]}"))
            continue
        if int(mask.max(initial=0)) >= len(classes):
            problems.append(Problem(str(masks[stem]), image_path.name, "unknown_category",
                                    f"pixel value {int(mask.max())} past the {len(classes)} classes"))
            continue
        read.append(AnnotatedImage(image_path.name, "", str(image_path), Targets(size[0], size[1], (), mask)))
    return AnnotatedSet("masks", dict(enumerate(classes)), read, problems)
