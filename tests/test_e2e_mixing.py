"""End-to-end: MixUp and CutMix through the real `dvc repro`: both sources come from train,
every mixed row replays from its two sources, validate judges the mix (not the blend's
distance from one source), the final manifest carries soft labels, and evaluate and the
loaders use them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from augmill.tasks.imaging import encode_image, load_image
from augmill.tasks.loaders import VersionDataset
from augmill.tasks.ops.policy import replay
from tests.project import new_project, run

pytestmark = pytest.mark.e2e


def test_mixup_and_cutmix_rows_keep_both_sources_replay_and_carry_soft_labels(tmp_path):
    params = {"prepare": {"max_per_class": 10},
              "augment": {"policy": [{"name": "rotate", "p": 0.5, "angle": [-10, 10]},
                                     {"name": "mixup", "p": 0.5, "alpha": 0.4},
                                     {"name": "cutmix", "p": 0.5, "alpha": 1.0}]},
              "validate": {"max_rejection_rate": 1.0}}
    root = new_project(tmp_path / "mix", params)
    run(["dvc", "repro"], root)

    raw = pd.read_parquet(root / "data/interim/raw_manifest.parquet").set_index("sample_id")
    plan = json.loads((root / "data/interim/plan.json").read_text())
    held_out = {entry["sample_id"] for entry in plan["excluded"]} | set(plan.get("not_augmented", []))
    validated = pd.read_parquet(root / "data/interim/validated.parquet")
    final = pd.read_parquet(root / "data/final/manifest.parquet")

    def load(source_id: str) -> Image.Image:
        return load_image(root / "data/raw" / raw.loc[source_id, "path"], 10**8).image

    mixed = 0
    for row in final[final["origin"] == "augmented"].itertuples():
        ops = json.loads(row.ops)
        mixes = [op["params"] for op in ops if op["name"] in ("mixup", "cutmix")]
        for params in mixes:  # the leakage rule: the partner is a train source the plan keeps
            partner = params["partner"]
            assert raw.loc[partner, "split"] == "train" and partner not in held_out and partner != row.source_id
            assert params["partner_label"] == str(raw.loc[partner, "label"])
        stored = Image.open(root / "data/final" / row.path)
        data = encode_image(replay(load(row.source_id), ops, "image", load), stored.format)
        assert hashlib.sha256(data).hexdigest() == row.sha256, row.sample_id
        if mixes:
            mixed += 1
            soft = json.loads(row.soft_label)
            assert str(row.label) in soft and sum(soft.values()) == pytest.approx(1.0, abs=1e-3)
        else:
            assert pd.isna(row.soft_label)
    assert mixed > 0
    assert final.loc[final["origin"] == "original", "soft_label"].isna().all()

    # A mixed variant is compared with the aligned mix: no MixUp/CutMix row fails as "destroyed".
    is_mixed = validated["ops"].str.contains('"name": "(?:mixup|cutmix)"', regex=True)
    assert is_mixed.sum() >= mixed
    assert not (validated.loc[is_mixed, "reason_code"] == "photometric_destroyed").any()

    gallery = (root / "reports/gallery.html").read_text(encoding="utf-8")  # a reviewer sees the mixes and partners
    assert "mixup(" in gallery and "cutmix(" in gallery and "partner=" in gallery

    report = json.loads((root / "reports/evaluate.json").read_text())
    assert report["setup"]["soft_labels"]["rows"] == final["soft_label"].notna().sum()

    train = VersionDataset(root, split="train", origin="augmented")
    targets = [(item["soft_target"], item["soft_label"], item["target"]) for item in
               (train[i] for i in range(len(train)))]
    for soft_target, label_json, target in targets:
        assert sum(soft_target) == pytest.approx(1.0, abs=1e-3)
        if label_json is None:
            assert soft_target == list(np.eye(len(train.classes))[target])
    assert any(sum(value > 0 for value in soft_target) == 2 for soft_target, _, _ in targets)
