"""Property tests (hypothesis) on every audio operator: any valid clip of any
length, rate and channel count gives a valid clip of the same kind, and replay
from the recorded (JSON) params is exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from augmill.tasks.modalities.audio.signal import Clip
from augmill.tasks.ops import policy

AUDIO_OPS = sorted(policy.operators_for("audio"))


@st.composite
def clips(draw) -> Clip:
    rate = draw(st.sampled_from([8000, 16000, 22050, 44100]))
    frames = draw(st.integers(min_value=int(0.1 * rate), max_value=int(0.6 * rate)))
    channels = draw(st.integers(min_value=1, max_value=2))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    amplitude = draw(st.floats(min_value=0.001, max_value=1.0))
    samples = np.random.default_rng(seed).uniform(-amplitude, amplitude, (frames, channels)).astype(np.float32)
    return Clip(samples, rate)


@pytest.mark.parametrize("name", AUDIO_OPS)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clip=clips(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_every_operator_keeps_a_valid_clip_and_replays_exactly(clip, name, seed):
    op = policy.build_policy([{"name": name, "p": 1.0}], "audio")
    original = clip.samples.copy()
    out, records = policy.run_policy(op, np.random.default_rng(seed), clip)
    assert np.array_equal(clip.samples, original)  # the source is not modified
    assert out.samples.dtype == np.float32 and out.samples.ndim == 2
    assert out.rate == clip.rate and out.channels == clip.channels and out.frames > 0
    assert np.isfinite(out.samples).all()
    replayed = policy.replay(clip, json.loads(json.dumps(records)), "audio")
    assert replayed.samples.tobytes() == out.samples.tobytes()
