"""Label-check benchmark (issue #22): flip a known share of train labels, run the bias
stage's check (tasks/label_issues.check: the evaluate model out of fold, cleanlab), and
print the precision and recall of its suspects list against the flips, and the macro-F1
on the clean test split of the evaluate model trained on train as `report` leaves it
(suspects kept) and as `quarantine` leaves it (suspects removed, unless the model is too
close to chance to act on: tasks/label_issues.MIN_SKILL), their paired difference, beside the
model trained on the true labels. Mean and spread over --repeats seeded flips.

Datasets (all offline; benchmarks/bundled_sets.py):
- images: scikit-learn's digits (the only labelled image set scikit-learn bundles;
  Olivetti faces is a download), written as 32x32 PNGs as the image demo does, and
  the scikit-image tiles (32x32 tiles of ten photographs shipped in its wheel, label: the
  photograph; not a demo), the tiles of its three textures alone (brick, grass, gravel),
  and scikit-image's LFW subset (100 faces and 100 non-faces,
  25x25, shipped in its wheel; not a demo); 10 % flipped;
- text: fortune cookies by language (English, German, Italian, Spanish, Portuguese:
  Debian's fortunes, fortunes-de, -it, -es, -br; not a demo), and the text demo's four
  fortune topics (`apt-get install fortunes`); 10 % flipped;
- tables: scikit-learn's breast cancer (rare: malignant) and wine (rare: class_2);
  5 % of the rare class and 5 % of the rest flipped.

A flipped label goes to another class drawn at random. Train/test: a stratified 70/30
split per repeat; the test labels are never flipped.

    PYTHONPATH=. python benchmarks/label_issues.py              # 3 repeats
    PYTHONPATH=. python benchmarks/label_issues.py --repeats 1  # a quick look
    PYTHONPATH=. python benchmarks/label_issues.py --only text  # the sets whose name has "text"
    PYTHONPATH=. python benchmarks/label_issues.py --only tiles --set evaluate.model=cnn
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def digits_frame(folder: Path) -> pd.DataFrame:
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    rows = []
    for i, (pixels, target) in enumerate(zip(data.images, data.target, strict=True)):
        image = Image.fromarray((pixels * 255 / 16).astype(np.uint8), "L").resize((32, 32), Image.Resampling.BILINEAR)
        relative = f"{target}/digit_{i:04d}.png"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / relative)
        rows.append({"path": relative, "label": str(target), "width": 32, "height": 32,
                     "sha256": hashlib.sha256((folder / relative).read_bytes()).hexdigest()})
    return pd.DataFrame(rows)


def faces_frame(folder: Path) -> pd.DataFrame:
    """scikit-image's LFW subset (in its wheel): 100 25x25 faces, then 100 non-faces; as 32x32 PNGs."""
    from PIL import Image
    from skimage.data import lfw_subset

    rows = []
    for i, pixels in enumerate(lfw_subset()):
        label = "face" if i < 100 else "not_face"
        image = Image.fromarray(np.rint(pixels * 255).astype(np.uint8), "L").resize((32, 32), Image.Resampling.BILINEAR)
        relative = f"{label}/lfw_{i:03d}.png"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / relative)
        rows.append({"path": relative, "label": label, "width": 32, "height": 32,
                     "sha256": hashlib.sha256((folder / relative).read_bytes()).hexdigest()})
    return pd.DataFrame(rows)


def tiles_frame(folder: Path) -> pd.DataFrame:
    from benchmarks.bundled_sets import SIDE, make_tiles

    table = make_tiles(folder)
    return table.assign(width=SIDE, height=SIDE,
                        sha256=[hashlib.sha256((folder / path).read_bytes()).hexdigest() for path in table["path"]])


def textures_frame(folder: Path) -> pd.DataFrame:
    """The tiles of scikit-image's three texture photographs only (brick, grass, gravel): 600 tiles."""
    frame = tiles_frame(folder)
    return frame[frame["label"].isin(["brick", "grass", "gravel"])].reset_index(drop=True)


def text_frame(table_of) -> object:
    def frame(folder: Path) -> pd.DataFrame:
        table = table_of()
        return table.assign(path="texts.csv", sha256=[hashlib.sha256(t.encode()).hexdigest() for t in table["text"]])
    return frame


def fortune_topics() -> pd.DataFrame:
    from augmill.tasks.demos.fortunes import fortunes_table

    return fortunes_table()


def fortune_languages() -> pd.DataFrame:
    from benchmarks.bundled_sets import fortune_languages

    return fortune_languages()


def sklearn_table(name: str):
    def frame(folder: Path) -> pd.DataFrame:
        from sklearn import datasets

        data = getattr(datasets, f"load_{name}")(as_frame=True)
        table = data.data.rename(columns=lambda c: "".join(ch if ch.isalnum() else "_" for ch in c.strip()))
        labels = np.asarray(data.target_names)[data.target.to_numpy()]
        return table.assign(label=labels, path="table.csv",
                            sha256=[hashlib.sha256(row.tobytes()).hexdigest() for row in table.to_numpy()])
    return frame


