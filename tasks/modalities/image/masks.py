"""Semantic-mask folders (``data.targets: masks``): ``images/`` and ``masks/`` with the same
relative paths and stems (``images/train/a.jpg`` and ``masks/train/a.png``), each mask pixel a
class id; ``classes.txt`` beside them, if present, names the classes (line i: class id i).

Pixel value 0 is the background: what a warp puts in the pixels it uncovers, so it cannot also be
a class. Every other class present in an image becomes one object (its pixels the object's
instance mask, its box theirs), so the stages that count, plan, check and draw objects do so for
masks as for COCO, and the operators move the masks by the code that moves instance masks. The
mask written back is composed from the objects kept: a region the augment dropped (below
augment.min_visibility or min_area, recorded in the lineage) becomes background, as a dropped box
does in a detection set; set both to 0 to keep every pixel that stays in the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from augmill.tasks.imaging import encode_image
from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.modalities.image.annotations import (
    IMAGE_SUFFIXES,
    AnnotatedImage,
    AnnotatedSet,
    AnnotationFileError,
    Problem,
)
from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets, box_of_mask

BACKGROUND_ID = 0
CLASSES_FILE = "classes.txt"


def _by_stem(folder: Path) -> tuple[dict[str, Path], list[Problem]]:
    """Image files under ``folder`` keyed by their relative path without suffix ("train/a"); files
    that share a stem (a.jpg and a.png) cannot be paired: each is a problem, none is used."""
    found: dict[str, list[Path]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            found.setdefault(path.relative_to(folder).with_suffix("").as_posix(), []).append(path)
    problems = [Problem(str(path), path.relative_to(folder).as_posix(), "duplicate_stem",
                        f"{', '.join(p.name for p in paths)} share the stem {stem!r}: which one the mask belongs to is unclear")
                for stem, paths in found.items() if len(paths) > 1 for path in paths]
    return {stem: paths[0] for stem, paths in found.items() if len(paths) == 1}, problems


def objects_of_mask(mask: np.ndarray, stem: str) -> tuple[TargetObject, ...]:
    """One object per class id present other than the background, id ``<stem>:<class id>``."""
    objects = []
    for class_id in np.unique(mask).tolist():
        if class_id == BACKGROUND_ID:
            continue
        region = (mask == class_id).astype(np.uint8)
        objects.append(TargetObject(f"{stem}:{class_id}", int(class_id), box_of_mask(region), (), region))
    return tuple(objects)


def mask_of_objects(targets: Targets) -> np.ndarray:
    """The H x W class-id mask the objects make (background where none is)."""
    mask = np.full((targets.height, targets.width), BACKGROUND_ID, dtype=np.uint8)
    for obj in targets.objects:
        if obj.mask is None:
            raise ValueError(f"object {obj.object_id}: a semantic mask is written from instance masks, it has none")
        mask[np.asarray(obj.mask) > 0] = obj.category
    return mask


def read_mask_folders(image_dir: Path, mask_dir: Path, classes: list[str] | None) -> AnnotatedSet:
    """Images and their class-id masks, paired by relative stem. A mask of another size than its
    image, a pixel value past ``classes`` (when declared), an image or mask without its partner and
    files sharing a stem are quarantined. Undeclared classes are named by their ids."""
    (images, image_problems), (masks, mask_problems) = _by_stem(image_dir), _by_stem(mask_dir)
    problems, read = image_problems + mask_problems, []
    for stem in sorted(set(masks) - set(images)):
        problems.append(Problem(str(masks[stem]), stem, "label_without_image", f"no image {stem}.* in {image_dir}"))
    seen: set[int] = set()
    for stem, image_path in images.items():
        sample_id = image_path.relative_to(image_dir).as_posix()
        if stem not in masks:
            problems.append(Problem(str(image_path), sample_id, "image_without_label", f"no mask {stem}.* in {mask_dir}"))
            continue
        try:
            with Image.open(image_path) as opened:
                size = opened.size
        except OSError as error:
            problems.append(Problem(str(image_path), sample_id, "corrupt", str(error)))
            continue
        try:
            with Image.open(masks[stem]) as opened:
                mode = opened.mode
                mask = np.asarray(opened).astype(np.uint8) if mode in ("L", "P") else None
        except OSError as error:
            problems.append(Problem(str(masks[stem]), sample_id, "annotation_unreadable", str(error)))
            continue
        if mask is None:
            problems.append(Problem(str(masks[stem]), sample_id, "segmentation_malformed",
                                    f"mask mode {mode}: a class-id mask has one 8-bit channel (L or P)"))
            continue
        if mask.shape != size[::-1]:
            problems.append(Problem(str(masks[stem]), sample_id, "mask_size_mismatch",
                                    f"mask {mask.shape[1]}x{mask.shape[0]}, image {size[0]}x{size[1]}"))
            continue
        if classes is not None and int(mask.max(initial=0)) >= len(classes):
            problems.append(Problem(str(masks[stem]), sample_id, "unknown_category",
                                    f"pixel value {int(mask.max())} past the {len(classes)} classes"))
            continue
        seen |= set(np.unique(mask).tolist())
        targets = Targets(size[0], size[1], objects_of_mask(mask, stem), mask)
        read.append(AnnotatedImage(sample_id, "", str(image_path), targets))
    names = dict(enumerate(classes)) if classes is not None else {c: str(c) for c in sorted(seen | {BACKGROUND_ID})}
    return AnnotatedSet("masks", names, read, problems)


def read_classes(root: Path) -> list[str] | None:
    """``classes.txt``'s names (line i: class id i), or None when there is none."""
    file = Path(root) / CLASSES_FILE
    if not file.is_file():
        return None
    names = [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names or any(not name for name in names) or len(names) > 256:
        raise AnnotationFileError(f"{file}: one class name per line (line 1: id 0, the background), 1 to 256 lines, "
                                  "none empty")
    return names


def read_mask_tree(root: Path) -> AnnotatedSet:
    """``images/`` and ``masks/`` under ``root`` (the layout data/final is written in too)."""
    root = Path(root)
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise AnnotationFileError(f"{root}: data.targets: masks expects images/ and masks/ with the same stems")
    return read_mask_folders(root / "images", root / "masks", read_classes(root))


def write_masks(images: list[AnnotatedImage], categories: dict[int, str], root: Path, image_root: Path) -> None:
    """``masks/<path under image_root>.png`` (8-bit, class ids) for every image, and ``classes.txt``
    naming ids 0 to the largest (an id without a name is written as its number)."""
    root = Path(root)
    for image in images:
        relative = Path(image.path).relative_to(image_root).with_suffix(".png")
        write_bytes_atomic(root / "masks" / relative, encode_image(Image.fromarray(mask_of_objects(image.targets)), "PNG"))
    top = max(categories, default=BACKGROUND_ID)
    lines = [categories.get(class_id, str(class_id)) for class_id in range(top + 1)]
    write_bytes_atomic(root / CLASSES_FILE, "".join(f"{line}\n" for line in lines).encode("utf-8"))

