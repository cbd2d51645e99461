"""One report per dataset version: reports/index.html, a single self-contained page
built from what the stages wrote (JSON reports, manifests, plots, the quarantine and
the review decisions). The evaluate stage writes it last; `augmill report` rebuilds it.

Plots are matplotlib PNGs inlined as data: URIs (no server, no second file to lose);
everything that came from data is escaped by Jinja's autoescape. A section whose
stage has not run yet says so instead of failing. Nothing in the page depends on
the clock or the machine, so the same inputs give the same bytes (a DVC output).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from augmill.tasks import label_review, paths
from augmill.tasks.io import read_json, write_bytes_atomic
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.params import Params
from augmill.tasks.png import figure_png
from augmill.tasks.report_plots import plt
from augmill.tasks.review import DecisionsError, read_decisions, rejected_variants
from augmill.tasks.review_pages import describe_ops
from augmill.tasks.seeding import rank

_templates = Environment(loader=PackageLoader("augmill.tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
# Columns of a raw manifest that are bookkeeping, not measurements worth a histogram.
_NOT_MEASURED = {"seed", "variant", "status"}
MAX_HISTOGRAMS = 6
MAX_QUARANTINE_ROWS = 300


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _file_uri(path: Path) -> str | None:
    return png_uri(path.read_bytes()) if path.exists() else None


def _json(path: Path) -> dict | None:
    return read_json(path) if path.exists() else None


def policy_search(params: Params) -> dict | None:
    """The search behind this version's policy (augment.policy: auto, from reports/policy_choice.json),
    else the last `augmill tune`'s report, when it has run."""
    if params.augment.policy == "auto":
        choice = _json(paths.POLICY_CHOICE)
        return None if choice is None else choice["search"] | {"auto": True}
    return _json(paths.TUNE_REPORT)


def _parquet(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.exists() else None


def flatten(value, prefix: str = "", limit: int = 240) -> list[tuple[str, str]]:
    """Nested report values as (dotted key, short text) rows for a plain table."""
    if isinstance(value, dict) and value:
        rows = []
        for key, item in value.items():
            rows.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key), limit))
        return rows
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return [(prefix, text if len(text) <= limit else text[: limit - 1] + "…")]


# ---- plots -----------------------------------------------------------------

def histograms(ok: pd.DataFrame, columns: list[str]) -> str | None:
    """One histogram per measured column (image sizes, text lengths, durations...)."""
    columns = [c for c in columns if c in ok and pd.api.types.is_numeric_dtype(ok[c])][:MAX_HISTOGRAMS]
    if ok.empty or not columns:
        return None
    with plt.rc_context({"text.parse_math": False}):
        figure, axes = plt.subplots(1, len(columns), figsize=(3.6 * len(columns) + 0.6, 3), dpi=100, squeeze=False)
        for axis, column in zip(axes[0], columns, strict=True):
            values = pd.to_numeric(ok[column], errors="coerce").dropna()
            axis.hist(values, bins=min(30, max(1, values.nunique())), color="#4c78a8")
            axis.set_title(f"{column} (min {values.min():g}, max {values.max():g})", fontsize=9)
            axis.set_ylabel("samples")
        figure.tight_layout()
        png = figure_png(figure)
        plt.close(figure)
    return png_uri(png)


def histogram_columns(modality, raw: pd.DataFrame) -> list[str]:
    """The modality's HISTOGRAM_COLUMNS if it names them, else every numeric measurement."""
    named = optional_hook(modality, "HISTOGRAM_COLUMNS")
    if named is not None:
        return list(named)
    # Sorted: the page must not change when only the manifest's column order does.
    return sorted(c for c in raw.columns if not c.startswith("_") and c not in _NOT_MEASURED
                  and pd.api.types.is_numeric_dtype(raw[c]) and not pd.api.types.is_bool_dtype(raw[c]))


# ---- sections --------------------------------------------------------------

