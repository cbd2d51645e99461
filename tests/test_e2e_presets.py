"""End-to-end: a RandAugment preset as the whole policy, through the real `dvc repro`:
the manifest records the concrete operators each variant got, and every row replays."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
from PIL import Image

from augmill.tasks.imaging import encode_image, load_image
from augmill.tasks.ops.policy import replay
from augmill.tasks.ops.presets import RANDAUGMENT
from tests.project import new_project, run

pytestmark = pytest.mark.e2e


def test_a_randaugment_preset_runs_records_concrete_ops_and_replays(tmp_path):
    params = {"prepare": {"max_per_class": 10},
              "augment": {"policy": {"preset": "randaugment", "n": 2, "m": 9}},
              # Two identities in a row make a plain copy, which validate rightly quarantines as one.
              "validate": {"max_rejection_rate": 1.0}}
    root = new_project(tmp_path / "preset", params)
    run(["dvc", "repro"], root)

    final = pd.read_parquet(root / "data/final/manifest.parquet")
    raw = pd.read_parquet(root / "data/interim/raw_manifest.parquet").set_index("sample_id")
    augmented = final[final["origin"] == "augmented"]
    assert len(augmented) > 0
    allowed = {operator for operator, _, _ in RANDAUGMENT.values()}
    for row in augmented.itertuples():
        ops = json.loads(row.ops)
        assert len(ops) == 2 and {op["name"] for op in ops} <= allowed, row.ops
        source = load_image(root / "data/raw" / raw.loc[row.source_id, "path"], 10**8).image
        stored = Image.open(root / "data/final" / row.path)
        data = encode_image(replay(source, ops, "image"), stored.format)
        assert hashlib.sha256(data).hexdigest() == row.sha256, row.sample_id
