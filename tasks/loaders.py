"""Read a dataset version from a training script: a PyTorch-style dataset, a Hugging Face
``datasets`` table, filters by split and origin, any git revision, and the same augment
policy applied on the fly.

    from augmill.tasks.loaders import VersionDataset, hf_dataset, read_manifest, PolicyTransform

Nothing here imports Prefect, DVC or Great Expectations: a training job pays only for what
it uses (``dvc.api`` is imported when a ``rev`` is asked for; ``datasets`` by hf_dataset;
torch never: ``VersionDataset`` is a plain map-style dataset that ``torch.utils.data.DataLoader``
takes as it is, and turning items into tensors is the caller's transform's job).

Items by modality: an image is a ``PIL.Image`` (EXIF orientation applied, L/RGB/RGBA, as
the pipeline saw it); audio a float32 array (frames, channels) at ``sample_rate`` (resampled
on read when the version mixes rates); text a ``str``; a table row a dict of its features.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FINAL = "data/final"
SPLITS = ("train", "val", "test")
ORIGINS = ("original", "augmented", "synthetic")
# Lineage kept beside every item, so a training run can say where each sample came from.
# soft_label: a MixUp/CutMix row's JSON {label: weight} (null otherwise); see soft_target.
LINEAGE = ("sample_id", "source_id", "split", "origin", "ops", "seed", "sha256", "soft_label")


class LoaderError(ValueError):
    """A bad argument or an unreadable version; the message names it."""


def _chosen(values: str | Iterable[str] | None, allowed: tuple[str, ...], what: str) -> set[str] | None:
    if values is None:
        return None
    chosen = {values} if isinstance(values, str) else set(values)
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise LoaderError(f"{what}: {unknown} is not one of {list(allowed)}")
    return chosen


def _read(root: Path, relative: str, rev: str | None) -> bytes:
    if rev is None:
        return (root / relative).read_bytes()
    import dvc.api  # only for another revision: DVC resolves the file from its cache or remote

    try:
        return dvc.api.read(relative, repo=str(root), rev=rev, mode="rb")
    except Exception as error:  # noqa: BLE001 - DVC raises many kinds; the user needs the file and revision
        raise LoaderError(f"{relative} at revision {rev!r}: {error}") from None


def read_manifest(root: str | Path = ".", *, rev: str | None = None, split: str | Iterable[str] | None = None,
                  origin: str | Iterable[str] | None = None) -> pd.DataFrame:
    """The final manifest of the version in ``root`` (at git revision ``rev``), filtered."""
    root = Path(root)
    splits, origins = _chosen(split, SPLITS, "split"), _chosen(origin, ORIGINS, "origin")
    try:
        frame = pd.read_parquet(io.BytesIO(_read(root, f"{FINAL}/manifest.parquet", rev)))
    except FileNotFoundError:
        raise LoaderError(f"{root / FINAL / 'manifest.parquet'} does not exist: run `augmill run` or "
                          "`dvc repro` first, or `dvc checkout` the version") from None
    if splits is not None:
        frame = frame[frame["split"].isin(splits)]
    if origins is not None:
        frame = frame[frame["origin"].isin(origins)]
    return frame.reset_index(drop=True)


def modality_of(frame: pd.DataFrame) -> str:
    """Which modality a final manifest holds, from the columns each one writes."""
    if "text" in frame:
        return "text"
    if "sample_rate" in frame:
        return "audio"
    if "width" in frame and "path" in frame:
        return "image"
    return "tabular"


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """A table's own feature columns: everything but the lineage and bookkeeping columns."""
    bookkeeping = {*LINEAGE, "label", "variant", "mix_source_id", "status", "reason"}
    return [column for column in frame.columns if column not in bookkeeping]


def decode(frame_row: dict, data: bytes | None, modality: str, sample_rate: int | None = None) -> Any:
    """One item from its row (and file bytes for images and audio)."""
    if modality == "image":
        from PIL import Image, ImageOps

        from augmill.tasks.imaging import normalise_mode

        with Image.open(io.BytesIO(data)) as handle:
            handle.load()
            return normalise_mode(ImageOps.exif_transpose(handle), frame_row.get("path", ""))  # as augment read it
    if modality == "audio":
        import soundfile

        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        if sample_rate is not None and rate != sample_rate:
            from augmill.tasks.modalities.audio.signal import resample_rate

            samples = resample_rate(samples, rate, sample_rate).astype(np.float32)
        return samples
    if modality == "text":
        return frame_row["text"]
    return {column: frame_row[column] for column in frame_row["__features__"]}


