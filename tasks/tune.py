"""tune: which augmentation policy helps the evaluate model, measured on the validation split.

The search logic, pure and testable; `augmill tune` (flows/tune.py) runs it. Each candidate
policy augments the TRAIN split's sources into a scratch folder (never data/), the evaluate
model (tasks/evaluate.py) is trained on originals + variants over paired seeded repeats, and
is scored on the VALIDATION split: the test split's rows are never read (its files neither),
so the test split stays an unbiased judge of the policy chosen here. Each candidate is
compared with no augmentation by the paired bootstrap of tasks/stats.py; only a candidate
whose interval lies wholly above 0 ("better") can be recommended, and "none recommended" is
a valid answer.
"""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augmill.tasks import evaluate, paths, stats
from augmill.tasks.augment import Shard, ShardMapper, assign_variants, make_shards
from augmill.tasks.io import read_json, read_parquet
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.ops.base import OperatorConfigError
from augmill.tasks.ops.policy import build_policy
from augmill.tasks.params import Params

SCRATCH = Path(".augmill") / "tune"  # outside data/: nothing here is a DVC output
REPORT = paths.TUNE_REPORT
NONE = "none"
MAGNITUDE_SCALES = (0.5, 1.5, 2.0)
# Range fields whose "no change" value is 1 (a multiplier); every other range is centred on 0.
MULTIPLICATIVE = {"factor", "scale", "ratio"}
# RandAugment's paper default (n 2, m 9), a milder and a stronger one, and TrivialAugment.
PRESETS = ({"preset": "randaugment", "n": 2, "m": 9}, {"preset": "randaugment", "n": 1, "m": 5},
           {"preset": "randaugment", "n": 2, "m": 14}, {"preset": "trivialaugment"})


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str                 # none | current | preset | ablation | magnitude | split
    policy: Any               # a params.yaml augment.policy value; None for no augmentation


# ---- the candidates -----------------------------------------------------------

def scaled_entry(entry: dict, scale: float) -> dict:
    """One operator entry with every numeric [min, max] range moved ``scale`` times as far from
    "no change" (1 for multipliers, 0 otherwise); p and the other options are kept."""
    scaled = dict(entry)
    for field, value in entry.items():
        if field in ("name", "p") or not (isinstance(value, (list, tuple)) and len(value) == 2
                                          and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in value)):
            continue
        centre = 1.0 if field in MULTIPLICATIVE else 0.0
        scaled[field] = [round(centre + scale * (float(v) - centre), 4) for v in value]
    return scaled


def base_policy(params: Params) -> Any:
    """The policy the search varies: augment.policy, or tune.base_policy when augment.policy is auto
    (None: there is none, and only no augmentation and the presets are tried)."""
    return params.tune.base_policy if params.augment.policy == "auto" else params.augment.policy


def magnitude_candidate(policy: list, scale: float) -> Candidate:
    return Candidate(f"magnitude x{scale}", "magnitude", [scaled_entry(entry, scale) for entry in policy])


def candidates(policy: Any, modality: str, base_name: str = "current",
               magnitudes: tuple[float, ...] = MAGNITUDE_SCALES) -> list[Candidate]:
    """No augmentation, the current (or base) policy, the presets (images), the list policy with each
    operator dropped in turn, its geometric and photometric operators alone (images), and its ranges
    scaled by MAGNITUDE_SCALES. Candidates whose policy
    the catalogue refuses (a scaled range out of an operator's bounds) are left out; duplicates once."""
    found = [Candidate(NONE, "none", None)]
    if policy is not None:
        found.append(Candidate(base_name, "current", policy))
    if modality == "image":
        found += [Candidate(" ".join(f"{k} {v}" if k != "preset" else str(v) for k, v in entry.items()), "preset",
                            dict(entry)) for entry in PRESETS]
    if isinstance(policy, list) and modality == "image":
        from augmill.tasks.modalities.image.ops import OPERATOR_KINDS

        for kind in ("geometric", "photometric"):  # does the gain come from moving pixels or from changing them?
            subset = [entry for entry in policy if OPERATOR_KINDS.get(entry["name"]) == kind]
            if subset and len(subset) < len(policy):
                found.append(Candidate(f"{kind} only", "split", subset))
    if isinstance(policy, list):
        if len(policy) > 1:
            found += [Candidate(f"without {entry['name']}#{index}", "ablation", policy[:index] + policy[index + 1:])
                      for index, entry in enumerate(policy)]
        found += [magnitude_candidate(policy, scale) for scale in magnitudes]
    return distinct_valid(found, modality)


