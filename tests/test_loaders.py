"""Loaders and exports over a real dataset version (a small demo built by `dvc repro` in a
temporary git + DVC repo): the PyTorch-style dataset, the Hugging Face DatasetDict, filters,
an older git revision through dvc.api, the policy on the fly (byte-identical to the offline
stage), every export format read back by its own ecosystem's reader, and the examples."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from augmill.tasks.export import export
from augmill.tasks.imaging import encode_image
from augmill.tasks.loaders import LoaderError, PolicyTransform, VersionDataset, hf_dataset, read_manifest
from tests.project import REPO, commit, environment, new_project, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def version(tmp_path_factory) -> dict:
    """Two committed versions: the second after a change of augment.factor."""
    root = new_project(tmp_path_factory.mktemp("loaders") / "project", {"prepare": {"max_per_class": 10}})
    run(["dvc", "repro"], root)
    commit(root, "version 1")
    first = pd.read_parquet(root / "data/final/manifest.parquet")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["augment"]["factor"] = 1.5
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], root)
    commit(root, "version 2")
    return {"root": root, "first": first, "now": pd.read_parquet(root / "data/final/manifest.parquet")}


def test_filters_and_a_bad_filter_named(version):
    root, now = version["root"], version["now"]
    train = read_manifest(root, split="train")
    assert set(train["split"]) == {"train"} and len(train) == (now["split"] == "train").sum()
    originals = read_manifest(root, split=["val", "test"], origin="original")
    assert set(originals["split"]) == {"val", "test"} and set(originals["origin"]) == {"original"}
    with pytest.raises(LoaderError, match=r"split: \['dev'\] is not one of \['train', 'val', 'test'\]"):
        read_manifest(root, split="dev")


def test_an_older_revision_is_read_through_dvc(version):
    root, first = version["root"], version["first"]
    older = read_manifest(root, rev="HEAD~1")
    assert older.equals(first) and len(older) != len(version["now"])
    dataset = VersionDataset(root, split="train", origin="augmented", rev="HEAD~1")
    row = dataset.frame.iloc[0]
    sample = dataset[0]
    assert sample["sample_id"] == row["sample_id"] and sample["label"] == str(row["label"])
    assert isinstance(sample["item"], Image.Image)


def test_torch_style_dataset_items_targets_and_lineage(version):
    import torch
    from torch.utils.data import DataLoader

    root = version["root"]
    dataset = VersionDataset(root, split="train")
    assert len(dataset) == (version["now"]["split"] == "train").sum()
    sample = dataset[3]
    assert sample["target"] == dataset.classes.index(sample["label"]) and sample["split"] == "train"
    assert json.loads(sample["ops"]) == [] or sample["origin"] == "augmented"
    loader = DataLoader(dataset, batch_size=8, collate_fn=lambda batch: torch.tensor([s["target"] for s in batch]))
    targets = torch.cat(list(loader))
    assert targets.tolist() == [dataset.classes.index(str(v)) for v in dataset.frame["label"]]


def test_the_policy_on_the_fly_is_byte_identical_to_the_offline_variants(version):
    root, now = version["root"], version["now"]
    transform = PolicyTransform.from_params(root / "params.yaml", record=True)
    originals = VersionDataset(root, split="train", origin="original")
    by_id = {originals.frame.iloc[i]["sample_id"]: i for i in range(len(originals))}
    augmented = now[now["origin"] == "augmented"].head(25)
    for row in augmented.itertuples():
        source = originals[by_id[row.source_id]]["item"]
        variant = int(row.sample_id.rsplit("-aug", 1)[1])
        image, ops = transform(source, row.source_id, epoch=variant)  # epoch e of a source = offline variant e
        stored = Image.open(root / "data/final" / row.path)
        assert hashlib.sha256(encode_image(image, stored.format)).hexdigest() == row.sha256, row.sample_id
        assert ops == json.loads(row.ops) and transform.at_seed(source, row.seed)[1] == ops


def test_with_policy_auto_the_transform_applies_the_recorded_choice(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    chosen = [{"name": "hflip", "p": 1.0}]
    raw["augment"]["policy"] = "auto"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(LoaderError, match="policy_choice.json, the augment stage's choice, is missing"):
        PolicyTransform.from_params(tmp_path / "params.yaml")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "policy_choice.json").write_text(json.dumps({"policy": chosen}))
    image = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    flipped = PolicyTransform.from_params(tmp_path / "params.yaml")(image, "s1")
    assert np.array_equal(np.asarray(flipped), np.asarray(image)[:, ::-1])
    (tmp_path / "reports" / "policy_choice.json").write_text(json.dumps({"policy": []}))
    with pytest.raises(LoaderError, match="chose no augmentation"):
        PolicyTransform.from_params(tmp_path / "params.yaml")


def test_hugging_face_dataset_dict_has_typed_features_and_lineage(version):
    import datasets

    root, now = version["root"], version["now"]
    version_dict = hf_dataset(root)
    assert {name: len(split) for name, split in version_dict.items()} == now["split"].value_counts().to_dict()
    train = version_dict["train"]
    assert isinstance(train.features["image"], datasets.Image) and isinstance(train.features["label"], datasets.ClassLabel)
    assert {"sample_id", "source_id", "origin", "ops", "seed", "sha256"} <= set(train.column_names)
    first = train[0]
    row = now.set_index("sample_id").loc[first["sample_id"]]
    assert train.features["label"].int2str(first["label"]) == str(row["label"]) and first["sha256"] == row["sha256"]
    assert isinstance(first["image"], Image.Image)


def test_every_export_format_reads_back_with_its_own_ecosystem(version, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root, now = version["root"], version["now"]
    counts = now["split"].value_counts().to_dict()
    for fmt in ("imagefolder", "hf", "csv", "parquet"):
        written = export(root, tmp_path / fmt, fmt)
        assert written["rows"] == len(now) and pd.read_parquet(tmp_path / fmt / "manifest.parquet").equals(now)
    folder = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "imagefolder"))
    assert {name: len(split) for name, split in folder.items()} == {"train": counts["train"], "validation": counts["val"],
                                                                    "test": counts["test"]}
    assert set(folder["train"]["sample_id"]) == set(now.loc[now["split"] == "train", "sample_id"])
    for path in (tmp_path / "imagefolder" / "train").rglob("*.png"):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert sha == now.set_index("sample_id").loc[path.stem, "sha256"]
    loaded = datasets.load_from_disk(str(tmp_path / "hf" / "hf"))
    assert {name: len(split) for name, split in loaded.items()} == counts
    for fmt, reader in (("csv", lambda p: pd.read_csv(p, keep_default_na=False, na_values=[""])), ("parquet", pd.read_parquet)):
        table = reader(tmp_path / fmt / f"test.{fmt}")
        expected = now[now["split"] == "test"].reset_index(drop=True)
        assert table["sample_id"].tolist() == expected["sample_id"].tolist()
        assert table["sha256"].tolist() == expected["sha256"].tolist()


def test_export_refuses_data_folder_and_a_non_empty_target(version, tmp_path):
    root = version["root"]
    with pytest.raises(LoaderError, match="inside the project's data/"):
        export(root, root / "data" / "export", "csv")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(LoaderError, match="exists and is not empty"):
        export(root, tmp_path / "full", "csv")


def test_augmill_export_command(version, tmp_path):
    result = run(["augmill", "export", "--format", "parquet", "--out", str(tmp_path / "out"), "--split", "test"],
                 version["root"])
    tests = int((version["now"]["split"] == "test").sum())
    assert json.loads(result.stdout.strip().splitlines()[-1])["splits"] == {"test": tests}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.parquet", "test.parquet"]


@pytest.mark.parametrize("script, extra", [("train_torch.py", []), ("train_torch.py", ["--on-the-fly"]),
                                           ("train_hf.py", []), ("train_hf.py", ["--on-the-fly"])])
def test_the_examples_train_a_model_from_the_version(version, script, extra):
    env = environment() | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(REPO / "examples" / script), "--root", str(version["root"]), *extra],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    originals = version["now"][(version["now"]["split"] == "train") & (version["now"]["origin"] == "original")]
    assert report["train"] == (len(originals) if extra else int((version["now"]["split"] == "train").sum()))
    assert report["accuracy"] > 0.3  # ten classes: chance is 0.1


def test_text_table_and_audio_versions_decode(tmp_path):
    """The three other modalities from final manifests and files written here."""
    import soundfile

    lineage = {"source_id": None, "origin": "original", "ops": "[]", "seed": None, "sha256": "x"}
    final = tmp_path / "text" / "data/final"
    final.mkdir(parents=True)
    pd.DataFrame([{"sample_id": "t1", "split": "train", "label": "=1+1", "text": "héllo", **lineage}]).to_parquet(
        final / "manifest.parquet")
    assert VersionDataset(tmp_path / "text")[0]["item"] == "héllo" and VersionDataset(tmp_path / "text")[0]["label"] == "=1+1"

    final = tmp_path / "table" / "data/final"
    final.mkdir(parents=True)
    pd.DataFrame([{"sample_id": "r1", "split": "train", "label": "a", "age": 3.5, "city": "Oslo", **lineage}]).to_parquet(
        final / "manifest.parquet")
    assert VersionDataset(tmp_path / "table")[0]["item"] == {"age": 3.5, "city": "Oslo"}

    final = tmp_path / "audio" / "data/final"
    (final / "train/a").mkdir(parents=True)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros((800, 1), np.float32), 8000, format="WAV")
    (final / "train/a/s1.wav").write_bytes(buffer.getvalue())
    pd.DataFrame([{"sample_id": "s1", "split": "train", "label": "a", "path": "train/a/s1.wav", "sample_rate": 8000,
                   "channels": 1, "duration_s": 0.1, **lineage}]).to_parquet(final / "manifest.parquet")
    resampled = VersionDataset(tmp_path / "audio", sample_rate=16000)[0]["item"]
    assert resampled.shape == (1600, 1) and resampled.dtype == np.float32


def test_the_loaders_import_without_prefect_dvc_or_great_expectations():
    code = ("import sys, tasks.loaders, tasks.export; "
            "print(sorted(m for m in ('prefect', 'dvc', 'great_expectations', 'torch', 'datasets') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"
