"""The `params` stage: each stage's share of the modality knobs (`text:`, `audio:`, `tabular:`),
one file per stage in data/interim/params/. dvc.yaml makes a stage depend on its own file, not
on the whole sections, so changing an audio validate knob re-runs validate and not explore.

Which stage reads which knob is declared beside the knob (READ_BY in each modality's params
module); the values are the resolved ones, defaults included, so a default that changes with
an upgrade re-runs exactly the stages that read it. Tests hold READ_BY to what the stages
really read (flows.stages, AUGMILL_CHECK_KNOBS)."""

from __future__ import annotations

from pathlib import Path

from augmill.tasks.io import write_json
from augmill.tasks.params import MODALITY_SECTIONS, Params

SHARES = Path("data/interim/params")
# The stages that read modality knobs (dvc.yaml's order after this one; prepare reads none).
READERS = ("explore", "bias", "synthesize", "augment", "validate", "merge", "evaluate")


def stage_shares(params: Params) -> dict[str, dict[str, dict]]:
    """stage -> {section: {knob: value}} for the knobs that stage reads."""
    return {stage: {section.NAME: getattr(params, section.NAME).stage_share(stage) for section in MODALITY_SECTIONS}
            for stage in READERS}


def run(params: Params) -> dict:
    SHARES.mkdir(parents=True, exist_ok=True)
    shares = stage_shares(params)
    for stage, share in shares.items():
        write_json(SHARES / f"{stage}.json", share)
    return {stage: sum(map(len, share.values())) for stage, share in shares.items()}
