"""merge: originals plus accepted augmented samples into data/final/.

Val and test are copied untouched; train gains the accepted variants. Writes
the final manifest, the quarantine list (every sample that did not make it,
from any stage, with its reason), counts before/after and the accounting that
proves nothing was lost.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd

from augmill.tasks import paths
from augmill.tasks.bias import apply_relabels, imbalance_ratio, normalised_entropy
from augmill.tasks.generative.final import SyntheticRows
from augmill.tasks.io import read_json, read_parquet, write_csv, write_json, write_parquet
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.ops.mixing import soft_label
from augmill.tasks.params import Params
from augmill.tasks.report_plots import bar_chart
from augmill.tasks.review import check_targets, read_decisions, rejected_variants, rejection_reason
from augmill.tasks.samples import QUARANTINE_COLUMNS

# soft_label: JSON {label: weight} for a MixUp/CutMix row (both sources' labels), null for every other row.
LINEAGE_COLUMNS = ["sample_id", "source_id", "split", "label", "soft_label", "origin", "ops", "seed", "sha256"]


def _augmented_paths(frame: pd.DataFrame) -> pd.Series | str:
    return str(paths.AUGMENTED_DIR) + "/" + frame["path"] if "path" in frame else ""


def review_rejections(accepted: pd.DataFrame, validated: pd.DataFrame, modality: str) -> pd.DataFrame:
    """Quarantine rows of the accepted variants a reviewer rejected (reviews/decisions.csv)."""
    from augmill.tasks.review import modality_operators

    decisions = read_decisions(paths.DECISIONS)
    check_targets(decisions, validated, modality_operators(modality))
    rejected = rejected_variants(decisions, accepted)
    frame = accepted[accepted["sample_id"].isin(rejected)]
    return pd.DataFrame({"sample_id": frame["sample_id"], "path": _augmented_paths(frame), "stage": "review",
                         "reason_code": "review_rejected",
                         "reason": [rejection_reason(i, rejected[i]) for i in frame["sample_id"]]},
                        columns=QUARANTINE_COLUMNS)


def quarantine_rows(raw: pd.DataFrame, excluded: list[dict], validated: pd.DataFrame,
                    reviewed: pd.DataFrame | None = None) -> pd.DataFrame:
    raw_bad = raw[raw["status"] != "ok"].assign(stage="explore")
    raw_paths = dict(zip(raw["sample_id"], raw["path"], strict=False))
    leaks = pd.DataFrame([{**e, "path": raw_paths.get(e["sample_id"], ""), "stage": "bias"} for e in excluded],
                         columns=QUARANTINE_COLUMNS)
    rejected = validated[validated["status"] == "quarantined"].assign(stage="validate")
    if "path" in rejected:
        rejected["path"] = str(paths.AUGMENTED_DIR) + "/" + rejected["path"]
    else:
        rejected["path"] = ""
    parts = [raw_bad[QUARANTINE_COLUMNS], leaks, rejected[QUARANTINE_COLUMNS]]
    return pd.concat(parts + ([reviewed] if reviewed is not None and len(reviewed) else []), ignore_index=True)


def class_counts(frame: pd.DataFrame, column: str = "label") -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()}


def _summary(counts: dict[str, int]) -> dict:
    return {"samples": sum(counts.values()), "imbalance_ratio": imbalance_ratio(counts),
            "normalised_entropy": normalised_entropy(counts), "per_class": counts}


def set_aside_final() -> None:
    """Start data/final/ empty, with the last one moved (one rename) to paths.FINAL_PREVIOUS,
    where io.copy_file_reusing finds the files that come out the same. dvc.yaml marks
    data/final persist: true, or DVC would delete it before the stage runs."""
    shutil.rmtree(paths.FINAL_PREVIOUS, ignore_errors=True)
    if paths.FINAL.is_dir() and not paths.FINAL.is_symlink():
        paths.FINAL_PREVIOUS.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(paths.FINAL, paths.FINAL_PREVIOUS)
        except OSError:  # another file system (a mount): nothing to reuse, start empty as before
            pass
    shutil.rmtree(paths.FINAL, ignore_errors=True)


def run(params: Params) -> dict:
    modality = get_modality(params.data.modality)
    raw = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    plan = read_json(paths.PLAN)
    excluded = plan["excluded"]
    validated = read_parquet(paths.VALIDATED_MANIFEST, "validated manifest (stage validate)")
    excluded_ids = {e["sample_id"] for e in excluded}
    originals = raw[(raw["status"] == "ok") & ~raw["sample_id"].isin(excluded_ids)].assign(ops="[]", seed=pd.NA)
    originals = apply_relabels(originals, plan)  # reviewed labels (bias stage); the raw data is never edited
    accepted = validated[validated["status"] == "accepted"]
    # The human review step: rejected variants leave the dataset for the quarantine, with the reviewer's note.
    reviewed = review_rejections(accepted, validated, params.data.modality)
    accepted = accepted[~accepted["sample_id"].isin(reviewed["sample_id"])]
    synthetic = SyntheticRows.read(params)  # the synthesize stage's samples validate accepted (None when off)

    set_aside_final()
    try:
        final = (modality.finalize(originals, accepted, params) if synthetic is None
                 else synthetic.finalize(modality, originals, accepted, params))
    finally:
        shutil.rmtree(paths.FINAL_PREVIOUS, ignore_errors=True)  # what no new file took back: stale
    # A modality whose final columns depend on the dataset (a table's own columns) names them per run.
    final_columns = optional_hook(modality, "final_columns")
    final["soft_label"] = pd.Series([soft_label(ops, label) for ops, label in zip(final["ops"], final["label"], strict=True)],
                                    index=final.index, dtype=object)
    final = final[LINEAGE_COLUMNS + (final_columns(final, params) if final_columns else modality.FINAL_COLUMNS)]
    final = final.astype({"seed": "Int64"})
    final = final.sort_values(["split", "label", "sample_id"]).reset_index(drop=True)
    write_parquet(final, paths.FINAL_MANIFEST)
    quarantined = quarantine_rows(raw, excluded, validated, reviewed)
    if synthetic is not None:
        quarantined = pd.concat([quarantined, synthetic.quarantine_rows(QUARANTINE_COLUMNS)], ignore_index=True)
    write_csv(quarantined, paths.QUARANTINE)

    before = class_counts(originals[originals["split"] == "train"])
    after = class_counts(final[final["split"] == "train"])
    for counts, path in ((before, paths.CLASS_COUNTS_BEFORE), (after, paths.CLASS_COUNTS_AFTER)):
        write_csv(pd.DataFrame({"label": list(counts), "count": list(counts.values())}), path)
    bar_chart({"before": before, "after": after}, "Train samples per class, before and after augmentation",
              paths.CLASS_DISTRIBUTION_PNG)
    raw_quarantined = int((raw["status"] != "ok").sum())
    report = {
        "train_before": _summary(before),
        "train_after": _summary(after),
        "final_by_split": class_counts(final, "split"),
        "augmented": {"accepted": len(accepted), "rejected": int((validated["status"] == "quarantined").sum()),
                      "rejected_in_review": len(reviewed)},
        # Nothing lost: every raw sample is a final original or quarantined with a reason.
        "accounting": {"raw_samples": len(raw), "final_originals": len(originals),
                       "quarantined_raw": raw_quarantined,
                       "held_out_leaks": sum(e["reason_code"] == "leak_duplicate" for e in excluded),
                       "quarantined_label_issues": sum(e["reason_code"] == "label_issue" for e in excluded),
                       "balanced": len(raw) == len(originals) + raw_quarantined + len(excluded_ids)},
    }
    if synthetic is not None:
        report["synthetic"] = synthetic.summary()  # every synthetic sample accepted or quarantined
    write_json(paths.MERGE_REPORT, report)
    if not report["accounting"]["balanced"] or not report.get("synthetic", {"balanced": True})["balanced"]:
        raise RuntimeError(f"merge: accounting does not balance: {report['accounting']} {report.get('synthetic', '')}")
    return report
