"""Images + masks + boxes through the standard geometric policy: prints, in one run on one machine,
images/s of augmill without targets, augmill with targets (instance masks, polygons, boxes) and
albumentations 2.0.8 doing the same operators with the same targets (when installed). In memory:
no decode or encode, so this is the operators' cost alone.

    python benchmarks/targets_throughput.py --n 300 --side 256 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from augmill.tasks.modalities.image.ops_targets import TargetObject, TargetRules, Targets, box_of_mask, run_policy_with_targets
from augmill.tasks.modalities.image.shapes import generate_image
from augmill.tasks.ops.policy import build_policy, run_policy

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


def best_of_alternating(rounds: int, works: dict) -> dict[str, float]:
    """Each contender's best time over ``rounds``, the contenders taking turns within each round, so
    a change of load on the shared machine reaches all of them alike."""
    best = dict.fromkeys(works, float("inf"))
    for _ in range(rounds):
        for name, work in works.items():
            start = time.perf_counter()
            work()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the targets alone (replayed from the recorded ops, no image work): "
                             "with masks, without masks (outlines and boxes only), without objects")
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

    works = {"augmill, image only": plain, "augmill, image + masks + boxes": with_targets}
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

        works["albumentations " + A.__version__ + ", image + masks + boxes"] = albumentations
    except ImportError:
        pass
    results = best_of_alternating(args.rounds, works)
    print(f"{args.n} images {args.side}x{args.side}, {objects} objects (instance mask + polygon + box each), "
          f"best of {args.rounds} alternating rounds, load average {os.getloadavg()[0]:.2f}")
    for name, seconds in results.items():
        print(f"  {name:50s} {args.n / seconds:8.1f} images/s")
    ratio = results["augmill, image only"] / results["augmill, image + masks + boxes"]
    print(f"  with targets / without: {ratio:.2f}")
    for name, seconds in results.items():
        if name.startswith("albumentations"):
            print(f"  augmill with targets / {name.split(',')[0]}: {seconds / results['augmill, image + masks + boxes']:.2f}x")
    if args.breakdown:
        breakdown(items, ops, args.rounds)


def breakdown(items: list, ops: list, rounds: int) -> None:
    """The targets' own cost per image, apart from the pixels: replay_targets on each image's recorded
    ops, with every object whole, without masks, and without objects (the runs' maps alone). In
    the benchmark proper they cost more: they run between image operators that have just been
    through the caches."""
    from dataclasses import replace

    from augmill.tasks.modalities.image.ops_targets import replay_targets

    records = [run_policy(ops, np.random.default_rng(k), image)[1] for k, (image, _) in enumerate(items)]
    variants = {"masks + polygons + boxes": [t for _, t in items],
                "polygons + boxes (no masks)": [replace(t, objects=tuple(replace(o, mask=None) for o in t.objects))
                                                for _, t in items],
                "no objects": [replace(t, objects=()) for _, t in items]}

    def replay_all(targets: list) -> None:
        for t, r in zip(targets, records, strict=True):
            replay_targets(t, r, TargetRules())  # not kept: each image's masks freed, as in the benchmark proper

    works = {name: (lambda targets=targets: replay_all(targets)) for name, targets in variants.items()}
    best = best_of_alternating(rounds, works)
    print(f"  targets alone (replay_targets on the recorded ops), best of {rounds}, load average {os.getloadavg()[0]:.2f}:")
    for name, seconds in best.items():
        print(f"    {name:48s} {seconds / len(items) * 1e6:8.1f} us per image")


if __name__ == "__main__":
    main()
