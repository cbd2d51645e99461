"""`augmill preview`: what the current augment.policy does to a few train samples,
in seconds and without running the pipeline, so a user can tune the ranges first.

It reads the raw data directly (the modality's ``read_raw``), picks N train samples
(a seeded round robin over the classes), and hands them to the modality's hook:

    preview(samples: pandas.DataFrame, params: Params, output_stem: pathlib.Path) -> pathlib.Path

``samples`` are raw-manifest rows (status ok, split train; ``path`` relative to
data.raw_dir for file modalities). The hook augments each one exactly as the augment
stage makes its first variant (generator ``sample_seed(params.seed, source_id, 0)``),
writes one file at ``output_stem`` plus the suffix it chooses (``reports/preview.png``
for images, a spectrogram grid or an HTML page for other modalities), and returns
its path. ``draw_grid`` below draws image-like arrays (pictures, spectrograms) with
captions, for any hook that wants it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.contract import optional_hook
from augmill.tasks.params import Params
from augmill.tasks.png import figure_png
from augmill.tasks.seeding import rank


class NoPreview(ValueError):
    """The modality has no preview hook yet."""


@dataclass(frozen=True)
class PreviewTile:
    title: str
    before: np.ndarray  # H x W (grey) or H x W x 3/4, uint8; or any 2-D float array (a spectrogram)
    after: np.ndarray
    lines: list[str] = field(default_factory=list)  # written under the tile, e.g. the ops that fired


def choose_samples(raw: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """N readable train samples, taken in turn from each class (in a seeded order within
    a class), so a small preview still shows every class it can."""
    train = raw[(raw["status"] == "ok") & (raw["split"] == "train")]
    if train.empty:
        raise ValueError("preview: the raw data has no readable train samples; check data.raw_dir")
    queues = {label: sorted(group["sample_id"], key=lambda s: (rank(seed, "preview", s), s))
              for label, group in train.groupby("label", sort=True)}
    chosen: list[str] = []
    while len(chosen) < n and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return train.set_index("sample_id").loc[chosen].reset_index()


def run(params: Params, n: int = 16, output_stem: Path = paths.PREVIEW) -> Path:
    modality = get_modality(params.data.modality)
    hook = optional_hook(modality, "preview")
    if hook is None:
        raise NoPreview(f"augmill preview: the {params.data.modality} modality has no preview yet; "
                        "run `augmill run` and look at reports/gallery.html instead")
    if n < 1:
        raise ValueError(f"augmill preview: --n must be at least 1, got {n}")
    if params.augment.policy == "auto":  # the policy the augment stage chose, once it has run
        from augmill.tasks.policy_choice import applied_policy

        if not paths.POLICY_CHOICE.exists():
            raise NoPreview(f"augmill preview: augment.policy is auto and the augment stage has not chosen yet "
                            f"({paths.POLICY_CHOICE} is missing); run `augmill run`, or preview a written policy")
        chosen = applied_policy(params)
        if not chosen:
            raise NoPreview(f"augmill preview: augment.policy auto chose no augmentation ({paths.POLICY_CHOICE}): "
                            "there is nothing to preview")
        params = params.model_copy(update={"augment": params.augment.model_copy(update={"policy": chosen})})
    raw, _ = modality.read_raw(params)
    return hook(choose_samples(raw, n, params.seed), params, output_stem)


def _as_picture(array: np.ndarray) -> tuple[np.ndarray, dict]:
    if array.ndim == 2 and array.dtype != np.uint8:
        return array, {"cmap": "magma"}  # a spectrogram or other measurement: its own colour scale
    if array.ndim == 2:
        return array, {"cmap": "gray", "vmin": 0, "vmax": 255}
    return array, {}


def draw_grid(tiles: list[PreviewTile], title: str, path: Path, columns: int = 4) -> None:
    """One panel per tile: before and after side by side, the title above, the lines below."""
    from augmill.tasks.report_plots import plt

    rows = -(-len(tiles) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 3.3, rows * 2.6 + 0.5), dpi=100, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, tile in zip(axes.flat, tiles, strict=False):
        # Both arrays in one axis, placed by their extents, so sizes may differ (spectrograms).
        x = 0.0
        height = max(tile.before.shape[0], tile.after.shape[0])
        for array in (tile.before, tile.after):
            picture, style = _as_picture(array)
            axis.imshow(picture, extent=(x, x + array.shape[1], height, 0), interpolation="nearest", **style)
            x += array.shape[1] + 0.08 * height
        axis.set_xlim(0, x - 0.08 * height)
        axis.set_ylim(height, 0)
        axis.set_title(textwrap.shorten(tile.title, 44) + "\nsource  |  variant", fontsize=8)
        caption = "\n".join(textwrap.shorten(line, 60) for line in tile.lines[:5]) or "(no operator)"
        axis.text(0.5, -0.04, caption, transform=axis.transAxes, ha="center", va="top", fontsize=6, family="monospace")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.98), h_pad=4.5)
    png = figure_png(figure)
    plt.close(figure)
    write_bytes_atomic(path, png)