@dataclass
class VersionDataset:
    """A map-style dataset over one dataset version: ``dataset[i]`` is a dict with ``item``,
    ``label`` (the class name), ``target`` (its index in ``classes``, sorted over every split
    so train and test agree) and the lineage columns. ``transform`` receives the item, or, if
    it is a PolicyTransform, the item, its sample id and the current ``epoch``
    (``set_epoch``), so every (sample, epoch) draw is seeded and can be replayed."""

    root: str | Path = "."
    split: str | Iterable[str] | None = "train"
    origin: str | Iterable[str] | None = None
    rev: str | None = None
    transform: Callable | None = None
    sample_rate: int | None = None
    epoch: int = 0
    frame: pd.DataFrame = field(init=False, repr=False)
    classes: list[str] = field(init=False)
    modality: str = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        everything = read_manifest(self.root, rev=self.rev)
        self.classes = sorted(everything["label"].astype(str).unique())
        self.frame = read_manifest(self.root, rev=self.rev, split=self.split, origin=self.origin)
        self.modality = modality_of(everything)
        if self.modality == "audio" and self.sample_rate is None:
            rates = sorted(everything["sample_rate"].dropna().unique())
            self.sample_rate = int(rates[0]) if len(rates) == 1 else int(max(rates))
        self._features = feature_columns(everything) if self.modality == "tabular" else []

    def __len__(self) -> int:
        return len(self.frame)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        row = self.frame.iloc[index].to_dict()
        data = _read(self.root, f"{FINAL}/{row['path']}", self.rev) if self.modality in ("image", "audio") else None
        item = decode(row | {"__features__": self._features}, data, self.modality, self.sample_rate)
        if isinstance(self.transform, PolicyTransform):
            item = self.transform(item, row["sample_id"], self.epoch)
        elif self.transform is not None:
            item = self.transform(item)
        label = str(row["label"])
        return {"item": item, "label": label, "target": self.classes.index(label),
                "soft_target": soft_target(row.get("soft_label"), label, self.classes),
                **{key: row.get(key) for key in LINEAGE},
                "soft_label": row.get("soft_label") if isinstance(row.get("soft_label"), str) else None}


def soft_target(soft_label: str | None, label: str, classes: list[str]) -> list[float]:
    """The class probabilities a loss takes: the row's soft label (a MixUp/CutMix row: both
    sources' labels by their weights), else one-hot on its label."""
    weights = json.loads(soft_label) if isinstance(soft_label, str) and soft_label else {label: 1.0}
    return [float(weights.get(name, 0.0)) for name in classes]


def hf_dataset(root: str | Path = ".", *, rev: str | None = None, split: str | Iterable[str] | None = None,
               origin: str | Iterable[str] | None = None, sample_rate: int | None = None):
    """A Hugging Face ``DatasetDict`` by split (a ``Dataset`` when ``split`` is one name), with typed
    features: ``Image`` for images, ``ClassLabel`` for labels, and the lineage columns. Audio is an
    ``array`` (channels x frames, float32) and ``sampling_rate``: datasets' own ``Audio`` feature
    needs torchcodec to encode or decode, which augmill does not install."""
    import datasets

    splits = [split] if isinstance(split, str) else list(split) if split is not None else list(SPLITS)
    base = VersionDataset(root, split=splits, origin=origin, rev=rev, sample_rate=sample_rate)
    label = datasets.ClassLabel(names=base.classes)
    lineage = {"sample_id": datasets.Value("string"), "source_id": datasets.Value("string"),
               "split": datasets.Value("string"), "origin": datasets.Value("string"),
               "ops": datasets.Value("string"), "seed": datasets.Value("int64"), "sha256": datasets.Value("string"),
               "soft_label": datasets.Value("string")}
    tables = {}
    for name in splits:
        rows = base.frame[base.frame["split"] == name]
        columns: dict[str, list] = {key: [] for key in lineage} | {"label": []}
        if base.modality == "image":
            columns["image"] = [{"bytes": _read(base.root, f"{FINAL}/{path}", rev), "path": Path(path).name}
                                for path in rows["path"]]
            features = {"image": datasets.Image()}
        elif base.modality == "audio":
            columns["array"] = [base[i]["item"].T.tolist() for i in rows.index]
            columns["sampling_rate"] = [base.sample_rate] * len(rows)
            features = {"array": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
                        "sampling_rate": datasets.Value("int32")}
        elif base.modality == "text":
            columns["text"] = rows["text"].astype(str).tolist()
            features = {"text": datasets.Value("string")}
        else:
            for column in base._features:
                columns[column] = rows[column].tolist()
            features = {column: None for column in base._features}  # typed by datasets from the values
        for key in lineage:
            values = rows[key] if key in rows else pd.Series([None] * len(rows))
            columns[key] = [None if pd.isna(v) else (int(v) if key == "seed" else str(v)) for v in values]
        columns["label"] = [base.classes.index(str(v)) for v in rows["label"]]
        typed = {k: v for k, v in (features | lineage | {"label": label}).items() if v is not None}
        table = datasets.Dataset.from_dict(columns)
        tables[name] = table.cast(datasets.Features({**table.features, **typed}))
    result = datasets.DatasetDict(tables)
    return result[split] if isinstance(split, str) else result