def explore_section(params: Params, modality, raw: pd.DataFrame | None) -> dict | None:
    explore = _json(paths.EXPLORE_REPORT)
    if explore is None:
        return None
    counts = explore["counts"]
    splits = sorted(counts["by_split_and_class"])
    labels = list(counts["by_class"])
    ok = raw[raw["status"] == "ok"] if raw is not None else pd.DataFrame()
    return {
        "dataset": flatten(explore["dataset"]),
        "splits": splits,
        "class_rows": [{"label": label, "total": counts["by_class"][label],
                        "by_split": [counts["by_split_and_class"][s].get(label, 0) for s in splits]} for label in labels],
        "split_totals": [counts["by_split"].get(s, 0) for s in splits],
        "quarantined": explore["quarantined"]["by_reason"],
        "duplicates": explore["exact_duplicates"],
        "profile": flatten(explore.get(params.data.modality, {})),
        "class_split_plot": _file_uri(paths.EXPLORE_PLOT),
        "histograms": histograms(ok, histogram_columns(modality, ok)) if raw is not None else None,
    }


def bias_section() -> dict | None:
    bias, plan = _json(paths.BIAS_REPORT), _json(paths.PLAN)
    if bias is None:
        return None
    # The label check has its own subsection (label_section).
    findings = {key: value for key, value in bias.items() if key not in ("train_counts", "planned", "label_check")}
    return {"findings": flatten(findings), "planned": bias.get("planned", {}), "policy": bias.get("policy"),
            "plan": [{"label": label, **entry} for label, entry in (plan or {}).get("classes", {}).items()],
            "excluded": len((plan or {}).get("excluded", []))}


def distribution_section() -> dict | None:
    merge = _json(paths.MERGE_REPORT)
    if merge is None:
        return None
    before, after = merge["train_before"], merge["train_after"]
    labels = list(dict.fromkeys([*before["per_class"], *after["per_class"]]))
    return {"before": before, "after": after, "final_by_split": merge["final_by_split"],
            "augmented": merge["augmented"], "accounting": merge["accounting"],
            "rows": [{"label": label, "before": before["per_class"].get(label, 0), "after": after["per_class"].get(label, 0)}
                     for label in labels],
            "plot": _file_uri(paths.CLASS_DISTRIBUTION_PNG)}


def validation_section() -> dict | None:
    summary = _json(paths.VALIDATION_SUMMARY)
    if summary is None:
        return None
    # Relative links, so the folder can be moved or zipped. The Data Docs are built by the
    # validate stage on the machine that ran it (not versioned), hence no existence check.
    return {"summary": summary, "docs_link": f"{paths.GX_DOCS.name}/index.html",
            "validation_page": paths.VALIDATION_PAGE.name, "gallery_page": paths.GALLERY_PAGE.name}


def quarantine_section() -> dict | None:
    if not paths.QUARANTINE.exists():
        return None
    table = pd.read_csv(paths.QUARANTINE, dtype=str, keep_default_na=False)
    counts = table.groupby(["stage", "reason_code"]).size().reset_index(name="count") if len(table) else table
    return {"total": len(table), "counts": counts.to_dict("records") if len(table) else [],
            "rows": table.head(MAX_QUARANTINE_ROWS).to_dict("records"), "shown": min(len(table), MAX_QUARANTINE_ROWS)}


def evaluate_section() -> dict | None:
    report = _json(paths.EVALUATE_REPORT)
    if report is None:
        return None
    if "skipped" in report:
        return {"report": report, "metrics": [], "plot": None}
    metrics = [{"name": name, "baseline": report["baseline"][name], "augmented": report["augmented"][name],
                "difference": report["difference"][name], "chance": report["chance"][name]}
               for name in report["baseline"]]
    return {"report": report, "metrics": metrics, "plot": _file_uri(paths.PER_CLASS_RECALL_PNG)}


def _policy_order(params: Params, names: set[str]) -> list[str]:
    entries = params.augment.policy if isinstance(params.augment.policy, list) else []  # a preset has no order
    ordered = [entry["name"] for entry in entries if entry.get("name") in names]
    return list(dict.fromkeys(ordered)) + sorted(names - set(ordered))


