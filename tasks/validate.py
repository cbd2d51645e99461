"""validate: per-sample checks of every augmented sample, run as the
modality's Great Expectations suite (expectations/*.json) over a feature table.

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

from augmill.tasks import paths
from augmill.tasks.augment import modality_code, modality_libraries
from augmill.tasks.cache import Memo, key_of
from augmill.tasks.generative.checks import check_synthetic, enforce_rejection_rate
from augmill.tasks.io import read_parquet, write_json, write_parquet
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.params import Params
from augmill.tasks.review_pages import render_validation_page
from augmill.tasks.samples import augment_errors, made_rows


class TooManyRejected(RuntimeError):
    """More augmented samples failed validation than validate.max_rejection_rate allows."""


def measure(modality, augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> pd.DataFrame:
    """The modality's per-sample features, reusing those an earlier run measured for the
    same (sample bytes, source bytes, code): an incremental run measures only new samples.
    A modality whose features depend on the whole set (a class's fidelity, distances to all
    real rows) sets FEATURES_PER_SAMPLE = False and is measured whole, every run."""
    if not optional_hook(modality, "FEATURES_PER_SAMPLE"):
        return modality.features(augmented, sources, params)
    section = getattr(params, params.data.modality, None)
    salt = key_of("features", params.data.modality, params.data.max_image_pixels,
                  section.stage_share("validate") if section is not None else {},
                  modality_code(params.data.modality, "validate.py"),
                  modality_libraries(params.data.modality))
    source_sha = dict(zip(sources["sample_id"], sources["sha256"], strict=True))
    memo = Memo("validate", params.execution.cache)
    keys = [key_of(salt, sid, sha, source_sha.get(src))
            for sid, sha, src in augmented[["sample_id", "sha256", "source_id"]].itertuples(index=False)]
    records = [memo.get(key) for key in keys]
    missing = [i for i, record in enumerate(records) if record is None]
    if missing:
        fresh = modality.features(augmented.iloc[missing], sources, params).to_dict("records")
        for i, record in zip(missing, fresh, strict=True):
            memo.put(keys[i], record)
            records[i] = record
    # Built from records whether cached or not, so the table is the same either way.
    return pd.DataFrame(records, columns=None if records else ["sample_id", "source_id", "label", "unreadable"])


def decide(augmented: pd.DataFrame, features: pd.DataFrame, failures: dict[str, list[str]],
           reason_codes: dict[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """accepted / quarantined, with a machine-readable code and the human reasons.
    reason_codes (a modality's REASON_CODES) names a failed bound on a column by its own
    code and meaning: "near_copy: the variant barely differs ... (difference not at least ...)"."""
    unreadable = dict(zip(features["sample_id"], features["unreadable"], strict=False))
    errors = augment_errors(augmented)
    status, codes, reasons = [], [], []
    for sample_id, error in zip(augmented["sample_id"], errors, strict=True):
        problems = [error] if error else [_named(reason, reason_codes or {}) for reason in failures.get(sample_id, [])]
        if unreadable.get(sample_id):
            problems.insert(0, f"unreadable output: {unreadable[sample_id]}")
        status.append("quarantined" if problems else "accepted")
        codes.append(_reason_code(problems[0]) if problems else "")
        reasons.append("; ".join(problems))
    return augmented.assign(status=status, reason_code=codes, reason=reasons)


def _named(reason: str, reason_codes: dict[str, tuple[str, str]]) -> str:
    column, _, rest = reason.partition(" ")
    if column in reason_codes and rest.startswith("not "):  # a failed bound, not a null
        code, meaning = reason_codes[column]
        return f"{code}: {meaning} ({reason})"
    return reason


def _reason_code(reason: str) -> str:
    first = reason.split(" ", 1)[0]
    if first == "augment:":  # augment could not make it (tasks.augment.failure_row)
        return "augment_failed"
    if first.endswith(":"):  # already named by the modality's REASON_CODES
        return first[:-1]
    return "unreadable_output" if first == "unreadable" else f"check_{first}"


def run(params: Params) -> dict:
    from augmill.tasks.gx_validation import run_suite

    modality = get_modality(params.data.modality)
    augmented = read_parquet(paths.AUGMENTED_MANIFEST, "augmented manifest (stage augment)")
    raw = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    sources = raw[raw["status"] == "ok"]
    labels = sorted(sources["label"].unique().tolist())
    # A row augment could not make has nothing to measure: decide() quarantines it with augment's reason.
    features = measure(modality, made_rows(augmented), sources, params)
    if features.empty:  # no variants at all (augment.policy: auto chose none): every column named, no rows
        from augmill.tasks.gx_validation import load_suite

        named = [item["kwargs"]["column"] for item in load_suite(modality.SUITE_FILE)["expectations"]
                 if "column" in item["kwargs"]]
        features = features.reindex(columns=list(dict.fromkeys([*features.columns, *modality.FEATURE_COLUMNS, *named])))
    measurable = features[features["unreadable"] == ""].drop(columns="unreadable")
    shutil.rmtree(paths.GX_DOCS, ignore_errors=True)  # GX adds to an existing site; keep only this run's
    outcome = run_suite(measurable, modality.SUITE_FILE, id_column="sample_id",
                        parameters=modality.suite_parameters(labels, params), docs_dir=paths.GX_DOCS)
    failures = outcome.failures
    # Images with targets: their own suites over per-object and per-image measurements (image_annotated).
    target_checks = optional_hook(modality, "target_checks")
    checked = target_checks(made_rows(augmented), sources, params) if target_checks else None
    if checked is not None:
        failures = {sid: failures.get(sid, []) + checked[0].get(sid, []) for sid in sorted({*failures, *checked[0]})}
    validated = decide(augmented, features, failures, optional_hook(modality, "REASON_CODES"))
    rejected = int((validated["status"] == "quarantined").sum())
    rate = round(rejected / len(validated), 4) if len(validated) else 0.0
    summary = {
        "augmented": len(validated), "accepted": len(validated) - rejected, "quarantined": rejected,
        "rejection_rate": rate, "max_rejection_rate": params.validate_.max_rejection_rate,
        "suite": outcome.suite_name, "suite_success": outcome.success,
        "by_reason": _counts(validated.loc[validated["status"] == "quarantined", "reason_code"]),
        "expectations": [{"expectation": e.expectation, "column": e.column, "success": e.success,
                          "unexpected_count": e.unexpected_count, "description": e.description}
                         for e in outcome.expectations],
        "features": {column: _quantiles(features[column]) for column in modality.FEATURE_COLUMNS},
    }
    if checked is not None:
        summary["targets"] = checked[1]
    extra = optional_hook(modality, "summary_extra")  # a modality's own figures (e.g. fidelity, privacy)
    summary.update(extra(features, params) if extra else {})
    synthetic = check_synthetic(params)  # the synthesize stage's samples through the quality gates (None when off)
    if synthetic is not None:
        summary["synthetic"] = synthetic
    measured = validated.merge(features[["sample_id", *modality.FEATURE_COLUMNS]], on="sample_id", how="left")
    write_parquet(measured, paths.VALIDATED_MANIFEST)
    write_json(paths.VALIDATION_SUMMARY, summary)
    docs_link = Path(os.path.relpath(outcome.docs_index, paths.VALIDATION_PAGE.parent)).as_posix() if outcome.docs_index else None
    render_validation_page(summary, validated, docs_link, paths.VALIDATION_PAGE)
    modality.render_gallery(made_rows(measured), raw, params, paths.GALLERY_PAGE)  # with the measures: a card says why
    if rate > params.validate_.max_rejection_rate:
        raise TooManyRejected(
            f"validate: {rejected} of {len(validated)} augmented samples ({rate:.1%}) failed, more than "
            f"validate.max_rejection_rate={params.validate_.max_rejection_rate:.1%}. Top reasons: {summary['by_reason']}. "
            f"See {paths.VALIDATION_PAGE} and {paths.GALLERY_PAGE}; soften the augment.policy ranges or the validate bounds."
        )
    enforce_rejection_rate(synthetic)
    return summary


def _quantiles(values: pd.Series) -> dict:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return {}
    levels = (("min", 0), ("p05", 0.05), ("median", 0.5), ("p95", 0.95), ("max", 1))
    return {name: round(float(values.quantile(q)), 4) for name, q in levels}


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}