@dataclass
class PolicyTransform:
    """The augment policy as a transform at training time. ``transform(item, sample_id, epoch)``
    draws with the generator of ``sample_seed(seed, sample_id, epoch)``: exactly the draw the
    augment stage makes for variant ``epoch`` of that source, so epoch e of a sample is byte for
    byte the offline variant e (same item, same encoding). ``at_seed`` draws with a given seed
    (a manifest row's ``seed``). With ``record=True`` a call returns ``(item, ops)``."""

    policy: list[dict[str, Any]] | dict[str, Any]
    modality: str = "image"
    seed: int = 0
    record: bool = False
    epoch: int = 0

    def __post_init__(self) -> None:
        from augmill.tasks.ops.policy import build_policy

        self._ops = build_policy(self.policy, self.modality)
        mixers = [op.name for op in self._ops if getattr(op, "is_mixer", False)]
        if mixers:  # a transform sees one item; a mix needs two (tasks.ops.mixing)
            raise LoaderError(f"PolicyTransform: {mixers} mix two train sources and cannot run on one item; "
                              "drop them from this policy and mix in your batch collate function")

    @classmethod
    def from_params(cls, path: str | Path = "params.yaml", **options: Any) -> PolicyTransform:
        """The policy, modality and seed of a project's params.yaml."""
        import yaml

        from augmill.tasks.params_load import parse_params

        params = parse_params(yaml.safe_load(Path(path).read_text()), str(path))
        policy = params.augment.policy
        if policy == "auto":  # the augment stage's recorded choice, in the same project
            from augmill.tasks import paths
            from augmill.tasks.io import read_json

            record = Path(path).parent / paths.POLICY_CHOICE
            if not record.is_file():
                raise LoaderError(f"{path}: augment.policy is auto and {record}, the augment stage's choice, is missing; "
                                  "run the pipeline first")
            policy = read_json(record)["policy"]
            if not policy:
                raise LoaderError(f"{record}: augment.policy: auto chose no augmentation for this version; "
                                  "there is no policy to apply")
        return cls(policy, params.data.modality, params.seed, **options)

    def at_seed(self, item: Any, seed: int) -> Any:
        from augmill.tasks.ops.policy import run_policy

        out, records = run_policy(self._ops, np.random.default_rng(seed), item)
        return (out, records) if self.record else out

    def __call__(self, item: Any, sample_id: str, epoch: int | None = None) -> Any:
        from augmill.tasks.seeding import sample_seed

        return self.at_seed(item, sample_seed(self.seed, sample_id, self.epoch if epoch is None else epoch))

    def for_hf(self, column: str = "image") -> Callable[[dict], dict]:
        """A function for ``datasets.Dataset.set_transform``: augments ``column`` of each batch,
        drawing per sample id at ``self.epoch`` (set it each epoch); ops go to ``ops_drawn``."""
        def transform(batch: dict) -> dict:
            drawn = [self(item, sid) for item, sid in zip(batch[column], batch["sample_id"], strict=True)]
            if self.record:
                batch["ops_drawn"] = [json.dumps(ops, sort_keys=True) for _, ops in drawn]
                drawn = [item for item, _ in drawn]
            batch[column] = drawn
            return batch

        return transform
