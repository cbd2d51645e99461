"""Images with targets (``data.targets``: coco | yolo | voc | masks) through the image modality's stages:
the annotation files read into the raw manifest (one row per image, its objects as JSON in the
``targets`` column), the plan by objects, and variants made with their targets. validate's
suites are in image_annotated_checks, data/final and evaluate's proxy in image_annotated_final.
The image modality (``image.py``) calls them when ``data.targets`` is set: an annotated image is
an image with more to carry, not another modality.

Layouts read (and written to data/final, so the user's training code reads it unchanged):
  coco  images/ (any tree) and annotations/*.json whose ``file_name`` is relative to images/;
        the split is the file name's (instances_train2017.json: train), else the image's top
        folder (train/x.png), else drawn like an unsplit image folder (data.split).
        Out: images/<split>/<sample_id>.<ext>, annotations/instances_<split>.json.
  yolo  images/<split>/, labels/<split>/, data.yaml (Ultralytics). Out: the same.
  voc   JPEGImages/, Annotations/*.xml, ImageSets/Main/<split>.txt. Out: the same.
  masks images/ and masks/ (same relative stems, pixel = class id), classes.txt optional; the
        split is the top folder's (images/train/a.png), else drawn. Out: images/<split>/,
        masks/<split>/ (PNG), classes.txt. Each class present is one object (image_masks).

An image's ``label`` (what the classification stages stratify and count by) is the rarest
class among its objects, counted over the whole set, or ``background`` when it has none.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.cache import Memo
from augmill.tasks.imaging import encode_image, extension_for, load_image, output_format
from augmill.tasks.ingest import _SPLIT_ALIASES, assign_splits, read_samples
from augmill.tasks.io import safe_name, sha256_bytes, write_bytes_atomic
from augmill.tasks.modalities.image.annotations import (
    AnnotatedImage,
    AnnotatedSet,
    AnnotationFileError,
    Problem,
    rle_decode,
    rle_from_string,
)
from augmill.tasks.modalities.image.coco import coco_annotation, read_coco
from augmill.tasks.modalities.image.masks import read_mask_tree
from augmill.tasks.modalities.image.object_balance import object_balance_plan
from augmill.tasks.modalities.image.object_profile import object_profile
from augmill.tasks.modalities.image.ops_targets import TargetObject, TargetRules, Targets, run_policy_with_targets
from augmill.tasks.modalities.image.targets import object_table
from augmill.tasks.modalities.image.voc import read_voc, voc_class_names, voc_splits
from augmill.tasks.modalities.image.yolo import read_yolo
from augmill.tasks.ops.policy import build_policy, sample_seed
from augmill.tasks.params import Params

BACKGROUND = "background"  # the label of an image without objects


# ---- targets as JSON (the manifests' ``targets`` column) -------------------------------

def targets_to_json(targets: Targets) -> str:
    """COCO-shaped annotations (box, polygon or RLE mask, keypoints), each with its object id and
    visibility: a manifest cell that ``targets_from_json`` reads back exactly."""
    objects = []
    for obj in targets.objects:
        record = coco_annotation(obj, 0, 0)
        record.pop("image_id")
        objects.append(record | {"id": obj.object_id, "visibility": round(float(obj.visibility), 6)})
    return json.dumps({"width": targets.width, "height": targets.height, "objects": objects}, sort_keys=True,
                      allow_nan=False)


def targets_from_json(text: str) -> Targets:
    """The targets as written, not checked or clipped: validate measures exactly what was made."""
    data = json.loads(text)
    width, height = int(data["width"]), int(data["height"])
    objects = []
    for record in data["objects"]:
        x, y, w, h = (float(v) for v in record["bbox"])
        segmentation, mask, polygon = record.get("segmentation"), None, ()
        if isinstance(segmentation, dict):
            mask_height, mask_width = segmentation["size"]
            mask = rle_decode(rle_from_string(segmentation["counts"]), int(mask_height), int(mask_width))
        elif segmentation:
            polygon = tuple(np.asarray(part, dtype=np.float64).reshape(-1, 2) for part in segmentation)
        keypoints = record.get("keypoints")
        objects.append(TargetObject(str(record["id"]), int(record["category_id"]), (x, y, x + w, y + h), polygon, mask,
                                    None if not keypoints else np.asarray(keypoints, dtype=np.float64).reshape(-1, 3),
                                    bool(record.get("iscrowd", 0)), float(record.get("visibility", 1.0))))
    return Targets(width, height, tuple(objects))


# ---- explore: read -----------------------------------------------------------------------

def _split_named(text: str) -> str | None:
    for token in re.split(r"[^a-z]+", text.lower()):
        if token in _SPLIT_ALIASES:
            return _SPLIT_ALIASES[token]
    return None


def read_annotations(root: Path, layout: str) -> AnnotatedSet:
    """Every annotated image under ``root`` and every problem found, as the layout's reader gives them."""
    if layout == "yolo":
        return read_yolo(root)
    if layout == "voc":
        return read_voc_tree(root)
    if layout == "masks":
        read = read_mask_tree(root)
        return replace(read, images=[replace(image, split=_split_named(image.sample_id.split("/")[0]) or "")
                                     if "/" in image.sample_id else image for image in read.images])
    files = sorted((root / "annotations").glob("*.json")) if (root / "annotations").is_dir() else []
    if not files:
        raise AnnotationFileError(f"{root}: no COCO file in annotations/ (data.targets: coco expects "
                                  "annotations/*.json and images/)")
    image_root = root / "images" if (root / "images").is_dir() else root
    categories: dict[int, str] = {}
    images, problems = [], []
    for file in files:
        read = read_coco(file, image_root, _split_named(file.stem) or "")
        clash = {k for k in set(read.categories) & set(categories) if read.categories[k] != categories[k]}
        if clash:
            raise AnnotationFileError(f"{file}: category ids {sorted(clash)} name other classes than in {files[0]}")
        categories |= read.categories
        images += [image if image.split else replace(image, split=_split_named(image.sample_id.split("/")[0]) or "")
                   for image in read.images]
        problems += read.problems
    return AnnotatedSet("coco", categories, images, problems)


