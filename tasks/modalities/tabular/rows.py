"""The table's rows as the tabular modules share them: its own columns, the real train rows, the
schema learned from them, and synthetic rows cast to it (the modality and its gallery both read
these; neither imports the other for them)."""

from __future__ import annotations

import pandas as pd

from augmill.tasks.modalities.tabular.read import RESERVED_COLUMNS
from augmill.tasks.modalities.tabular.schema import TableSchema
from augmill.tasks.params import Params


def feature_names(frame: pd.DataFrame) -> list[str]:
    """The table's own columns: everything but the manifest's and the pipeline's bookkeeping."""
    return [c for c in frame.columns if c not in RESERVED_COLUMNS]


def train_rows(manifest: pd.DataFrame) -> pd.DataFrame:
    return manifest[(manifest["status"] == "ok") & (manifest["split"] == "train")]


def schema_of(train: pd.DataFrame, params: Params, names: list[str] | None = None) -> TableSchema:
    """The schema learned from real train rows: what synthetic rows must keep."""
    return TableSchema.infer(train, names or feature_names(train), params.tabular.categorical_columns)


def synthetic_frame(augmented: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    try:
        return schema.cast(augmented[schema.names])
    except (TypeError, ValueError):
        return augmented[schema.names]  # wrong types stay as they are: the suite's type checks report them
