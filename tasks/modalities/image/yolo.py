"""YOLO (Ultralytics layout): ``images/<split>/`` and ``labels/<split>/`` with the same stems,
``data.yaml`` naming the classes. A label line is ``class cx cy w h`` (a box) or ``class x1 y1
x2 y2 ...`` (a segment polygon, at least 3 points), all normalised to [0, 1]. An empty label
file is an image with no objects; a missing one is quarantined (image_without_label), as is a
label file with no image (label_without_image).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from augmill.tasks.modalities.image.annotations import (
    IMAGE_SUFFIXES,
    AnnotatedImage,
    AnnotatedSet,
    AnnotationFileError,
    Problem,
    box_problem,
    clip_box,
)
from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets

DECIMALS = 6  # as Ultralytics writes: a millionth of the side, well under a pixel


def read_yolo(root: Path) -> AnnotatedSet:
    root = Path(root)
    categories = _names(root / "data.yaml")
    problems: list[Problem] = []
    images: list[AnnotatedImage] = []
    splits = sorted(p.name for p in (root / "images").iterdir() if p.is_dir()) if (root / "images").is_dir() else []
    if not splits:
        raise AnnotationFileError(f"{root}: no images/<split>/ folder (YOLO layout: images/train, labels/train, ...)")
    for split in splits:
        image_files = {p.stem: p for p in sorted((root / "images" / split).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        label_dir = root / "labels" / split
        label_files = {p.stem: p for p in sorted(label_dir.glob("*.txt"))} if label_dir.is_dir() else {}
        for stem in sorted(set(label_files) - set(image_files)):
            problems.append(Problem(str(label_files[stem]), f"{split}/{stem}", "label_without_image",
                                    f"no image with stem {stem!r} in {root / 'images' / split}"))
        for stem, image_file in image_files.items():
            sample_id = image_file.relative_to(root).as_posix()
            if stem not in label_files:
                problems.append(Problem(str(image_file), sample_id, "image_without_label",
                                        f"no label file {label_dir / (stem + '.txt')}"))
                continue
            try:
                with Image.open(image_file) as opened:
                    width, height = opened.size
            except OSError as error:
                problems.append(Problem(str(image_file), sample_id, "image_unreadable", str(error)))
                continue
            parsed = _objects(label_files[stem], categories, width, height)
            if isinstance(parsed, Problem):
                problems.append(parsed)
                continue
            images.append(AnnotatedImage(sample_id, split, str(image_file), Targets(width, height, parsed)))
    return AnnotatedSet("yolo", categories, images, problems)


def _names(data_yaml: Path) -> dict[int, str]:
    try:
        names = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))["names"]
        return {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise AnnotationFileError(f"{data_yaml}: no readable 'names' ({type(error).__name__}: {error})") from None


def _objects(label_file: Path, categories: dict[int, str], width: int, height: int) -> tuple[TargetObject, ...] | Problem:
    objects = []
    stem = f"{label_file.parent.name}/{label_file.stem}"
    for number, line in enumerate(label_file.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {number}"
        try:
            category, values = int(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            return Problem(str(label_file), stem, "line_malformed", f"{where}: {line.strip()!r} is not numbers")
        if category not in categories:
            return Problem(str(label_file), stem, "unknown_category",
                           f"{where}: class {category} is not in data.yaml's names {sorted(categories)}")
        if len(values) == 4:
            cx, cy, w, h = values
            box = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
            polygon = ()
        elif len(values) >= 6 and len(values) % 2 == 0:
            ring = np.asarray(values, dtype=np.float64).reshape(-1, 2) * (width, height)
            box = (*ring.min(axis=0), *ring.max(axis=0)) if np.isfinite(ring).all() else (math.nan,) * 4
            polygon = (ring,)
        else:
            return Problem(str(label_file), stem, "line_malformed",
                           f"{where}: {len(values)} numbers after the class; expected 4 (box) or 6+ even (polygon)")
        problem = box_problem(tuple(float(v) for v in box), width, height)
        if problem:
            return Problem(str(label_file), stem, problem[0], f"{where}: {problem[1]}")
        objects.append(TargetObject(f"{stem}:{number}", category, clip_box(box, width, height), polygon))
    return tuple(objects)


def yolo_line(obj: TargetObject, width: int, height: int) -> str:
    if obj.polygon:  # YOLO holds one ring per object: the largest part
        ring = max(obj.polygon, key=len) / (width, height)
        return " ".join([str(obj.category), *(f"{v:.{DECIMALS}f}" for v in ring.ravel())])
    x0, y0, x1, y1 = obj.box
    values = ((x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height)
    return " ".join([str(obj.category), *(f"{v:.{DECIMALS}f}" for v in values)])


def write_yolo(images: list[AnnotatedImage], categories: dict[int, str], root: Path) -> None:
    """``images/<split>/``, ``labels/<split>/`` and ``data.yaml`` under ``root``; each image is copied
    from its ``path`` to its sample id (an image without a split goes to ``train``)."""
    root = Path(root)
    splits = sorted({image.split or "train" for image in images})
    for image in images:
        split = image.split or "train"
        target = root / "images" / split / Path(image.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(image.path).resolve() != target.resolve():
            shutil.copyfile(image.path, target)
        label = root / "labels" / split / f"{Path(image.path).stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        lines = [yolo_line(obj, image.targets.width, image.targets.height) for obj in image.targets.objects]
        label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    names = {key: categories[key] for key in sorted(categories)}
    data = {"path": ".", **{split: f"images/{split}" for split in splits}, "names": names}
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
