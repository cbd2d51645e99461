"""Sample-rate and channel mixes of the recordings, per split and per class, and the
classes (or splits) recorded differently from the rest.

A class recorded at its own rate is a shortcut: resampling to audio.sample_rate does
not give an 8 kHz recording the band above 4 kHz that the 16 kHz ones have, so a model
can tell that class by its bandwidth (or by its channel layout) instead of its content.
"""

from __future__ import annotations

import pandas as pd

MIX_COLUMNS = ("sample_rate", "channels")
# A value is "rare elsewhere" when the other recordings have it this seldom.
RARE_ELSEWHERE = 0.05


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def mixes(ok: pd.DataFrame) -> dict:
    """{column: {"by_split": {split: {value: n}}, "by_class": {label: {value: n}}}} for rate and channels."""
    return {column: {"by_split": {str(s): _counts(g[column]) for s, g in ok.groupby("split", sort=True)},
                     "by_class": {str(k): _counts(g[column]) for k, g in ok.groupby("label", sort=True)}}
            for column in MIX_COLUMNS}


def _share_rare_elsewhere(group: pd.Series, others: pd.Series) -> float:
    """Share of the group's recordings whose value the other recordings have under RARE_ELSEWHERE of the time."""
    if group.empty or others.empty:
        return 0.0
    elsewhere = others.value_counts(normalize=True)
    rare = group.map(lambda value: elsewhere.get(value, 0.0) < RARE_ELSEWHERE)
    return round(float(rare.mean()), 4)


def odd_groups(frame: pd.DataFrame, by: str, column: str, threshold: float) -> list[dict]:
    """Groups (classes or splits) with at least `threshold` of their recordings at a value of
    `column` that the rest of the frame has under RARE_ELSEWHERE of the time."""
    flagged = []
    for name, group in frame.groupby(by, sort=True):
        share = _share_rare_elsewhere(group[column], frame.loc[frame[by] != name, column])
        if share >= threshold:
            flagged.append({by: str(name), "share": share, "values": _counts(group[column]),
                            "elsewhere": _counts(frame.loc[frame[by] != name, column])})
    return flagged


def mix_bias(ok: pd.DataFrame, threshold: float) -> dict:
    """bias: the rate and channel mixes of train per class and of each split, and the classes
    (in train) and held-out splits (against train) recorded differently."""
    train = ok[ok["split"] == "train"]
    report = {"threshold_share": threshold, "rare_elsewhere": RARE_ELSEWHERE}
    train_mix, all_mix = mixes(train), mixes(ok)
    for column in MIX_COLUMNS:
        splits = []
        # Each held-out split against train only: val and test may well match each other.
        for split in sorted(set(ok["split"]) - {"train"}):
            pair = ok[ok["split"].isin(["train", split])]
            splits += [flag for flag in odd_groups(pair, "split", column, threshold) if flag["split"] == split]
        report[column] = {"train_by_class": train_mix[column]["by_class"], "by_split": all_mix[column]["by_split"],
                          "flagged_classes": odd_groups(train, "label", column, threshold),
                          "flagged_splits": splits}
    return report
