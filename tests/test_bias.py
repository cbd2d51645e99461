"""Tests for tasks/bias.py: imbalance measures, the rebalancing plan, the
"fail" policy and train/test leakage."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from augmill.tasks.bias import (
    BiasCheckFailed,
    check_policy,
    distribution_distance,
    imbalance_ratio,
    leaking_train_samples,
    normalised_entropy,
    plan_new_samples,
)
from augmill.tasks.params import BiasParams


def targets(plan: dict[str, dict]) -> dict[str, int]:
    return {label: entry["target"] for label, entry in plan.items()}


def test_imbalance_ratio():
    assert imbalance_ratio({"a": 100, "b": 10}) == 10
    assert imbalance_ratio({"a": 7, "b": 7, "c": 7}) == 1
    assert imbalance_ratio({"a": 3, "b": 9}) == 3


def test_normalised_entropy():
    assert normalised_entropy({"a": 5, "b": 5, "c": 5}) == 1.0
    assert normalised_entropy({"a": 1000, "b": 1}) < 0.5
    assert normalised_entropy({"a": 1000, "b": 1}) > 0
    assert normalised_entropy({"a": 60, "b": 40}) < normalised_entropy({"a": 55, "b": 45}) < 1.0


def test_distribution_distance_identical_and_disjoint():
    same = distribution_distance({"a": 1, "b": 2}, {"a": 10, "b": 20})
    assert same == {"total_variation": 0.0, "jensen_shannon": 0.0}
    disjoint = distribution_distance({"a": 5, "b": 5}, {"c": 3})
    assert disjoint["total_variation"] == 1.0
    assert disjoint["jensen_shannon"] == 1.0


def test_distribution_distance_partial_overlap():
    result = distribution_distance({"a": 3, "b": 1}, {"a": 1, "b": 3})
    assert result["total_variation"] == 0.5
    assert 0 < result["jensen_shannon"] < 1


def test_plan_rebalance_fills_the_smallest_classes_first():
    counts = {"a": 100, "b": 50, "c": 10}
    plan = plan_new_samples(counts, factor=2.0, policy="rebalance", max_per_source=10)
    after = targets(plan)
    assert sum(after.values()) == 320
    assert max(after.values()) - min(after.values()) <= 1
    for label, count in counts.items():
        assert plan[label]["original"] == count
        assert after[label] >= count
        assert plan[label]["new"] == after[label] - count
        assert plan[label]["capped"] is False


def test_plan_rebalance_with_equal_classes_grows_each_by_the_factor():
    plan = plan_new_samples({"a": 10, "b": 10}, factor=3.0, policy="rebalance", max_per_source=10)
    assert targets(plan) == {"a": 30, "b": 30}


def test_plan_rebalance_never_shrinks_a_class_already_above_the_level():
    counts = {"a": 1000, "b": 10, "c": 10}
    plan = plan_new_samples(counts, factor=1.5, policy="rebalance", max_per_source=1000)
    after = targets(plan)
    assert after["a"] == 1000
    assert plan["a"]["new"] == 0
    assert after["b"] >= 10 and after["c"] >= 10
    assert abs(after["b"] - after["c"]) <= 1


@pytest.mark.parametrize(
    ("counts", "factor", "expected"),
    [
        ({"a": 1000, "b": 10, "c": 10}, 1.0, {"a": 1000, "b": 10, "c": 10}),  # factor 1.0: no new samples
        ({"a": 1000, "b": 1, "c": 1}, 2.0, {"a": 1000, "b": 502, "c": 502}),
        ({"a": 100, "b": 90, "c": 10}, 1.2, {"a": 100, "b": 90, "c": 50}),
    ],
)
def test_plan_rebalance_total_is_factor_times_size_when_a_class_is_above_the_level(counts, factor, expected):
    plan = plan_new_samples(counts, factor=factor, policy="rebalance", max_per_source=10_000)
    assert sum(targets(plan).values()) == round(sum(counts.values()) * factor)
    assert targets(plan) == expected


def test_plan_respects_max_per_source():
    counts = {"a": 100, "b": 50, "c": 10}
    plan = plan_new_samples(counts, factor=2.0, policy="rebalance", max_per_source=2)
    assert plan["c"]["new"] == 20
    assert plan["c"]["target"] == 30
    assert plan["c"]["capped"] is True
    for label, count in counts.items():
        assert plan[label]["new"] <= count * 2
        assert plan[label]["target"] >= count
    assert plan["a"]["capped"] is False


@pytest.mark.parametrize("policy", ["report", "fail"])
def test_plan_report_grows_every_class_by_the_factor(policy):
    counts = {"a": 100, "b": 50, "c": 10}
    plan = plan_new_samples(counts, factor=2.0, policy=policy, max_per_source=10)
    assert targets(plan) == {"a": 200, "b": 100, "c": 20}
    assert {k: v["new"] for k, v in plan.items()} == counts
    plan = plan_new_samples({"a": 10, "b": 3}, factor=1.5, policy=policy, max_per_source=10)
    assert targets(plan) == {"a": 15, "b": round(3 * 1.5)}


def test_check_policy_fail_names_the_under_represented_class():
    bias = BiasParams(policy="fail", max_imbalance=10.0)
    with pytest.raises(BiasCheckFailed) as caught:
        check_policy({"big": 100, "ok": 50, "rare": 5}, bias)
    message = str(caught.value)
    assert "'rare'" in message
    assert "'ok'" not in message and "'big'" not in message
    assert "20.0" in message  # the ratio


def test_check_policy_fails_just_past_the_limit_and_only_under_policy_fail():
    at_limit, past_limit = {"a": 100, "b": 10}, {"a": 101, "b": 10}
    assert check_policy(at_limit, BiasParams(policy="fail", max_imbalance=10.0)) is None  # ratio 10 is allowed
    with pytest.raises(BiasCheckFailed, match=r"ratio 10\.1 exceeds"):
        check_policy(past_limit, BiasParams(policy="fail", max_imbalance=10.0))
    for policy in ("rebalance", "report"):  # they rebalance or report; they never stop the run
        assert check_policy({"a": 100, "b": 1}, BiasParams(policy=policy, max_imbalance=10.0)) is None


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_leaking_train_samples():
    ok = pd.DataFrame(
        [
            {"sample_id": "t1", "path": "train/a/1.png", "label": "a", "split": "train", "sha256": sha("one")},
            {"sample_id": "t2", "path": "train/a/2.png", "label": "a", "split": "train", "sha256": sha("two")},
            {"sample_id": "t3", "path": "train/b/3.png", "label": "b", "split": "train", "sha256": sha("three")},
            {"sample_id": "x1", "path": "test/a/1.png", "label": "a", "split": "test", "sha256": sha("one")},
            {"sample_id": "v3", "path": "val/b/3.png", "label": "b", "split": "val", "sha256": sha("three")},
            {"sample_id": "v9", "path": "val/b/9.png", "label": "b", "split": "val", "sha256": sha("nine")},
        ]
    )
    leaks = leaking_train_samples(ok)
    assert leaks["sample_id"].tolist() == ["t1", "t3"]
    assert list(leaks.columns) == ["sample_id", "path", "label", "sha256"]


def test_no_leaks_when_train_duplicates_only_train():
    ok = pd.DataFrame(
        [
            {"sample_id": "t1", "path": "a", "label": "a", "split": "train", "sha256": sha("same")},
            {"sample_id": "t2", "path": "b", "label": "a", "split": "train", "sha256": sha("same")},
            {"sample_id": "x1", "path": "c", "label": "a", "split": "test", "sha256": sha("other")},
        ]
    )
    assert leaking_train_samples(ok).empty
