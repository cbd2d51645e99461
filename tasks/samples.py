"""What every stage and modality shares about samples: the reason a sample cannot be used, the
unit augment hands a modality (a shard), and which augmented rows were made. Here, below the stage
modules, so a modality uses them without importing a stage."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

# reports/quarantine.csv: every sample that did not make it, from any stage, with its reason.
QUARANTINE_COLUMNS = ["sample_id", "path", "stage", "reason_code", "reason"]


class NothingUsable(ValueError):
    """explore found no usable sample at all: the run stops with a one-line summary."""


class UnusableSample(Exception):
    """A sample that cannot become training data; ``code`` is machine-readable,
    ``message`` names the file or row and says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class BiasCheckFailed(RuntimeError):
    """bias.policy is "fail" and the train split is too imbalanced."""


@dataclass(frozen=True)
class Shard:
    index: int
    sources: tuple[dict, ...]  # raw-manifest rows of the sources, plus "variants": how many to make
    # A policy with MixUp/CutMix: the augment stage's whole train pool, (source_id, label, path) in
    # source order, from which each variant draws its partner; () when the policy mixes nothing.
    pool: tuple[tuple[str, str, str], ...] = ()


def augment_errors(augmented: pd.DataFrame) -> list[str]:
    """Per row, why augment could not make it ("" when it did): see tasks.augment.failure_row."""
    if "augment_error" not in augmented:
        return [""] * len(augmented)
    return augmented["augment_error"].fillna("").astype(str).tolist()


def made_rows(augmented: pd.DataFrame) -> pd.DataFrame:
    """The rows augment made (not its failure rows): what is measured and drawn."""
    return augmented.loc[[not error for error in augment_errors(augmented)]]


# map_shared(function, shared, items) -> [function(shared, item) for each item], in item order: how a
# stage runs independent pieces of work that read the same large data (evaluate's repeats, the
# label check's folds). flows.executors.shared_mapper makes one that uses worker processes or Dask.
SharedMapper = Callable[[Callable[[Any, Any], Any], Any, Iterable], list]


def in_this_process(function: Callable[[Any, Any], Any], shared: Any, items: Iterable) -> list:
    return [function(shared, item) for item in items]
