"""Images with targets (``data.targets``: coco | yolo) through the image modality's stages: the
annotation files read into the raw manifest (one row per image, its objects as JSON in the
``targets`` column), variants made with their targets, and data/final written in the input's
format. The image modality (``image.py``) calls this module when ``data.targets`` is set: an
annotated image is an image with more to carry, not another modality.

Layouts read (and written to data/final, so the user's training code reads it unchanged):
  coco  images/ (any tree) and annotations/*.json whose ``file_name`` is relative to images/;
        the split is the file name's (instances_train2017.json: train), else the image's top
        folder (train/x.png), else drawn like an unsplit image folder (data.split).
        Out: images/<split>/<sample_id>.<ext>, annotations/instances_<split>.json.
  yolo  images/<split>/, labels/<split>/, data.yaml (Ultralytics). Out: the same.

An image's ``label`` (what the classification stages stratify and count by) is the rarest
class among its objects, counted over the whole set, or ``background`` when it has none.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from tasks import paths
from tasks.cache import Memo
from tasks.imaging import encode_image, extension_for, load_image, output_format
from tasks.ingest import _SPLIT_ALIASES, assign_splits, read_samples
from tasks.io import copy_file_reusing, safe_name, sha256_bytes, write_bytes_atomic, write_parquet
from tasks.modalities.image_annotations import (
    AnnotatedImage,
    AnnotatedSet,
    AnnotationFileError,
    Problem,
    rle_decode,
    rle_from_string,
)
from tasks.modalities.image_coco import annotation_ids, coco_annotation, read_coco, write_coco
from tasks.modalities.image_object_balance import object_balance_plan
from tasks.modalities.image_object_profile import object_profile
from tasks.modalities.image_target_checks import BOX_SHAPE_TOLERANCE, image_measurements, object_measurements
from tasks.modalities.image_targets import object_table
from tasks.modalities.image_voc import read_voc, voc_class_names, voc_splits, write_voc
from tasks.modalities.image_yolo import read_yolo, write_yolo
from tasks.ops.policy import build_policy, sample_seed
from tasks.ops.targets import TargetObject, TargetRules, Targets, run_policy_with_targets
from tasks.params import Params

BACKGROUND = "background"  # the label of an image without objects
# Where data/final keeps the images, per layout (the annotation files name them relative to IMAGE_ROOTS).
IMAGE_FOLDERS = {"coco": "images/{split}", "yolo": "images/{split}", "voc": "JPEGImages"}
IMAGE_ROOTS = {"coco": "images", "yolo": "images", "voc": "JPEGImages"}


def image_key(final_path: str, layout: str) -> str:
    """A data/final image's path relative to its layout's image root (how its annotations name it)."""
    return final_path.removeprefix(IMAGE_ROOTS[layout] + "/")
OBJECTS_FILE = "objects.parquet"  # data/final's per-object table, beside manifest.parquet


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
        return _read_voc_tree(root)
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


def _read_voc_tree(root: Path) -> AnnotatedSet:
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
    from tasks.progress import progress_bar

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
    from tasks.io import read_json

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
    very bytes of the image-only run; each op's record lists the objects it dropped."""
    policy = build_policy(params.augment.policy, "image")
    raw_dir, rules = Path(params.data.raw_dir), rules_of(params)
    rows = []
    for source in shard.sources:
        pixels = load_image(raw_dir / source["path"], params.data.max_image_pixels).image
        source_targets = targets_from_json(source["targets"])
        for variant in source.get("variant_ids", range(int(source["variants"]))):
            seed = sample_seed(params.seed, source["source_id"], variant)
            image, targets, records = run_policy_with_targets(policy, np.random.default_rng(seed), pixels,
                                                              source_targets, rules)
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


# ---- merge ---------------------------------------------------------------------------------

