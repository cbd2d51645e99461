"""The headline figures of a dataset version: the only values dvc.yaml lists as metrics.

`dvc exp show` puts every metric value in a column; the full JSON reports (explore,
bias, validation, merge, evaluate) hold hundreds, which pushed the figure a user
compares across experiments, the evaluate delta, off the screen. These small files
hold what a user compares: train size and imbalance before and after, accepted and
quarantined counts (merge), and the model's means, spread and delta (evaluate).
The full reports stay git-tracked outputs and feed the HTML report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks import paths
from tasks.io import read_json, write_json


def merge_headline(report: dict) -> dict:
    """Train size and imbalance before/after; augmented variants accepted; samples quarantined
    (raw samples unusable or leaking into val/test, variants refused by validation or review)."""
    augmented, accounting = report.get("augmented", {}), report.get("accounting", {})
    quarantined = (augmented.get("rejected", 0) + augmented.get("rejected_in_review", 0)
                   + accounting.get("quarantined_raw", 0) + accounting.get("held_out_leaks", 0))
    return {"train_before": report["train_before"]["samples"], "train_after": report["train_after"]["samples"],
            "imbalance_before": report["train_before"]["imbalance_ratio"],
            "imbalance_after": report["train_after"]["imbalance_ratio"],
            "accepted": augmented.get("accepted", 0), "quarantined": quarantined}


def _number(node: Any, *keys: str) -> float | None:
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def evaluate_headline(report: dict) -> dict:
    """The primary metric's mean and spread (std over the repeats) with and without augmentation,
    and their difference. Read defensively: a skipped evaluation (no test split) has none of them,
    and then the headline says only that nothing was measured."""
    metric = report.get("primary_metric")
    figures = {"baseline": _number(report, "baseline", metric, "mean"),
               "baseline_std": _number(report, "baseline", metric, "std"),
               "augmented": _number(report, "augmented", metric, "mean"),
               "augmented_std": _number(report, "augmented", metric, "std"),
               "delta": _number(report, "difference", metric, "mean")}
    measured = {key: value for key, value in figures.items() if value is not None}
    return {"evaluated": bool(measured), **measured}


def write_merge_headline(report: dict, path: Path = paths.MERGE_HEADLINE) -> dict:
    headline = merge_headline(report)
    write_json(path, headline)
    return headline


def write_evaluate_headline(report_path: Path = paths.EVALUATE_REPORT, path: Path = paths.EVALUATE_HEADLINE) -> dict:
    headline = evaluate_headline(read_json(report_path))
    write_json(path, headline)
    return headline
