"""The image modality: how images are read, profiled, augmented, measured,
shown for review and written to data/final/. Stage logic shared by every
modality lives in the stage modules; only what is particular to images is here."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.cache import Memo, code_version, key_of, library_versions
from augmill.tasks.feature_memo import memoized_file_rows
from augmill.tasks.imaging import (
    UnreadableImage,
    channel_sums,
    encode_image,
    extension_for,
    image_suffix,
    keep_freed_memory,
    load_image,
    output_format,
    perceptual_hash,
    pixel_stats,
)
from augmill.tasks.ingest import copy_into_final, read_file_dataset
from augmill.tasks.io import safe_name, sha256_bytes, write_bytes_atomic
from augmill.tasks.modalities.image.checks import Comparison, compare, source_facts
from augmill.tasks.ops.policy import build_policy, run_policy
from augmill.tasks.params import Params
from augmill.tasks.progress import progress_bar
from augmill.tasks.seeding import sample_seed

# The distributions whose versions shape this modality's bytes: part of every memo key (tasks.cache).
LIBRARIES = ("pillow", "opencv-python-headless", "numpy", "scipy", "imagehash", "deflate")
SUITE_FILE = paths.EXPECTATIONS / "image_augmented.json"
AUGMENTED_COLUMNS = ["path", "width", "height", "mode", "format"]


# ---- explore ---------------------------------------------------------------

_CHANNEL_COLUMNS = ["_channel_sum", "_channel_squares", "_pixels", "_working_mode"]


def read_image_file(path: Path, max_pixels: int) -> dict:
    """One image's manifest columns, plus per-channel sums for the dataset statistics."""
    loaded = load_image(path, max_pixels)
    image = loaded.image
    total, squares, count = channel_sums(image)
    return {"phash": perceptual_hash(image), "width": image.width, "height": image.height,
            "mode": loaded.source_mode, "format": loaded.source_format,
            "_channel_sum": total.tolist(), "_channel_squares": squares.tolist(), "_pixels": count,
            "_working_mode": image.mode}


def channel_statistics(ok: pd.DataFrame) -> dict:
    """Per working mode (L, RGB, RGBA): mean and std of each channel over all pixels, in 0..1."""
    result = {}
    for mode, group in ok.groupby("_working_mode", sort=True):
        count = group["_pixels"].sum()
        mean = np.sum(np.stack(group["_channel_sum"].to_numpy()), axis=0) / count
        squares = np.sum(np.stack(group["_channel_squares"].to_numpy()), axis=0) / count
        std = np.sqrt(np.maximum(squares - mean**2, 0.0))
        result[mode] = {"mean": [round(float(v), 4) for v in mean], "std": [round(float(v), 4) for v in std]}
    return result


def read_raw(params: Params) -> tuple[pd.DataFrame, dict]:
    salt = key_of("read image", params.data.max_image_pixels,
                  code_version("imaging.py", "modalities/image/modality.py", "ingest.py"), library_versions(*LIBRARIES))
    reader = partial(read_image_file, max_pixels=params.data.max_image_pixels)
    if params.data.targets != "none":  # the annotation files name the images and carry their targets
        from augmill.tasks.modalities.image import annotated as image_annotated

        frame, context = image_annotated.read_raw(params, reader, salt)
    else:
        frame, context = read_file_dataset(params.data.raw_dir, params.data.manifest_csv,
                                           reader, params.data.split.model_dump(), params.seed, "reading images",
                                           memo=(Memo("explore", params.execution.cache), salt))
    ok = frame[frame["status"] == "ok"]
    stats = channel_statistics(ok) if len(ok) else {}
    return frame.drop(columns=[c for c in _CHANNEL_COLUMNS if c in frame]), context | {"channel_stats": stats}


