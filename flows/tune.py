"""`augmill tune [--accept]`: run the policy search of tasks/tune.py within its time budget,
write reports/tune.json, and with --accept put the recommended policy into params.yaml.

A command, not a DVC stage: it explores and proposes a change of params; the policy it
chooses becomes part of the versioned pipeline only once accepted into params.yaml (and
committed), where `dvc repro` and `augmill run` take it like any hand-written policy.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from flows.executors import local_mapper
from tasks import evaluate, stats, tune
from tasks.io import write_json
from tasks.params import Params
from tasks.params_load import load_params


def search(params: Params, clock=time.perf_counter) -> dict:
    """Every candidate scored against no augmentation on the validation split; the report."""
    started = clock()
    settings = params.tune
    data = tune.load_splits(params)
    base = tune.originals_frame(data, params)
    base_values, kind = tune.features(base, params, memo=params.execution.cache)
    train_count = len(data.sources)
    x_base, x_val = base_values[:train_count], base_values[train_count:]
    train_originals = base.iloc[:train_count].reset_index(drop=True)
    y_val = data.validation["label"].astype(str).to_numpy()
    labels = sorted({*y_val, *train_originals["label"].astype(str)})
    metric = params.evaluate.metric

    everything = tune.candidates(params.augment.policy, params.data.modality)
    chosen = everything[: settings.max_candidates]
    rows: dict[str, dict] = {c.name: {"name": c.name, "kind": c.kind, "policy": c.policy} for c in chosen}
    arms: dict[str, tune.Arm] = {}
    predictions: dict[str, list[np.ndarray]] = {}
    scratch = tune.SCRATCH / "variants"
    shutil.rmtree(scratch, ignore_errors=True)

    def run_repeats(candidate: tune.Candidate, repeats: range) -> None:
        began = clock()
        if candidate.name not in arms:
            if candidate.policy is None:
                arms[candidate.name] = tune.Arm(train_originals, x_base, kind)
            else:
                folder = scratch / f"{list(rows).index(candidate.name):03d}"
                variants = tune.make_variants(data, params, candidate.policy, folder, local_mapper(params.execution.workers))
                x_variants, _ = tune.features(variants, params, memo=False)
                if x_variants.shape[1] != x_base.shape[1]:
                    raise ValueError(f"tune: candidate {candidate.name!r} made variants whose features have "
                                     f"{x_variants.shape[1]} columns, the originals {x_base.shape[1]}")
                train = pd.concat([train_originals, variants[train_originals.columns.intersection(
                    variants.columns)]], ignore_index=True)
                arms[candidate.name] = tune.Arm(train, np.vstack([x_base, x_variants]), kind)
                shutil.rmtree(folder, ignore_errors=True)  # features are held; the files are not needed
        predictions.setdefault(candidate.name, []).extend(tune.predict_repeats(
            arms[candidate.name], x_val, y_val, labels, params, repeats, augmented=candidate.policy is not None))
        rows[candidate.name]["seconds"] = round(rows[candidate.name].get("seconds", 0.0) + clock() - began, 2)

    def intervals(names) -> dict[str, stats.PairedDifference]:
        return {name: tune.versus_none(y_val, predictions[tune.NONE], predictions[name], labels, params)
                for name in names}

    def over_budget() -> bool:
        return clock() - started > settings.time_budget_seconds

    # Screening: every candidate's first repeats, then clear losers stop.
    screen = range(settings.screen_repeats)
    for candidate in chosen:
        if over_budget():
            rows[candidate.name]["status"] = "not run: time budget spent"
            continue
        run_repeats(candidate, screen)
    screened = [c for c in chosen if c.name in predictions and c.policy is not None]
    dropped = tune.clear_losers(intervals(c.name for c in screened))
    for name in dropped:
        rows[name]["status"] = f"stopped after {settings.screen_repeats} repeats: a clear loser"
    # The remaining repeats, no augmentation first (every comparison pairs with it).
    rest = range(settings.screen_repeats, settings.repeats)
    for candidate in [c for c in chosen if c.name in predictions and c.name not in dropped]:
        if len(rest) and over_budget():
            rows[candidate.name].setdefault("status", f"stopped after {settings.screen_repeats} repeats: time budget")
            continue
        run_repeats(candidate, rest)

    for name, interval in intervals(c.name for c in chosen if c.name in predictions and c.policy is not None).items():
        rows[name]["interval"] = interval.as_dict()
    for name, predicted in predictions.items():
        row = rows[name]
        row["score"] = tune.score_summary(tune.metric_values(y_val, predicted, labels, metric)) | {
            "repeats": len(predicted)}
        row.setdefault("status", "scored")
    results = [rows[c.name] for c in chosen]
    best = tune.recommend(results)
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "metric": metric, "split": "val", "validation_rows": len(y_val), "train_sources": train_count,
        "variants_planned": int(data.sources["variants"].sum()),
        "model": evaluate.model_description(kind, params),
        "repeats": settings.repeats, "screen_repeats": settings.screen_repeats,
        "confidence": params.evaluate.confidence, "method": stats.METHOD,
        "candidates_considered": len(everything), "candidates": results,
        "recommended": None if best is None else {"name": best["name"], "policy": best["policy"]},
        "statement": statement(best, metric) + budget_note(results, settings.time_budget_seconds),
        "seconds": round(clock() - started, 2),
    }


def statement(best: dict | None, metric: str) -> str:
    if best is None:
        return (f"none recommended: no candidate beat no augmentation on the validation split beyond the spread "
                f"({metric}, paired bootstrap over validation samples and repeats); keep augment.policy as it is or "
                "augment less")
    interval = best["interval"]
    return (f"recommended: {best['name']}: {metric} {interval['difference']:+.4f} over no augmentation on the "
            f"validation split, interval [{interval['low']:+.4f}, {interval['high']:+.4f}]")


def budget_note(results: list[dict], budget: float) -> str:
    unrun = sum(row["status"].startswith("not run") for row in results)
    return f" ({unrun} candidate(s) not run: tune.time_budget_seconds={budget:g} was spent)" if unrun else ""


def accept(policy, params_file: Path) -> None:
    """Write ``policy`` as augment.policy into params_file, keeping its comments (ruamel.yaml round trip);
    the file is checked before it replaces the old one."""
    import io

    from ruamel.yaml import YAML

    from tasks.io import write_bytes_atomic
    from tasks.params_load import parse_params

    round_trip = YAML()  # comments and key order stay
    round_trip.width = 4096
    document = round_trip.load(params_file.read_text(encoding="utf-8"))
    document["augment"]["policy"] = policy
    buffer = io.StringIO()
    round_trip.dump(document, buffer)
    parse_params(yaml.safe_load(buffer.getvalue()), source=str(params_file))
    write_bytes_atomic(params_file, buffer.getvalue().encode("utf-8"))


def run(params_file: Path, overrides: list[str], accept_choice: bool) -> int:
    params = load_params(params_file, overrides)
    report = search(params)
    write_json(tune.REPORT, report)
    for row in report["candidates"]:
        interval = row.get("interval")
        versus = (f"{interval['difference']:+.4f} [{interval['low']:+.4f}, {interval['high']:+.4f}] "
                  f"{interval['verdict']}") if interval else "(the reference)"
        score = row.get("score")
        shown = f"{score['mean']:.4f} ± {score['std']:.4f}" if score else "-"
        print(f"tune: {row['name']:<32} {shown:<18} {versus:<48} {row['status']}")
    print(f"tune: {report['statement']} ({report['seconds']:.1f}s; {tune.REPORT})")
    from tasks.report import build_report

    build_report(params)  # its policy-search section
    if accept_choice:
        if report["recommended"] is None:
            print(f"tune: --accept: nothing to accept; {params_file} is unchanged")
        else:
            accept(report["recommended"]["policy"], params_file)
            print(f"tune: --accept: augment.policy in {params_file} is now {report['recommended']['name']!r}; "
                  "`augmill run` (or dvc repro) makes the dataset version with it")
    return 0
