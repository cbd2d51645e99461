"""The real samples the synthesize stage learns from and validate's gates compare with,
as feature vectors (encoding.py). Images are read from data.raw_dir; table rows carry
their values in the raw manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.generative.encoding import ImageCodec, TableCodec
from augmill.tasks.io import read_json, read_parquet
from augmill.tasks.params import Params

SUPPORTED_MODALITIES = ("image", "tabular")


class UnsupportedModality(ValueError):
    """synthesize is enabled for a modality it has no generator for."""


def check_modality(params: Params) -> None:
    modality = params.data.modality
    if modality not in SUPPORTED_MODALITIES:
        raise UnsupportedModality(f"synthesize.enabled: the {modality} modality has no generators (supported: "
                                  f"{list(SUPPORTED_MODALITIES)}); set synthesize.enabled: false")
    image_only = [key for key, share in (("synthesize.adversarial.share", params.synthesize.adversarial.share),
                                         ("synthesize.style.share", params.synthesize.style.share)) if share > 0]
    if modality != "image" and image_only:
        raise UnsupportedModality(f"{image_only[0]}: adversarial examples and style transfer are for images; "
                                  f"set it to 0 for the {modality} modality")


@dataclass
class RealData:
    raw: pd.DataFrame  # the whole raw manifest
    train: pd.DataFrame  # readable train rows not held out as leaks, sorted by sample_id
    codec: ImageCodec | TableCodec
    classes: list[str]  # sorted train labels: a class's index in a model is its position here

    def class_index(self, labels) -> np.ndarray:
        lookup = {label: i for i, label in enumerate(self.classes)}
        return np.array([lookup[label] for label in labels], dtype=np.int64)


def read_real(params: Params) -> RealData:
    raw = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    excluded = {entry["sample_id"] for entry in read_json(paths.PLAN)["excluded"]}
    ok = raw[raw["status"] == "ok"]
    train = ok[(ok["split"] == "train") & ~ok["sample_id"].isin(excluded)].sort_values("sample_id").reset_index(drop=True)
    if train.empty:
        raise ValueError("synthesize: the train split has no usable samples; check reports/explore.json")
    if params.data.modality == "image":
        codec = ImageCodec(params.synthesize.image_side, ImageCodec.mode_for(train["mode"]))
    else:
        from augmill.tasks.modalities.tabular.rows import schema_of

        codec = TableCodec.fit(schema_of(train, params), train)
    return RealData(raw, train, codec, sorted(train["label"].astype(str).unique().tolist()))


def encode_rows(frame: pd.DataFrame, codec, params: Params, root: Path | None = None) -> np.ndarray:
    """Feature vectors of manifest rows: image files under ``root`` (default data.raw_dir), or the rows' values."""
    if isinstance(codec, TableCodec):
        return codec.encode(frame) if len(frame) else np.empty((0, codec.width), np.float32)
    from augmill.tasks.imaging import load_image

    root = Path(params.data.raw_dir) if root is None else root
    return codec.encode_many([load_image(root / p, params.data.max_image_pixels).image for p in frame["path"]])
