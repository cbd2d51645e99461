"""evaluate's per-file feature memo (.augmill/cache/v2/evaluate): on real files, a hit must
give exactly the row a fresh decode gives, and execution.cache: false must neither read
nor write the memo. Entries are poisoned on purpose to prove which path served a row."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from augmill.tasks import paths
from augmill.tasks.cache import CACHE_ROOT
from augmill.tasks.feature_memo import MAX_PACKS
from augmill.tasks.io import sha256_file
from augmill.tasks.modalities.audio import modality as audio
from augmill.tasks.modalities.image import modality as image
from augmill.tasks.params_load import load_params
from tests.project import REPO

MEMO = CACHE_ROOT / "evaluate"


def params_for(modality: str, cache: bool):
    source = REPO / ("params.yaml" if modality == "image" else f"examples/{modality}.yaml")
    return load_params(source, [f"execution.cache={str(cache).lower()}"])


def write_image(relative: str, size: tuple[int, int], seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG" if relative.endswith(".png") else "JPEG")
    (paths.FINAL / relative).parent.mkdir(parents=True, exist_ok=True)
    (paths.FINAL / relative).write_bytes(buffer.getvalue())


def image_frame(specs: list[tuple[str, tuple[int, int], int]]) -> pd.DataFrame:
    for relative, size, seed in specs:
        write_image(relative, size, seed)
    return pd.DataFrame({"path": [s[0] for s in specs], "width": [s[1][0] for s in specs],
                         "height": [s[1][1] for s in specs],
                         "sha256": [sha256_file(paths.FINAL / s[0]) for s in specs]})


def entries() -> int:
    """Rows stored, over every pack."""
    return sum(len(np.load(pack)["keys"]) for pack in MEMO.rglob("*.npz"))


def poison(value: float) -> None:
    """Overwrite every stored row with ``value`` (same keys, dtype and shape: still a valid pack)."""
    for pack in MEMO.rglob("*.npz"):
        with np.load(pack) as stored:
            keys, rows = stored["keys"], stored["rows"]
        np.savez(pack, keys=keys, rows=np.full_like(rows, value))


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_image_memo_hit_equals_a_fresh_decode_and_is_off_when_cache_is_false(here):
    frame = image_frame([("train/a/x.png", (40, 30), 1), ("train/b/y.jpg", (32, 32), 2), ("test/a/z.png", (50, 20), 3),
                         ("train/a/copy.png", (40, 30), 1)])  # same bytes as x.png: one entry serves both
    fresh = image.baseline_features(frame, params_for("image", cache=False))
    assert not MEMO.exists()  # cache off: nothing written
    first = image.baseline_features(frame, params_for("image", cache=True))
    assert entries() == 3
    hit = image.baseline_features(frame, params_for("image", cache=True))
    for rows in (first, hit):
        assert rows.dtype == fresh.dtype and rows.shape == fresh.shape == (4, 256)
        assert rows.tobytes() == fresh.tobytes()

    poison(7.0)  # from here on, any row that came from the memo is all sevens
    assert (image.baseline_features(frame, params_for("image", cache=True)) == 7.0).all()  # hits really served
    assert image.baseline_features(frame, params_for("image", cache=False)).tobytes() == fresh.tobytes()

    # A smaller image changes the side of every row: no old entry may be reused.
    smaller = pd.concat([frame, image_frame([("train/b/small.png", (8, 12), 4)])], ignore_index=True)
    rows = image.baseline_features(smaller, params_for("image", cache=True))
    assert rows.shape == (5, 64) and not (rows == 7.0).any()
    assert rows.tobytes() == image.baseline_features(smaller, params_for("image", cache=False)).tobytes()
    # New bytes under an old name: a new key, decoded afresh.
    changed = image_frame([("train/a/x.png", (40, 30), 9)])
    assert image.baseline_features(changed, params_for("image", cache=True)).tobytes() == \
        image.baseline_features(changed, params_for("image", cache=False)).tobytes()


def test_a_stale_manifest_hash_cannot_plant_a_wrong_entry(here):
    frame = image_frame([("train/a/x.png", (20, 20), 1), ("train/a/y.png", (20, 20), 2)])
    before = image.baseline_features(frame, params_for("image", cache=False))
    image_frame([("train/a/x.png", (20, 20), 3)])  # x.png edited behind the manifest's back
    image.baseline_features(frame, params_for("image", cache=True))  # misses: decodes the edited file
    # The edited file's row went under the edited file's hash, not under the hash the manifest
    # claims, so the original bytes (now in copy.png) still get their own row.
    write_image("train/a/copy.png", (20, 20), 1)
    copy = frame.iloc[[0]].assign(path="train/a/copy.png")
    assert image.baseline_features(copy, params_for("image", cache=True)).tobytes() == before[0].tobytes()


def test_without_a_sha256_column_the_files_are_hashed(here):
    frame = image_frame([("train/a/x.png", (20, 20), 1), ("train/a/y.png", (20, 20), 2)])
    with_column = image.baseline_features(frame, params_for("image", cache=True))
    poison(3.0)
    # The same bytes found by hashing the files: the same (poisoned) entries.
    assert (image.baseline_features(frame.drop(columns="sha256"), params_for("image", cache=True)) == 3.0).all()
    assert image.baseline_features(frame.drop(columns="sha256"), params_for("image", cache=False)).tobytes() == \
        with_column.tobytes()


def test_audio_memo_hit_equals_a_fresh_decode(here):
    rng = np.random.default_rng(5)
    relatives = ["train/a/one.wav", "test/b/two.wav"]
    for relative, rate in zip(relatives, (16000, 22050), strict=True):
        (paths.FINAL / relative).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(paths.FINAL / relative, rng.normal(0, 0.1, rate // 2).astype(np.float32), rate)
    frame = pd.DataFrame({"path": relatives, "sha256": [sha256_file(paths.FINAL / r) for r in relatives]})
    fresh = audio.baseline_features(frame, params_for("audio", cache=False))
    assert not MEMO.exists()
    first = audio.baseline_features(frame, params_for("audio", cache=True))
    hit = audio.baseline_features(frame, params_for("audio", cache=True))
    assert entries() == 2
    assert fresh.shape == (2, 106) and first.tobytes() == hit.tobytes() == fresh.tobytes()
    poison(5.0)
    assert (audio.baseline_features(frame, params_for("audio", cache=True)) == 5.0).all()
    assert audio.baseline_features(frame, params_for("audio", cache=False)).tobytes() == fresh.tobytes()


def test_many_small_runs_join_their_packs_and_keep_every_row(here):
    frame = image_frame([(f"train/a/{i}.png", (16, 16), i) for i in range(MAX_PACKS + 3)])
    for end in range(1, len(frame) + 1):  # one new file per run: one new pack per run
        image.baseline_features(frame.iloc[:end], params_for("image", cache=True))
    assert len(list(MEMO.rglob("*.npz"))) <= MAX_PACKS and entries() == len(frame)
    fresh = image.baseline_features(frame, params_for("image", cache=False))
    poison(2.0)
    assert (image.baseline_features(frame, params_for("image", cache=True)) == 2.0).all()  # all hits, none lost
    assert len(fresh) == len(frame) and not (fresh == 2.0).all()
