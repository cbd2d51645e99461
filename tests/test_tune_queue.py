"""augmill tune --queue N: the N best candidates queued as DVC experiments, in a real git + DVC project."""

from __future__ import annotations

import json

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from augmill.tasks.tune_queue import best_candidates, experiment_command, experiment_names, override_value
from tests.project import new_project, run


def _row(name: str, difference: float | None, status: str = "scored") -> dict:
    row = {"name": name, "policy": [{"name": name, "p": 1.0}], "status": status}
    if difference is not None:
        row["interval"] = {"difference": difference}
    return row


def test_best_candidates_rank_by_difference_without_none_or_clear_losers():
    report = {"candidates": [_row("none", None), _row("a", 0.01), _row("b", 0.03),
                             _row("c", 0.05, "stopped after 2 repeats: a clear loser"), _row("d", 0.03), _row("e", -0.02)]}
    assert [row["name"] for row in best_candidates(report, 3)] == ["b", "d", "a"]  # tie: the earlier first
    assert [row["name"] for row in best_candidates(report, 10)] == ["b", "d", "a", "e"]
    assert best_candidates(report, 0) == []


LIST = [{"name": "rotate", "p": 0.9, "angle": [-12, 12]}, {"name": "gaussian_noise", "p": 0.3, "sigma": [2.0, 8.0]}]
PRESET = {"preset": "randaugment", "n": 2, "m": 9}
ODD = [{"name": "synonym", "p": 1, "words": ["true", "1e3", "it's", "a,b"], "keep": None, "flag": False, "small": 0.001}]


@pytest.mark.parametrize("policy", [LIST, PRESET, ODD])
def test_a_policy_reads_back_the_same_through_dvcs_override_parser(policy):
    command = experiment_command(policy, "tune-1")
    assert command[:6] == ["dvc", "exp", "run", "--queue", "--name", "tune-1"]
    override = OverridesParser.create().parse_override(command[-1])  # the grammar DVC applies -S with
    assert override.key_or_group == "augment.policy" and override.value() == policy


@pytest.mark.parametrize(("old", "new"), [(LIST, PRESET), (PRESET, LIST), ({"preset": "trivialaugment"}, PRESET),
                                          ("auto", ODD)])
def test_dvc_sets_the_policy_whatever_it_was_before(tmp_path, old, new):
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` does to params.yaml

    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"augment": {"factor": 2.0, "policy": old}, "seed": 7}))
    command = experiment_command(new, "tune-1")
    apply_overrides(params_file, [value for flag, value in zip(command, command[1:], strict=False) if flag == "-S"])
    assert yaml.safe_load(params_file.read_text()) == {"augment": {"factor": 2.0, "policy": new}, "seed": 7}


def test_a_value_params_yaml_cannot_hold_is_refused():
    with pytest.raises(TypeError, match="set"):
        override_value([{"name": "rotate", "angle": {1, 2}}])


def _queued_policies(shown: list[dict]) -> dict[str, object]:
    """name -> augment.policy of every queued experiment in `dvc exp show --json` (DVC 3: each commit's
    "experiments" hold {"name", "executor": {"state"}, "revs": [{"data": {"params": ...}}]})."""
    found = {}
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            if experiment.get("executor", {}).get("state") == "queued":
                params = experiment["revs"][0]["data"]["params"]["params.yaml"]["data"]
                found[experiment["name"]] = params["augment"]["policy"]
    return found


@pytest.mark.e2e
def test_queue_puts_the_best_candidates_in_dvc_experiments(tmp_path):
    root = new_project(tmp_path / "project", {"prepare": {"max_per_class": 40},
                                              "tune": {"repeats": 3, "screen_repeats": 2, "max_candidates": 5}})
    for stage in ("prepare", "explore", "bias"):
        run(["augmill", "stage", stage], root)
    before = (root / "params.yaml").read_text()
    result = run(["augmill", "tune", "--queue", "2"], root)
    report = json.loads((root / "reports" / "tune.json").read_text())
    expected = best_candidates(report, 2)
    assert expected, report["candidates"]
    names = [f"tune-{rank}" for rank in range(1, len(expected) + 1)]
    status = run(["dvc", "queue", "status"], root).stdout
    assert all(any(name in line and "Queued" in line for line in status.splitlines()) for name in names), status
    shown = json.loads(run(["dvc", "exp", "show", "--json"], root).stdout)
    queued = _queued_policies(shown)
    assert queued == {name: row["policy"] for name, row in zip(names, expected, strict=True)}
    assert experiment_names(shown) == set(names)
    again = run(["augmill", "tune", "--queue", "2"], root, check=False)  # a second tune-1 would fail only when run
    assert again.returncode != 0 and f"experiments {', '.join(names)} exist already" in again.stderr
    assert _queued_policies(json.loads(run(["dvc", "exp", "show", "--json"], root).stdout)) == queued
    assert (root / "params.yaml").read_text() == before  # the workspace's params are the user's to change
    assert f"{names[0]} = {expected[0]['name']!r}" in result.stdout
