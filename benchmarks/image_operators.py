"""Per-operator speed of augmill's image operators beside albumentations 2.0.8's equivalents,
in one run on one machine, and of RandAugment (n=2, m=9) end to end.

Each operator draws its parameters and applies them to 256x256 RGB photo-like images (a
smooth gradient with noise), in memory, each library on the ``numpy`` array it works on
between operators (augmill's policy converts a Pillow image to its pixels once per sample,
not per operator: that copy is in the end-to-end rows); each library in a process of its
own (see ``measure``), the median of the rounds kept. End to end: JPEG bytes decoded, the
policy run, JPEG encoded (quality 95), augmill with Pillow as its stage does, albumentations
with OpenCV, for augmill's RandAugment preset beside albumentations' ``SomeOf`` the same 14
operators at the same magnitude (albumentations has no RandAugment); and once more with augmill's
side decoding and encoding with OpenCV instead of Pillow (END_TO_END_OPENCV_IO: not the stage today,
the same bytes, checked). Run it on an idle machine.

Run by hand, from the project root (albumentations is not a dependency):

    .venv/bin/pip install albumentations==2.0.8
    .venv/bin/python benchmarks/image_operators.py [--images 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np
from PIL import Image

from augmill.tasks.ops import policy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository's benchmarks/
from benchmarks.augment_images import (  # noqa: E402  (the standard policy: flip, rotate, crop, colour jitter, noise)
    POLICY,
    standard_policy_in_albumentations,
)

# augmill entry -> albumentations transform (always applied), with matching magnitudes.
PAIRS = {
    "gaussian_blur": ({"name": "gaussian_blur", "sigma": [0.5, 2.0]},
                      lambda A: A.GaussianBlur(sigma_limit=(0.5, 2.0), blur_limit=0, p=1.0)),
    "motion_blur": ({"name": "motion_blur", "length": [3, 9]}, lambda A: A.MotionBlur(blur_limit=(3, 9), p=1.0)),
    "sharpness": ({"name": "sharpness", "factor": [1.2, 2.0]}, lambda A: A.Sharpen(p=1.0)),
    "jpeg": ({"name": "jpeg", "quality": [50, 95]}, lambda A: A.ImageCompression(quality_range=(50, 95), p=1.0)),
    "grayscale": ({"name": "grayscale"}, lambda A: A.ToGray(num_output_channels=3, p=1.0)),
    "posterize": ({"name": "posterize", "bits": [4, 8]}, lambda A: A.Posterize(num_bits=(4, 8), p=1.0)),
    "solarize": ({"name": "solarize", "threshold": [128, 256]},
                 lambda A: A.Solarize(threshold_range=(0.5, 1.0), p=1.0)),
    "equalize": ({"name": "equalize"}, lambda A: A.Equalize(p=1.0)),
    "autocontrast": ({"name": "autocontrast", "cutoff": [0, 2]}, lambda A: A.AutoContrast(cutoff=1, p=1.0)),
    "erasing": ({"name": "erasing", "holes": [1, 4], "size": [0.1, 0.3]},
                lambda A: A.CoarseDropout(num_holes_range=(1, 4), hole_height_range=(0.1, 0.3),
                                          hole_width_range=(0.1, 0.3), p=1.0)),
    "affine": ({"name": "affine", "translate_x": [-0.1, 0.1], "translate_y": [-0.1, 0.1], "scale": [0.9, 1.1],
                "shear_x": [-10, 10]},
               lambda A: A.Affine(translate_percent=(-0.1, 0.1), scale=(0.9, 1.1), shear={"x": (-10, 10), "y": 0},
                                  p=1.0)),
    "perspective": ({"name": "perspective", "distortion": [0.0, 0.2]},
                    lambda A: A.Perspective(scale=(0.0, 0.1), keep_size=True, p=1.0)),
    "elastic": ({"name": "elastic", "alpha": [1.0, 4.0]}, lambda A: A.ElasticTransform(alpha=4.0, sigma=50.0, p=1.0)),
}


RANDAUGMENT = "randaugment n=2 m=9"
END_TO_END = "randaugment n=2 m=9, JPEG in and out"
# augmill's side decoding and encoding with OpenCV's libjpeg-turbo instead of Pillow's: not what the augment stage
# does today (tasks/imaging.py's load_image and encode_image use Pillow), but the same bytes on these images (the
# side checks it); albumentations' side is its END_TO_END row again.
END_TO_END_OPENCV_IO = "randaugment n=2 m=9, JPEG in and out, augmill with OpenCV's codec"
STANDARD = "standard policy, JPEG in and out"


def images(count: int, size: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, size)
    out = []
    for _ in range(count):
        base = ramp[None, :, None] * rng.uniform(0.5, 1.0, 3) + ramp[:, None, None] * rng.uniform(0.0, 0.3, 3)
        out.append(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    return out


def randaugment_in_albumentations(A, cv2):
    """RandAugment n=2, m=9 of 30 written with albumentations: 2 of torchvision's 14 operators, drawn
    with replacement, at its magnitude 9 (shear 0.09 = 5.1 degrees, translate 0.136 of the side,
    rotate 9 degrees, enhance factors 1 +- 0.27, posterize 7 bits, solarize at 178). Each chosen operator
    is applied (p=1), as RandAugment does: albumentations' default p=0.5 for each would skip half of
    them (measured with the default: 30% of samples came out unchanged, against 0.4% with p=1)."""
    border = {"border_mode": cv2.BORDER_CONSTANT, "fill": 0, "p": 1.0}
    single = {"brightness": (1, 1), "contrast": (1, 1), "saturation": (1, 1), "hue": (0, 0), "p": 1.0}
    always = {"p": 1.0}
    return A.SomeOf([
        A.NoOp(**always),
        A.Affine(shear={"x": (-5.14, 5.14), "y": 0}, **border),
        A.Affine(shear={"x": 0, "y": (-5.14, 5.14)}, **border),
        A.Affine(translate_percent={"x": (-0.136, 0.136), "y": 0}, **border),
        A.Affine(translate_percent={"x": 0, "y": (-0.136, 0.136)}, **border),
        A.Affine(rotate=(-9, 9), **border),
        A.ColorJitter(**single | {"brightness": (0.73, 1.27)}),
        A.ColorJitter(**single | {"saturation": (0.73, 1.27)}),
        A.ColorJitter(**single | {"contrast": (0.73, 1.27)}),
        A.Sharpen(alpha=(0.27, 0.27), **always),
        A.Posterize(num_bits=7, **always),
        A.Solarize(threshold_range=(0.7, 0.7), **always),
        A.AutoContrast(cutoff=0, **always),
        A.Equalize(**always),
    ], n=2, replace=True, p=1.0)


def jpegs(arrays: list[np.ndarray]) -> list[bytes]:
    out = []
    for array in arrays:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "JPEG", quality=95)
        out.append(buffer.getvalue())
    return out


def per_image_ms(run, items) -> float:
    # The process's CPU time, not the wall clock: on a shared machine the wall clock also counts the time
    # other processes hold the cores (at load 9 on 2 cores, ratios moved by tens of percent between runs);
    # each side runs one thread, so on an idle machine the two clocks agree.
    started = time.process_time()
    for item in items:
        run(item)
    return (time.process_time() - started) * 1000 / len(items)


def measure(side: str, count: int, rounds: int) -> dict[str, float]:
    """Median ms per image of every operator (and augmill's RandAugment preset) on one side.
    Each side runs in a process of its own: importing albumentations imports torch, and with it
    loaded augmill's own numpy/OpenCV code ran up to 5x slower in the same process (measured)."""
    import cv2

    cv2.setNumThreads(1)  # one core each, as one augment worker
    arrays = images(count)
    encoded = jpegs(arrays)
    if side == "albumentations":
        import albumentations as A

        transforms = {name: make(A) for name, (_, make) in PAIRS.items()}
        timed = {name: (lambda array, t=transform: t(image=array)) for name, transform in transforms.items()}
        randaugment = randaugment_in_albumentations(A, cv2)
        timed[RANDAUGMENT] = lambda array: randaugment(image=array)

        standard = standard_policy_in_albumentations(A, cv2)

        def end_to_end(data: bytes, transform) -> bytes:
            array = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            out = cv2.cvtColor(transform(image=array)["image"], cv2.COLOR_RGB2BGR)
            return cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

        whole = {END_TO_END: (end_to_end, randaugment), END_TO_END_OPENCV_IO: (end_to_end, randaugment),
                 STANDARD: (end_to_end, standard)}
    else:
        from augmill.tasks.imaging import keep_freed_memory

        keep_freed_memory()  # as augmill's augment stage does in each worker
        timed = {}
        for name, (entry, _) in PAIRS.items():
            ops, rng = policy.build_policy([dict(entry, p=1.0)], "image"), np.random.default_rng(1)
            timed[name] = lambda array, ops=ops, rng=rng: policy.run_policy(ops, rng, array)
        preset, rng = policy.build_policy({"preset": "randaugment", "n": 2, "m": 9}, "image"), np.random.default_rng(2)
        timed[RANDAUGMENT] = lambda array: policy.run_policy(preset, rng, array)

        def end_to_end(data: bytes, ops, draws=rng) -> bytes:  # as the augment stage: Pillow decodes, the policy, Pillow encodes
            with Image.open(io.BytesIO(data)) as image:
                out, _ = policy.run_policy(ops, draws, image.convert("RGB"))
            buffer = io.BytesIO()
            out.save(buffer, "JPEG", quality=95)
            return buffer.getvalue()

        def end_to_end_opencv(data: bytes, ops, draws=rng) -> bytes:  # OpenCV decodes to RGB, the policy, OpenCV encodes
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
            out, _ = policy.run_policy(ops, draws, pixels)
            return cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

        for seed, data in enumerate(encoded[:20]):  # the row stands for the stage only while the codecs agree
            pillow = end_to_end(data, preset, np.random.default_rng(seed))
            if end_to_end_opencv(data, preset, np.random.default_rng(seed)) != pillow:
                raise SystemExit("Pillow's and OpenCV's JPEG codecs gave other bytes: the OpenCV row would not be the stage")
        whole = {END_TO_END: (end_to_end, preset), END_TO_END_OPENCV_IO: (end_to_end_opencv, preset),
                 STANDARD: (end_to_end, policy.build_policy(POLICY, "image"))}
    figures = {name: min(per_image_ms(run, arrays) for _ in range(rounds)) for name, run in timed.items()}
    for name, (run, transform) in whole.items():
        figures[name] = min(per_image_ms(lambda data, r=run, t=transform: r(data, t), encoded) for _ in range(rounds))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="processes per library, alternating")
    parser.add_argument("--side", choices=("augmill", "albumentations"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(args.side, args.images, args.rounds)))
        return
    # The libraries take turns, a process each, so a change in the machine's load hits both alike; each
    # process keeps its best of 3 passes over the images, and the median of the processes is reported.
    runs: dict[str, list[dict]] = {"augmill": [], "albumentations": []}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for side in runs:
            command = [sys.executable, __file__, "--side", side, "--images", str(args.images), "--rounds", "3"]
            runs[side].append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    sides = {side: {name: median(run[name] for run in results) for name in results[0]} for side, results in runs.items()}
    load_after = os.getloadavg()
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    import cv2

    print(f"# {cpu}, OpenCV CPU features: {cv2.getCPUFeaturesLine()}; Python {platform.python_version()}, "
          f"albumentations {version('albumentations')}, OpenCV {version('opencv-python-headless')}; {args.images} "
          f"256x256 RGB images; one thread; {args.rounds} processes per library, alternating (each its best of "
          f"3 passes, CPU time), medians; load average before {load_before[0]:.2f}, after {load_after[0]:.2f}\n")
    print("| operator | augmill ms/img | albumentations ms/img | augmill speed vs albumentations |")
    print("|---|---|---|---|")
    for name in PAIRS:
        ours, theirs = sides["augmill"][name], sides["albumentations"][name]
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.2f}x |")
    for name in (RANDAUGMENT, END_TO_END, END_TO_END_OPENCV_IO, STANDARD):
        ours, theirs = sides["augmill"][name], sides["albumentations"][name]
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.2f}x |")
    print("\nRandAugment: augmill's preset beside albumentations' SomeOf(n=2, replace=True) of the same 14 operators "
          "at magnitude 9 (randaugment_in_albumentations).")


if __name__ == "__main__":
    main()
