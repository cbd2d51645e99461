"""validate's image checks on public images that ship inside installed packages: how many
variants of the standard policy they accept, and how many deliberately destroyed ones
they catch, with the default thresholds (tasks/params.py ValidateParams).

Datasets (none is the digits demo; large images are cut into tiles, said per set):
- photos: scikit-learn's two sample photos (china, flower, 427x640) and scikit-image's
  astronaut, chelsea, coffee, rocket, motorcycle_left, hubble_deep_field, as 128x128 tiles
  (stride 96) and each photo whole at 256 px on its long side;
- grey: scikit-image's grey images (camera, coins, moon, page, text, brick, grass,
  gravel, clock_motion, horse) as 128x128 tiles, and its lfw_subset (200 face crops, 25x25);
- medical: scikit-image's microscopy and fundus images (cell, ihc, microaneurysms,
  retina, phantom) and matplotlib's MRI slice s1045.ima, as 128x128 tiles;
- digits: scikit-learn's digits at 32 px (the demo's source data, for comparison).

The standard policy: hflip p 0.5, then rotate +-15 deg, random resized crop scale 0.8-1.0,
brightness 0.8-1.2 and Gaussian noise sigma 5-10, each with probability --p (default 1:
every variant gets every transform, the hardest case). Destructive variants: a standard
variant then made black, 90 % erased (a black box over 90 % of the area), replaced by pure
uniform noise, or with its red and blue channels swapped (colour images only); each keeps
the recorded ops of the standard variant it was made from.

Run by hand from the project root (scikit-image is the `bench` extra):

    python benchmarks/validate_images.py            # 3 variants per source
    python benchmarks/validate_images.py --p 0.5 --variants 2
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
from PIL import Image

from augmill.tasks.imaging import pixel_stats, similarity
from augmill.tasks.modalities.image.checks import compare
from augmill.tasks.ops.policy import build_policy, run_policy, sample_seed
from augmill.tasks.params import ValidateParams


def tiles(image: Image.Image, side: int = 128, stride: int = 96) -> list[Image.Image]:
    width, height = image.size
    return [image.crop((x, y, x + side, y + side))
            for y in range(0, height - side + 1, stride) for x in range(0, width - side + 1, stride)]


def whole(image: Image.Image, side: int = 256) -> Image.Image:
    scale = side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def _skimage_file(name: str) -> Path:
    """A file of the scikit-image wheel itself (read directly: skimage.data would fetch
    what is not shipped)."""
    import skimage

    return Path(skimage.__file__).parent / "data" / name


def _skimage(name: str) -> Image.Image:
    image = Image.open(_skimage_file(name))
    image = image.convert("RGB" if image.mode in ("RGBA", "P", "RGB") else "L")
    pixels = np.asarray(image)
    if image.mode == "RGB" and (pixels == pixels[..., :1]).all():  # grey stored as RGB (phantom): no colour to swap
        return image.convert("L")
    return image


def _mri() -> Image.Image:
    import matplotlib.cbook

    with gzip.open(matplotlib.cbook.get_sample_data("s1045.ima.gz", asfileobj=False)) as handle:
        pixels = np.frombuffer(handle.read(), np.uint16).reshape(256, 256).astype(np.float64)
    return Image.fromarray(np.round(pixels / pixels.max() * 255).astype(np.uint8), "L")


def datasets() -> dict[str, list[Image.Image]]:
    from sklearn.datasets import load_digits, load_sample_images

    photos = [Image.fromarray(p) for p in load_sample_images().images]
    photos += [_skimage(n) for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                                     "hubble_deep_field.jpg")]
    grey = [_skimage(n).convert("L") for n in ("camera.png", "coins.png", "moon.png", "page.png", "text.png", "brick.png",
                                               "grass.png", "gravel.png", "clock_motion.png", "horse.png")]
    faces = [Image.fromarray(np.round(255 * f).astype(np.uint8)) for f in np.load(_skimage_file("lfw_subset.npy"))]
    medical = [_skimage(n) for n in ("cell.png", "ihc.png", "microaneurysms.png", "retina.jpg", "phantom.png")]
    medical.append(_mri())
    digits = [Image.fromarray((d * 255 / 16).astype(np.uint8)).resize((32, 32), Image.Resampling.BILINEAR)
              for d in load_digits().images[:300]]
    return {
        "photos": [t for p in photos for t in tiles(p)] + [whole(p) for p in photos],
        "grey": [t for g in grey for t in tiles(g)] + faces,
        "medical": [t for m in medical for t in tiles(whole(m, 512) if max(m.size) > 512 else m)],
        "digits (demo)": digits,
    }


def standard_policy(p: float) -> list:
    return build_policy([{"name": "hflip", "p": 0.5}, {"name": "rotate", "p": p, "angle": [-15, 15]},
                         {"name": "random_resized_crop", "p": p, "scale": [0.8, 1.0]},
                         {"name": "brightness", "p": p, "factor": [0.8, 1.2]},
                         {"name": "gaussian_noise", "p": p, "sigma": [5, 10]}], "image")


def destroyed(variant: Image.Image, how: str, rng: np.random.Generator) -> Image.Image | None:
    pixels = np.asarray(variant).copy()
    if how == "black":
        return Image.fromarray(np.zeros_like(pixels))
    if how == "erased 90%":
        h, w = pixels.shape[:2]
        bh, bw = round(h * 0.9 ** 0.5), round(w * 0.9 ** 0.5)  # 90 % of the area
        top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        pixels[top:top + bh, left:left + bw] = 0
        return Image.fromarray(pixels)
    if how == "pure noise":
        return Image.fromarray(rng.integers(0, 256, pixels.shape, dtype=np.uint8))
    if how == "channel swap":
        return Image.fromarray(pixels[..., ::-1].copy()) if pixels.ndim == 3 else None
    raise ValueError(how)


def failed_checks(source: Image.Image, variant: Image.Image, ops: list[dict], bounds: ValidateParams) -> list[str]:
    """The reason codes validate would give (the pixel checks as well as the comparisons)."""
    stats, measured = pixel_stats(variant), compare(source, variant, ops)
    checks = {"blank": stats["std"] < bounds.min_std, "saturated": stats["saturated_fraction"] > bounds.max_saturated_fraction,
              "content_cropped_out": measured.content_kept < bounds.min_content_kept,
              "too_much_fill": measured.fill_fraction > bounds.max_fill_fraction,
              "photometric_destroyed": measured.photometric_similarity < bounds.min_photometric_similarity,
              "near_copy": measured.difference < bounds.min_difference}
    return [name for name, failed in checks.items() if failed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=3, help="standard variants per source")
    parser.add_argument("--p", type=float, default=1.0, help="probability of each op but hflip (0.5)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    bounds, policy = ValidateParams(), standard_policy(args.p)
    results = {}
    for name, sources in datasets().items():
        accepted = total = old_accepted = 0
        reasons: dict[str, int] = {}
        caught = {how: [0, 0] for how in ("black", "erased 90%", "pure noise", "channel swap")}
        measures = []
        for index, source in enumerate(sources):
            for variant_number in range(args.variants):
                seed = sample_seed(0, f"{name}-{index}", variant_number)
                rng = np.random.default_rng(seed)
                variant, ops = run_policy(policy, rng, source)
                failures = failed_checks(source, variant, ops, bounds)
                measures.append(compare(source, variant, ops).as_dict())
                total += 1
                accepted += not failures
                old_accepted += 0.3 <= similarity(source, variant) <= 0.995  # the check this replaces
                for reason in failures:
                    reasons[reason] = reasons.get(reason, 0) + 1
                if variant_number == 0:
                    for how, tally in caught.items():
                        bad = destroyed(variant, how, rng)
                        if bad is not None:
                            tally[0] += bool(failed_checks(source, bad, ops, bounds))
                            tally[1] += 1
        quantiles = {key: [round(float(np.quantile([m[key] for m in measures], q)), 3) for q in (0.01, 0.05, 0.5)]
                     for key in measures[0]}
        results[name] = {
            "sources": len(sources), "variants": total,
            "accepted": round(accepted / total, 4), "accepted_by_old_ssim_check": round(old_accepted / total, 4),
            "rejected_by": reasons,
            "caught": {how: f"{c}/{n}" for how, (c, n) in caught.items() if n},
            "measure_p01_p05_median": quantiles,
        }
        print(json.dumps({name: results[name]}, indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
