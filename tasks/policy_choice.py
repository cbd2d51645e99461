"""The policy a dataset version's variants were made with: augment.policy as written, or for
``augment.policy: auto`` the augment stage's recorded choice (reports/policy_choice.json, written by
tasks/tune_search.py). Read by the stages and pages that describe or re-draw the variants."""

from __future__ import annotations

from augmill.tasks import paths
from augmill.tasks.io import read_json
from augmill.tasks.params import Params


def applied_policy(params: Params):
    """The policy the variants were made with: augment.policy, or for auto the augment stage's choice
    (reports/policy_choice.json; an empty list when it chose no augmentation)."""
    if params.augment.policy != "auto":
        return params.augment.policy
    if not paths.POLICY_CHOICE.exists():
        raise FileNotFoundError(f"augment.policy is auto and {paths.POLICY_CHOICE}, the augment stage's choice, is "
                                "missing; run the augment stage first")
    return read_json(paths.POLICY_CHOICE)["policy"]
