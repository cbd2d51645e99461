"""The text demo: fortune cookies from Debian's `fortunes` package (BSD licence;
`apt-get install fortunes`), labelled by the file they come from, a topic:
computers, food, medicine or sports. Written as one CSV ``texts.csv`` with
columns text,label,split, and a train split made imbalanced on purpose (as the
image demo), so the bias check has something to find. Nothing is downloaded."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks.demos.digits import plan_demo_splits
from augmill.tasks.io import write_data_csv
from augmill.tasks.params import Params

NAME = "fortunes"
MODALITY = "text"
FORTUNES = Path("/usr/share/games/fortunes")
TOPICS = ("computers", "food", "medicine", "sports")
# Short, plain cookies: quotes and one-liners rather than long ASCII-art tables or poems.
MIN_CHARS, MAX_CHARS = 30, 280


def read_topic(name: str) -> list[str]:
    """The cookies of one fortune file, whitespace collapsed (line breaks in a cookie are layout)."""
    path = FORTUNES / name
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"prepare.dataset=fortunes reads {path}, from Debian's fortunes package: "
                                "apt-get install fortunes") from None
    cookies = [" ".join(cookie.split()) for cookie in re.split(r"\n%\n", raw)]
    # Backspace overstriking (old terminal bold) and other control characters make no text.
    return [c for c in cookies if MIN_CHARS <= len(c) <= MAX_CHARS and not re.search(r"[\x00-\x1f\x7f]", c)]


def fortunes_table() -> pd.DataFrame:
    rows = [{"text": text, "label": topic} for topic in TOPICS for text in read_topic(topic)]
    table = pd.DataFrame(rows)
    # A cookie filed under two topics has no single label: left out of the demo.
    return table[~table["text"].duplicated(keep=False)].reset_index(drop=True)


def write(params: Params, staging: Path) -> int:
    """Write ``texts.csv`` into the (empty) folder ``staging``; return the number of texts."""
    table = fortunes_table()
    labels = np.array([TOPICS.index(label) for label in table["label"]])
    splits = plan_demo_splits(labels, params)
    table["split"] = [splits.get(i) for i in range(len(table))]
    table = table[table["split"].notna()]
    write_data_csv(table[["text", "label", "split"]], staging / "texts.csv")  # data: exact texts
    return len(table)
