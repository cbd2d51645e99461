"""Tiny datasets in every layout `augmill init` reads, as a new user would have them.

Each maker writes into a folder and returns nothing; sizes are the least that gives
every class a few rows in every split (the end-to-end tests run the whole pipeline).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

LABELS = ("circle", "square")


def _shape_image(rng: np.random.Generator, label: str) -> Image.Image:
    y, x = np.mgrid[:24, :24]
    cy, cx = rng.integers(9, 15, 2)
    pixels = np.full((24, 24), 30.0)
    if label == "circle":
        pixels[(y - cy) ** 2 + (x - cx) ** 2 < 30] = 220
    else:
        pixels[cy - 5:cy + 5, cx - 5:cx + 5] = 220
    pixels += rng.normal(0, 12, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def image_folder(root: Path, splits: dict[str, int] | None) -> None:
    """split/label/file.png (splits: {split: images per class}) or, with None, label/file.png."""
    rng = np.random.default_rng(1)
    for split, count in (splits or {"": 14}).items():
        for label in LABELS:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count if label == "circle" else count - 4):  # imbalanced: something to rebalance
                _shape_image(rng, label).save(folder / f"{label}_{index:02d}.png")


def image_manifest(root: Path) -> None:
    """images/*.png named anyhow, and labels.csv path,label (no split)."""
    rng = np.random.default_rng(2)
    (root / "images").mkdir(parents=True)
    rows = []
    for index in range(24):
        label = LABELS[index % 3 == 0]
        name = f"images/img{index:03d}.png"
        _shape_image(rng, label).save(root / name)
        rows.append({"path": name, "label": label})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)


_TOPICS = {
    "sport": ["the team won the match after a late goal", "our striker scored twice in the second half",
              "the coach praised the defence after the game", "fans cheered as the runner crossed the line",
              "the tennis final went to five long sets", "she broke the national record in the pool"],
    "food": ["the soup was rich and full of fresh herbs", "we baked bread with a crisp golden crust",
             "the chef served grilled fish with lemon", "a bowl of ripe berries made a sweet dessert",
             "the curry was spicy and warming on a cold night", "he cooked pasta with garlic and olive oil"],
}


def _texts(copies: int, offset: int) -> list[dict]:
    rows = []
    for label, sentences in _TOPICS.items():
        for index in range(copies if label == "sport" else copies - 2):
            sentence = sentences[(index + offset) % len(sentences)]
            rows.append({"text": f"{sentence} on day {index + offset} of the season", "label": label})
    return rows


def text_pair(root: Path) -> None:
    """train.csv and test.csv, columns text,label."""
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(_texts(10, 0)).to_csv(root / "train.csv", index=False)
    pd.DataFrame(_texts(5, 100)).to_csv(root / "test.csv", index=False)


def text_jsonl(root: Path) -> None:
    """One reviews.jsonl with an id, a text and a sentiment; no split."""
    root.mkdir(parents=True, exist_ok=True)
    rows = _texts(14, 0)
    with (root / "reviews.jsonl").open("w", encoding="utf-8") as handle:
        for index, row in enumerate(rows):
            handle.write(json.dumps({"review_id": index, "body": row["text"], "sentiment": row["label"]}) + "\n")


def table_with_categoricals(root: Path) -> None:
    """customers.csv: numeric and categorical features, a 'target' label, no split."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    rows = []
    for index in range(60):
        churned = index % 3 == 0
        rows.append({"age": int(rng.integers(20, 70)), "spend": round(float(rng.normal(80 if churned else 120, 15)), 2),
                     "plan": ["basic", "plus", "pro"][int(rng.integers(0, 3)) if not churned else 0],
                     "region": ["north", "south"][index % 2], "target": "churn" if churned else "stay"})
    pd.DataFrame(rows).to_csv(root / "customers.csv", index=False)


def audio_folder(root: Path) -> None:
    """label/file.wav: low and high tones of a few lengths and levels."""
    import soundfile

    rate = 16000
    for label, base in (("low", 220.0), ("high", 880.0)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(12 if label == "low" else 9):
            seconds = 0.3 + 0.05 * (index % 4)
            t = np.arange(int(rate * seconds)) / rate
            tone = (0.2 + 0.05 * (index % 3)) * np.sin(2 * np.pi * base * (1 + 0.02 * index) * t)
            soundfile.write(folder / f"{label}_{index:02d}.wav", tone.astype(np.float32), rate, subtype="PCM_16")
