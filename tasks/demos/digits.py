"""The image demo: scikit-learn's bundled handwritten digits (no download),
written as a real ImageFolder tree ``split/label/file.png`` with a train split
made imbalanced on purpose, so the bias check has something to find."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from augmill.tasks.imaging import encode_image
from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.params import Params
from augmill.tasks.seeding import generator


def digits_images(image_size: int) -> tuple[list[Image.Image], np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 8x8 pixels of 0..16 ink; scaled to 8 bits and enlarged smoothly so that
    # rotations and crops act on something a person can look at.
    images = [
        Image.fromarray(np.round(pixels * (255.0 / 16.0)).astype(np.uint8), "L").resize(
            (image_size, image_size), Image.Resampling.BICUBIC
        )
        for pixels in digits.images
    ]
    return images, digits.target


def plan_demo_splits(labels: np.ndarray, params: Params) -> dict[int, str | None]:
    """Index -> split (None: left out of the demo to make train imbalanced)."""
    rng = generator(params.seed, "digits_demo")
    prepare = params.prepare
    classes = sorted(set(int(v) for v in labels))
    decided: dict[int, str | None] = {}
    for rank, label in enumerate(classes):
        indices = rng.permutation(np.flatnonzero(labels == label))[: prepare.max_per_class]
        n_test = round(len(indices) * prepare.test_fraction)
        n_val = round(len(indices) * prepare.val_fraction)
        train = indices[n_test + n_val:]
        # Linear ramp: the first class keeps its whole train share, the last keeps `imbalance` of it.
        keep_fraction = 1.0 - (1.0 - prepare.imbalance) * rank / max(len(classes) - 1, 1)
        n_train = max(2, round(len(train) * keep_fraction))
        decided.update({int(i): "test" for i in indices[:n_test]})
        decided.update({int(i): "val" for i in indices[n_test:n_test + n_val]})
        decided.update({int(i): "train" for i in train[:n_train]})
        decided.update({int(i): None for i in train[n_train:]})
    return decided  # indices beyond max_per_class are absent: left out too


NAME = "digits"
MODALITY = "image"


def write(params: Params, staging: Path) -> int:
    """Write the demo into the (empty) folder ``staging``; return the number of files."""
    written = 0
    images, labels = digits_images(params.prepare.image_size)
    splits = plan_demo_splits(np.asarray(labels), params)
    for index, image in enumerate(images):
        split = splits.get(index)
        if split is None:
            continue
        write_bytes_atomic(staging / split / str(labels[index]) / f"digit_{index:04d}.png", encode_image(image, "PNG"))
        written += 1
    return written
