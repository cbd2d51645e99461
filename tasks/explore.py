"""explore: read every raw sample once and profile the dataset.

Writes the raw manifest (one row per input sample, quarantined ones included)
and reports/explore.json: counts per class and split, unreadable samples with
reasons, exact duplicates, and the modality's own profile (image sizes and
modes, text lengths, ...).
"""

from __future__ import annotations

import pandas as pd

from augmill.tasks import paths
from augmill.tasks.io import write_csv, write_json, write_parquet
from augmill.tasks.modalities import get_modality
from augmill.tasks.params import Params
from augmill.tasks.report_plots import bar_chart
from augmill.tasks.samples import QUARANTINE_COLUMNS, NothingUsable

TOP_REASONS = 3


def count_table(frame: pd.DataFrame, by: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[by].value_counts().sort_index().items()}


def exact_duplicates(ok: pd.DataFrame, max_listed: int) -> dict:
    """Samples sharing a content hash (sha256 of bytes, or of normalised text)."""
    groups = ok[ok["sha256"].duplicated(keep=False)].groupby("sha256", sort=True)
    listed, across_splits = [], 0
    for _, group in groups:
        across_splits += int(group["split"].nunique() > 1)
        if len(listed) < max_listed:
            listed.append({"sample_ids": sorted(group["sample_id"]), "splits": sorted(set(group["split"])),
                           "labels": sorted(set(group["label"]))})
    return {"groups": int(groups.ngroups), "extra_copies": int(sum(len(g) - 1 for _, g in groups)),
            "groups_across_splits": across_splits, "examples": listed}


def profile(frame: pd.DataFrame, context: dict, params: Params) -> dict:
    ok = frame[frame["status"] == "ok"].sort_values("sample_id").reset_index(drop=True)
    bad = frame[frame["status"] != "ok"]
    return {
        "dataset": context | {"modality": params.data.modality, "samples": len(frame), "readable": len(ok),
                              "quarantined": len(bad), "classes": int(ok["label"].nunique())},
        "counts": {
            "by_split": count_table(ok, "split"),
            "by_class": count_table(ok, "label"),
            "by_split_and_class": {split: count_table(group, "label") for split, group in ok.groupby("split")},
        },
        "quarantined": {
            "by_reason": count_table(bad, "reason_code"),
            "samples": bad[["sample_id", "path", "reason_code", "reason"]].head(200).to_dict("records"),
        },
        "exact_duplicates": exact_duplicates(ok, params.explore.max_listed_pairs),
        params.data.modality: get_modality(params.data.modality).profile(ok, params),
    }


def stop_if_nothing_usable(frame: pd.DataFrame) -> None:
    """With no usable sample there is nothing to profile, balance or augment: write the
    quarantine list (as merge would) and stop with one line a user can act on."""
    if (frame["status"] == "ok").any():
        return
    write_csv(frame.assign(stage="explore")[QUARANTINE_COLUMNS], paths.QUARANTINE)
    reasons = frame["reason_code"].value_counts().sort_index().sort_values(ascending=False, kind="stable")
    top = ", ".join(f"{count} {code}" for code, count in reasons.head(TOP_REASONS).items())
    others = len(reasons) - TOP_REASONS
    more = f" and {others} more reason{'s' if others > 1 else ''}" if others > 0 else ""
    raise NothingUsable(f"explore: no usable sample left: all {len(frame)} samples were quarantined ({top}{more}); "
                        f"each with its reason in {paths.QUARANTINE}")


def run(params: Params) -> dict:
    frame, context = get_modality(params.data.modality).read_raw(params)
    stop_if_nothing_usable(frame)
    report = profile(frame, context, params)
    write_parquet(frame, paths.RAW_MANIFEST)
    write_json(paths.EXPLORE_REPORT, report)
    ok = frame[frame["status"] == "ok"]
    bar_chart({split: count_table(group, "label") for split, group in ok.groupby("split")},
              title="Samples per class and split (raw)", path=paths.EXPLORE_PLOT)
    return report
