"""Variants of annotated images: the augment policy run on each image and its targets with the
same recorded params, and the per-object table that carries lineage down to the object.

Pure apart from writing the variant images. The augment stage makes its variants with
``image_annotated.augment_shard`` (the image modality's shard contract, its file naming and
formats); ``augment_annotated`` is the same policy run for a list of images, and ``object_table``
is what merge writes as data/final/objects.parquet.
Seeds come from ``sample_seed(seed, sample_id, variant)`` as for image-only variants, so the
pixels of a variant are the very bytes the image-only pipeline would make.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from augmill.tasks.imaging import encode_image
from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.modalities.image.annotations import AnnotatedImage
from augmill.tasks.modalities.image.ops_targets import TargetRules, run_policy_with_targets
from augmill.tasks.ops.policy import build_policy
from augmill.tasks.seeding import sample_seed

OBJECT_COLUMNS = ["object_id", "sample_id", "source_object_id", "category", "class_name", "x0", "y0", "x1", "y1",
                  "area", "visibility", "origin"]


def augment_annotated(images: list[AnnotatedImage], policy_entries: list[dict], seed: int, variants: int,
                      rules: TargetRules, output_dir: Path) -> tuple[list[AnnotatedImage], list[dict]]:
    """``variants`` variants of every image, written as PNG under ``output_dir`` beside their source's
    relative place; returns them annotated, and one lineage row each (ops with their drops)."""
    policy = build_policy(policy_entries, "image")
    made, lineage = [], []
    for source in images:
        with Image.open(source.path) as opened:
            pixels = opened.convert("RGB") if opened.mode not in ("L", "RGB", "RGBA") else opened.copy()
        stem = Path(source.sample_id)
        for variant in range(variants):
            sample_seed_value = sample_seed(seed, source.sample_id, variant)
            image, targets, records = run_policy_with_targets(policy, np.random.default_rng(sample_seed_value),
                                                              pixels, source.targets, rules)
            sample_id = (stem.parent / f"{stem.stem}-aug{variant:03d}.png").as_posix()
            path = Path(output_dir) / sample_id
            write_bytes_atomic(path, encode_image(image, "PNG"))
            # Object ids carry their variant: they never collide with the source's or another variant's.
            objects = tuple(replace(obj, object_id=f"{sample_id}#{obj.object_id}") for obj in targets.objects)
            made.append(AnnotatedImage(sample_id, source.split, str(path), replace(targets, objects=objects)))
            lineage.append({"sample_id": sample_id, "source_id": source.sample_id, "seed": sample_seed_value,
                            "variant": variant, "ops": json.dumps(records, sort_keys=True)})
    return made, lineage


def object_table(images: list[AnnotatedImage], categories: dict[int, str], origin: str) -> pd.DataFrame:
    """One row per object: its box, area, class, visibility and the source object it came from."""
    rows = []
    for image in images:
        for obj in image.targets.objects:
            source_object = obj.object_id.split("#", 1)[1] if "#" in obj.object_id else obj.object_id
            x0, y0, x1, y1 = obj.box
            area = float(np.count_nonzero(obj.mask)) if obj.mask is not None else (x1 - x0) * (y1 - y0)
            rows.append({"object_id": obj.object_id, "sample_id": image.sample_id, "source_object_id": source_object,
                         "category": obj.category, "class_name": categories.get(obj.category, ""), "x0": x0,
                         "y0": y0, "x1": x1, "y1": y1, "area": area, "visibility": obj.visibility, "origin": origin})
    return pd.DataFrame(rows, columns=OBJECT_COLUMNS)
