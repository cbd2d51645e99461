"""What explore will report about annotated images, from the per-object table
(``image_targets.object_table``): objects per class and per image, box size and aspect
distributions, tiny objects, images without objects, and overlapping duplicate annotations
(same class, IoU at or above ``duplicate_iou``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from augmill.tasks.modalities.image.annotations import AnnotatedImage

TINY_AREA = 32 * 32  # COCO's "small": below 32 x 32 pixels


def _quantiles(values: pd.Series) -> dict:
    if values.empty:
        return {}
    return {f"p{q}": round(float(values.quantile(q / 100)), 3) for q in (0, 5, 50, 95, 100)}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N x 4) with every box of ``b`` (M x 4): N x M."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def duplicate_pairs(objects: pd.DataFrame, duplicate_iou: float) -> list[tuple[str, str, float]]:
    """(object_id, object_id, IoU) of same-class boxes of one image overlapping at least ``duplicate_iou``."""
    pairs = []
    for _, group in objects.groupby(["sample_id", "category"], sort=True):
        if len(group) < 2:
            continue
        boxes = group[["x0", "y0", "x1", "y1"]].to_numpy(dtype=float)
        iou = box_iou(boxes, boxes)
        ids = group["object_id"].tolist()
        for i, j in zip(*np.nonzero(np.triu(iou >= duplicate_iou, k=1)), strict=True):
            pairs.append((ids[i], ids[j], round(float(iou[i, j]), 4)))
    return pairs


def object_profile(objects: pd.DataFrame, images: list[AnnotatedImage], duplicate_iou: float = 0.9) -> dict:
    widths, heights = objects["x1"] - objects["x0"], objects["y1"] - objects["y0"]
    per_image = objects.groupby("sample_id").size().reindex([i.sample_id for i in images], fill_value=0)
    return {
        "objects": len(objects),
        "objects_per_class": {str(k): int(v) for k, v in objects["class_name"].value_counts().sort_index().items()},
        "objects_per_image": _quantiles(per_image.astype(float)),
        "images_without_objects": sorted(per_image[per_image == 0].index.tolist()),
        "box_width": _quantiles(widths), "box_height": _quantiles(heights),
        "box_aspect": _quantiles(widths / heights),
        "tiny_objects": int((widths * heights < TINY_AREA).sum()),
        "duplicate_pairs": duplicate_pairs(objects, duplicate_iou),
    }
