"""validate: per-sample checks of every augmented image, run as a Great
Expectations suite (expectations/image_augmented.json) over a feature table.

A failing sample is quarantined with its reasons, never dropped; the stage
fails when the rejection rate passes validate.max_rejection_rate. Writes the
validated manifest, a metrics summary, an HTML report, the GX Data Docs and a
gallery of sources beside their variants for the human review step.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from tasks import paths
from tasks.imaging import UnreadableImage, load_image, pixel_stats, similarity
from tasks.io import read_parquet, write_json, write_parquet
from tasks.params import Params
from tasks.progress import progress_bar
from tasks.review_pages import render_gallery, render_validation_page

SUITE_FILE = paths.EXPECTATIONS / "image_augmented.json"


class TooManyRejected(RuntimeError):
    """More augmented samples failed validation than validate.max_rejection_rate allows."""


def sample_features(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> pd.DataFrame:
    """One row of measurements per augmented image, compared with its source."""
    raw_dir, max_pixels = Path(params.data.raw_dir), params.data.max_image_pixels
    source_paths = dict(zip(sources["sample_id"], sources["path"]))
    rows, cached_source = [], (None, None)
    with progress_bar("validate: measuring", len(augmented)) as advance:
        for row in augmented.itertuples(index=False):
            features = {"sample_id": row.sample_id, "source_id": row.source_id, "label": row.label,
                        "source_exists": row.source_id in source_paths, "width": None, "height": None,
                        "std": None, "saturated_fraction": None, "similarity": None, "unreadable": ""}
            try:
                image = load_image(paths.AUGMENTED_DIR / row.path, max_pixels).image
                if cached_source[0] != row.source_id and features["source_exists"]:
                    cached_source = (row.source_id, load_image(raw_dir / source_paths[row.source_id], max_pixels).image)
                features.update(width=image.width, height=image.height, **pixel_stats(image))
                if features["source_exists"]:
                    features["similarity"] = similarity(cached_source[1], image)
            except (UnreadableImage, OSError) as error:
                features["unreadable"] = str(error)
            rows.append(features)
            advance()
    return pd.DataFrame(rows)


def suite_parameters(labels: list[str], params: Params) -> dict:
    checks = params.validate_
    return {"labels": labels, "min_size": checks.min_size, "max_size": checks.max_size, "min_std": checks.min_std,
            "max_saturated_fraction": checks.max_saturated_fraction,
            "min_similarity": checks.min_similarity, "max_similarity": checks.max_similarity}


def decide(augmented: pd.DataFrame, features: pd.DataFrame, failures: dict[str, list[str]]) -> pd.DataFrame:
    """accepted / quarantined, with a machine-readable code and the human reasons."""
    unreadable = dict(zip(features["sample_id"], features["unreadable"]))
    status, codes, reasons = [], [], []
    for sample_id in augmented["sample_id"]:
        problems = list(failures.get(sample_id, []))
        if unreadable.get(sample_id):
            problems.insert(0, f"unreadable output: {unreadable[sample_id]}")
        status.append("quarantined" if problems else "accepted")
        codes.append(_reason_code(problems[0]) if problems else "")
        reasons.append("; ".join(problems))
    return augmented.assign(status=status, reason_code=codes, reason=reasons)


def _reason_code(reason: str) -> str:
    first = reason.split(" ", 1)[0]
    return "unreadable_output" if first == "unreadable" else f"check_{first}"


def run(params: Params) -> dict:
    from tasks.gx_validation import run_suite

    augmented = read_parquet(paths.AUGMENTED_MANIFEST, "augmented manifest (stage augment)")
    raw = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    sources = raw[raw["status"] == "ok"]
    labels = sorted(sources["label"].unique().tolist())
    features = sample_features(augmented, sources, params)
    measurable = features[features["unreadable"] == ""].drop(columns="unreadable")
    shutil.rmtree(paths.GX_DOCS, ignore_errors=True)  # GX adds to an existing site; keep only this run's
    outcome = run_suite(measurable, SUITE_FILE, id_column="sample_id",
                        parameters=suite_parameters(labels, params), docs_dir=paths.GX_DOCS)
    validated = decide(augmented, features, outcome.failures)
    rejected = int((validated["status"] == "quarantined").sum())
    rate = round(rejected / len(validated), 4) if len(validated) else 0.0
    summary = {
        "augmented": len(validated), "accepted": len(validated) - rejected, "quarantined": rejected,
        "rejection_rate": rate, "max_rejection_rate": params.validate_.max_rejection_rate,
        "suite": outcome.suite_name, "suite_success": outcome.success,
        "by_reason": {str(k): int(v) for k, v in validated.loc[validated["status"] == "quarantined", "reason_code"].value_counts().sort_index().items()},
        "expectations": [{"expectation": e.expectation, "column": e.column, "success": e.success,
                          "unexpected_count": e.unexpected_count, "description": e.description}
                         for e in outcome.expectations],
        "features": {column: _quantiles(features[column]) for column in ("similarity", "std", "saturated_fraction")},
    }
    write_parquet(validated.merge(features[["sample_id", "std", "saturated_fraction", "similarity"]], on="sample_id", how="left"),
                  paths.VALIDATED_MANIFEST)
    write_json(paths.VALIDATION_SUMMARY, summary)
    docs_link = Path(os.path.relpath(outcome.docs_index, paths.VALIDATION_PAGE.parent)).as_posix() if outcome.docs_index else None
    render_validation_page(summary, validated, docs_link, paths.VALIDATION_PAGE)
    render_gallery(validated, raw, params, paths.GALLERY_PAGE)
    if rate > params.validate_.max_rejection_rate:
        raise TooManyRejected(
            f"validate: {rejected} of {len(validated)} augmented samples ({rate:.1%}) failed, more than "
            f"validate.max_rejection_rate={params.validate_.max_rejection_rate:.1%}. Top reasons: {summary['by_reason']}. "
            f"See {paths.VALIDATION_PAGE} and {paths.GALLERY_PAGE}; soften the augment.policy ranges or the validate bounds."
        )
    return summary


def _quantiles(values: pd.Series) -> dict:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return {}
    return {name: round(float(values.quantile(q)), 4) for name, q in (("min", 0), ("p05", 0.05), ("median", 0.5), ("p95", 0.95), ("max", 1))}
