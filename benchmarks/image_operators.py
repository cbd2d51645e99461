"""Per-operator speed of augmill's image operators beside albumentations 2.0.8's equivalents,
in one run on one machine, and of a RandAugment-style policy end to end (n=2, m=9).

Each operator draws its parameters and applies them to 256x256 RGB photos-like images (a
smooth gradient with noise), in memory: augmill on the ``PIL.Image`` its stages hold,
albumentations on the ``numpy`` array it takes. Rounds alternate between the two libraries,
and the median of the rounds is kept, so a machine's load hits both alike.

Run by hand, from the project root (albumentations is not a dependency):

    .venv/bin/pip install albumentations==2.0.8
    .venv/bin/python benchmarks/image_operators.py [--images 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import platform
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


def per_image_ms(run, items, rounds_out: list[float]) -> None:
    started = time.perf_counter()
    for item in items:
        run(item)
    rounds_out.append((time.perf_counter() - started) * 1000 / len(items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import albumentations as A
    import cv2

    cv2.setNumThreads(1)  # one core each, as one augment worker
    arrays = images(args.images)
    pils = [Image.fromarray(a) for a in arrays]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"# {cpu}, {platform.python_version()}, albumentations {A.__version__}, OpenCV {cv2.__version__}; "
          f"{args.images} 256x256 RGB images, median of {args.rounds} alternating rounds, one thread\n")
    print("| operator | augmill ms/img | albumentations ms/img | augmill speed vs albumentations |")
    print("|---|---|---|---|")
    for name, (entry, make) in PAIRS.items():
        ops = policy.build_policy([dict(entry, p=1.0)], "image")
        transform = make(A)
        rng = np.random.default_rng(1)
        ours, theirs = [], []
        for _ in range(args.rounds):
            per_image_ms(lambda image, ops=ops, rng=rng: policy.run_policy(ops, rng, image), pils, ours)
            per_image_ms(lambda array, transform=transform: transform(image=array), arrays, theirs)
        print(f"| {name} | {median(ours):.3f} | {median(theirs):.3f} | {median(theirs) / median(ours):.2f}x |")

    preset = policy.build_policy({"preset": "randaugment", "n": 2, "m": 9}, "image")
    rng = np.random.default_rng(2)
    ours = []
    for _ in range(args.rounds):
        per_image_ms(lambda image: policy.run_policy(preset, rng, image), pils, ours)
    print(f"\nRandAugment n=2 m=9 (augmill preset): {median(ours):.3f} ms/img; albumentations 2.0.8 has no "
          "RandAugment (torchvision v2's needs torch tensors: not compared here).")


if __name__ == "__main__":
    main()
