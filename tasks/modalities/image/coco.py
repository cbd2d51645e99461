"""COCO detection/segmentation JSON: read into ``AnnotatedSet`` and write back.

Read: ``bbox`` ([x, y, w, h], pixel edges), ``segmentation`` as polygons (lists of flat x, y
lists) or RLE (``counts`` as a list, or COCO's compressed string), ``iscrowd``, ``keypoints``.
Written back in the same shapes, so ``read -> write -> read`` gives the same annotations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image.annotations import (
    AnnotatedImage,
    AnnotatedSet,
    AnnotationFileError,
    Problem,
    box_problem,
    clip_box,
    rle_decode,
    rle_encode,
    rle_from_string,
    rle_to_string,
)
from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets, rings_area


def read_coco(annotation_file: Path, image_root: Path, split: str = "") -> AnnotatedSet:
    """The images of one COCO file (``file_name`` relative to ``image_root``) with their objects."""
    name = str(annotation_file)
    try:
        data = json.loads(Path(annotation_file).read_text(encoding="utf-8"))
        images, annotations = data["images"], data.get("annotations", [])
        categories = {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AnnotationFileError(f"{name}: not a readable COCO file ({type(error).__name__}: {error})") from None
    problems: list[Problem] = []
    by_id: dict[int, dict] = {}
    quarantined: set = set()  # images already in the quarantine: their annotations go with them
    for image in images:
        problem = _image_problem(image, image_root, by_id)
        if problem:
            problems.append(Problem(name, str(image.get("file_name") or image.get("id")) if isinstance(image, dict)
                                    else repr(image), *problem))
            if problem[0] != "duplicate_image_id" and isinstance(image, dict):
                quarantined.add(image.get("id"))
            continue
        by_id[int(image["id"])] = {"meta": image, "objects": [], "bad": False}
    for annotation in annotations:
        entry = by_id.get(annotation.get("image_id"))
        if entry is None and annotation.get("image_id") in quarantined:
            continue
        if entry is None:
            problems.append(Problem(name, f"annotation {annotation.get('id')}", "annotation_without_image",
                                    f"image_id {annotation.get('image_id')!r} is not a readable image of this file"))
            continue
        meta = entry["meta"]
        parsed = _object(annotation, categories, int(meta["width"]), int(meta["height"]))
        if isinstance(parsed, tuple):
            problems.append(Problem(name, meta["file_name"], parsed[0], f"annotation {annotation.get('id')}: {parsed[1]}"))
            entry["bad"] = True
        else:
            entry["objects"].append(parsed)
    read = [AnnotatedImage(meta["file_name"], split, str(image_root / meta["file_name"]),
                           Targets(int(meta["width"]), int(meta["height"]), tuple(entry["objects"])), int(image_id))
            for image_id, entry in by_id.items() if not entry["bad"] for meta in (entry["meta"],)]
    return AnnotatedSet("coco", categories, read, problems)


def _image_problem(image: Any, image_root: Path, seen: dict[int, dict]) -> tuple[str, str] | None:
    """Why an ``images`` entry cannot be used, as (reason_code, detail), or None."""
    if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) or \
            not all(isinstance(image.get(key), int) and not isinstance(image.get(key), bool) and image[key] > 0
                    for key in ("width", "height")) or not isinstance(image.get("id"), int):
        return "image_entry_malformed", "an image needs an int id, a file_name and positive int width and height"
    if image["id"] in seen:
        return "duplicate_image_id", f"image id {image['id']} is listed twice"
    path = image_root / image["file_name"]
    try:
        with Image.open(path) as opened:
            size = opened.size
    except OSError:
        return "image_file_missing", f"no readable image file {path}"
    if size != (image["width"], image["height"]):
        return "image_size_mismatch", f"the file is {size[0]}x{size[1]}, the entry says {image['width']}x{image['height']}"
    return None


def _object(annotation: dict, categories: dict[int, str], width: int, height: int) -> TargetObject | tuple[str, str]:
    """One annotation as a target object, or (reason_code, detail)."""
    category = annotation.get("category_id")
    if category not in categories:
        return "unknown_category", f"category_id {category!r} is not among the categories {sorted(categories)}"
    try:
        x, y, w, h = (float(v) for v in annotation["bbox"])
    except (KeyError, TypeError, ValueError):
        return "box_malformed", f"bbox {annotation.get('bbox')!r} is not [x, y, width, height]"
    box = (x, y, x + w, y + h)
    problem = box_problem(box, width, height)
    if problem:
        return problem
    polygon, mask = (), None
    segmentation = annotation.get("segmentation")
    try:
        if isinstance(segmentation, dict):
            mask = _rle_mask(segmentation, width, height)
        elif segmentation:
            polygon = tuple(np.asarray(part, dtype=np.float64).reshape(-1, 2) for part in segmentation)
            if any(len(ring) < 3 or not np.isfinite(ring).all() for ring in polygon):
                return "polygon_malformed", "a polygon part has fewer than 3 points or a non-finite coordinate"
    except (ValueError, TypeError, KeyError) as error:
        return "segmentation_malformed", str(error)
    keypoints = annotation.get("keypoints")
    return TargetObject(str(annotation.get("id")), int(category), clip_box(box, width, height), polygon, mask,
                        None if not keypoints else np.asarray(keypoints, dtype=np.float64).reshape(-1, 3),
                        bool(annotation.get("iscrowd", 0)))


def _rle_mask(segmentation: dict, width: int, height: int) -> np.ndarray:
    rle_height, rle_width = (int(v) for v in segmentation["size"])
    if (rle_height, rle_width) != (height, width):
        raise ValueError(f"mask size {rle_width}x{rle_height} differs from the {width}x{height} image")
    counts = segmentation["counts"]
    return rle_decode(rle_from_string(counts) if isinstance(counts, str) else [int(c) for c in counts], height, width)


def coco_annotation(obj: TargetObject, annotation_id: int, image_id: int) -> dict[str, Any]:
    x0, y0, x1, y1 = obj.box
    record: dict[str, Any] = {"id": annotation_id, "image_id": image_id, "category_id": obj.category,
                              "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": int(obj.iscrowd)}
    if obj.mask is not None:
        height, width = obj.mask.shape
        record["segmentation"] = {"size": [height, width], "counts": rle_to_string(rle_encode(obj.mask))}
        record["area"] = float(np.count_nonzero(obj.mask))
    elif obj.polygon:
        record["segmentation"] = [[float(v) for v in ring.ravel()] for ring in obj.polygon]
        record["area"] = rings_area(obj.polygon)
    else:
        record["segmentation"] = []
        record["area"] = (x1 - x0) * (y1 - y0)
    if obj.keypoints is not None:
        record["keypoints"] = [float(v) for v in obj.keypoints.ravel()]
        record["num_keypoints"] = int(np.count_nonzero(obj.keypoints[:, 2] > 0))
    return record


def write_coco(images: list[AnnotatedImage], categories: dict[int, str], path: Path,
               ids: dict[str, int] | None = None) -> None:
    """One COCO file for ``images`` (``file_name`` = sample id). Annotation ids come from ``ids``
    (``annotation_ids`` over every split, so they never collide across files), by default over
    these images alone; image ids are the source's where unique, else numbered afresh."""
    image_ids = _ids([image.source_id for image in images])
    ids = annotation_ids(images) if ids is None else ids
    payload = {"images": [], "annotations": [],
               "categories": [{"id": key, "name": value} for key, value in sorted(categories.items())]}
    for image, image_id in zip(images, image_ids, strict=True):
        payload["images"].append({"id": image_id, "file_name": image.sample_id, "width": image.targets.width,
                                  "height": image.targets.height})
        payload["annotations"] += [coco_annotation(obj, ids[obj.object_id], image_id) for obj in image.targets.objects]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=1, allow_nan=False), encoding="utf-8")


def annotation_ids(images: list[AnnotatedImage]) -> dict[str, int]:
    """An int id per object: a source object keeps its COCO id (its ``object_id`` is that integer)
    while those are unique; every other object (variants, YOLO objects) is numbered above the
    largest, in order."""
    object_ids = [obj.object_id for image in images for obj in image.targets.objects]
    if len(set(object_ids)) != len(object_ids):
        raise ValueError("object ids repeat across the images; each object needs its own")
    kept = {oid: int(oid) for oid in object_ids if oid.isdigit()}
    if len(set(kept.values())) != len(kept):  # "7" and "007": renumber everything
        kept = {}
    start = max(kept.values(), default=0) + 1
    fresh = [oid for oid in object_ids if oid not in kept]
    return kept | {oid: start + k for k, oid in enumerate(fresh)}


def _ids(candidates: list[int | None]) -> list[int]:
    if all(c is not None for c in candidates) and len(set(candidates)) == len(candidates):
        return list(candidates)
    return list(range(1, len(candidates) + 1))
