"""Plots a person would rather see than read, drawn with matplotlib into PNGs
whose bytes depend only on the data (no timestamps), so DVC hashes are stable."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from augmill.tasks.io import write_bytes_atomic  # noqa: E402
from augmill.tasks.png import figure_png  # noqa: E402


def _sorted_labels(labels) -> list[str]:
    return sorted(labels, key=lambda v: (not str(v).lstrip("-").isdigit(), int(v) if str(v).lstrip("-").isdigit() else 0, str(v)))


def bar_chart(series: dict[str, dict[str, int]], title: str, path: Path) -> None:
    """Grouped bars: one group per label, one bar per series (e.g. split, or before/after)."""
    labels = _sorted_labels({label for counts in series.values() for label in counts})
    figure, axes = plt.subplots(figsize=(max(6, 0.6 * len(labels) * max(1, len(series)) / 2 + 3), 4), dpi=100)
    width = 0.8 / max(len(series), 1)
    for index, (name, counts) in enumerate(series.items()):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(labels))]
        bars = axes.bar(positions, [counts.get(label, 0) for label in labels], width, label=str(name))
        axes.bar_label(bars, fontsize=7)
    axes.set_xticks(range(len(labels)), [str(label)[:20] for label in labels], rotation=45 if len(labels) > 12 else 0)
    axes.set_ylabel("samples")
    axes.set_xlabel("class")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    png = figure_png(figure)
    plt.close(figure)
    write_bytes_atomic(path, png)
