"""tune's search: every candidate policy scored against no augmentation on the validation split
(tasks/tune.py holds the pieces), within a time budget; and the choice of ``augment.policy: auto``.

`augmill tune` (flows/tune.py) runs the search and proposes; the augment stage runs it for
``augment.policy: auto`` and uses its answer. For auto the time budget is not applied (every
candidate up to tune.max_candidates runs): a wall clock would make the choice depend on the
machine's speed, and the same params and seed must give the same choice and the same bytes.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd

from augmill.tasks import evaluate, paths, stats, tune
from augmill.tasks.augment import ShardMapper
from augmill.tasks.io import write_json
from augmill.tasks.params import Params
from augmill.tasks.seeding import stream_int

AUTO = "auto"


def search(params: Params, mapper: ShardMapper = map, clock=time.perf_counter, budgeted: bool = True) -> dict:
    """Every candidate scored against no augmentation on the validation split; the report.
    ``budgeted``: stop starting candidates after tune.time_budget_seconds (not for auto: see above)."""
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

    base_policy = tune.base_policy(params)
    by_optuna = settings.search == "optuna" and isinstance(base_policy, list)
    everything = tune.candidates(base_policy, params.data.modality,
                                 base_name="base" if params.augment.policy == AUTO else "current",
                                 magnitudes=() if by_optuna else tune.MAGNITUDE_SCALES)
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
                variants = tune.make_variants(data, params, candidate.policy, folder, mapper)
                x_variants, _ = tune.features(variants, params, memo=False)
                if x_variants.shape[1:] != x_base.shape[1:]:  # texts: 1-D, vectorised per model
                    raise ValueError(f"tune: candidate {candidate.name!r} made variants whose features have "
                                     f"{x_variants.shape[1:]} columns, the originals {x_base.shape[1:]}")
                train = pd.concat([train_originals, variants[train_originals.columns.intersection(
                    variants.columns)]], ignore_index=True)
                arms[candidate.name] = tune.Arm(train, np.concatenate([x_base, x_variants]), kind)
                shutil.rmtree(folder, ignore_errors=True)  # features are held; the files are not needed
        predictions.setdefault(candidate.name, []).extend(tune.predict_repeats(
            arms[candidate.name], x_val, y_val, labels, params, repeats, augmented=candidate.policy is not None))
        rows[candidate.name]["seconds"] = round(rows[candidate.name].get("seconds", 0.0) + clock() - began, 2)

    def intervals(names) -> dict[str, stats.PairedDifference]:
        return {name: tune.versus_none(y_val, predictions[tune.NONE], predictions[name], labels, params)
                for name in names}

    def score_screened(candidate: tune.Candidate) -> float:
        """An Optuna trial: the candidate's screening repeats; its mean score on val (higher is better)."""
        rows[candidate.name] = {"name": candidate.name, "kind": candidate.kind, "policy": candidate.policy}
        run_repeats(candidate, screen)
        return float(np.mean(tune.metric_values(y_val, predictions[candidate.name], labels, metric)))

    def over_budget() -> bool:
        return budgeted and clock() - started > settings.time_budget_seconds

    # Screening: every candidate's first repeats, then clear losers stop.
    screen = range(settings.screen_repeats)
    for candidate in chosen:
        if over_budget():
            rows[candidate.name]["status"] = "not run: time budget spent"
            continue
        run_repeats(candidate, screen)
    if by_optuna:  # the magnitude scale searched by Optuna's TPE, as many trials as max_candidates leaves
        seen = {json.dumps(c.policy, sort_keys=True) for c in everything}
        for candidate in optuna_magnitudes(base_policy, params, settings.max_candidates - len(chosen), seen,
                                           over_budget, lambda c: score_screened(c)):
            chosen.append(candidate)
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
        "magnitudes": "optuna TPE (seeded)" if by_optuna else f"grid x{', x'.join(map(str, tune.MAGNITUDE_SCALES))}",
        "candidates_considered": len(everything), "candidates": results,
        "recommended": None if best is None else {"name": best["name"], "policy": best["policy"]},
        "statement": statement(best, metric) + budget_note(results, settings.time_budget_seconds),
        "seconds": round(clock() - started, 2),
    }


def optuna_magnitudes(policy: list, params: Params, trials: int, seen: set[str], over_budget, score):
    """Up to ``trials`` scaled copies of ``policy``, the scale (0.25 to 2.5, log scale, 2 decimals) asked of
    Optuna's TPE sampler, seeded from the run seed, one trial at a time: each is scored (``score``: its
    screening repeats' mean on val) before the next is asked, so the same seed gives the same scales.
    A scale the catalogue refuses, or one already tried, is told as failed. Yields each candidate run."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=stream_int(params.seed, "tune_sampler"),
                                         n_startup_trials=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(max(0, trials)):
        if over_budget():
            return
        trial = study.ask()
        scale = round(trial.suggest_float("scale", 0.25, 2.5, log=True), 2)
        kept = tune.distinct_valid([tune.magnitude_candidate(policy, scale)], params.data.modality, seen)
        if not kept:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        study.tell(trial, score(kept[0]))
        yield kept[0]


def choose_policy(params: Params, mapper: ShardMapper = map) -> tuple[Params, dict]:
    """For augment.policy: auto, the params with the search's choice as augment.policy (an empty list when
    no candidate beat no augmentation: the augment stage then makes no variants), and the record of
    the choice written to reports/policy_choice.json: the policy, why, and every candidate's evidence.
    The search reads the train and validation rows only, its repeats are seeded and its budget is
    not applied, so the same params and seed give the same choice."""
    report = search(params, mapper, budgeted=False)
    report.pop("seconds")  # the record is part of the dataset version: nothing machine-dependent in it
    for row in report["candidates"]:
        row.pop("seconds", None)
    chosen = report["recommended"]
    record = {"policy_param": AUTO, "chosen": None if chosen is None else chosen["name"],
              "policy": [] if chosen is None else chosen["policy"],
              "augmentation": "none" if chosen is None else "applied", "search": report}
    write_json(paths.POLICY_CHOICE, record)
    return params.model_copy(update={"augment": params.augment.model_copy(update={"policy": record["policy"]})}), record


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


def resolve_policy(params: Params, mapper: ShardMapper = map) -> Params:
    """What the augment stage runs with: for augment.policy: auto, the search's choice (choose_policy);
    a written policy stays. Either way reports/policy_choice.json records the policy this version was made with."""
    if params.augment.policy == AUTO:
        return choose_policy(params, mapper)[0]
    write_json(paths.POLICY_CHOICE, {"policy_param": "as written", "chosen": None, "policy": params.augment.policy,
                                     "augmentation": "applied"})
    return params
