"""Samples <-> fixed-length float vectors, the form the generators, the surrogate and
the gates work on. No torch here (the gates run without it).

Images: greyscale or RGB, resized to side x side, values in [0, 1], channel-major.
Tables: numeric columns standardised with the real train rows' mean and std (a
missing value becomes the mean), category columns one-hot in the train category
order; decoding goes back through the table schema, which clips to the train
range, rounds whole-number columns and restores the dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from PIL import Image


@dataclass(frozen=True)
class Segment:
    """A slice of the vector and how a generator should produce it."""

    kind: str  # "unit" (values in [0, 1]: pixels), "real" (standardised numbers), "onehot" (one category column)
    start: int
    stop: int


@dataclass(frozen=True)
class ImageCodec:
    side: int
    mode: str  # "L" or "RGB"

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    @property
    def width(self) -> int:
        return self.channels * self.side * self.side

    @property
    def segments(self) -> tuple[Segment, ...]:
        return (Segment("unit", 0, self.width),)

    @staticmethod
    def mode_for(modes) -> str:
        """L when every source is greyscale, else RGB (alpha is dropped: generators make opaque images)."""
        return "L" if all(m in ("L", "1", "I", "I;16", "F") for m in modes) else "RGB"

    def encode(self, image: Image.Image) -> np.ndarray:
        image = image.convert(self.mode)
        if image.size != (self.side, self.side):
            image = image.resize((self.side, self.side), Image.Resampling.BOX)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        return (pixels[None] if self.mode == "L" else pixels.transpose(2, 0, 1)).reshape(-1)

    def encode_many(self, images) -> np.ndarray:
        return np.stack([self.encode(image) for image in images]) if images else np.empty((0, self.width), np.float32)

    def decode(self, vector: np.ndarray) -> Image.Image:
        pixels = np.clip(np.rint(np.asarray(vector, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
        pixels = pixels.reshape(self.channels, self.side, self.side)
        return Image.fromarray(pixels[0], "L") if self.mode == "L" else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")


@dataclass(frozen=True)
class TableCodec:
    """Built from a TableSchema (tasks/modalities/tabular/schema.py) and the real train rows."""

    schema: object
    mean: np.ndarray
    std: np.ndarray
    category_sizes: tuple[int, ...] = field(default=())

    @classmethod
    def fit(cls, schema, train: pd.DataFrame) -> TableCodec:
        numbers = schema.numeric_matrix(train)
        mean = np.nan_to_num(np.nanmean(numbers, axis=0)) if numbers.shape[1] else np.empty(0)
        std = np.nan_to_num(np.nanstd(numbers, axis=0)) if numbers.shape[1] else np.empty(0)
        std = np.where(std > 0, std, 1.0)  # a constant column stays constant
        return cls(schema, mean, std, tuple(len(spec.categories) for spec in schema.categorical))

    @classmethod
    def from_numeric_frame(cls, frame: pd.DataFrame) -> TableCodec:
        """The plain API: every column of ``frame`` is a feature (numbers, or text/bool categories)."""
        from augmill.tasks.modalities.tabular.schema import TableSchema

        return cls.fit(TableSchema.infer(frame, list(frame.columns)), frame)

    @property
    def width(self) -> int:
        return len(self.mean) + sum(self.category_sizes)

    @property
    def segments(self) -> tuple[Segment, ...]:
        parts = [Segment("real", 0, len(self.mean))] if len(self.mean) else []
        start = len(self.mean)
        for size in self.category_sizes:
            parts.append(Segment("onehot", start, start + size))
            start += size
        return tuple(parts)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        numbers = self.schema.numeric_matrix(frame)
        numbers = (np.where(np.isnan(numbers), self.mean, numbers) - self.mean) / self.std
        codes = self.schema.category_codes(frame)
        # A missing or unseen category is all zeros: no category is claimed for it.
        one_hot = [(codes[:, j][:, None] == np.arange(size)[None, :]).astype(float)
                   for j, size in enumerate(self.category_sizes)]
        return np.hstack([numbers, *one_hot]).astype(np.float32) if one_hot else numbers.astype(np.float32)

    def decode(self, vectors: np.ndarray, rngs: list[np.random.Generator] | None = None) -> pd.DataFrame:
        """Rows in the table's own types. One-hot segments hold probabilities; a category is
        drawn from them with the row's own generator when given, else the most likely one."""
        vectors = np.asarray(vectors, dtype=np.float64)
        numbers = vectors[:, : len(self.mean)] * self.std + self.mean
        codes = np.zeros((len(vectors), len(self.category_sizes)), dtype=np.int64)
        start = len(self.mean)
        for j, size in enumerate(self.category_sizes):
            block = vectors[:, start:start + size]
            for i, probabilities in enumerate(block):
                p = np.clip(probabilities, 0, None)
                if rngs is not None and p.sum() > 0:
                    codes[i, j] = int(rngs[i].choice(size, p=p / p.sum()))
                else:
                    codes[i, j] = int(np.argmax(probabilities))
            start += size
        return self.schema.assemble(numbers, codes)
