"""merge: originals plus accepted augmented samples into data/final/.

Val and test are copied untouched (byte for byte); train gains the accepted
variants. Writes the final manifest, the quarantine list (every sample that
did not make it, from any stage, with its reason), counts before/after and
the accounting that proves nothing was lost.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd

from tasks import paths
from tasks.bias import imbalance_ratio, normalised_entropy
from tasks.io import copy_file_atomic, read_json, read_parquet, safe_name, write_csv, write_json, write_parquet
from tasks.params import Params
from tasks.report_plots import bar_chart

FINAL_COLUMNS = ["sample_id", "source_id", "split", "label", "origin", "path", "ops", "seed", "sha256", "width", "height"]
QUARANTINE_COLUMNS = ["sample_id", "path", "stage", "reason_code", "reason"]


def _suffix(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""


def final_rows(originals: pd.DataFrame, accepted: pd.DataFrame) -> pd.DataFrame:
    """The final manifest, with each file's place under data/final/ (named by sample_id: unique and safe)."""
    originals = originals.assign(
        path=[f"{s}/{safe_name(l)}/{i}{_suffix(p)}" for s, l, i, p in zip(originals["split"], originals["label"], originals["sample_id"], originals["path"])],
        ops="[]", seed=pd.NA, origin="original")
    accepted = accepted.assign(path=["train/" + p for p in accepted["path"]])
    frame = pd.concat([originals[FINAL_COLUMNS], accepted[FINAL_COLUMNS]], ignore_index=True)
    frame["seed"] = frame["seed"].astype("Int64")
    frame[["width", "height"]] = frame[["width", "height"]].astype("Int64")
    return frame.sort_values(["split", "label", "sample_id"]).reset_index(drop=True)


def quarantine_rows(raw: pd.DataFrame, excluded: list[dict], validated: pd.DataFrame) -> pd.DataFrame:
    raw_bad = raw[raw["status"] != "ok"].assign(stage="explore")
    raw_paths = dict(zip(raw["sample_id"], raw["path"]))
    leaks = pd.DataFrame([{**e, "path": raw_paths.get(e["sample_id"], ""), "stage": "bias"} for e in excluded],
                         columns=QUARANTINE_COLUMNS)
    rejected = validated[validated["status"] == "quarantined"].assign(
        stage="validate", path=lambda f: str(paths.AUGMENTED_DIR) + "/" + f["path"])
    return pd.concat([raw_bad[QUARANTINE_COLUMNS], leaks, rejected[QUARANTINE_COLUMNS]], ignore_index=True)


def class_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["label"].value_counts().sort_index().items()}


def run(params: Params) -> dict:
    raw = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    excluded = read_json(paths.PLAN)["excluded"]
    validated = read_parquet(paths.VALIDATED_MANIFEST, "validated manifest (stage validate)")
    excluded_ids = {e["sample_id"] for e in excluded}
    originals = raw[(raw["status"] == "ok") & ~raw["sample_id"].isin(excluded_ids)]
    accepted = validated[validated["status"] == "accepted"]
    final = final_rows(originals, accepted)
    quarantine = quarantine_rows(raw, excluded, validated)

    shutil.rmtree(paths.FINAL, ignore_errors=True)
    raw_dir = Path(params.data.raw_dir)
    sources = dict(zip(originals["sample_id"], originals["path"]))
    for row in final.itertuples():
        origin_file = raw_dir / sources[row.sample_id] if row.origin == "original" else paths.AUGMENTED_DIR / row.path.removeprefix("train/")
        copy_file_atomic(origin_file, paths.FINAL / row.path)
    write_parquet(final, paths.FINAL_MANIFEST)
    write_csv(quarantine, paths.QUARANTINE)

    before = class_counts(originals[originals["split"] == "train"])
    after = class_counts(final[final["split"] == "train"])
    for counts, path in ((before, paths.CLASS_COUNTS_BEFORE), (after, paths.CLASS_COUNTS_AFTER)):
        write_csv(pd.DataFrame({"label": list(counts), "count": list(counts.values())}), path)
    bar_chart({"before": before, "after": after}, "Train samples per class, before and after augmentation",
              paths.CLASS_DISTRIBUTION_PNG)
    raw_quarantined = int((raw["status"] != "ok").sum())
    report = {
        "train_before": {"samples": sum(before.values()), "imbalance_ratio": imbalance_ratio(before),
                         "normalised_entropy": normalised_entropy(before), "per_class": before},
        "train_after": {"samples": sum(after.values()), "imbalance_ratio": imbalance_ratio(after),
                        "normalised_entropy": normalised_entropy(after), "per_class": after},
        "final_by_split": class_counts(final.rename(columns={"label": "_", "split": "label"})),
        "augmented": {"accepted": len(accepted), "rejected": int((validated["status"] == "quarantined").sum())},
        # Nothing lost: every raw sample is a final original or quarantined with a reason.
        "accounting": {"raw_samples": len(raw), "final_originals": len(originals),
                       "quarantined_raw": raw_quarantined, "held_out_leaks": len(excluded_ids),
                       "balanced": len(raw) == len(originals) + raw_quarantined + len(excluded_ids)},
    }
    write_json(paths.MERGE_REPORT, report)
    if not report["accounting"]["balanced"]:
        raise RuntimeError(f"merge: accounting does not balance: {report['accounting']}")
    return report