def distinct_valid(found: list[Candidate], modality: str, seen: set[str] | None = None) -> list[Candidate]:
    """The candidates the catalogue accepts, each policy once (``seen``: keys of policies already taken)."""
    kept, seen = [], set() if seen is None else seen
    for candidate in found:
        key = json.dumps(candidate.policy, sort_keys=True)
        if key in seen:
            continue
        if candidate.policy is not None:
            try:
                build_policy(copy.deepcopy(candidate.policy), modality)
            except OperatorConfigError:
                continue
        seen.add(key)
        kept.append(candidate)
    return kept


# ---- the data --------------------------------------------------------------------

@dataclass(frozen=True)
class TuneData:
    sources: pd.DataFrame     # train originals (raw-manifest rows) with "variants": how many each gets
    validation: pd.DataFrame  # validation originals


def load_splits(params: Params) -> TuneData:
    """Train and validation rows of explore's raw manifest (test rows are filtered out as the file is
    read), minus what bias's plan holds out; each train source gets the plan's number of variants."""
    if not paths.RAW_MANIFEST.exists() or not paths.PLAN.exists():
        raise FileNotFoundError(f"tune: {paths.RAW_MANIFEST} or {paths.PLAN} is missing; run the explore and bias "
                                "stages first (augmill run, or dvc repro bias)")
    rows = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)",
                        filters=[("status", "==", "ok"), ("split", "in", ["train", "val"])], sort_by="source_id")
    excluded = {entry["sample_id"] for entry in read_json(paths.PLAN)["excluded"]}
    rows = rows[~rows["sample_id"].isin(excluded)]
    validation = rows[rows["split"] == "val"].reset_index(drop=True)
    if validation["label"].nunique() < 2:
        raise ValueError(f"tune: the validation split has {validation['label'].nunique()} class(es) in "
                         f"{paths.RAW_MANIFEST}; tune scores candidates on it, so give the input a val split with "
                         "every class (or set data.split.val above 0)")
    sources = assign_variants(rows[rows["split"] == "train"], read_json(paths.PLAN), params.seed)
    return TuneData(sources, validation)


