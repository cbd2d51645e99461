"""reports/label_review.html: the bias stage's suspected label errors, outliers and
near-duplicate clusters, for a person, with the decisions.csv lines that settle each
suspect (tasks/review.py: relabel, keep, confirm)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks import paths
from tasks.label_issues import Findings
from tasks.modalities import get_modality
from tasks.modalities.contract import optional_hook
from tasks.params import Params
from tasks.review_pages import _render

SHOWN = 200
SNIPPET = 280
MODE_EFFECT = {"report": "they stay in train and get no augmented variants",
               "quarantine": "they are moved to the quarantine (reason label_issue)",
               "fail": "the run stops while any is listed"}


def _look(row: dict, sample: dict, params: Params) -> dict:
    """How a person sees the sample: a thumbnail (images, spectrograms), a snippet or a table row."""
    modality = params.data.modality
    look = {"image": None, "snippet": None, "row": None}
    if modality == "text":
        text = str(sample.get("text", ""))
        look["snippet"] = text if len(text) <= SNIPPET else text[:SNIPPET] + "…"
    elif modality == "tabular":
        from tasks.modalities.tabular_rows import feature_names

        look["row"] = [(name, sample[name]) for name in feature_names(pd.DataFrame([sample]))][:12]
    else:
        look["image"] = optional_hook(get_modality(modality), "report_thumbnail")(Path(params.data.raw_dir) / row["path"], params)
    return row | look


def render(findings: Findings, train: pd.DataFrame, params: Params, path: Path = paths.LABEL_REVIEW_PAGE) -> None:
    samples = train.set_index("sample_id", drop=False)
    def cards(frame: pd.DataFrame) -> list[dict]:
        return [_look(row, samples.loc[row["sample_id"]].to_dict(), params) for row in frame.head(SHOWN).to_dict("records")]

    _render("label_review.html.j2", path, suspects=cards(findings.suspects), total=len(findings.suspects),
            mode=params.bias.label_issues,
            mode_effect=findings.not_acted_on or MODE_EFFECT[params.bias.label_issues],
            list_file=paths.LABEL_ISSUES.as_posix(), decisions_file=paths.DECISIONS.as_posix(),
            outliers=cards(findings.outliers), outlier_method=findings.setup.get("outliers", ""),
            clusters=findings.clusters[:SHOWN])
