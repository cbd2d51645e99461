"""The modality contract: every hook the stages call, in one place. A modality is a module
(tasks/modalities/<name>.py) that implements ``Modality``; it may also implement any of
``OptionalHooks``, whose defaults (``OPTIONAL_DEFAULTS``) stand in when it does not.

Stages call a required hook as an attribute (``modality.features(...)``) and an optional one
through ``optional_hook(modality, name)``, which refuses a name the contract does not declare.
tests/test_modality_contract.py checks every modality against both classes (each required hook
present, each hook's parameters as declared here) and that stage code reaches modalities only
through hooks declared here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: the contract imports no stage or params code at run time
    import numpy as np
    import pandas as pd

    from augmill.tasks.params import Params
    from augmill.tasks.samples import Shard


class Modality(Protocol):
    """The hooks every modality provides (stage: what it is for)."""

    # augment and validate: the distributions that shape its bytes (part of memo keys).
    LIBRARIES: tuple[str, ...]
    # augment: the modality's own columns in augmented rows (see also OptionalHooks.augmented_columns).
    AUGMENTED_COLUMNS: list[str]
    # validate: the measured columns of a variant, as the suite and the report read them.
    FEATURE_COLUMNS: list[str]
    # merge: the modality's own columns in the final manifest (see also OptionalHooks.final_columns).
    FINAL_COLUMNS: list[str]
    # validate: the Great Expectations suite the variants' features are checked against.
    SUITE_FILE: Path

    def read_raw(self, params: Params) -> tuple[pd.DataFrame, dict]:
        """explore: one manifest row per input sample, and a context for profile."""

    def profile(self, ok: pd.DataFrame, params: Params) -> dict:
        """explore: the modality's own section of the profile."""

    def bias_extra(self, ok: pd.DataFrame, params: Params) -> dict:
        """bias: the modality's own bias figures (e.g. length or loudness between classes)."""

    def augment_shard(self, shard: Shard, params: Params) -> list[dict]:
        """augment: the rows of new samples made from the shard's sources (files written atomically)."""

    def features(self, augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> pd.DataFrame:
        """validate: one row of measurements per new sample."""

    def suite_parameters(self, labels: list[str], params: Params) -> dict:
        """validate: the parameters of SUITE_FILE's expectations."""

    def render_gallery(self, validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
        """validate: sources beside their variants, for review."""

    def finalize(self, originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
        """merge: write data/final/ and return the final manifest."""


class OptionalHooks(Protocol):
    """Hooks a modality may provide; without one, its default in OPTIONAL_DEFAULTS applies."""

    # validate: a failed bound's own reason code and meaning, per column (default: check_<column>).
    REASON_CODES: dict[str, tuple[str, str]] | None
    # validate: False when features depend on the whole set (then no per-sample memo).
    FEATURES_PER_SAMPLE: bool
    # evaluate: the baseline's feature kind, "dense" or "tfidf" (texts).
    BASELINE: str
    # evaluate: how the report names the baseline's features (default: the kind).
    BASELINE_DESCRIPTION: str | None
    # report: the columns drawn as histograms (default: every numeric measurement).
    HISTOGRAM_COLUMNS: list[str] | None
    # evaluate: what evaluate.model: cnn sees, for the report (audio: a log-mel picture).
    CNN_INPUT: str

    def check_params(self, params: Params) -> list[str]:
        """params: problems with the modality's own section (keys it requires)."""

    def make_shards(self, sources: pd.DataFrame, params: Params) -> list[Shard]:
        """augment: its own unit of work (e.g. a class); default: consecutive sources."""

    def augmented_columns(self, sources: pd.DataFrame, params: Params) -> list[str]:
        """augment: the extra columns when they depend on the dataset (a table's own)."""

    def summary_extra(self, features_frame: pd.DataFrame, params: Params) -> dict:
        """validate: added to reports/validation.json (e.g. fidelity, privacy)."""

    def final_columns(self, final: pd.DataFrame, params: Params) -> list[str]:
        """merge: the extra final columns when they depend on the dataset."""

    def baseline_features(self, frame: pd.DataFrame, params: Params) -> np.ndarray:
        """evaluate (and bias's label check): one feature row per sample for the baseline model;
        may take keyword options (``folder``, a table's ``train``). Without it: no evaluate."""

    def report_thumbnail(self, path: Path, params: Params) -> str | None:
        """report and label review: a small image of the sample at path, as a data: URI."""

    def preview(self, samples: pd.DataFrame, params: Params, output_stem: Path) -> Path:
        """`augmill preview`: sources beside the variant augment would make first."""

    # Images with targets (data.targets): objects inside each image.
    def object_plan(self, train: pd.DataFrame, params: Params) -> dict | None:
        """bias: objects per class and the plan by them (None: no targets)."""

    def target_checks(self, augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> tuple[dict, dict] | None:
        """validate: per-object failures by sample id, and the targets summary (None: no targets)."""

    def evaluation_rows(self, final: pd.DataFrame, params: Params) -> pd.DataFrame | None:
        """evaluate: the rows the baseline model is scored on when they are not the samples (objects)."""


OPTIONAL_DEFAULTS: dict[str, Any] = {
    "REASON_CODES": None, "FEATURES_PER_SAMPLE": True, "BASELINE": "dense", "BASELINE_DESCRIPTION": None,
    "HISTOGRAM_COLUMNS": None, "CNN_INPUT": "the downscaled greyscale pixels",
    "check_params": None, "make_shards": None, "augmented_columns": None,
    "summary_extra": None, "final_columns": None, "baseline_features": None, "report_thumbnail": None,
    "preview": None, "object_plan": None, "target_checks": None, "evaluation_rows": None,
}


def hook_names(contract: type) -> list[str]:
    """The hooks a contract class declares: its annotated constants and its methods."""
    names = [name for name in vars(contract).get("__annotations__", {}) if not name.startswith("_")]
    names += [name for name, value in vars(contract).items() if callable(value) and not name.startswith("_")]
    return names


REQUIRED_HOOKS = tuple(hook_names(Modality))
OPTIONAL_HOOKS = tuple(hook_names(OptionalHooks))


def optional_hook(modality: Any, name: str) -> Any:
    """The modality's optional hook ``name``, or its documented default."""
    if name not in OPTIONAL_DEFAULTS:
        raise KeyError(f"{name!r} is not an optional modality hook; see tasks/modalities/contract.py")
    return getattr(modality, name, OPTIONAL_DEFAULTS[name])