def read_voc_tree(root: Path) -> AnnotatedSet:
    """Annotations/*.xml and JPEGImages/, the split from ImageSets/Main/<split>.txt where listed."""
    if not (root / "Annotations").is_dir() or not (root / "JPEGImages").is_dir():
        raise AnnotationFileError(f"{root}: data.targets: voc expects Annotations/*.xml and JPEGImages/")
    read = read_voc(root / "Annotations", root / "JPEGImages", voc_class_names(root / "Annotations"))
    splits = voc_splits(root)
    images = [replace(image, split=splits.get(Path(image.sample_id).stem, "")) for image in read.images]
    return replace(read, images=images)


def image_labels(images: list[AnnotatedImage], categories: dict[int, str]) -> dict[str, str]:
    """Each image's rarest class (fewest objects over the set; ties by id), or ``background``."""
    counts = Counter(obj.category for image in images for obj in image.targets.objects)
    labels = {}
    for image in images:
        present = {obj.category for obj in image.targets.objects}
        rarest = min(present, key=lambda c: (counts[c], c)) if present else None
        labels[image.sample_id] = BACKGROUND if rarest is None else categories.get(rarest, str(rarest))
    return labels


def _problem_entries(problems: list[Problem]) -> list[dict]:
    """One quarantine entry per sample (an image with several problems is one row, all reasons)."""
    by_sample: dict[str, list[Problem]] = {}
    for problem in problems:
        by_sample.setdefault(problem.sample, []).append(problem)
    return [{"path": sample, "label": None, "split": None, "reason_code": found[0].reason_code,
             "reason": "; ".join(p.message() for p in found)} for sample, found in sorted(by_sample.items())]


