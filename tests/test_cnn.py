"""The small CNN evaluate model (evaluate.model: cnn): it learns, it is deterministic, it leaves no global state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import parse_params
from tests.project import REPO

torch = pytest.importorskip("torch")

from augmill.tasks.cnn import SmallCNN  # noqa: E402 - after the skip: needs PyTorch


def _shifted_bars(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """16x16 images: class "left" has a bright vertical bar in the left half, "right" in the right half,
    at a random column: a position-invariant pattern."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for index in range(count):
        image = rng.uniform(0, 0.3, size=(16, 16))
        left = index % 2 == 0
        column = rng.integers(1, 7) if left else rng.integers(9, 15)
        image[:, column] = 1.0
        images.append(image.ravel())
        labels.append("left" if left else "right")
    return np.array(images, dtype=np.float32), np.array(labels)


def test_the_cnn_learns_a_pattern_and_predicts_labels():
    x_train, y_train = _shifted_bars(80, seed=1)
    x_test, y_test = _shifted_bars(40, seed=2)
    predicted = SmallCNN(epochs=15, seed=0).fit(x_train, y_train).predict(x_test)
    assert set(predicted) <= {"left", "right"}
    assert (predicted == y_test).mean() >= 0.9


def test_the_cnn_is_deterministic_and_leaves_global_state_alone():
    x_train, y_train = _shifted_bars(40, seed=3)
    x_test, _ = _shifted_bars(40, seed=4)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    first = SmallCNN(epochs=3, seed=5).fit(x_train, y_train)
    second = SmallCNN(epochs=3, seed=5).fit(x_train, y_train)
    assert all(torch.equal(a, b) for a, b in zip(first.network_.state_dict().values(),
                                                 second.network_.state_dict().values(), strict=True))
    assert (first.predict(x_test) == second.predict(x_test)).all()
    other = SmallCNN(epochs=3, seed=6).fit(x_train, y_train)
    assert not torch.equal(first.network_[0].weight, other.network_[0].weight)
    assert torch.equal(torch.random.get_rng_state(), state) and torch.get_num_threads() == threads


def test_features_that_are_not_a_square_image_are_refused():
    with pytest.raises(ValueError, match="not a square image"):
        SmallCNN(epochs=1, seed=0).fit(np.zeros((4, 10), dtype=np.float32), np.array(["a", "b", "a", "b"]))


def test_the_cnn_is_for_images_and_audio():
    raw = yaml.safe_load((REPO / "examples" / "text.yaml").read_text())
    raw["evaluate"] = {**raw.get("evaluate", {}), "model": "cnn"}
    with pytest.raises(ParamsError, match="evaluate.model: cnn is for images and audio"):
        parse_params(raw)
    audio = yaml.safe_load((REPO / "examples" / "audio.yaml").read_text())
    audio["evaluate"] = {**audio.get("evaluate", {}), "model": "cnn"}
    assert parse_params(audio).evaluate.model == "cnn"

def test_the_label_check_finds_flipped_labels_with_the_cnn():
    """bias asks the evaluate model for probabilities out of fold: the CNN gives them (rows sum to 1,
    their argmax is its prediction), and a flipped bar is suggested back to its side."""
    from augmill.tasks.label_issues import label_suspects, out_of_fold_choice
    from augmill.tasks.params_load import load_params

    x, truth = _shifted_bars(80, seed=7)
    given = truth.copy()
    flipped = [3, 10, 25]
    given[flipped] = np.where(truth[flipped] == "left", "right", "left")
    params = load_params(REPO / "params.yaml", ["evaluate.model=cnn", "evaluate.cnn_epochs=15"])
    probabilities, _ = out_of_fold_choice(x, "dense", given, ["left", "right"], params)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    model = SmallCNN(epochs=3, seed=0).fit(x, given)
    assert (model.classes_[model.predict_proba(x).argmax(axis=1)] == model.predict(x)).all()
    train = pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(len(x))], "path": "", "sha256": "",
                          "label": given})
    suspects = label_suspects(train, probabilities, ["left", "right"]).set_index("sample_id")
    found = [i for i in flipped if f"s{i:03d}" in suspects.index]
    assert len(found) >= 2 and all(suspects.at[f"s{i:03d}", "suggested_label"] == truth[i] for i in found)


def _chirps(count: int, seed: int):
    """Clips of 0.6 s: class "up" a tone rising from 300 to 1,500 Hz, "down" falling, each starting at a
    random time in the 1.5 s window and at a random level: the CNN sees it on the log-mel picture."""
    from augmill.tasks.modalities.audio.signal import Clip, log_mel_patch

    rng = np.random.default_rng(seed)
    rate, rows, labels = 16000, [], []
    for index in range(count):
        up = index % 2 == 0
        t = np.arange(int(0.6 * rate)) / rate
        low, high = 300.0, 1500.0
        frequency = low + (high - low) * (t / t[-1] if up else 1 - t / t[-1])
        tone = rng.uniform(0.1, 0.8) * np.sin(2 * np.pi * np.cumsum(frequency) / rate)
        start = int(rng.uniform(0, 0.8) * rate)
        samples = np.concatenate([np.zeros(start), tone]) + rng.normal(0, 0.003, start + len(tone))
        rows.append(log_mel_patch(Clip(samples.astype(np.float32)[:, None], rate)))
        labels.append("up" if up else "down")
    return np.array(rows, dtype=np.float32), np.array(labels)


def test_the_cnn_learns_audio_from_log_mel_pictures_deterministically():
    x_train, y_train = _chirps(60, seed=1)
    x_test, y_test = _chirps(30, seed=2)
    assert x_train.shape == (60, 32 * 32) and x_train.max() == 0.0 and x_train.min() >= -80.0
    first = SmallCNN(epochs=15, seed=0).fit(x_train, y_train).predict(x_test)
    assert (first == y_test).mean() >= 0.9
    assert (SmallCNN(epochs=15, seed=0).fit(x_train, y_train).predict(x_test) == first).all()
