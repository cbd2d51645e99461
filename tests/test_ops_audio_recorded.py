"""Background noise and impulse responses from a user's folder of recordings
(tasks.modalities.audio.ops_recorded), measured on real WAV files written here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile

from augmill.tasks.modalities.audio.signal import Clip, power
from augmill.tasks.ops.base import OperatorConfigError
from augmill.tasks.ops.policy import build_policy, replay, run_policy
from tests.test_ops_audio import AUDIO_OPS, RATE, tone


def hum(path, frequency: float, rate: int = 8000, seconds: float = 0.3, channels: int = 2) -> None:
    t = np.arange(round(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * frequency * t)
    soundfile.write(path, np.repeat(samples[:, None], channels, axis=1), rate, subtype="PCM_16")


def dominant_hz(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples[:, 0]))
    return float(np.fft.rfftfreq(samples.shape[0], 1 / rate)[np.argmax(spectrum)])


@pytest.fixture
def noise_folder(tmp_path):
    folder = tmp_path / "noise"
    folder.mkdir()
    hum(folder / "hum300.wav", 300.0)  # 8 kHz stereo: resampled and mixed down for a 16 kHz mono clip
    hum(folder / "hum1200.flac", 1200.0, rate=16000, channels=1)
    (folder / "notes.txt").write_text("not audio")
    return folder


@pytest.mark.parametrize("snr", [0.0, 15.0])
def test_recorded_noise_is_the_file_at_the_drawn_snr_and_replays(noise_folder, snr):
    clean = tone(frequency=3000.0, seconds=1.0)  # longer than the files: the noise wraps round
    policy = build_policy([{"name": "background_noise", "snr_db": [snr, snr], "folder": str(noise_folder)}], "audio")
    seen = set()
    for seed in range(8):
        noisy, records = run_policy(policy, np.random.default_rng(seed), clean)
        params = json.loads(json.dumps(records))[0]["params"]
        noise = noisy.samples.astype(np.float64) - clean.samples
        assert abs(10 * math.log10(power(clean.samples) / power(noise)) - snr) < 0.1
        expected_hz = {"hum300.wav": 300.0, "hum1200.flac": 1200.0}[params["noise_file"]]
        assert abs(dominant_hz(noise) - expected_hz) < 5.0
        assert replay(clean, [records[0]], "audio").samples.tobytes() == noisy.samples.tobytes()
        seen.add(params["noise_file"])
    assert seen == {"hum300.wav", "hum1200.flac"}  # the .txt is not a recording


def test_replay_refuses_a_recording_that_changed(noise_folder):
    clean = tone(seconds=0.2)
    op = AUDIO_OPS["background_noise"](folder=str(noise_folder))
    params = op.sample(np.random.default_rng(0), clean)
    hum(noise_folder / params["noise_file"], 777.0) if params["noise_file"].endswith(".wav") else \
        hum(noise_folder / params["noise_file"], 777.0, rate=16000, channels=1)
    with pytest.raises(ValueError, match=rf"{params['noise_file']}: its bytes changed"):
        op.apply(clean, **params)


def test_a_measured_impulse_response_is_convolved_exactly(tmp_path):
    folder = tmp_path / "rooms"
    folder.mkdir()
    response = np.zeros(200)
    response[0], response[150] = 0.8, -0.4  # direct path, one echo: scaled so the direct path is 1
    soundfile.write(folder / "echo.wav", response, RATE, subtype="FLOAT")
    clip = tone(frequency=500.0, seconds=0.1)
    op = AUDIO_OPS["reverb"](wet=(0.5, 0.5), folder=str(folder))
    params = op.sample(np.random.default_rng(0), clip)
    assert params["rir_file"] == "echo.wav" and "rt60" not in params
    out = op.apply(clip, **params).samples[:, 0].astype(np.float64)
    dry = clip.samples[:, 0].astype(np.float64)
    echo = np.concatenate([np.zeros(150), dry[:-150]])
    assert np.abs(out - (dry + 0.5 * -0.5 * echo)).max() < 1e-5


@pytest.mark.parametrize("name", ["background_noise", "reverb"])
def test_a_folder_without_recordings_is_refused_naming_the_key(tmp_path, name):
    (tmp_path / "empty").mkdir()
    with pytest.raises(OperatorConfigError, match=rf"augment.policy\[0\]: {name}.folder: .* holds no"):
        build_policy([{"name": name, "folder": str(tmp_path / "empty")}], "audio")
    with pytest.raises(OperatorConfigError, match=rf"{name}.folder: .* is not a folder"):
        build_policy([{"name": name, "folder": str(tmp_path / "missing")}], "audio")


def test_without_a_folder_the_synthetic_noise_is_unchanged():
    clean = Clip(tone(seconds=0.2).samples, RATE)
    params = AUDIO_OPS["background_noise"]().sample(np.random.default_rng(0), clean)
    assert set(params) == {"colour", "snr_db", "noise_dbfs", "noise_seed"}


def test_the_augment_memo_key_follows_the_folder_bytes(noise_folder, tmp_path):
    import yaml

    from augmill.tasks.augment import augment_salt
    from augmill.tasks.params_load import parse_params
    from tests.project import REPO

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(modality="audio", raw_dir=str(tmp_path))
    raw["prepare"] = {"dataset": "none"}
    raw["augment"]["policy"] = [{"name": "background_noise", "folder": str(noise_folder)}]
    params = parse_params(raw)
    before = augment_salt(params)
    assert augment_salt(params) == before
    hum(noise_folder / "hum300.wav", 310.0)  # same name, other bytes
    assert augment_salt(params) != before