def near_duplicate_pairs(ok: pd.DataFrame, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of perceptual hashes within max_distance bits, excluding exact copies, as three
    arrays (i, j, distance), i < j, ordered by i then j. Quadratic, one row at a time: fine up to
    tens of thousands of images. Arrays, not a list of tuples: 20,000 look-alike images made
    821,000 pairs, ~100 MB as Python tuples, 20 MB here (#24)."""
    hashes = np.array([int(h, 16) for h in ok["phash"]], dtype=np.uint64)
    sha = ok["sha256"].to_numpy()
    firsts, seconds, distances = [], [], []
    for i in range(len(hashes) - 1):
        distance = np.bitwise_count(hashes[i + 1:] ^ hashes[i])
        close = np.flatnonzero(distance <= max_distance)
        if not len(close):
            continue
        close = close[sha[i + 1 + close] != sha[i]]  # not exact copies
        firsts.append(np.full(len(close), i, dtype=np.int64))
        seconds.append(i + 1 + close)
        distances.append(distance[close].astype(np.int64))
    if not firsts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(distances)


def _spread(values: pd.Series) -> dict:
    if values.empty:
        return {}
    values = values.astype(float)
    return {"min": int(values.min()), "max": int(values.max()), "mean": round(float(values.mean()), 2)}


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def profile(ok: pd.DataFrame, params: Params) -> dict:
    limit = params.explore.max_listed_pairs
    # In arrays: noisy images can make hundreds of thousands of pairs (one pandas lookup each took minutes).
    first, second, distance = near_duplicate_pairs(ok, params.explore.near_duplicate_distance)
    split = ok["split"].to_numpy()
    sizes = (ok["width"].astype(int).astype(str) + "x" + ok["height"].astype(int).astype(str)).value_counts()
    return {
        "image_sizes": {"width": _spread(ok["width"]), "height": _spread(ok["height"]),
                        "most_common": [[size, int(n)] for size, n in sizes.head(10).items()]},
        "modes": _counts(ok["mode"]),
        "formats": _counts(ok["format"]),
        "near_duplicates": {
            "max_hamming_distance": params.explore.near_duplicate_distance,
            "pairs": len(first),
            "pairs_across_splits": int((split[first] != split[second]).sum()),
            "examples": [{"a": ok["sample_id"].iat[i], "b": ok["sample_id"].iat[j], "distance": d}
                         for i, j, d in zip(first[:limit].tolist(), second[:limit].tolist(), distance[:limit].tolist(),
                                            strict=True)],
        },
    }


def bias_extra(ok: pd.DataFrame, params: Params) -> dict:
    return {}


def object_plan(train: pd.DataFrame, params: Params) -> dict | None:
    """bias, with data.targets: objects per class and the plan by them (image_annotated), else None."""
    if params.data.targets == "none":
        return None
    from augmill.tasks.modalities.image import annotated as image_annotated

    return image_annotated.object_plan(train, params)


# ---- augment ---------------------------------------------------------------

def image_loader(raw_dir: Path, rows: pd.DataFrame, max_pixels: int):
    """source_id -> its image as a variant's source is loaded (the last few kept: a partner recurs)."""
    from functools import lru_cache

    relative = dict(zip(rows["source_id"], rows["path"], strict=True))
    return lru_cache(maxsize=32)(lambda source_id: load_image(raw_dir / relative[source_id], max_pixels).image)


def mixing_partners(params: Params, pool: pd.DataFrame | tuple):
    """source_id -> the MixUp/CutMix partner drawer of that source (None when the policy mixes nothing).
    The pool (source_id, label, path) is the augment stage's train sources (tasks.augment.augmentable_sources:
    train, readable, not held out as a leak or a suspected label error), so both sources of a mix are train's."""
    from augmill.tasks.ops.mixing import mixes_sources, partner_drawer

    if not mixes_sources(params.augment.policy):
        return lambda source_id: None
    if not isinstance(pool, pd.DataFrame):  # a shard's pool (tasks.samples.Shard), as it travels
        pool = pd.DataFrame(list(pool), columns=["source_id", "label", "path"])
    if pool.empty:
        raise ValueError("MixUp/CutMix draw their partner from the augment stage's train pool; run them there")
    pool = pool.sort_values("source_id")
    pairs = list(zip(pool["source_id"].astype(str), pool["label"].astype(str), strict=True))
    load = image_loader(Path(params.data.raw_dir), pool, params.data.max_image_pixels)
    return lambda source_id: partner_drawer(pairs, load, exclude=source_id)


def augmented_columns(sources: pd.DataFrame, params: Params) -> list[str]:
    return AUGMENTED_COLUMNS + (["targets"] if params.data.targets != "none" else [])


def augment_shard(shard, params: Params, output_dir: Path = paths.AUGMENTED_DIR) -> list[dict]:
    """Make every variant of every source in the shard; write each file atomically."""
    if params.data.targets != "none":
        from augmill.tasks.modalities.image import annotated as image_annotated

        return image_annotated.augment_shard(shard, params, output_dir)
    keep_freed_memory()  # each operator's fresh output array would page-fault otherwise
    policy = build_policy(params.augment.policy, params.data.modality)
    raw_dir = Path(params.data.raw_dir)
    partners_of = mixing_partners(params, shard.pool)
    rows = []
    for source in shard.sources:
        image_source = load_image(raw_dir / source["path"], params.data.max_image_pixels).image
        for variant in source.get("variant_ids", range(int(source["variants"]))):
            seed = sample_seed(params.seed, source["source_id"], variant)
            image, records = run_policy(policy, np.random.default_rng(seed), image_source,
                                        partners_of(source["source_id"]))
            image_format = output_format(source["format"], image.mode, params.augment.image_format)
            data = encode_image(image, image_format, params.augment.jpeg_quality)
            sample_id = f"{source['source_id']}-aug{variant:03d}"
            relative = f"{safe_name(source['label'])}/{sample_id}{extension_for(image_format)}"
            write_bytes_atomic(output_dir / relative, data)
            rows.append({"sample_id": sample_id, "source_id": source["source_id"], "label": source["label"],
                         "ops": json.dumps(records, sort_keys=True), "seed": seed, "variant": variant,
                         "sha256": sha256_bytes(data), "path": relative, "width": image.width,
                         "height": image.height, "mode": image.mode, "format": image_format})
    return rows


# ---- validate --------------------------------------------------------------

def features(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> pd.DataFrame:
    """One row of measurements per augmented image, compared with its source like with
    like: aligned by the variant's recorded geometric ops (see image_checks)."""
    raw_dir, max_pixels = Path(params.data.raw_dir), params.data.max_image_pixels
    source_paths = dict(zip(sources["sample_id"], sources["path"], strict=False))
    load_partner = image_loader(raw_dir, sources.assign(source_id=sources["sample_id"]), max_pixels)  # MixUp/CutMix
    rows, cached_source = [], (None, None)
    with progress_bar("validate: measuring", len(augmented)) as advance:
        for row in augmented.itertuples(index=False):
            measured = {"sample_id": row.sample_id, "source_id": row.source_id, "label": row.label,
                        "source_exists": row.source_id in source_paths, "width": None, "height": None,
                        "std": None, "saturated_fraction": None, **dict.fromkeys(COMPARISON_COLUMNS),
                        "unreadable": ""}
            try:
                image = load_image(paths.AUGMENTED_DIR / row.path, max_pixels).image
                if cached_source[0] != row.source_id and measured["source_exists"]:
                    source = load_image(raw_dir / source_paths[row.source_id], max_pixels).image
                    cached_source = (row.source_id, (source, source_facts(source)))
                measured.update(width=image.width, height=image.height, **pixel_stats(image))
                if measured["source_exists"]:
                    measured.update(compare(cached_source[1][0], image, row.ops, cached_source[1][1],
                                           load_partner).as_dict())
            except (UnreadableImage, OSError) as error:
                measured["unreadable"] = str(error)
            rows.append(measured)
            advance()
    return pd.DataFrame(rows)


COMPARISON_COLUMNS = list(Comparison.__dataclass_fields__)
FEATURE_COLUMNS = ["std", "saturated_fraction", *COMPARISON_COLUMNS]

# A failed comparison's own reason code and what it means, for the quarantine and the gallery.
REASON_CODES = {
    "content_kept": ("content_cropped_out", "too little of the source's content is still in frame"),
    "fill_fraction": ("too_much_fill", "too much of the frame is padding"),
    "photometric_similarity": ("photometric_destroyed", "the variant no longer matches its aligned source"),
    "difference": ("near_copy", "the variant barely differs from its source"),
    # data.targets (expectations/image_objects.json, image_object_counts.json)
    "box_inside": ("box_outside_image", "a box leaves the image"),
    "box_area": ("box_degenerate", "a box has no area"),
    "box_shape_gap": ("box_shape_mismatch", "a box is not the bounding box of its mask or polygon"),
    "keypoints_visible_outside": ("keypoint_visible_outside", "a keypoint outside the image is marked visible"),
    "keypoint_visibility_gap": ("keypoint_visibility_mismatch",
                                "the visible keypoints are not the source's still inside the image"),
    "object_count_gap": ("object_count_mismatch", "the objects are not the source's minus the recorded drops"),
    "mask_classes_in_source": ("mask_class_not_in_source", "the mask holds a class its source does not"),
}


def target_checks(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> tuple[dict, dict] | None:
    """validate, with data.targets: failures of the per-object suites by sample, and their summary."""
    if params.data.targets == "none":
        return None
    from augmill.tasks.modalities.image import annotated_checks as image_annotated_checks

    return image_annotated_checks.target_checks(augmented, sources, params)


def comparison_bounds(params: Params) -> dict[str, tuple[str, float]]:
    """Each comparison column's bound (">=" minimum or "<=" maximum), as the suite applies it."""
    checks = params.validate_
    return {"content_kept": (">=", checks.min_content_kept), "fill_fraction": ("<=", checks.max_fill_fraction),
            "photometric_similarity": (">=", checks.min_photometric_similarity),
            "difference": (">=", checks.min_difference)}


def suite_parameters(labels: list[str], params: Params) -> dict:
    checks = params.validate_
    return {"labels": labels, "min_size": checks.min_size, "max_size": checks.max_size, "min_std": checks.min_std,
            "max_saturated_fraction": checks.max_saturated_fraction, "min_content_kept": checks.min_content_kept,
            "max_fill_fraction": checks.max_fill_fraction,
            "min_photometric_similarity": checks.min_photometric_similarity, "min_difference": checks.min_difference}


def render_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    from augmill.tasks.modalities.image.gallery import render_image_gallery

    render_image_gallery(validated, raw, params, path, REASON_CODES, comparison_bounds(params))


# ---- merge -----------------------------------------------------------------

FINAL_COLUMNS = ["path", "width", "height"]


def finalize(originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Copy originals (byte for byte) and accepted variants into data/final/split/label/,
    each named by its sample_id: unique, and safe whatever the input names were. With targets,
    data/final is written in the input's annotation format instead (image_annotated)."""
    if params.data.targets != "none":
        from augmill.tasks.modalities.image import annotated_final as image_annotated_final

        frame = image_annotated_final.finalize(originals, accepted, params)
        frame[["width", "height"]] = frame[["width", "height"]].astype("Int64")
        return frame
    frame = copy_into_final(originals, accepted, Path(params.data.raw_dir), image_suffix)
    frame[["width", "height"]] = frame[["width", "height"]].astype("Int64")
    return frame


# ---- evaluate, report, preview ----------------------------------------------

def evaluation_rows(final: pd.DataFrame, params: Params) -> pd.DataFrame | None:
    """With data.targets, evaluate scores a classifier of object crops (one row per object of
    data/final/objects.parquet) instead of whole images; None: the final manifest as it is."""
    if params.data.targets == "none":
        return None
    from augmill.tasks.io import read_parquet
    from augmill.tasks.modalities.image.annotated_final import OBJECTS_FILE
    from augmill.tasks.modalities.image.annotated_final import evaluation_rows as object_rows

    return object_rows(final, read_parquet(paths.FINAL / OBJECTS_FILE, "per-object table (stage merge)"),
                       params.data.targets)


BASELINE_SIDE = 16
BASELINE_DESCRIPTION = "greyscale pixels downscaled to 16x16"


def baseline_features(frame: pd.DataFrame, params: Params, folder: Path = paths.FINAL) -> np.ndarray:
    """The evaluate stage's model input: greyscale pixels downscaled (area average) to
    16x16, or to the smallest image's side if that is less, flattened, in [0, 1].
    Rows are manifest rows; paths are relative to ``folder`` (data/final/, or data.raw_dir
    for the bias stage's label check: the same bytes, so the same memo rows). Each file's row is
    memoized (execution.cache): an incremental run decodes only the new files."""
    from PIL import Image

    if "x0" in frame:  # data.targets: rows are objects (evaluation_rows), features their boxes' pixels
        from augmill.tasks.modalities.image.annotated_final import crop_features

        return crop_features(frame, folder, params.data.max_image_pixels)
    # The side from the manifest's sizes, so that images are decoded one at a time and only the
    # small feature rows are held (an EXIF rotation swaps width and height, not the smaller side).
    side = BASELINE_SIDE if frame.empty else int(min(BASELINE_SIDE, np.minimum(frame["width"], frame["height"]).min()))
    max_pixels = params.data.max_image_pixels

    def row_of(path: Path) -> np.ndarray:
        image = load_image(path, max_pixels).image.convert("L")
        return np.asarray(image.resize((side, side), Image.Resampling.BOX), dtype=np.float32).ravel() / 255.0

    # Library versions too: a Pillow upgrade may resample differently.
    salt = key_of("image baseline", side, max_pixels, library_versions(*LIBRARIES),
                  code_version("imaging.py", "modalities/image/modality.py", "feature_memo.py"))
    return memoized_file_rows(folder, frame, salt, row_of, side * side, np.float32,
                              params.execution.cache)


def report_thumbnail(path: Path, params: Params) -> str | None:
    """A small PNG of the image at path as a data: URI, for the report's review gallery."""
    from augmill.tasks.review_pages import thumbnail_uri

    return thumbnail_uri(path, params.data.max_image_pixels)


def preview(samples: pd.DataFrame, params: Params, output_stem: Path) -> Path:
    """Each chosen source beside the variant the augment stage would make as its first
    (same generator seed), with the operators that fired; drawn into output_stem.png."""
    from augmill.tasks.preview import draw_grid

    tiles = preview_tiles(samples, params)
    path = output_stem.with_suffix(".png")
    draw_grid(tiles, f"augment.policy preview: source | variant 0, {len(tiles)} train samples", path)
    return path


def preview_tiles(samples: pd.DataFrame, params: Params) -> list:
    """The preview's tiles: each source, its variant 0, and the operators that fired (described)."""
    from augmill.tasks.preview import PreviewTile
    from augmill.tasks.review_pages import describe_ops

    policy = build_policy(params.augment.policy, params.data.modality)
    # MixUp/CutMix partners: drawn among the samples previewed (a preview needs no plan, so no pipeline
    # run): a mixed tile shows what the op does, not necessarily the partner the augment stage will draw.
    partners_of = mixing_partners(params, samples)
    tiles = []
    for source in samples.itertuples(index=False):
        image = load_image(Path(params.data.raw_dir) / source.path, params.data.max_image_pixels).image
        seed = sample_seed(params.seed, source.source_id, 0)
        variant, records = run_policy(policy, np.random.default_rng(seed), image, partners_of(source.source_id))
        tiles.append(PreviewTile(f"{source.label} · {source.source_id}", np.asarray(image), np.asarray(variant),
                                 describe_ops(json.dumps(records))))
    return tiles
