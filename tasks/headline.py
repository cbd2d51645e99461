"""The headline figures of a dataset version: the only values dvc.yaml lists as metrics.

`dvc exp show` puts every metric value in a column; the full JSON reports (explore,
bias, validation, merge, evaluate) hold hundreds, which pushed the figure a user
compares across experiments, the evaluate delta, off the screen. reports/metrics.json
holds what a user compares, the delta first (exp show keeps its leftmost metric column
whatever the terminal's width): the model's delta, means and spread (evaluate), then
train size and imbalance before and after, variants accepted and samples quarantined
(merge). It is written when evaluate ends, from the two full reports, which stay
git-tracked outputs and feed the HTML report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augmill.tasks import paths
from augmill.tasks.io import read_json, write_json


def _number(node: Any, *keys: str) -> float | None:
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def evaluate_figures(report: dict) -> dict:
    """The primary metric's difference (augmented - baseline) with its confidence interval (the
    verdict's: test sample and training repeats, tasks/stats.py), both means, and the spread of
    the paired differences over the repeats. Read defensively: a skipped evaluation (no test
    split) has none of them, and then none is written."""
    metric = report.get("primary_metric")
    figures = {"delta": _number(report, "difference", metric, "mean"),
               "delta_low": _number(report, "difference", metric, "low"),
               "delta_high": _number(report, "difference", metric, "high"),
               "baseline": _number(report, "baseline", metric, "mean"),
               "augmented": _number(report, "augmented", metric, "mean"),
               "spread": _number(report, "difference", metric, "std")}
    return {key: value for key, value in figures.items() if value is not None}


def merge_figures(report: dict) -> dict:
    """Train size and imbalance before/after; augmented variants accepted; samples quarantined
    (raw samples unusable or leaking into val/test, variants refused by validation or review)."""
    augmented, accounting = report.get("augmented", {}), report.get("accounting", {})
    quarantined = (augmented.get("rejected", 0) + augmented.get("rejected_in_review", 0)
                   + accounting.get("quarantined_raw", 0) + accounting.get("held_out_leaks", 0)
                   + accounting.get("quarantined_label_issues", 0))
    return {"train_before": report["train_before"]["samples"], "train_after": report["train_after"]["samples"],
            "imbalance_before": report["train_before"]["imbalance_ratio"],
            "imbalance_after": report["train_after"]["imbalance_ratio"],
            "accepted": augmented.get("accepted", 0), "quarantined": quarantined}


def write_headline(evaluate_report: Path = paths.EVALUATE_REPORT, merge_report: Path = paths.MERGE_REPORT,
                   path: Path = paths.HEADLINE) -> dict:
    headline = evaluate_figures(read_json(evaluate_report)) | merge_figures(read_json(merge_report))
    write_json(path, headline)
    return headline
