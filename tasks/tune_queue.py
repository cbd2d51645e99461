"""`augmill tune --queue N`: which candidates to queue as DVC experiments, and how to write their policy
for `dvc exp run -S`. DVC applies -S overrides with Hydra's grammar, which JSON is not (quoted keys),
so a policy is written in that grammar here. Pure functions; flows/tune.py runs the commands."""

from __future__ import annotations

from typing import Any

EXPERIMENT_PREFIX = "tune-"


def best_candidates(report: dict, count: int) -> list[dict]:
    """The ``count`` candidates that ran every repeat, by mean difference against no augmentation (largest
    first; ties: the earlier one). No augmentation itself (the reference, without an interval) and the clear
    losers stopped early are left out: the queue holds the policies worth a full pipeline run."""
    scored = [row for row in report["candidates"] if row.get("interval") and row.get("status") == "scored"]
    ranked = sorted(enumerate(scored), key=lambda pair: (-pair[1]["interval"]["difference"], pair[0]))
    return [row for _, row in ranked[:count]]


def experiment_names(shown: list[dict]) -> set[str]:
    """The names of the experiments, queued, running or done, in `dvc exp show --json` (DVC 3: each commit's
    "experiments" list holds {"name", "executor", "revs"})."""
    return {experiment["name"] for commit in shown for experiment in commit.get("experiments") or []
            if experiment.get("name")}


def override_value(value: Any) -> str:
    """``value`` (a params.yaml value: dicts, lists, strings, numbers, booleans, null) in Hydra's override
    grammar, e.g. ``[{name:'rotate',p:0.9,angle:[-12,12]}]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):  # quoted: a name like "true" or "1e3" stays a string
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{override_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"a policy value of type {type(value).__name__} cannot be queued: {value!r}")


def experiment_command(policy: Any, name: str) -> list[str]:
    """The `dvc exp run --queue` command for one candidate: the whole pipeline with augment.policy set.
    The key is deleted (~) and added (+) rather than overridden: an override merges into the old value,
    and Hydra cannot merge a preset (a mapping) into a list of operators or the other way round."""
    return ["dvc", "exp", "run", "--queue", "--name", name,
            "-S", "~augment.policy", "-S", f"+augment.policy={override_value(policy)}"]