def _absolute(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    # The feature hooks join a row's path to their folder; an absolute path stays itself. Rows that hold
    # their values (table rows, texts) may have no path.
    if "path" not in frame:
        return frame
    return frame.assign(path=[str((folder / p).resolve()) for p in frame["path"]])


def originals_frame(data: TuneData, params: Params) -> pd.DataFrame:
    """Train originals then validation rows, as the evaluate model's feature hook takes them."""
    train = data.sources.assign(origin="original", sample_id=data.sources["source_id"])
    return _absolute(pd.concat([train, data.validation], ignore_index=True), Path(params.data.raw_dir))


def _augment_into(shard: Shard, params: Params, output_dir: str) -> list[dict]:
    augment_shard = get_modality(params.data.modality).augment_shard
    # Images and audio write files (here: into the scratch folder); texts and table rows are values in the rows.
    if "output_dir" in inspect.signature(augment_shard).parameters:
        return augment_shard(shard, params, Path(output_dir))
    return augment_shard(shard, params)


def make_variants(data: TuneData, params: Params, policy: Any, output_dir: Path, mapper: ShardMapper) -> pd.DataFrame:
    """The candidate's variants of the train sources (the plan's numbers), written under output_dir;
    ``mapper`` runs the shards (flows.executors)."""
    candidate_params = params.model_copy(update={"augment": params.augment.model_copy(update={"policy": policy})})
    custom_shards = optional_hook(get_modality(params.data.modality), "make_shards")  # a table's: one per class
    shards = (custom_shards(data.sources, candidate_params) if custom_shards
              else make_shards(data.sources, params.execution.shard_size))
    rows = [row for shard_rows in mapper(partial(_augment_into, params=candidate_params, output_dir=str(output_dir)),
                                         shards) for row in shard_rows]
    frame = pd.DataFrame(rows).sort_values("sample_id").reset_index(drop=True)
    return _absolute(frame.assign(origin="augmented", split="train"), output_dir)


def features(frame: pd.DataFrame, params: Params, memo: bool) -> tuple[np.ndarray, str]:
    """The evaluate model's features; scratch variants are not memoized (they are thrown away)."""
    settings = params.model_copy(update={"execution": params.execution.model_copy(update={"cache": memo})})
    return evaluate.features_for(frame, settings)


# ---- scoring -----------------------------------------------------------------------

@dataclass
class Arm:
    """Everything one repeat needs: train rows (originals first, then variants) and their features."""

    train: pd.DataFrame
    x_train: np.ndarray
    kind: str


def predict_repeats(arm: Arm, x_val: np.ndarray, y_val: np.ndarray, labels: list[str], params: Params,
                    repeats: range, augmented: bool) -> list[np.ndarray]:
    """Validation predictions of the evaluate model in each repeat: trained on the repeat's seeded
    subsample of the originals (evaluate.repeat_rows, the same draw for every candidate, so repeats
    pair), plus their variants when ``augmented``."""
    y_train = arm.train["label"].astype(str).to_numpy()
    predictions = []
    with evaluate.one_math_thread():
        for repeat in repeats:
            baseline, with_variants = evaluate.repeat_rows(arm.train, params.evaluate.subsample, params.seed, repeat)
            mask = with_variants if augmented else baseline
            model = evaluate.make_model(arm.kind, params, seed=evaluate.repeat_seed(params.seed, repeat))
            _, _, predicted = evaluate.fit_and_score(model, arm.x_train[mask], y_train[mask], x_val, y_val, labels)
            predictions.append(predicted)
    return predictions


def versus_none(y_val: np.ndarray, none: list[np.ndarray], candidate: list[np.ndarray], labels: list[str],
                params: Params) -> stats.PairedDifference:
    """candidate - no augmentation on the validation split, over the repeats both have run."""
    count = len(candidate)
    return stats.paired_bootstrap(y_val, np.array(none[:count]), np.array(candidate), labels,
                                  params.evaluate.metric, params.evaluate.confidence, params.seed)


def clear_losers(intervals: dict[str, stats.PairedDifference]) -> set[str]:
    """Candidates whose interval's upper end lies below the lower end of the best candidate's
    (the one with the highest lower end): more repeats would not make them the winner."""
    if not intervals:
        return set()
    best = max(intervals.values(), key=lambda result: result.low)
    return {name for name, result in intervals.items() if result.high < best.low}


def recommend(results: list[dict]) -> dict | None:
    """The candidate that beats no augmentation beyond the spread (verdict "better") by the largest
    mean difference (ties: the earlier candidate), or None: then no policy is recommended."""
    winners = [row for row in results if row.get("interval", {}).get("verdict") == "better"]
    return max(winners, key=lambda row: row["interval"]["difference"]) if winners else None


def score_summary(values: list[float]) -> dict:
    return {key: value for key, value in evaluate.spread(values).items() if key in ("mean", "std")}


def metric_values(y_val: np.ndarray, predictions: list[np.ndarray], labels: list[str], metric: str) -> list[float]:
    return [stats.score(metric, y_val, predicted, labels) for predicted in predictions]
