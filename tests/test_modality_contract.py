"""Every registered modality provides the hooks the stages call (tasks/modalities/__init__.py's
docstring lists them): a missing hook fails here, not in the middle of a user's run."""

from __future__ import annotations

import re

import pytest

import tasks.modalities as registry
from tasks.modalities import MODALITIES, get_modality


def required_hooks() -> list[str]:
    """The names in the docstring's "A modality module provides:" block, before the optional ones."""
    required = registry.__doc__.split("A modality module provides:")[1].split("and may provide")[0]
    names = re.findall(r"^\s+([A-Za-z_]+)(?=[(:, ])", required, flags=re.MULTILINE)
    names += re.findall(r",\s*([A-Za-z_]+)\(", required)  # "SUITE_FILE, suite_parameters(...)"
    return sorted(set(names))


def test_the_contract_lists_the_hooks_every_stage_calls():
    assert {"read_raw", "augment_shard", "features", "SUITE_FILE", "suite_parameters", "finalize"} <= set(required_hooks())


@pytest.mark.parametrize("name", MODALITIES)
def test_each_modality_provides_every_required_hook(name):
    module = get_modality(name)
    missing = [hook for hook in required_hooks() if not hasattr(module, hook)]
    assert not missing, f"modality {name!r} lacks {missing}"
    assert module.__name__ == f"tasks.modalities.{name}"


def test_an_unknown_modality_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"data.modality: 'video' is not one of \['image', 'text', 'audio', 'tabular'\]"):
        get_modality("video")
