"""reports/label_review.html: the bias stage's suspected label errors, outliers and
near-duplicate clusters, for a person, with the decisions.csv lines that settle each
suspect (tasks/review.py: relabel, keep, confirm)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from augmill.tasks import paths
from augmill.tasks.label_findings import SUSPECT_COLUMNS, Findings
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.params import Params
from augmill.tasks.review_pages import _render

SHOWN = 200
IN_REPORT = 12  # suspects on reports/index.html (half as many outliers and clusters)
CLUSTER_LOOKS = 4
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
        from augmill.tasks.modalities.tabular.rows import feature_names

        look["row"] = [(name, sample[name]) for name in feature_names(pd.DataFrame([sample]))][:12]
    else:
        look["image"] = optional_hook(get_modality(modality), "report_thumbnail")(Path(params.data.raw_dir) / sample["path"],
                                                                                  params)
    return row | look


def cards(frame: pd.DataFrame, train: pd.DataFrame, params: Params, limit: int = SHOWN) -> list[dict]:
    """The first ``limit`` rows of ``frame`` (suspects or outliers) with how each sample looks; ``train``:
    the raw manifest rows, by sample_id."""
    samples = train.set_index("sample_id", drop=False)
    return [_look(row, samples.loc[row["sample_id"]].to_dict(), params)
            for row in frame.head(limit).to_dict("records") if row["sample_id"] in samples.index]


def render(findings: Findings, train: pd.DataFrame, params: Params, path: Path = paths.LABEL_REVIEW_PAGE) -> None:
    _render("label_review.html.j2", path, suspects=cards(findings.suspects, train, params),
            total=len(findings.suspects), mode=params.bias.label_issues,
            mode_effect=findings.not_acted_on or MODE_EFFECT[params.bias.label_issues],
            list_file=paths.LABEL_ISSUES.as_posix(), decisions_file=paths.DECISIONS.as_posix(),
            outliers=cards(findings.outliers, train, params), outlier_method=findings.setup.get("outliers", ""),
            clusters=findings.clusters[:SHOWN])


def report_section(check: dict | None, raw: pd.DataFrame | None, params: Params) -> dict | None:
    """The label check in reports/index.html: ``check`` is bias.json's label_check (its first suspects,
    outliers and clusters); the page links to label_review.html for the rest."""
    if check is None or raw is None:
        return None
    clusters = check["near_duplicate_clusters"]
    return {"check": check, "mode_effect": check["not_acted_on"] or MODE_EFFECT[check["mode"]],
            "suspects": cards(pd.DataFrame(check["examples"], columns=SUSPECT_COLUMNS), raw, params, IN_REPORT),
            "outliers": cards(pd.DataFrame(check["outliers"]["examples"], columns=["sample_id", "path", "label", "distance"]),
                              raw, params, IN_REPORT // 2),
            # Each cluster as its first members, seen: whether they really are copies is for a person to judge.
            "clusters": [{"size": len(members), "looks": cards(pd.DataFrame({"sample_id": members[:CLUSTER_LOOKS]}), raw, params)}
                         for members in clusters["examples"][:IN_REPORT // 2]],
            "cluster_count": clusters["clusters"], "cluster_samples": clusters["samples"],
            "review_page": paths.LABEL_REVIEW_PAGE.name, "list_file": paths.LABEL_ISSUES.as_posix()}