# name, modality, frame builder, flip share, the rare class (tables: flipped at the same share on its own)
SETS = [
    ("images: sklearn digits", "image", digits_frame, 0.10, None),
    ("images: skimage tiles", "image", tiles_frame, 0.10, None),
    ("images: skimage LFW faces", "image", faces_frame, 0.10, None),
    ("images: skimage textures", "image", textures_frame, 0.10, None),
    ("text: fortune languages", "text", text_frame(fortune_languages), 0.10, None),
    ("text: fortunes demo topics", "text", text_frame(fortune_topics), 0.10, None),
    ("table: sklearn breast cancer", "tabular", sklearn_table("breast_cancer"), 0.05, "malignant"),
    ("table: sklearn wine", "tabular", sklearn_table("wine"), 0.05, "class_2"),
]


def flip_labels(labels: np.ndarray, share: float, rare: str | None, rng: np.random.Generator) -> np.ndarray:
    """The positions flipped: ``share`` of each group (the rare class, the rest), each to another class."""
    groups = [labels == rare, labels != rare] if rare else [np.ones(len(labels), bool)]
    flipped = []
    for group in groups:
        members = np.flatnonzero(group)
        flipped.extend(rng.choice(members, size=round(share * len(members)), replace=False).tolist())
    return np.array(sorted(flipped), dtype=int)


def macro_f1(train: pd.DataFrame, test: pd.DataFrame, params) -> float:
    from sklearn.metrics import f1_score

    from augmill.tasks.evaluate import features_for, make_model

    both = pd.concat([train, test], ignore_index=True)
    table = {"train": train} if params.data.modality == "tabular" else {}
    values, kind = features_for(both, params, folder=Path(params.data.raw_dir), **table)
    model = make_model(kind, params).fit(values[: len(train)], train["label"].to_numpy())
    return float(f1_score(test["label"], model.predict(values[len(train):]), average="macro"))


def one_repeat(frame: pd.DataFrame, params, share: float, rare: str | None, repeat: int) -> dict:
    from sklearn.model_selection import train_test_split

    from augmill.tasks.label_issues import check

    rng = np.random.default_rng([params.seed, repeat])
    train, test = train_test_split(frame, test_size=0.3, stratify=frame["label"], random_state=int(rng.integers(2**31)))
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    truth = train["label"].to_numpy().copy()
    flipped = flip_labels(truth, share, rare, rng)
    noisy = truth.copy()
    for i in flipped:
        noisy[i] = rng.choice(sorted(set(np.unique(truth)) - {truth[i]}))
    train = train.assign(label=noisy)
    findings = check(train.assign(split="train", status="ok"), params)
    flipped_ids = set(train["sample_id"].iloc[flipped])
    found = set(findings.suspects["sample_id"])
    hits = len(found & flipped_ids)
    return {"flipped": len(flipped_ids), "suspects": len(found),
            "precision": hits / len(found) if found else float("nan"), "recall": hits / len(flipped_ids),
            "f1_true_labels": macro_f1(train.assign(label=truth), test, params),
            "f1_report": macro_f1(train, test, params),
            # As the bias stage does: a model near chance has its suspects listed, not quarantined.
            "f1_quarantine": macro_f1(train[~train["sample_id"].isin(found if findings.not_acted_on is None else set())],
                                      test, params),
            "acted_on": findings.not_acted_on is None,
            "oof_balanced_accuracy": findings.setup["out_of_fold_balanced_accuracy"],
            "C": findings.setup["C"],
            "outliers": len(findings.outliers), "clusters": len(findings.clusters)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="run only the sets whose name contains this")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a param for every set, e.g. evaluate.model=cnn (repeatable)")
    arguments = parser.parse_args()
    from augmill.tasks.params_load import load_params

    print(f"{'set':30} {'train':>5} {'flipped':>7} {'suspects':>8} {'precision':>13} {'recall':>13} "
          f"{'F1 true':>13} {'F1 report':>13} {'F1 quarantine':>13} {'quar. - rep.':>13} {'OOF bal.acc':>13} acted on")
    for name, modality, build, share, rare in [entry for entry in SETS if arguments.only in entry[0]]:
        with tempfile.TemporaryDirectory() as folder:
            frame = build(Path(folder))
            frame = frame.assign(sample_id=[f"s{i:05d}" for i in range(len(frame))])
            source = REPO / ("params.yaml" if modality == "image" else f"examples/{modality}.yaml")
            params = load_params(source, [f"data.modality={modality}", f"data.raw_dir={folder}",
                                          "execution.cache=false", *arguments.set])
            repeats = []
            for r in range(arguments.repeats):
                repeats.append(one_repeat(frame, params, share, rare, r))
                print(f"  {name} repeat {r}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in repeats[-1].items()), file=sys.stderr, flush=True)
            rows = pd.DataFrame(repeats)
            rows["gain"] = rows["f1_quarantine"] - rows["f1_report"]  # paired: the same split and flips

        def cell(column: str, rows: pd.DataFrame = rows) -> str:
            return f"{rows[column].mean():.3f}±{rows[column].std(ddof=1) if len(rows) > 1 else 0:.3f}"

        print(f"{name:30} {round(0.7 * len(frame)):>5} {rows['flipped'].mean():>7.0f} {rows['suspects'].mean():>8.0f} "
              f"{cell('precision'):>13} {cell('recall'):>13} {cell('f1_true_labels'):>13} {cell('f1_report'):>13} "
              f"{cell('f1_quarantine'):>13} {cell('gain'):>13} {cell('oof_balanced_accuracy'):>13} "
              f"{rows['acted_on'].sum()}/{len(rows)}", flush=True)


if __name__ == "__main__":
    main()
