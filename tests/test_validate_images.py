"""validate on a tiny real digits project, in-process (real augment, GX, files): the demo's
own policy passes, and a policy built to break each check gets each check's own reason
code and a gallery card that names the failed measure beside the aligned source."""

from __future__ import annotations

import json
import re

import pandas as pd

from augmill.flows.stages import run_stage
from augmill.tasks import paths
from tests.test_evaluate import project_here

UP_TO_VALIDATE = ("prepare", "explore", "bias", "augment", "validate")


def test_the_demo_policy_passes_validate(tmp_path):
    with project_here(tmp_path) as params:
        for name in UP_TO_VALIDATE:
            run_stage(name, params)
    summary = json.loads((tmp_path / paths.VALIDATION_SUMMARY).read_text())
    assert summary["rejection_rate"] <= 0.05, summary["by_reason"]
    assert summary["accepted"] > 0


# One operator per check, each firing alone (the policy picks one when none fires: p=0).
BREAKERS = [
    {"name": "random_resized_crop", "p": 0.0, "scale": [0.05, 0.1], "ratio": [0.9, 1.1]},  # content_cropped_out
    {"name": "scale", "p": 0.0, "factor": [0.45, 0.5]},  # too_much_fill (all content still in frame)
    {"name": "contrast", "p": 0.0, "factor": [0.0, 0.0]},  # a flat grey image: photometric_destroyed
    {"name": "brightness", "p": 0.0, "factor": [1.0, 1.0]},  # an exact copy: near_copy
]


def test_each_broken_check_has_its_own_code_and_the_gallery_shows_why(tmp_path):
    updates = {"augment": {"policy": BREAKERS}, "validate": {"max_rejection_rate": 1.0}}
    with project_here(tmp_path, updates) as params:
        for name in UP_TO_VALIDATE:
            run_stage(name, params)
    validated = pd.read_parquet(tmp_path / paths.VALIDATED_MANIFEST)
    first_op = validated["ops"].map(lambda ops: json.loads(ops)[0]["name"])
    codes = validated.groupby(first_op)["reason_code"].agg(lambda c: set(c))
    assert codes["random_resized_crop"] == {"content_cropped_out"}
    assert codes["scale"] == {"too_much_fill"}
    assert codes["contrast"] == {"photometric_destroyed"}
    assert codes["brightness"] == {"near_copy"}
    noisy = validated[first_op == "contrast"].iloc[0]
    assert noisy["reason"].startswith("photometric_destroyed: the variant no longer matches its aligned source")

    page = (tmp_path / paths.GALLERY_PAGE).read_text()
    cards = re.findall(r'<div class="card quarantined wide">(.*?)</div>(?=<div class="card|\s*</div></div>)', page, re.S)
    assert cards, "no quarantined card with an aligned source"
    for card in cards:
        assert "aligned source" in card and card.count("<img") == 2
        code = re.search(r'<b class="bad">(\w+)</b>', card).group(1)
        column = {"content_cropped_out": "content_kept", "too_much_fill": "fill_fraction",
                  "photometric_destroyed": "photometric_similarity", "near_copy": "difference"}[code]
        assert re.search(rf'<tr class="bad"><td>{column}</td>\s*<td>[-0-9.e]+ ✗ [≥≤] [0-9.]+</td>', card), card
