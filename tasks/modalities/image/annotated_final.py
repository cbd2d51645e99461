"""data/final for images with targets (data.targets): merge writes the images and their
annotations in the input's format with the per-object table, and evaluate's proxy task (an
object-crop classifier) reads them back. See image_annotated for the layouts."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.imaging import image_suffix, load_image
from augmill.tasks.io import copy_file_reusing, write_parquet
from augmill.tasks.modalities.image.annotated import (
    categories_of,
    read_annotations,
    read_voc_tree,
    targets_from_json,
)
from augmill.tasks.modalities.image.annotations import AnnotatedImage, AnnotatedSet
from augmill.tasks.modalities.image.coco import annotation_ids, read_coco, write_coco
from augmill.tasks.modalities.image.masks import write_masks
from augmill.tasks.modalities.image.targets import object_table
from augmill.tasks.modalities.image.voc import write_voc
from augmill.tasks.modalities.image.yolo import read_yolo, write_yolo
from augmill.tasks.params import Params

# Where data/final keeps the images, per layout (the annotation files name them relative to IMAGE_ROOTS).
IMAGE_FOLDERS = {"coco": "images/{split}", "yolo": "images/{split}", "voc": "JPEGImages", "masks": "images/{split}"}
IMAGE_ROOTS = {"coco": "images", "yolo": "images", "voc": "JPEGImages", "masks": "images"}
OBJECTS_FILE = "objects.parquet"  # data/final's per-object table, beside manifest.parquet


def image_key(final_path: str, layout: str) -> str:
    """A data/final image's path relative to its layout's image root (how its annotations name it)."""
    return final_path.removeprefix(IMAGE_ROOTS[layout] + "/")


# ---- merge ---------------------------------------------------------------------------------

def finalize(originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
    """data/final/images/<split>/<sample_id>.<ext> (VOC: JPEGImages/) and the annotations in the input's
    format (COCO: annotations/instances_<split>.json; YOLO: labels/<split>/ and data.yaml; VOC:
    Annotations/ and ImageSets/Main/; masks: masks/<split>/<sample_id>.png and classes.txt), plus the
    per-object table objects.parquet. Annotation ids are unique over every split and variant. The
    table's object_id and source_object_id are COCO's integer annotation ids where the input was
    COCO; YOLO, VOC and masks have no object ids, so theirs are strings: an original's "<stem>:<index>"
    (masks "<stem>:<class id>"; "<image>#" before it where stems repeat), a variant's
    "<variant image>#<source object>"."""

    categories = categories_of(params)
    layout = params.data.targets
    folder = IMAGE_FOLDERS[layout]
    originals = originals.assign(final_path=[f"{folder.format(split=s)}/{i}{image_suffix(p)}" for s, i, p in
                                             originals[["split", "sample_id", "path"]].itertuples(index=False)])
    accepted = accepted.assign(split="train", final_path=[f"{folder.format(split='train')}/{i}{image_suffix(p)}"
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
    ids = annotation_ids(images) if layout == "coco" else None  # over every split at once: no id repeats
    write_annotations(images, categories, params.data.targets, paths.FINAL, ids)
    tables = [object_table([image], categories, "augmented" if image.sample_id in source_of else "original")
              for image in images]
    objects = pd.concat(tables, ignore_index=True) if tables else object_table([], categories, "original")
    objects["source_object_id"] = objects["object_id"].map(lineage)
    if ids is not None:  # COCO: the annotation ids of the files written (int64), so the table joins them
        for column in ("object_id", "source_object_id"):
            objects[column] = objects[column].map(ids).astype("int64")
    write_parquet(objects, paths.FINAL / OBJECTS_FILE)
    frame = pd.concat([originals, accepted], ignore_index=True)
    frame["path"] = frame.pop("final_path")
    return frame


def write_annotations(images: list[AnnotatedImage], categories: dict[int, str], layout: str, root: Path,
                      ids: dict[str, int] | None = None) -> None:
    if layout == "yolo":
        write_yolo(images, categories, root)
        return
    if layout == "voc":
        write_voc(images, categories, root)
        return
    if layout == "masks":
        write_masks(images, categories, root, root / IMAGE_ROOTS[layout])
        return
    ids = annotation_ids(images) if ids is None else ids  # over every split at once: no id repeats across files
    for split in sorted({image.split for image in images}):
        write_coco([image for image in images if image.split == split], categories,
                   root / "annotations" / f"instances_{split}.json", ids)


def read_final(root: Path, layout: str) -> AnnotatedSet:
    """data/final read back by the same readers as the input (what a user's training code sees)."""
    if layout == "yolo":
        return read_yolo(root)
    if layout == "voc":
        return read_voc_tree(root)
    if layout == "masks":
        return read_annotations(root, layout)
    sets = [read_coco(file, root / "images", file.stem.removeprefix("instances_"))
            for file in sorted((root / "annotations").glob("instances_*.json"))]
    return AnnotatedSet("coco", sets[0].categories if sets else {}, [i for s in sets for i in s.images],
                        [p for s in sets for p in s.problems])


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
    return pd.DataFrame({"sample_id": rows["object_id"].astype(str), "source_id": rows["source_object_id"].astype(str),
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
