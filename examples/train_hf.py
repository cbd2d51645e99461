"""Train a tiny classifier on a dataset version loaded as a Hugging Face DatasetDict, on the CPU.

    python examples/train_hf.py --root .
    python examples/train_hf.py --root . --on-the-fly   # originals only, the policy via set_transform

Images go to 16x16 greyscale; scikit-learn's logistic regression learns them; prints the test
accuracy and the lineage columns the dataset carries, as JSON. A MixUp/CutMix row's soft label is
the ``soft_label`` column (JSON {label: weight}); this example fits the hard ``label`` (see
tasks.evaluate.soft_label_rows for a fit that weighs each label).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.linear_model import LogisticRegression

from augmill.tasks.loaders import PolicyTransform, hf_dataset


def pixels(images) -> np.ndarray:
    return np.stack([np.asarray(image.convert("L").resize((16, 16)), dtype=np.float32).reshape(-1) / 255.0
                     for image in images])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".")
    parser.add_argument("--on-the-fly", action="store_true")
    args = parser.parse_args()
    version = hf_dataset(args.root, origin="original" if args.on_the_fly else None)
    train, test = version["train"], version["test"]
    if args.on_the_fly:
        policy = PolicyTransform.from_params(f"{args.root}/params.yaml")  # epoch 0: offline variant 0 of each
        train.set_transform(policy.for_hf("image"))
    model = LogisticRegression(max_iter=500).fit(pixels(train[:]["image"]), train[:]["label"])
    accuracy = float(model.score(pixels(test[:]["image"]), test[:]["label"]))
    print(json.dumps({"loader": "hf", "train": len(train), "test": len(test), "accuracy": round(accuracy, 4),
                      "classes": train.features["label"].names, "columns": sorted(train.column_names)}))


if __name__ == "__main__":
    main()
