"""The tabular demo: scikit-learn's bundled Wisconsin breast-cancer table (569
patients, 30 numeric measurements of cell nuclei; no download), written as one
CSV with a patient id and a split column. The positive diagnosis, malignant, is
thinned in the train split only, so it is the rare class the pipeline rebalances
while val and test keep the real proportions.

Params used: prepare.max_per_class (patients per diagnosis), prepare.val_fraction
and test_fraction (held out per diagnosis first), prepare.imbalance (share of the
malignant train rows kept). Point the tabular section at it as examples/tabular.yaml does.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.params import Params
from augmill.tasks.seeding import generator

NAME = "breast_cancer"
MODALITY = "tabular"
FILE = "breast_cancer.csv"
RARE = "malignant"


def demo_table(params: Params) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    features = data.data.rename(columns=lambda name: re.sub(r"\W+", "_", name.strip()))
    diagnosis = np.where(data.target.to_numpy() == 0, "malignant", "benign")  # sklearn: 0 = malignant
    table = features.assign(diagnosis=diagnosis)
    table.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(table))])
    rng = generator(params.seed, "breast_cancer_demo")
    prepare = params.prepare
    splits = pd.Series(None, index=table.index, dtype=object)
    for label in ("benign", "malignant"):
        indices = rng.permutation(np.flatnonzero(diagnosis == label))[: prepare.max_per_class]
        n_test = round(len(indices) * prepare.test_fraction)
        n_val = round(len(indices) * prepare.val_fraction)
        train = indices[n_test + n_val:]
        if label == RARE:
            train = train[: max(2, round(len(train) * prepare.imbalance))]
        splits[indices[:n_test]] = "test"
        splits[indices[n_test:n_test + n_val]] = "val"
        splits[train] = "train"
    return table.assign(split=splits)[splits.notna()].reset_index(drop=True)


def write(params: Params, staging: Path) -> int:
    """Write the demo table into the (empty) folder ``staging``; return the number of rows."""
    table = demo_table(params)
    write_bytes_atomic(staging / FILE, table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return len(table)