def read_raw(params: Params, read_file, salt: str) -> tuple[pd.DataFrame, dict]:
    """The raw manifest of an annotated dataset: one row per image (its objects in ``targets``),
    bad images and annotation files quarantined with their reason codes; the object profile
    per split goes into explore's report."""
    from augmill.tasks.progress import progress_bar

    root = Path(params.data.raw_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data.raw_dir: {root} is not a folder (set data.raw_dir in params.yaml)")
    found = read_annotations(root, params.data.targets)
    labels = image_labels(found.images, found.categories)
    entries, by_path = [], {}
    for image in found.images:
        path = Path(image.path)
        relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        entries.append({"path": relative, "label": labels[image.sample_id], "split": image.split or None,
                        "reason_code": "", "reason": ""})
        by_path[relative] = image
    entries += _problem_entries(found.problems)
    with progress_bar("explore: reading annotated images", len(entries)) as advance:
        frame = read_samples(root, entries, read_file, advance, (Memo("explore", params.execution.cache), salt))
    frame = _quarantine_turned(frame, by_path)
    frame = assign_splits(frame, params.data.split.model_dump(), params.seed)
    ok = frame["status"] == "ok"
    frame["targets"] = frame["path"].map({p: targets_to_json(i.targets) for p, i in by_path.items()}).where(ok, None)
    splits: dict[str, list[AnnotatedImage]] = {}
    for path, split in frame.loc[ok, ["path", "split"]].itertuples(index=False):
        splits.setdefault(str(split), []).append(by_path[path])
    context = {"root": str(root), "layout": params.data.targets,
               "categories": {str(k): v for k, v in sorted(found.categories.items())},
               "objects": {split: object_profile(object_table(group, found.categories, "original"), group)
                           for split, group in sorted(splits.items())}}
    return frame, context


def _quarantine_turned(frame: pd.DataFrame, by_path: dict[str, AnnotatedImage]) -> pd.DataFrame:
    """Images whose decoded size is not their annotations' (an EXIF orientation turns the pixels,
    not the boxes): quarantined, as their targets would land on the wrong pixels."""
    frame = frame.copy()
    for index, row in frame[frame["status"] == "ok"].iterrows():
        targets = by_path[row["path"]].targets
        if (int(row["width"]), int(row["height"])) != (targets.width, targets.height):
            frame.loc[index, ["status", "reason_code"]] = ["quarantined", "image_size_mismatch"]
            frame.loc[index, "reason"] = (f"{row['path']}: decoded {row['width']}x{row['height']} (EXIF orientation "
                                          f"applied), annotated as {targets.width}x{targets.height}")
    return frame


def object_plan(train: pd.DataFrame, params: Params) -> dict:
    """Objects per train class; with bias.policy rebalance also the variants per train image from
    the objects it holds (otherwise the plan stays by image label, the rarest class each holds)."""
    categories = categories_of(params)
    images = annotated_images(train, Path(params.data.raw_dir))
    if params.bias.policy != "rebalance":
        counts = Counter(obj.category for image in images for obj in image.targets.objects)
        return {"objects_per_class": {categories.get(c, str(c)): n for c, n in sorted(counts.items())}}
    plan = object_balance_plan(images, params.augment.max_variants_per_source)
    named = {key: {categories.get(int(c), str(c)): n for c, n in plan[key].items()}
             for key in ("objects_per_class", "projected_objects_per_class")}
    return plan | named | {"limited_classes": [categories.get(c, str(c)) for c in plan["limited_classes"]]}


def categories_of(params: Params) -> dict[int, str]:
    """The class ids and names, as explore recorded them (reports/explore.json)."""
    from augmill.tasks.io import read_json

    report = read_json(paths.EXPLORE_REPORT)
    return {int(k): v for k, v in report["dataset"]["categories"].items()}


def annotated_images(frame: pd.DataFrame, folder: Path) -> list[AnnotatedImage]:
    """Manifest rows with a ``targets`` cell as annotated images (paths under ``folder``)."""
    return [AnnotatedImage(row.sample_id, row.split, str(folder / row.path), targets_from_json(row.targets))
            for row in frame[["sample_id", "split", "path", "targets"]].itertuples(index=False)]


def rules_of(params: Params) -> TargetRules:
    return TargetRules(min_visibility=params.augment.min_visibility, min_area=params.augment.min_area)


# ---- augment -------------------------------------------------------------------------------

def augment_shard(shard, params: Params, output_dir: Path = paths.AUGMENTED_DIR) -> list[dict]:
    """image.augment_shard with the targets carried through the same draws: the pixels are the
    very bytes of the image-only run (unless a keep_objects crop draws its box around the plan's
    class, ``keep_class``); each op's record lists the objects it dropped."""
    policy = build_policy(params.augment.policy, "image")
    raw_dir, rules = Path(params.data.raw_dir), rules_of(params)
    rows = []
    for source in shard.sources:
        pixels = load_image(raw_dir / source["path"], params.data.max_image_pixels).image
        source_targets = targets_from_json(source["targets"])
        keep_class = int(source.get("keep_class", -1))  # the plan's class for this image (bias.policy: rebalance)
        for variant in source.get("variant_ids", range(int(source["variants"]))):
            seed = sample_seed(params.seed, source["source_id"], variant)
            image, targets, records = run_policy_with_targets(policy, np.random.default_rng(seed), pixels,
                                                              source_targets, rules,
                                                              keep_class if keep_class >= 0 else None)
            image_format = output_format(source["format"], image.mode, params.augment.image_format)
            data = encode_image(image, image_format, params.augment.jpeg_quality)
            sample_id = f"{source['source_id']}-aug{variant:03d}"
            relative = f"{safe_name(source['label'])}/{sample_id}{extension_for(image_format)}"
            write_bytes_atomic(output_dir / relative, data)
            # Object ids carry their variant: never the same as the source's or another variant's.
            objects = tuple(replace(obj, object_id=f"{sample_id}#{obj.object_id}") for obj in targets.objects)
            rows.append({"sample_id": sample_id, "source_id": source["source_id"], "label": source["label"],
                         "ops": json.dumps(records, sort_keys=True), "seed": seed, "variant": variant,
                         "sha256": sha256_bytes(data), "path": relative, "width": image.width,
                         "height": image.height, "mode": image.mode, "format": image_format,
                         "targets": targets_to_json(replace(targets, objects=objects))})
    return rows
