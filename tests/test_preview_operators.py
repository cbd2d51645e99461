"""The preview shows every image operator, the mixers included: each one alone as the policy,
its tiles name it with its drawn params (tasks.modalities.image.modality.preview_tiles)."""

from __future__ import annotations

import pytest

from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.image.modality import preview_tiles
from augmill.tasks.ops.policy import extra_operators_for, operators_for
from augmill.tasks.preview import choose_samples
from tests.test_evaluate import project_here, run_pipeline

EVERY_IMAGE_OPERATOR = sorted(set(operators_for("image")) | set(extra_operators_for("image")))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("preview_ops")
    run_pipeline(root, stages=("prepare",))
    return root


def test_the_preview_names_every_operator_it_drew(project):
    assert {"mixup", "cutmix", "elastic", "jpeg"} <= set(EVERY_IMAGE_OPERATOR)
    with project_here(project) as params:
        raw, _ = get_modality("image").read_raw(params)
        samples = choose_samples(raw, 3, params.seed)
        for name in EVERY_IMAGE_OPERATOR:
            alone = params.model_copy(update={"augment": params.augment.model_copy(
                update={"policy": [{"name": name, "p": 1.0}]})})
            tiles = preview_tiles(samples, alone)
            assert len(tiles) == 3
            for tile in tiles:
                assert tile.lines and tile.lines[0].startswith(f"{name}("), (name, tile.lines)
                assert tile.after.shape[:2] == tile.before.shape[:2]
            if name in ("mixup", "cutmix"):  # the partner is named: another of the previewed train samples
                assert all("partner=" in tile.lines[0] for tile in tiles)
