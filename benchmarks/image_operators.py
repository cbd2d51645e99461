"""Per-operator speed of augmill's image operators beside albumentations 2.0.8's equivalents,
in one run on one machine, and of a RandAugment-style policy end to end (n=2, m=9).

Each operator draws its parameters and applies them to 256x256 RGB photos-like images (a
smooth gradient with noise), in memory: augmill on the ``PIL.Image`` its stages hold,
albumentations on the ``numpy`` array it takes; each library in a process of its own (see
``measure``), the median of the rounds kept. Run it on an idle machine.

Run by hand, from the project root (albumentations is not a dependency):

    .venv/bin/pip install albumentations==2.0.8
    .venv/bin/python benchmarks/image_operators.py [--images 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from statistics import median

import numpy as np
from PIL import Image

from tasks.ops import policy

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


def images(count: int, size: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, size)
    out = []
    for _ in range(count):
        base = ramp[None, :, None] * rng.uniform(0.5, 1.0, 3) + ramp[:, None, None] * rng.uniform(0.0, 0.3, 3)
        out.append(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    return out


def per_image_ms(run, items) -> float:
    started = time.perf_counter()
    for item in items:
        run(item)
    return (time.perf_counter() - started) * 1000 / len(items)


def measure(side: str, count: int, rounds: int) -> dict[str, float]:
    """Median ms per image of every operator (and augmill's RandAugment preset) on one side.
    Each side runs in a process of its own: importing albumentations imports torch, and with it
    loaded augmill's own numpy/OpenCV code ran up to 5x slower in the same process (measured)."""
    import cv2

    cv2.setNumThreads(1)  # one core each, as one augment worker
    arrays = images(count)
    if side == "albumentations":
        import albumentations as A

        transforms = {name: make(A) for name, (_, make) in PAIRS.items()}
        timed = {name: (lambda array, t=transform: t(image=array)) for name, transform in transforms.items()}
        items = arrays
    else:
        timed = {}
        for name, (entry, _) in PAIRS.items():
            ops, rng = policy.build_policy([dict(entry, p=1.0)], "image"), np.random.default_rng(1)
            timed[name] = lambda image, ops=ops, rng=rng: policy.run_policy(ops, rng, image)
        preset, rng = policy.build_policy({"preset": "randaugment", "n": 2, "m": 9}, "image"), np.random.default_rng(2)
        timed["randaugment n=2 m=9"] = lambda image: policy.run_policy(preset, rng, image)
        items = [Image.fromarray(a) for a in arrays]
    return {name: median(per_image_ms(run, items) for _ in range(rounds)) for name, run in timed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--side", choices=("augmill", "albumentations"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(args.side, args.images, args.rounds)))
        return
    sides = {}
    for side in ("augmill", "albumentations"):
        command = [sys.executable, __file__, "--side", side, "--images", str(args.images), "--rounds", str(args.rounds)]
        sides[side] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"# {cpu}, Python {platform.python_version()}, albumentations {version('albumentations')}, OpenCV "
          f"{version('opencv-python-headless')}; {args.images} 256x256 RGB images, median of {args.rounds} rounds, "
          "one thread, each library in its own process\n")
    print("| operator | augmill ms/img | albumentations ms/img | augmill speed vs albumentations |")
    print("|---|---|---|---|")
    for name in PAIRS:
        ours, theirs = sides["augmill"][name], sides["albumentations"][name]
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.2f}x |")
    print(f"\nRandAugment n=2 m=9 (augmill preset): {sides['augmill']['randaugment n=2 m=9']:.3f} ms/img; "
          "albumentations 2.0.8 has no RandAugment (torchvision v2's needs torch tensors: not compared here).")


if __name__ == "__main__":
    main()
