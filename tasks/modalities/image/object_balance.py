"""bias for annotated images: imbalance counted in objects per class, and a plan that gives
more variants to the images holding rare classes. Each variant of an image repeats all of its
objects (before any crop drops), so when rare and common classes share images, raising the rare
class also raises the common one: the plan says how far balance can go.

Greedy and deterministic: while the class furthest below the largest class can still grow, add a
variant to the image (with room left under ``max_variants_per_image``) that holds it and brings
the fewest other objects per rare object; ties by sample id.
"""

from __future__ import annotations

from collections import Counter

from augmill.tasks.modalities.image.annotations import AnnotatedImage


def class_counts(images: list[AnnotatedImage]) -> Counter:
    return Counter(obj.category for image in images for obj in image.targets.objects)


def _imbalance(counts: Counter) -> float:
    return max(counts.values()) / min(counts.values()) if counts and min(counts.values()) > 0 else float("inf")


def object_balance_plan(images: list[AnnotatedImage], max_variants_per_image: int) -> dict:
    per_image = {image.sample_id: Counter(obj.category for obj in image.targets.objects) for image in images}
    before = class_counts(images)
    projected = Counter(before)
    variants = Counter()
    chosen_for: dict[str, Counter] = {}  # image -> the rare classes it was given variants for
    target = max(before.values(), default=0)
    stuck: set[int] = set()
    while True:
        growable = [c for c in projected if projected[c] < target and c not in stuck]
        if not growable:
            break
        rare = min(growable, key=lambda c: (projected[c] / target, c))
        holders = [(sum(counts.values()) / counts[rare] - 1, sample_id) for sample_id, counts in per_image.items()
                   if counts[rare] and variants[sample_id] < max_variants_per_image]
        if not holders:
            stuck.add(rare)
            continue
        _, chosen = min(holders)
        variants[chosen] += 1
        chosen_for.setdefault(chosen, Counter())[rare] += 1
        projected.update(per_image[chosen])
        target = max(projected.values())
    short = sorted(c for c in stuck if projected[c] < target)
    return {
        "objects_per_class": dict(sorted(before.items())), "projected_objects_per_class": dict(sorted(projected.items())),
        "variants_per_image": dict(sorted((k, v) for k, v in variants.items() if v)),
        # The class each image's variants were mostly added for (ties: the smaller id): what a
        # keep_objects crop keeps.
        "class_per_image": {k: min(c, key=lambda cat: (-c[cat], cat)) for k, c in sorted(chosen_for.items())},
        "imbalance_before": round(_imbalance(before), 3), "imbalance_after": round(_imbalance(projected), 3),
        # Classes still below the largest when their images ran out of room (or always come with it).
        "limited_classes": short,
    }
