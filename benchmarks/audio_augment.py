"""Throughput of the audio operators, in seconds of audio processed per second of
wall time, beside audiomentations' equivalent transforms on the same clips.

    .venv/bin/pip install audiomentations      # for the comparison only; not a project dependency
    .venv/bin/python benchmarks/audio_augment.py [--clips 60] [--repeats 3]

The clips are real speech: espeak-ng's spoken digits (as the demo makes them),
at 16 kHz mono, about 0.75 s each. Each operator runs on every clip with its
parameters drawn once per clip; the best of --repeats passes is reported, after
one warm-up pass (so librosa's numba JIT, paid once per process, is left out and
reported separately). Single process, single thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augmill.tasks.demos.spoken_digits import PITCHES, SPEEDS, VOICES, WORDS, espeak_program, speak  # noqa: E402
from augmill.tasks.modalities.audio.signal import Clip, conform  # noqa: E402
from augmill.tasks.ops.policy import build_policy, run_policy  # noqa: E402

RATE = 16000

# Ours: (name, policy entries); theirs: a function building the audiomentations transform.
CASES = [
    ("add_noise snr 10-30 dB", [{"name": "add_noise", "snr_db": [10, 30]}],
     lambda a: a.AddGaussianSNR(min_snr_db=10, max_snr_db=30, p=1.0)),
    ("time_shift +-10%", [{"name": "time_shift", "shift": [-0.1, 0.1]}],
     lambda a: a.Shift(min_shift=-0.1, max_shift=0.1, rollover=False, p=1.0)),
    ("gain +-6 dB", [{"name": "gain", "gain_db": [-6, 6]}], lambda a: a.Gain(min_gain_db=-6, max_gain_db=6, p=1.0)),
    ("speed 0.9-1.1 (resample)", [{"name": "speed", "rate": [0.9, 1.1]}], None),
    ("cut_segment 5-15%", [{"name": "cut_segment", "length": [0.05, 0.15]}], None),
    ("fast_forward 10-30% x1.5-3", [{"name": "fast_forward"}], None),
    ("time_stretch 0.85-1.15", [{"name": "time_stretch", "rate": [0.85, 1.15]}],
     lambda a: a.TimeStretch(min_rate=0.85, max_rate=1.15, leave_length_unchanged=False,
                             method="librosa_phase_vocoder", p=1.0)),
    ("pitch_shift +-2 st", [{"name": "pitch_shift", "semitones": [-2, 2]}],
     lambda a: a.PitchShift(min_semitones=-2, max_semitones=2, method="librosa_phase_vocoder", p=1.0)),
]
# audiomentations' default time/pitch method (Signalsmith Stretch, C++), for reference.
THEIR_EXTRA = [
    ("time_stretch 0.85-1.15", lambda a: a.TimeStretch(min_rate=0.85, max_rate=1.15, leave_length_unchanged=False, p=1.0)),
    ("pitch_shift +-2 st", lambda a: a.PitchShift(min_semitones=-2, max_semitones=2, p=1.0)),
]


def speech_clips(count: int) -> list[Clip]:
    program = espeak_program()
    combos = [(w, v, s, p) for w in WORDS for v in VOICES for s in SPEEDS for p in PITCHES]
    chosen = [combos[i] for i in np.random.default_rng(0).permutation(len(combos))[:count]]
    with tempfile.TemporaryDirectory() as folder:
        return [conform(speak(program, w, v, s, p, 100, Path(folder)), RATE, "mono") for w, v, s, p in chosen]


def best_time(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def ours(clips: list[Clip], entries: list[dict]):
    policy = build_policy(entries, "audio")

    def run():
        for index, clip in enumerate(clips):
            run_policy(policy, np.random.default_rng(index), clip)

    return run


def theirs(clips: list[Clip], transform):
    arrays = [np.ascontiguousarray(clip.samples[:, 0]) for clip in clips]

    def run():
        for array in arrays:
            transform(samples=array, sample_rate=RATE)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import audiomentations
    except ImportError:
        audiomentations = None
        print("audiomentations is not installed: only augmill's figures (pip install audiomentations to compare)")

    clips = speech_clips(args.clips)
    seconds = sum(clip.duration_s for clip in clips)
    print(f"{len(clips)} clips, {seconds:.1f} s of speech at {RATE} Hz mono; best of {args.repeats}; "
          f"cpu: {os.cpu_count()} cores (shared), numpy {np.__version__}"
          + (f", audiomentations {audiomentations.__version__}" if audiomentations else ""))
    if audiomentations:
        import librosa  # noqa: F401 - imported here so the JIT cost below is librosa's alone

        started = time.perf_counter()
        audiomentations.TimeStretch(p=1.0, method="librosa_phase_vocoder")(samples=clips[0].samples[:, 0], sample_rate=RATE)
        print(f"audiomentations/librosa first phase-vocoder call (numba JIT, once per process): "
              f"{time.perf_counter() - started:.2f} s")
    print()
    print("| operation | augmill (s audio / s) | audiomentations (s audio / s) |")
    print("|---|---:|---:|")
    for label, entries, build in CASES:
        mine = seconds / best_time(ours(clips, entries), args.repeats)
        other = "—"
        if audiomentations and build is not None:
            other = f"{seconds / best_time(theirs(clips, build(audiomentations)), args.repeats):,.0f}"
        print(f"| {label} | {mine:,.0f} | {other} |")
    if audiomentations:
        for label, build in THEIR_EXTRA:
            other = seconds / best_time(theirs(clips, build(audiomentations)), args.repeats)
            print(f"| {label}, audiomentations' default Signalsmith Stretch | — | {other:,.0f} |")

    example = [{"name": "time_shift", "p": 0.5, "shift": [-0.1, 0.1]}, {"name": "time_stretch", "p": 0.4, "rate": [0.85, 1.15]},
               {"name": "pitch_shift", "p": 0.4, "semitones": [-2, 2]}, {"name": "speed", "p": 0.3, "rate": [0.9, 1.1]},
               {"name": "fast_forward", "p": 0.2, "length": [0.1, 0.25], "rate": [1.5, 2.5]},
               {"name": "cut_segment", "p": 0.1, "length": [0.03, 0.08]}, {"name": "gain", "p": 0.5, "gain_db": [-6, 6]},
               {"name": "add_noise", "p": 0.5, "snr_db": [10, 30]}]
    mine = seconds / best_time(ours(clips, example), args.repeats)
    other = "—"
    if audiomentations:
        a = audiomentations
        compose = a.Compose([a.Shift(min_shift=-0.1, max_shift=0.1, rollover=False, p=0.5),
                             a.TimeStretch(min_rate=0.85, max_rate=1.15, leave_length_unchanged=False,
                                           method="librosa_phase_vocoder", p=0.4),
                             a.PitchShift(min_semitones=-2, max_semitones=2, method="librosa_phase_vocoder", p=0.4),
                             a.Gain(min_gain_db=-6, max_gain_db=6, p=0.5), a.AddGaussianSNR(min_snr_db=10, max_snr_db=30, p=0.5)])
        other = f"{seconds / best_time(theirs(clips, compose), args.repeats):,.0f}"
    print(f"| examples/audio.yaml policy (theirs: the 5 ops it has) | {mine:,.0f} | {other} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
