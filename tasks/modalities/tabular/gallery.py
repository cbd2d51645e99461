"""The review page of a tabular run (reports/gallery.html): per class, the fidelity
scores with the real and synthetic distributions of its weakest columns drawn; the
privacy distances; and a seeded choice of synthetic rows (rejected ones first),
each beside the real rows it was made from and its closest real row."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from augmill.tasks import paths
from augmill.tasks.io import read_json, read_parquet, write_bytes_atomic
from augmill.tasks.modalities.tabular.quality import privacy_distances
from augmill.tasks.modalities.tabular.rows import feature_names, schema_of, synthetic_frame, train_rows
from augmill.tasks.modalities.tabular.schema import TableSchema, datetime_ns
from augmill.tasks.params import Params
from augmill.tasks.png import figure_png
from augmill.tasks.seeding import rank

_templates = Environment(loader=PackageLoader("augmill.tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
PLOTTED_COLUMNS = 4


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        return format(float(value), ".5g")
    return str(value)


def _png(figure) -> str:
    png = figure_png(figure)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _plot_values(spec, column: pd.Series) -> np.ndarray:
    values = datetime_ns(column) if spec.kind == "datetime" else column.to_numpy(dtype=float, na_value=np.nan)
    return values[~np.isnan(values)]


def class_figure(schema: TableSchema, real: pd.DataFrame, synthetic: pd.DataFrame, scores: dict) -> str | None:
    """Real against synthetic histograms of the class's lowest-scoring numeric columns."""
    from augmill.tasks.report_plots import plt

    numeric = [s for s in schema.numeric if scores.get(s.name) is not None]
    worst = sorted(numeric, key=lambda s: (scores[s.name], s.name))[:PLOTTED_COLUMNS]
    if not worst:
        return None
    figure, axes = plt.subplots(1, len(worst), figsize=(3.2 * len(worst), 2.4), dpi=90, squeeze=False)
    for axis, spec in zip(axes[0], worst, strict=True):
        a, b = _plot_values(spec, real[spec.name]), _plot_values(spec, synthetic[spec.name])
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=15) if len(a) + len(b) else 10
        for values, label, colour in ((a, "real", "#1f77b4"), (b, "synthetic", "#ff7f0e")):
            if len(values):
                axis.hist(values, bins=edges, alpha=0.55, density=True, label=label, color=colour)
        axis.set_title(f"{spec.name[:28]} ({scores[spec.name]:.2f})", fontsize=8)
        axis.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    return _png(figure)


def privacy_figure(real_nearest: np.ndarray, closest: np.ndarray, threshold: float) -> str | None:
    from augmill.tasks.report_plots import plt

    if not len(real_nearest) and not len(closest):
        return None
    figure, axis = plt.subplots(figsize=(6, 2.6), dpi=90)
    edges = np.histogram_bin_edges(np.concatenate([real_nearest, closest]), bins=30)
    for values, label in ((real_nearest, "real row to nearest other real row"),
                          (closest, "synthetic row to closest real row")):
        if len(values):  # (a run without synthetic rows draws the real distances only)
            axis.hist(values, bins=edges, alpha=0.55, density=True, label=label)
    axis.axvline(threshold, color="#c0392b", linestyle="--", label="near-copy threshold")
    axis.set_xlabel("Gower distance", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return _png(figure)


def _describe(ops_json: str) -> str:
    parts = []
    for op in json.loads(ops_json):
        shown = {k: v for k, v in op["params"].items() if k not in ("parents", "voters", "categories")}
        parts.append(f"{op['name']}(" + ", ".join(f"{k}={_cell(v)}" for k, v in shown.items()) + ")")
    return "; ".join(parts)


def chosen_rows(validated: pd.DataFrame, how_many: int, seed: int) -> pd.DataFrame:
    """Per class, a seeded choice of at most how_many rows: up to half of them quarantined
    ones (what a reviewer most needs to see), the rest accepted ones."""
    picks = []
    for _, group in validated.groupby("label", sort=True):
        order = sorted(group.index, key=lambda i: rank(seed, "gallery", group.at[i, 'sample_id']))
        rejected = [i for i in order if group.at[i, "status"] != "accepted"]
        accepted = [i for i in order if group.at[i, "status"] == "accepted"]
        shown_rejected = (how_many + 1) // 2
        shown_accepted = min(how_many - min(shown_rejected, len(rejected)), len(accepted))
        picks += rejected[: how_many - shown_accepted] + accepted[:shown_accepted]
    return validated.loc[picks]


def render_tabular_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    """Drawn from what validate has just written: the validated manifest (with each row's
    distance to the closest real row) and the summary's fidelity and privacy figures."""
    ok = raw[raw["status"] == "ok"]
    names = feature_names(raw)
    schema = schema_of(train_rows(raw), params, names)
    from augmill.tasks.samples import made_rows

    # Augment's failure rows have no values to draw.
    validated = made_rows(read_parquet(paths.VALIDATED_MANIFEST, "validated manifest (stage validate)"))
    quality = read_json(paths.VALIDATION_SUMMARY)["tabular"]
    real = ok.drop_duplicates("sha256").reset_index(drop=True)
    by_id = ok.set_index("sample_id")
    shown = chosen_rows(validated, params.tabular.gallery_rows, params.seed)
    nearest = privacy_distances(schema, real, synthetic_frame(shown, schema), params.tabular.privacy.reference_quantile)
    classes = []
    for label, fidelity in quality["fidelity"]["by_class"].items():
        synthetic = synthetic_frame(validated[validated["label"] == label], schema)
        real_class = train_rows(ok)[train_rows(ok)["label"] == label]
        worst = sorted(((v, k) for k, v in fidelity["columns"].items() if v is not None))[:8]
        rows = []
        for position, (_, row) in enumerate(shown.iterrows()):
            if row["label"] != label:
                continue
            parents = [p for op in json.loads(row["ops"]) for p in op["params"].get("parents", [])]
            near = real.iloc[int(nearest.closest_index[position])]
            rows.append({
                "sample_id": row["sample_id"], "status": row["status"], "reason": row.get("reason", ""),
                "ops": _describe(row["ops"]), "distance": _cell(float(nearest.closest[position])),
                "cells": [_cell(row[n]) for n in names],
                "parents": [{"sample_id": p, "cells": [_cell(by_id.at[p, n]) for n in names]}
                            for p in parents if p in by_id.index],
                "nearest": {"sample_id": near["sample_id"], "split": near["split"], "label": near["label"],
                            "cells": [_cell(near[n]) for n in names]},
            })
        classes.append({"label": label, "fidelity": fidelity, "worst": worst, "rows": rows,
                        "figure": class_figure(schema, real_class, synthetic, fidelity["columns"])})
    privacy = quality["privacy"]
    counts = validated["status"].value_counts()
    page = _templates.get_template("tabular_gallery.html.j2").render(
        classes=classes, names=names, privacy=privacy,
        privacy_figure=privacy_figure(privacy_distances(schema, real, real.iloc[:0], privacy["reference_quantile"]).real_nearest,
                                      validated["distance_to_closest_real"].to_numpy(dtype=float),
                                      privacy["reference_distance"] * privacy["min_distance_ratio"]),
        accepted=int(counts.get("accepted", 0)), quarantined=int(counts.get("quarantined", 0)),
        min_score=quality["fidelity"]["min_score"])
    write_bytes_atomic(path, page.encode("utf-8"))
