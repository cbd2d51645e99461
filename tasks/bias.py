"""bias: measure imbalance and leakage, and plan the rebalancing.

Bias is dealt with before augmenting, because augmented data inherits it:
the plan says how many new samples each class gets, and train samples that
duplicate a val/test sample are held out of training (leakage) with a reason.
So are wrong labels, outliers and near-copies (tasks/label_issues.py): a suspected
label error gets no variants (bias.label_issues: report), or leaves train for the
quarantine (quarantine), or stops the run (fail); a near-duplicate cluster counts once
when its class is sized.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from augmill.tasks import label_issues, label_review, paths
from augmill.tasks.io import read_parquet, write_csv, write_json
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.params import BiasParams, Params
from augmill.tasks.review import empty_decisions, label_decisions, read_decisions
from augmill.tasks.samples import (  # noqa: F401  (BiasCheckFailed: raised by modalities' bias hooks, caught as tasks.bias.BiasCheckFailed)
    BiasCheckFailed,
    SharedMapper,
    in_this_process,
)


class LabelIssuesFound(RuntimeError):
    """bias.label_issues is "fail" and the label check found likely label errors in train."""


def imbalance_ratio(counts: dict[str, int]) -> float:
    values = [v for v in counts.values() if v > 0]
    return round(max(values) / min(values), 4) if values else 1.0


def normalised_entropy(counts: dict[str, int]) -> float:
    """1.0 for perfectly balanced classes, towards 0 as one class dominates."""
    total = sum(counts.values())
    if len(counts) < 2 or total == 0:
        return 1.0
    shares = np.array([v / total for v in counts.values() if v > 0])
    return round(abs(float(-(shares * np.log(shares)).sum() / math.log(len(counts)))), 4)


def distribution_distance(a: dict[str, int], b: dict[str, int]) -> dict[str, float]:
    """Total variation and Jensen-Shannon distance (base 2) between two label distributions."""
    labels = sorted(set(a) | set(b))
    p = np.array([a.get(k, 0) for k in labels], dtype=float)
    q = np.array([b.get(k, 0) for k in labels], dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return {"total_variation": None, "jensen_shannon": None}
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x, y):
        mask = x > 0
        return float((x[mask] * np.log2(x[mask] / y[mask])).sum())

    return {"total_variation": round(float(np.abs(p - q).sum() / 2), 4),
            "jensen_shannon": round(math.sqrt(max((kl(p, m) + kl(q, m)) / 2, 0.0)), 4)}


def leaking_train_samples(ok: pd.DataFrame) -> pd.DataFrame:
    """Train rows whose exact content also appears in val or test."""
    held_out = set(ok.loc[ok["split"] != "train", "sha256"])
    leaks = ok[(ok["split"] == "train") & ok["sha256"].isin(held_out)]
    return leaks[["sample_id", "path", "label", "sha256"]].sort_values("sample_id")


def plan_new_samples(counts: dict[str, int], factor: float, policy: str, max_per_source: int) -> dict[str, dict]:
    """How many augmented samples each class gets.

    ``rebalance`` raises the smallest classes first (water-filling) until the
    train split reaches ``factor`` times its size; ``report`` and ``fail`` grow
    every class by the same factor. No class gets more than
    ``max_per_source`` variants per source; a class so capped says so.
    """
    labels = sorted(counts)
    total_target = round(sum(counts.values()) * factor)
    if policy == "rebalance":
        targets = _water_fill(counts, total_target)
    else:
        targets = {k: round(counts[k] * factor) for k in labels}
    plan = {}
    for label in labels:
        wanted = max(targets[label] - counts[label], 0)
        cap = counts[label] * max_per_source
        plan[label] = {"original": counts[label], "new": min(wanted, cap), "target": counts[label] + min(wanted, cap),
                       "capped": wanted > cap}
    return plan


def _water_fill(counts: dict[str, int], total_target: int) -> dict[str, int]:
    """Raise the smallest classes to a common level so the total is total_target.
    Classes already above the level keep their count (nothing is ever removed)."""
    active = sorted(counts, key=lambda k: (-counts[k], k))  # largest first
    targets: dict[str, int] = {}
    remaining = total_target
    while active and counts[active[0]] * len(active) > remaining:
        largest = active.pop(0)
        targets[largest] = counts[largest]
        remaining -= counts[largest]
    if active:
        level, extra = divmod(max(remaining, 0), len(active))
        # The integer remainder goes to the smallest classes.
        for rank, label in enumerate(sorted(active, key=lambda k: (counts[k], k))):
            targets[label] = level + (1 if rank < extra else 0)
    return targets


def check_policy(counts: dict[str, int], bias: BiasParams) -> None:
    ratio = imbalance_ratio(counts)
    if bias.policy == "fail" and ratio > bias.max_imbalance:
        largest = max(counts.values())
        offending = sorted(k for k, v in counts.items() if v * bias.max_imbalance < largest)
        raise BiasCheckFailed(
            f"bias.policy=fail: train imbalance ratio {ratio} exceeds bias.max_imbalance={bias.max_imbalance}; "
            f"classes under-represented: {offending} (counts: {[counts[k] for k in offending]} vs largest {largest}). "
            "Collect more data for them, or set bias.policy to rebalance."
        )


def label_check_report(findings: label_issues.Findings, mode: str) -> dict:
    listed = 20
    return {
        "mode": mode, "skipped": findings.skipped, "not_acted_on": findings.not_acted_on, "setup": findings.setup,
        "suspects": len(findings.suspects), "list": str(paths.LABEL_ISSUES),
        "examples": findings.suspects.head(listed).to_dict("records"),
        "outliers": {"count": len(findings.outliers), "examples": findings.outliers.head(listed).to_dict("records")},
        "near_duplicate_clusters": {"clusters": len(findings.clusters),
                                    "samples": sum(len(c) for c in findings.clusters),
                                    "examples": findings.clusters[:listed]},
    }


def apply_relabels(frame: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """``frame`` with the labels a reviewer corrected (plan["relabelled"]): how augment and
    merge see them, while the raw data stays as it was."""
    new_label = {entry["sample_id"]: entry["to"] for entry in plan.get("relabelled", [])}
    if not new_label:
        return frame
    return frame.assign(label=[new_label.get(i, label) for i, label in zip(frame["sample_id"], frame["label"],
                                                                              strict=True)])


def assess(manifest: pd.DataFrame, params: Params, decisions: pd.DataFrame | None = None,
           map_shared: SharedMapper = in_this_process) -> tuple[dict, dict, label_issues.Findings]:
    """The bias report, the plan and the label check's findings; ``map_shared`` runs the check's folds."""
    ok = manifest[manifest["status"] == "ok"]
    leaks = leaking_train_samples(ok)
    usable_train = ok[(ok["split"] == "train") & ~ok["sample_id"].isin(leaks["sample_id"])]
    if usable_train.empty:
        raise ValueError("bias: the train split has no readable samples; check data.raw_dir and reports/explore.json")
    # The reviewer's word on suspected labels (reviews/decisions.csv, sha256 targets) comes first.
    decided = label_decisions(decisions if decisions is not None else empty_decisions(), usable_train,
                              usable_train["label"].astype(str).unique())
    target = {sha: d["label"] for sha, d in decided.items() if d["label"] is not None}
    relabelled = usable_train[usable_train["sha256"].isin(target)]
    relabelled = relabelled[relabelled["sha256"].map(target) != relabelled["label"].astype(str)]
    usable_train = usable_train.assign(label=[target.get(sha, label) for sha, label in
                                              zip(usable_train["sha256"], usable_train["label"], strict=True)])
    findings = label_issues.check(usable_train, params, map_shared)
    confirmed = usable_train[usable_train["sha256"].isin({sha for sha, d in decided.items()
                                                          if d["decision"] == "confirm"})]
    findings.suspects = findings.suspects[~findings.suspects["sha256"].isin(decided)].reset_index(drop=True)
    # A model near chance flags right labels too: then its suspects are listed, not acted on.
    suspects = findings.suspects if findings.not_acted_on is None else findings.suspects.iloc[:0]
    quarantined = suspects if params.bias.label_issues == "quarantine" else suspects.iloc[:0]
    kept_train = usable_train[~usable_train["sample_id"].isin(set(quarantined["sample_id"]) | set(confirmed["sample_id"]))]
    counts = {str(k): int(v) for k, v in kept_train["label"].value_counts().sort_index().items()}
    # A near-duplicate cluster is one sample's worth of information: it counts once when a class is sized.
    kept_ids = set(kept_train["sample_id"])  # once: per member, it took 90 s and ~100 MB at 20,000 images (#24)
    clusters = [[m for m in c if m in kept_ids] for c in findings.clusters]
    distinct = label_issues.distinct_counts(kept_train, [c for c in clusters if len(c) > 1])
    by_split = {s: {str(k): int(v) for k, v in g["label"].value_counts().items()} for s, g in ok.groupby("split")}
    check_policy(counts, params.bias)
    plan = plan_new_samples(distinct, params.augment.factor, params.bias.policy, params.augment.max_variants_per_source)
    for label, entry in plan.items():  # sized on distinct samples; "original" stays the real count
        entry.update(original=counts[label], distinct=distinct[label], target=counts[label] + entry["new"])
    after = {k: v["target"] for k, v in plan.items()}
    unseen = sorted(set(by_split.get("test", {})) - set(counts))
    report = {
        "policy": params.bias.policy,
        "train_counts": counts,
        "imbalance_ratio": imbalance_ratio(counts),
        "normalised_entropy": normalised_entropy(counts),
        "train_vs_test": distribution_distance(counts, by_split.get("test", {})),
        "train_vs_val": distribution_distance(counts, by_split.get("val", {})),
        "classes_missing_from_train": unseen,
        "leakage": {"train_duplicates_of_val_or_test": len(leaks), "samples": leaks["sample_id"].tolist()[:200]},
        "label_check": label_check_report(findings, params.bias.label_issues)
        | {"reviewed": {"relabelled": len(relabelled), "confirmed_wrong": len(confirmed),
                        "kept": sum(d["decision"] == "keep" for d in decided.values())}},
        params.data.modality: get_modality(params.data.modality).bias_extra(ok, params),
        "planned": {"imbalance_ratio": imbalance_ratio(after), "normalised_entropy": normalised_entropy(after),
                    "new_samples": sum(v["new"] for v in plan.values())},
    }
    plan_file = {"policy": params.bias.policy, "classes": plan,
                 "excluded": [{"sample_id": r.sample_id, "reason_code": "leak_duplicate",
                               "reason": f"{r.path}: identical to a val/test sample (sha256 {r.sha256[:12]}); kept out of train"}
                              for r in leaks.itertuples()]
                 + [{"sample_id": r.sample_id, "reason_code": "label_issue",
                     "reason": f"{r.path}: labelled {r.given_label!r}, likely {r.suggested_label!r} (label quality "
                               f"{r.score:.3f}, bias.label_issues=quarantine)"}
                    for r in quarantined.itertuples()]
                 + [{"sample_id": r.sample_id, "reason_code": "label_issue",
                     "reason": f"{r.path}: label {r.label!r} confirmed wrong in review by "
                               f"{decided[r.sha256]['reviewer'] or 'unknown'} on {decided[r.sha256]['date']}"}
                    for r in confirmed.itertuples()],
                 # Suspects that stay in train: augmenting them would multiply a likely error.
                 "not_augmented": sorted(set(suspects["sample_id"]) - set(quarantined["sample_id"])),
                 "relabelled": [{"sample_id": r.sample_id, "sha256": r.sha256, "from": str(r.label),
                                 "to": target[r.sha256]} for r in relabelled.sort_values("sample_id").itertuples()]}
    object_plan = optional_hook(get_modality(params.data.modality), "object_plan")
    by_objects = object_plan(kept_train, params) if object_plan else None
    if by_objects is not None:  # annotated images: imbalance in objects
        report["objects"] = by_objects
    if by_objects is not None and "variants_per_image" in by_objects:  # rebalance: variants given per image
        plan_file["variants_per_source"] = by_objects["variants_per_image"]
        plan_file["keep_class_per_source"] = by_objects["class_per_image"]
        report["planned"] = {"imbalance_ratio": by_objects["imbalance_after"],
                             "new_samples": sum(by_objects["variants_per_image"].values())}
    return report, plan_file, findings


def run(params: Params, map_shared: SharedMapper = in_this_process) -> dict:
    manifest = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    report, plan, findings = assess(manifest, params, read_decisions(paths.DECISIONS), map_shared)
    write_csv(findings.suspects, paths.LABEL_ISSUES)
    label_review.render(findings, manifest[(manifest["status"] == "ok") & (manifest["split"] == "train")], params)
    write_json(paths.BIAS_REPORT, report)
    write_json(paths.PLAN, plan)
    if params.bias.label_issues == "fail" and len(findings.suspects) and findings.not_acted_on is None:
        raise LabelIssuesFound(
            f"bias.label_issues=fail: {len(findings.suspects)} likely label errors in the train split, listed in "
            f"{paths.LABEL_ISSUES}; fix the labels (or relabel in review), or set bias.label_issues to report or quarantine")
    return report