def gallery_section(params: Params, modality, raw: pd.DataFrame | None, validated: pd.DataFrame | None,
                    decisions: pd.DataFrame) -> dict | None:
    """Sources beside their variants, grouped by operator, each with a reject box."""
    if validated is None or validated.empty:
        return None
    hook = optional_hook(modality, "report_thumbnail")
    thumbnails = hook is not None and "path" in validated and raw is not None and "path" in raw
    cache: dict[Path, str | None] = {}

    def thumbnail(path: Path) -> str | None:
        if path not in cache:
            cache[path] = hook(path, params)
        return cache[path]

    raw_paths = dict(zip(raw["sample_id"], raw["path"], strict=False)) if raw is not None and "path" in raw else {}
    in_review = rejected_variants(decisions, validated[validated["status"] == "accepted"])
    last = {row["target"]: row["decision"] for row in decisions.to_dict("records")}
    op_lists = {sid: [op["name"] for op in json.loads(ops)] for sid, ops in zip(validated["sample_id"], validated["ops"],
                                                                                 strict=True)}
    rows = validated.set_index("sample_id")
    groups = []
    for name in _policy_order(params, {n for names in op_lists.values() for n in names}):
        members = sorted((sid for sid, names in op_lists.items() if name in names),
                         key=lambda sid: (rank(params.seed, "report", f"{name}:{sid}"), sid))
        cards = []
        for sid in members[: params.review.gallery_per_operator]:
            row = rows.loc[sid]
            status = "rejected in review" if sid in in_review else row["status"]
            source_path = raw_paths.get(row["source_id"])
            cards.append({
                "sample_id": sid, "source_id": row["source_id"], "label": row["label"], "status": status,
                "reason": row["reason"] if row["status"] == "quarantined" else "",
                "ops": describe_ops(row["ops"]),
                "source_image": thumbnail(Path(params.data.raw_dir) / source_path) if thumbnails and source_path else None,
                "image": thumbnail(paths.AUGMENTED_DIR / row["path"]) if thumbnails else None,
            })
        statuses = rows.loc[members, "status"]
        groups.append({"name": name, "target": f"op:{name}", "variants": len(members), "cards": cards,
                       "accepted": int((statuses == "accepted").sum()) - sum(1 for s in members if s in in_review),
                       "quarantined": int((statuses == "quarantined").sum()),
                       "rejected_in_review": sum(1 for s in members if s in in_review),
                       "operator_rejected": last.get(f"op:{name}") == "reject"})
    return {"groups": groups, "thumbnails": thumbnails, "gallery_page": paths.GALLERY_PAGE.name,
            "per_operator": params.review.gallery_per_operator}


def review_section() -> dict:
    try:
        decisions = read_decisions(paths.DECISIONS)
        error = None
    except DecisionsError as problem:
        decisions, error = pd.DataFrame(columns=["target", "decision", "note", "reviewer", "date"]), str(problem)
    return {"decisions": decisions.to_dict("records"), "error": error, "file": paths.DECISIONS.as_posix(),
            "frame": decisions}


def build_report(params: Params, path: Path = paths.REPORT_PAGE) -> Path:
    """Write the report of the dataset version in the workspace; return its path."""
    modality = get_modality(params.data.modality)
    raw = _parquet(paths.RAW_MANIFEST)
    validated = _parquet(paths.VALIDATED_MANIFEST)
    review = review_section()
    context = {
        "modality": params.data.modality,
        "explore": explore_section(params, modality, raw),
        "bias": bias_section(),
        "labels": label_review.report_section((_json(paths.BIAS_REPORT) or {}).get("label_check"), raw, params),
        "distribution": distribution_section(),
        "validation": validation_section(),
        "gallery": gallery_section(params, modality, raw, validated, review.pop("frame")),
        "quarantine": quarantine_section(),
        "evaluate": evaluate_section(),
        "tune": policy_search(params),
        "review": review,
    }
    html = _templates.get_template("report.html.j2").render(**context)
    write_bytes_atomic(path, html.encode("utf-8"))
    return path
