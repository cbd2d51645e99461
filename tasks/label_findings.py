"""What the bias stage's label check found (tasks/label_issues.py computes it; the review page and
reports/index.html show it): plain data, apart from the model code, so that the pages need not
import the check."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

SUSPECT_COLUMNS = ["sample_id", "path", "sha256", "given_label", "suggested_label", "score", "suggested_probability"]


@dataclass
class Findings:
    suspects: pd.DataFrame  # SUSPECT_COLUMNS, most suspect first
    outliers: pd.DataFrame  # sample_id, path, label, distance
    clusters: list[list[str]]  # sample ids of each near-duplicate cluster of 2 or more, one class each
    distinct_counts: dict[str, int]  # per class, a cluster counted once
    setup: dict = field(default_factory=dict)
    skipped: str | None = None
    not_acted_on: str | None = None  # why the suspects are only listed (a model too close to chance)
