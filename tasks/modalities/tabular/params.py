"""params.yaml section `tabular:`: the knobs of the tabular modality (read when data.modality is tabular).

Which table, which column is the label, how rows are split and named, how columns
are typed, and the thresholds of the checks (sensitive groups, fidelity, privacy).
Whether ``files`` and ``label_column`` are set is checked by
``tasks.modalities.tabular.modality.check_params`` (they are required only for tabular runs).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from augmill.tasks.params_base import ModalitySection, Section

SplitName = Literal["train", "val", "test"]


class SensitiveParams(Section):
    # Columns (e.g. sex, age_band) whose groups get their label rate checked in the bias report.
    columns: list[str] = []
    # A numeric sensitive column (e.g. age) is cut into this many quantile bins.
    bins: int = Field(4, ge=2, le=20)
    # A group with fewer train rows than this is flagged as too small to learn from.
    min_group_size: int = Field(10, ge=1)
    # A group whose rate of any label differs from the overall train rate by more than this is flagged.
    max_rate_gap: float = Field(0.2, gt=0, le=1)


class FidelityParams(Section):
    # Per class, SDMetrics-style score in [0, 1] of the synthetic rows against the real train rows
    # (mean of the column-shape and column-pair scores). Below it, the class's synthetic rows are
    # quarantined (reason check_class_fidelity).
    min_score: float = Field(0.6, ge=0, le=1)


class PrivacyParams(Section):
    # The reference distance: this quantile of the real rows' distances to their nearest other real row.
    reference_quantile: float = Field(0.05, gt=0, lt=1)
    # A synthetic row closer to a real row than this multiple of the reference distance is a near
    # copy and is quarantined (reason check_privacy_distance_ratio). An exact copy has ratio 0.
    min_distance_ratio: float = Field(0.2, gt=0, le=10)


class TabularParams(ModalitySection):
    NAME = "tabular"
    # CSV or Parquet file(s) in data.raw_dir, all with the same columns: one name, a list
    # (concatenated), or a mapping {train: a.csv, val: b.csv, test: c.csv} giving each file's split.
    files: str | list[str] | dict[SplitName, str] | None = None
    # The target column; its values become the labels (as text).
    label_column: str | None = None
    # Column holding train/val/test per row; null: rows get a split from data.split (stratified, seeded).
    split_column: str | None = None
    # Column of unique row identifiers; null: rows are named after their file and row number.
    id_column: str | None = None
    # Columns to treat as categories even if they hold numbers (e.g. codes); text and boolean
    # columns are categorical anyway.
    categorical_columns: list[str] = []
    # Text columns to parse as dates/times (Parquet datetime columns need no listing).
    datetime_columns: list[str] = []
    # Columns left out of the features (free text, leaky columns, an all-empty column).
    drop_columns: list[str] = []
    sensitive: SensitiveParams = SensitiveParams()
    fidelity: FidelityParams = FidelityParams()
    privacy: PrivacyParams = PrivacyParams()
    # Synthetic rows shown (with their parents) in the review gallery, per class.
    gallery_rows: int = Field(6, ge=0, le=200)

    @field_validator("files")
    @classmethod
    def _relative_files(cls, files):
        names = [files] if isinstance(files, str) else list(files.values()) if isinstance(files, dict) else files or []
        if files is not None and not names:
            raise ValueError("name at least one CSV or Parquet file in data.raw_dir")
        for name in names:
            path = PurePosixPath(name.replace("\\", "/"))
            if not name or path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{name!r}: give a file name relative to data.raw_dir, without '..'")
            if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
                raise ValueError(f"{name!r}: expected a .csv or .parquet file")
        if len(set(names)) != len(names):
            raise ValueError("a file is listed more than once")
        return files

    @model_validator(mode="after")
    def _roles_distinct(self) -> TabularParams:
        roles = {"label_column": self.label_column, "split_column": self.split_column, "id_column": self.id_column}
        named = [(key, value) for key, value in roles.items() if value is not None]
        for index, (key, value) in enumerate(named):
            for other, other_value in named[index + 1:]:
                if value == other_value:
                    raise ValueError(f"{key} and {other} are both {value!r}; a column has one role")
        if isinstance(self.files, dict) and self.split_column is not None:
            raise ValueError("files is a {split: file} mapping, so split_column must be null")
        special = {value for _, value in named}
        for key in ("categorical_columns", "datetime_columns", "drop_columns"):
            clash = sorted(special & set(getattr(self, key)))
            if clash:
                raise ValueError(f"{key} lists {clash}, which is the label, split or id column")
        both = sorted(set(self.categorical_columns) & set(self.datetime_columns))
        if both:
            raise ValueError(f"{both} listed in both categorical_columns and datetime_columns")
        return self

    def file_splits(self) -> list[tuple[str, str | None]]:
        """(file name, split given by the file or None), in a fixed order."""
        if isinstance(self.files, str):
            return [(self.files, None)]
        if isinstance(self.files, dict):
            return [(self.files[split], split) for split in ("train", "val", "test") if split in self.files]
        return [(name, None) for name in self.files or []]



# Which stages read each knob (the `params` stage hands each its share: a change re-runs only those).
TabularParams.READ_BY = {
    "files":               ("explore",),
    "label_column":        ("explore", "merge"),
    "split_column":        ("explore",),
    "id_column":           ("explore",),
    "categorical_columns": ("explore", "bias", "synthesize", "augment", "validate", "merge", "evaluate"),
    "datetime_columns":    ("explore",),
    "drop_columns":        ("explore",),
    "sensitive":           ("explore", "bias"),
    "fidelity":            ("validate",),
    "privacy":             ("validate",),
    "gallery_rows":        ("validate",),
}
