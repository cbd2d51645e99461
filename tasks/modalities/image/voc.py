"""Pascal VOC XML (one file per image: ``<size>``, ``<object>`` with ``<name>`` and ``<bndbox>``),
read into ``AnnotatedSet`` and written back (semantic-mask folders are in image_masks).

VOC's ``bndbox`` is 1-based and inclusive (xmin = 1 is the first pixel's column): as pixel
edges that is (xmin - 1, ymin - 1, xmax, ymax).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from PIL import Image

from augmill.tasks.modalities.image.annotations import (
    IMAGE_SUFFIXES,
    AnnotatedImage,
    AnnotatedSet,
    Problem,
    box_problem,
    clip_box,
)
from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets


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


def voc_class_names(annotation_dir: Path) -> list[str]:
    """Every object name the XML files use, sorted: VOC names its classes in the files themselves
    (a file that does not parse is left for ``read_voc`` to quarantine)."""
    names = set()
    for xml_file in sorted(Path(annotation_dir).glob("*.xml")):
        try:
            root = ElementTree.parse(xml_file).getroot()
        except (ElementTree.ParseError, OSError):
            continue
        names |= {(element.findtext("name") or "").strip() for element in root.iter("object")}
    return sorted(name for name in names if name)


def voc_xml(image: AnnotatedImage, categories: dict[int, str]) -> str:
    """One image's VOC XML. Boxes are written in whole pixels (1-based, inclusive, as VOC's tools
    expect integers): the box grows outward to the pixels it touches, never past the image."""
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "filename").text = Path(image.path).name
    size = ElementTree.SubElement(root, "size")
    for key, value in (("width", image.targets.width), ("height", image.targets.height), ("depth", 3)):
        ElementTree.SubElement(size, key).text = str(value)
    for obj in image.targets.objects:
        element = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(element, "name").text = categories.get(obj.category, str(obj.category))
        ElementTree.SubElement(element, "difficult").text = "0"
        box = ElementTree.SubElement(element, "bndbox")
        x0, y0, x1, y1 = obj.box
        for key, value in (("xmin", math.floor(x0) + 1), ("ymin", math.floor(y0) + 1),
                           ("xmax", min(math.ceil(x1), image.targets.width)),
                           ("ymax", min(math.ceil(y1), image.targets.height))):
            ElementTree.SubElement(box, key).text = str(value)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode") + "\n"


def write_voc(images: list[AnnotatedImage], categories: dict[int, str], root: Path) -> None:
    """``Annotations/<stem>.xml`` beside the images already in ``JPEGImages/`` (their ``path``), and
    ``ImageSets/Main/<split>.txt`` listing each split's stems."""
    root = Path(root)
    splits: dict[str, list[str]] = {}
    for image in images:
        stem = Path(image.path).stem
        target = root / "Annotations" / f"{stem}.xml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(voc_xml(image, categories), encoding="utf-8")
        splits.setdefault(image.split or "train", []).append(stem)
    for split, stems in splits.items():
        listing = root / "ImageSets" / "Main" / f"{split}.txt"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text("".join(f"{stem}\n" for stem in sorted(stems)), encoding="utf-8")


def voc_splits(root: Path) -> dict[str, str]:
    """stem -> split from ``ImageSets/Main/{train,val,test,...}.txt`` (VOC's split lists), if any."""
    from augmill.tasks.ingest import _SPLIT_ALIASES

    found = {}
    folder = Path(root) / "ImageSets" / "Main"
    for listing in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        split = _SPLIT_ALIASES.get(listing.stem.lower())
        if split:
            for line in listing.read_text(encoding="utf-8").split():
                found.setdefault(line.strip(), split)
    return found
