"""Images + masks + boxes through the standard geometric policy: prints, in one run on one machine,
images/s of augmill without targets, augmill with targets (instance masks, polygons, boxes) and
albumentations 2.0.8 doing the same operators with the same targets (when installed). In memory:
no decode or encode, so this is the operators' cost alone.

    python benchmarks/targets_throughput.py --n 300 --side 256
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from augmill.tasks.modalities.image_shapes import generate_image
from augmill.tasks.ops.policy import build_policy, run_policy
from augmill.tasks.ops.targets import TargetObject, TargetRules, Targets, box_of_mask, run_policy_with_targets

POLICY = [{"name": "hflip", "p": 0.5}, {"name": "rotate", "p": 0.5, "angle": [-15, 15]},
          {"name": "random_resized_crop", "p": 0.5, "scale": [0.5, 1.0]}, {"name": "brightness", "p": 0.5}]


def dataset(n: int, side: int):
    rng = np.random.default_rng(0)
    items = []
    for _ in range(n):
        image, shapes = generate_image(rng, side, side, rare_share=0.2)
        objects = tuple(TargetObject(str(k), c, box_of_mask(m), (outline,), m) for k, (c, outline, m) in enumerate(shapes))
        items.append((image, Targets(side, side, objects)))
    return items


def best_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--side", type=int, default=256)
    args = parser.parse_args()
    items = dataset(args.n, args.side)
    ops = build_policy(POLICY, "image")
    objects = sum(len(t.objects) for _, t in items)

    def plain():
        for k, (image, _) in enumerate(items):
            run_policy(ops, np.random.default_rng(k), image)

    def with_targets():
        for k, (image, targets) in enumerate(items):
            run_policy_with_targets(ops, np.random.default_rng(k), image, targets, TargetRules())

    results = {"augmill, image only": best_of(3, plain), "augmill, image + masks + boxes": best_of(3, with_targets)}
    try:
        import albumentations as A

        compose = A.Compose([A.HorizontalFlip(p=0.5), A.Rotate(limit=15, p=0.5, border_mode=0),
                             A.RandomResizedCrop(size=(args.side, args.side), scale=(0.5, 1.0), p=0.5),
                             A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.0, p=0.5)],
                            bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]), seed=0)
        arrays = [(np.asarray(image), [o.mask for o in t.objects], [list(o.box) for o in t.objects],
                   [o.category for o in t.objects]) for image, t in items]

        def albumentations():
            for image, masks, boxes, labels in arrays:
                compose(image=image, masks=masks, bboxes=boxes, labels=labels)

        results["albumentations " + A.__version__ + ", image + masks + boxes"] = best_of(3, albumentations)
    except ImportError:
        pass
    print(f"{args.n} images {args.side}x{args.side}, {objects} objects (instance mask + polygon + box each), best of 3")
    for name, seconds in results.items():
        print(f"  {name:50s} {args.n / seconds:8.1f} images/s")
    ratio = results["augmill, image only"] / results["augmill, image + masks + boxes"]
    print(f"  with targets / without: {ratio:.2f}")


if __name__ == "__main__":
    main()
