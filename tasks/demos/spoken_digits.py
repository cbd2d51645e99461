"""The audio demo: the digits "zero" to "nine" spoken by Debian's espeak-ng speech
synthesiser in several voices, speaking rates, pitches and levels, generated at
prepare time (nothing downloaded), written as a real ``split/label/file`` tree.

The files are deliberately mixed, as a real collection is: WAV 8/16/24-bit and
float, FLAC, 11.025-44.1 kHz, mono and stereo. The train split is made
imbalanced on purpose (prepare.imbalance), as in the image demo.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from augmill.tasks.demos.digits import plan_demo_splits
from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.modalities.audio.io import decode, encode
from augmill.tasks.modalities.audio.signal import Clip, conform
from augmill.tasks.params import Params
from augmill.tasks.seeding import rank

NAME = "spoken_digits"
MODALITY = "audio"

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb-x-rp+f2", "en-us+m3", "en-gb+f4"]
SPEEDS = [130, 165, 200]     # words per minute
PITCHES = [30, 50, 70]       # espeak-ng's 0..99 pitch scale
AMPLITUDES = [60, 100, 150]  # espeak-ng's 0..200 level scale; drawn per clip, not per class
# (file format, subtype, sample rate, channels): drawn per clip by a stable hash.
ENCODINGS = [("wav", "PCM_16", 22050, 1), ("flac", "PCM_16", 16000, 1), ("wav", "PCM_24", 44100, 2),
             ("wav", "FLOAT", 22050, 1), ("wav", "PCM_U8", 11025, 1), ("flac", "PCM_24", 48000, 1)]


def espeak_program() -> str:
    program = shutil.which("espeak-ng")
    if program is None:
        raise RuntimeError("prepare.dataset spoken_digits needs the espeak-ng speech synthesiser: "
                           "install the Debian package espeak-ng (apt-get install -y espeak-ng), "
                           "or choose another prepare.dataset")
    return program


def speak(program: str, word: str, voice: str, speed: int, pitch: int, amplitude: int, folder: Path) -> Clip:
    target = folder / "speech.wav"
    command = [program, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude), "-w", str(target), word]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"espeak-ng failed ({' '.join(command)}): {result.stderr.strip()}")
    return decode(target)[0]


def clip_plan() -> list[tuple[str, str, int, int]]:
    """Every (word, voice, speed, pitch) the demo can make, in a fixed order; index = its id."""
    return list(itertools.product(WORDS, VOICES, SPEEDS, PITCHES))


def write(params: Params, staging: Path) -> int:
    """Write the demo into the (empty) folder ``staging``; return the number of files."""
    program = espeak_program()
    plan = clip_plan()
    labels = np.array([WORDS.index(word) for word, *_ in plan])
    splits = plan_demo_splits(labels, params)
    written = 0
    with tempfile.TemporaryDirectory() as scratch:
        for index, (word, voice, speed, pitch) in enumerate(plan):
            split = splits.get(index)
            if split is None:
                continue
            choice = rank(params.seed, "demo_clip", str(index))
            amplitude = AMPLITUDES[choice % len(AMPLITUDES)]
            file_format, subtype, rate, channels = ENCODINGS[(choice // 7) % len(ENCODINGS)]
            clip = conform(speak(program, word, voice, speed, pitch, amplitude, Path(scratch)), rate,
                           "stereo" if channels == 2 else "mono")
            peak = float(np.max(np.abs(clip.samples)))
            if peak > 1.0:  # resampling a loud clip can overshoot full scale by a little
                clip = clip.with_samples(clip.samples / peak)
            name = f"{word}_{voice.replace('+', '_')}_s{speed}_p{pitch}.{file_format}"
            write_bytes_atomic(staging / split / word / name, encode(clip, file_format, subtype))
            written += 1
    return written
