"""Incremental runs: with the memo (.augmill/cache), adding a few samples redoes only
the new work, and the outputs are byte-identical to a full run without the memo."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sklearn.datasets import load_digits

from augmill.tasks.cache import CACHE_ROOT
from tests.project import lock_out_hashes, new_project, run

pytestmark = pytest.mark.e2e

USER_DATA = {"data": {"raw_dir": "data/user"}, "prepare": {"dataset": "none"}}


def write_digits(root, indices) -> None:
    digits = load_digits()
    for index in indices:
        folder = root / "data/user" / str(digits.target[index])
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.fromarray((digits.images[index] * 15).astype("uint8"), "L").resize((24, 24)).save(buffer, "PNG")
        (folder / f"d{index}.png").write_bytes(buffer.getvalue())


def memo_entries(root, stage: str) -> int:
    folder = root / CACHE_ROOT / stage
    return sum(1 for _ in folder.rglob("value.json")) if folder.exists() else 0


def test_adding_samples_reuses_the_memo_and_matches_a_full_run(tmp_path):
    incremental = new_project(tmp_path / "incremental", USER_DATA)
    write_digits(incremental, range(200))
    run(["dvc", "repro"], incremental)
    augmented_before = memo_entries(incremental, "augment")
    explored_before = memo_entries(incremental, "explore")
    assert augmented_before > 0 and explored_before == 200

    write_digits(incremental, range(200, 204))
    run(["dvc", "repro"], incremental)
    # Only the 4 new files were decoded; most variants came from the memo.
    assert memo_entries(incremental, "explore") == 204
    new_variants = memo_entries(incremental, "augment") - augmented_before
    assert 0 < new_variants < augmented_before / 4

    full = new_project(tmp_path / "full", USER_DATA | {"execution": {"cache": False}})
    write_digits(full, range(204))
    run(["dvc", "repro"], full)
    assert not (full / ".augmill/cache").exists()
    assert lock_out_hashes(incremental) == lock_out_hashes(full)