def finalize(originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
    """data/final/images/<split>/<sample_id>.<ext> and the annotations in the input's format
    (COCO: annotations/instances_<split>.json; YOLO: labels/<split>/ and data.yaml), plus the
    per-object table objects.parquet. Annotation ids are unique over every split and variant."""
    from tasks.modalities.image import _suffix

    categories = categories_of(params)
    layout = params.data.targets
    folder = IMAGE_FOLDERS[layout]
    originals = originals.assign(final_path=[f"{folder.format(split=s)}/{i}{_suffix(p)}" for s, i, p in
                                             originals[["split", "sample_id", "path"]].itertuples(index=False)])
    accepted = accepted.assign(split="train", final_path=[f"{folder.format(split='train')}/{i}{_suffix(p)}"
                                                          for i, p in accepted[["sample_id", "path"]].itertuples(index=False)])
    key = partial(image_key, layout=layout)
    raw_dir = Path(params.data.raw_dir)
    read = {}  # final sample id -> (split, targets as read), originals then variants
    for origin, frame in ((lambda p: raw_dir / p, originals), (lambda p: paths.AUGMENTED_DIR / p, accepted)):
        for row in frame[["path", "final_path", "split", "targets"]].itertuples(index=False):
            copy_file_reusing(origin(row.path), paths.FINAL / row.final_path, paths.FINAL_PREVIOUS / row.final_path)
            read[key(row.final_path)] = (row.split, targets_from_json(row.targets))
    source_ids = [o.object_id for sid in originals["final_path"].map(key) for o in read[sid][1].objects]
    # The input's own ids stay (COCO keeps its annotation ids) unless they repeat across files or images.
    keep_ids = len(set(source_ids)) == len(source_ids)
    final_of = dict(zip(originals["sample_id"], originals["final_path"].map(key), strict=True))
    source_of = dict(zip(accepted["final_path"].map(key), accepted["source_id"], strict=True))

    def original_id(sample_id: str, raw: str) -> str:
        return raw if keep_ids else f"{sample_id}#{raw}"

    images, lineage = [], {}
    for sample_id, (split, targets) in read.items():
        objects = []
        for obj in targets.objects:
            if sample_id in source_of:  # a variant's object: "<variant>#<source object>"
                source_sample, raw = final_of[source_of[sample_id]], obj.object_id.split("#", 1)[1]
                object_id, lineage[f"{sample_id}#{raw}"] = f"{sample_id}#{raw}", original_id(source_sample, raw)
            else:
                object_id = lineage[original_id(sample_id, obj.object_id)] = original_id(sample_id, obj.object_id)
            objects.append(replace(obj, object_id=object_id))
        images.append(AnnotatedImage(sample_id, split, str(paths.FINAL / IMAGE_ROOTS[layout] / sample_id),
                                     replace(targets, objects=tuple(objects))))
    write_annotations(images, categories, params.data.targets, paths.FINAL)
    tables = [object_table([image], categories, "augmented" if image.sample_id in source_of else "original")
              for image in images]
    objects = pd.concat(tables, ignore_index=True) if tables else object_table([], categories, "original")
    objects["source_object_id"] = objects["object_id"].map(lineage)
    write_parquet(objects, paths.FINAL / OBJECTS_FILE)
    frame = pd.concat([originals, accepted], ignore_index=True)
    frame["path"] = frame.pop("final_path")
    return frame


def write_annotations(images: list[AnnotatedImage], categories: dict[int, str], layout: str, root: Path) -> None:
    if layout == "yolo":
        write_yolo(images, categories, root)
        return
    if layout == "voc":
        write_voc(images, categories, root)
        return
    ids = annotation_ids(images)  # over every split at once: no id repeats across the files
    for split in sorted({image.split for image in images}):
        write_coco([image for image in images if image.split == split], categories,
                   root / "annotations" / f"instances_{split}.json", ids)


def read_final(root: Path, layout: str) -> AnnotatedSet:
    """data/final read back by the same readers as the input (what a user's training code sees)."""
    if layout == "yolo":
        return read_yolo(root)
    if layout == "voc":
        return _read_voc_tree(root)
    sets = [read_coco(file, root / "images", file.stem.removeprefix("instances_"))
            for file in sorted((root / "annotations").glob("instances_*.json"))]
    return AnnotatedSet("coco", sets[0].categories if sets else {}, [i for s in sets for i in s.images],
                        [p for s in sets for p in s.problems])



# ---- validate ------------------------------------------------------------------------------

OBJECT_SUITE = paths.EXPECTATIONS / "image_objects.json"
COUNT_SUITE = paths.EXPECTATIONS / "image_object_counts.json"
MIN_BOX_AREA = 1e-6  # "positive": any box a drop rule left has at least this


def target_measurements(augmented: pd.DataFrame, sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per object (box inside, area, gap to its shape) and per image (object count against the
    source's minus the recorded drops) of every variant, from the manifests' targets."""
    source_targets = dict(zip(sources["sample_id"], sources["targets"], strict=True))
    object_rows, image_rows = [], []
    for row in augmented[["sample_id", "source_id", "ops", "targets"]].itertuples(index=False):
        variant = AnnotatedImage(row.sample_id, "train", "", targets_from_json(row.targets))
        source = AnnotatedImage(row.source_id, "train", "", targets_from_json(source_targets[row.source_id]))
        object_rows += object_measurements(variant)
        counted = image_measurements(source, variant, json.loads(row.ops))
        image_rows.append(counted | {"object_count_gap": counted["objects"] - counted["objects_expected"]})
    objects = pd.DataFrame(object_rows, columns=["object_id", "sample_id", "category", "box_inside", "box_area",
                                                 "box_shape_gap", "visibility"])
    images = pd.DataFrame(image_rows, columns=["sample_id", "source_id", "objects_expected", "objects",
                                               "mask_classes_in_source", "object_count_gap"])
    return objects, images


def target_checks(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> tuple[dict[str, list[str]], dict]:
    """Both target suites over the variants: the failures by sample id (an object's naming it), and
    a summary for reports/validation.json."""
    from tasks.gx_validation import run_suite

    objects, images = target_measurements(augmented, sources)
    failures: dict[str, list[str]] = {}
    outcomes = []
    sample_of = dict(zip(objects["object_id"], objects["sample_id"], strict=True))
    if len(objects):
        outcome = run_suite(objects, OBJECT_SUITE, id_column="object_id",
                            parameters={"min_box_area": MIN_BOX_AREA, "max_box_shape_gap": BOX_SHAPE_TOLERANCE})
        outcomes.append(outcome)
        for object_id, reasons in outcome.failures.items():
            failures.setdefault(sample_of[object_id], []).extend(f"{r}, object {object_id}" for r in reasons)
    if len(images):
        outcome = run_suite(images, COUNT_SUITE, id_column="sample_id", parameters={})
        outcomes.append(outcome)
        for sample_id, reasons in outcome.failures.items():
            failures.setdefault(sample_id, []).extend(reasons)
    dropped = sum(len(record.get("dropped", [])) for ops in augmented["ops"] for record in json.loads(ops))
    summary = {"objects": len(objects), "images": len(images), "objects_dropped": int(dropped),
               "suites": {o.suite_name: {"success": o.success, "failed_rows": len(o.failures)} for o in outcomes}}
    return {k: sorted(v) for k, v in sorted(failures.items())}, summary


# ---- evaluate ------------------------------------------------------------------------------

CROP_SIDE = 16
PROXY_TASK = ("object classification: each object's box cropped from its image, greyscale, downscaled to 16x16; "
              "rows are objects (train: originals, or originals with their variants' objects; scored on test "
              "objects). It measures whether the variants' boxes still frame their class's pixels; it does not "
              "measure localisation (no detector is trained: no mAP, no missed or extra boxes)")


def evaluation_rows(final: pd.DataFrame, objects: pd.DataFrame, layout: str) -> pd.DataFrame:
    """The evaluate stage's proxy task: one row per object of data/final (label = its class), so the
    classifier learns to tell the classes apart from their boxes' pixels. A variant's object
    follows its source object (``source_id``), as a variant image follows its source image."""
    images = final.assign(image=final["path"].map(partial(image_key, layout=layout)))[["image", "split", "path"]]
    rows = objects.merge(images, left_on="sample_id", right_on="image", how="inner", validate="many_to_one")
    return pd.DataFrame({"sample_id": rows["object_id"], "source_id": rows["source_object_id"],
                         "split": rows["split"], "label": rows["class_name"].astype(str), "origin": rows["origin"],
                         "path": rows["path"], "x0": rows["x0"], "y0": rows["y0"], "x1": rows["x1"], "y1": rows["y1"]})


def crop_features(rows: pd.DataFrame, folder: Path, max_pixels: int) -> np.ndarray:
    """Each row's box (pixels it touches) as 16x16 greyscale in [0, 1]; each image decoded once."""
    from PIL import Image

    values = np.zeros((len(rows), CROP_SIDE * CROP_SIDE), dtype=np.float32)
    for path, group in rows.reset_index(drop=True).groupby("path", sort=True):
        image = load_image(folder / path, max_pixels).image.convert("L")
        for index, row in group.iterrows():
            box = (int(np.floor(row.x0)), int(np.floor(row.y0)), max(int(np.ceil(row.x1)), int(np.floor(row.x0)) + 1),
                   max(int(np.ceil(row.y1)), int(np.floor(row.y0)) + 1))
            crop = image.crop(box).resize((CROP_SIDE, CROP_SIDE), Image.Resampling.BOX)
            values[index] = np.asarray(crop, dtype=np.float32).ravel() / 255.0
    return values
