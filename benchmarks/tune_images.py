"""`augmill tune` benchmark on images: prints the time of a 20-candidate search on ~2,000
images with the linear evaluate model, the candidates' validation scores, and then, on the
TEST split (which the search never reads), the evaluate stage's verdict for the current
policy and for the tuned one, each against no augmentation with its interval.

Dataset (not the digits demo; nothing downloads; built by benchmarks/bundled_sets.py,
shared with benchmarks/label_issues.py): ten photographs shipped inside the scikit-image
wheel (camera, moon, brick, grass, gravel, astronaut, rocket, coffee, hubble_deep_field,
motorcycle_left), in greyscale, cut into non-overlapping 32x32 tiles; 200 tiles per
photograph, drawn with a fixed seed; the label is the photograph a tile comes from.
Splits: 50 % train (--train), 20 % val, the rest test (data.split), so 1,000
train sources by default, each given one variant (bias.policy report, augment.factor 2).

`--dataset faces` (few-shot, where augmentation can matter): scikit-image's LFW subset, shipped
in its wheel (100 25x25 face crops and 100 non-faces, as 32x32 PNGs: benchmarks/label_issues.py's
faces_frame; not a demo). The setup, chosen before any measurement on it and not changed after:
`--train 0.2 --val 0.4` (40 / 80 / 80 images), `--factor 4` (three variants per train source),
the same nine-operator POLICY and 20 candidates x 5 repeats, run seeds 42 (params.yaml's), 43 and 44
(`--seed`: each its own split and repeats).

`--dataset glyphs` (few-shot letters, in the spirit of notMNIST): the letters A-J, upper and lower
case, in the 22 text fonts shipped inside the matplotlib wheel (benchmarks/bundled_sets.py's
make_glyphs; 440 32x32 images, 44 per letter). The setup, written here before any measurement
on it: `--train 0.3 --val 0.35 --factor 4` (132 / 154 / 154), the same nine-operator POLICY
(its hflip does not keep a letter's label: finding that out is part of tune's job), 20
candidates x 5 repeats, seeds 42, 43 and 44, the linear model and `--model cnn`.

Run by hand from the project root (scikit-image is the `bench` extra):

    PYTHONPATH=. python benchmarks/tune_images.py [--keep DIR] [--workers 2] [--train 0.5] [--model cnn]
    PYTHONPATH=. python benchmarks/tune_images.py --dataset faces --train 0.2 --val 0.4 --factor 4 [--model cnn]
    PYTHONPATH=. python benchmarks/tune_images.py --dataset glyphs --train 0.3 --val 0.35 --factor 4 [--model cnn]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.bundled_sets import make_glyphs, make_tiles
from benchmarks.label_issues import faces_frame

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Nine operators, so that the candidates are 20: none, current, 4 presets, 2 kind splits, 9 ablations, 3 magnitudes.
POLICY = [
    {"name": "rotate", "p": 0.9, "angle": [-12, 12]},
    {"name": "random_resized_crop", "p": 0.7, "scale": [0.8, 1.0], "ratio": [0.9, 1.1]},
    {"name": "scale", "p": 0.4, "factor": [0.9, 1.1]},
    {"name": "hflip", "p": 0.5},
    {"name": "brightness", "p": 0.5, "factor": [0.8, 1.2]},
    {"name": "contrast", "p": 0.5, "factor": [0.8, 1.2]},
    {"name": "gaussian_noise", "p": 0.3, "sigma": [2.0, 8.0]},
    {"name": "gaussian_blur", "p": 0.2, "sigma": [0.1, 1.0]},
    {"name": "sharpness", "p": 0.2, "factor": [0.8, 1.5]},
]


def sh(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(REPO),
                                 "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GIT_AUTHOR_NAME": "bench",
                                 "GIT_AUTHOR_EMAIL": "bench@example.invalid", "GIT_COMMITTER_NAME": "bench",
                                 "GIT_COMMITTER_EMAIL": "bench@example.invalid"})
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


DATASETS = {"tiles": make_tiles, "faces": faces_frame, "glyphs": make_glyphs}


def new_project(root: Path, workers: int, train: float, model: str, dataset: str = "tiles", val: float = 0.2,
                factor: float = 2.0, seed: int | None = None) -> int:
    root.mkdir(parents=True)
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    for folder in ("tasks", "expectations", "reviews"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(raw_dir="data/user", split={"train": train, "val": val, "test": round(1 - train - val, 4)})
    params["prepare"]["dataset"] = "none"
    if seed is not None:  # another run seed: another split, other repeats
        params["seed"] = seed
    params["bias"]["policy"] = "report"  # balanced already: every train source gets one variant
    params["augment"].update(factor=factor, policy=POLICY)
    params["execution"]["workers"] = workers
    params["validate"]["max_rejection_rate"] = 1.0  # flat sky tiles are quarantined as blank; the run goes on
    params["tune"].update(max_candidates=20, time_budget_seconds=1800)
    params["evaluate"]["model"] = model
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    images = len(DATASETS[dataset](root / "data" / "user"))
    sh(["git", "init", "-q"], root)
    sh(["dvc", "init", "-q"], root)
    return images


def evaluate_with(root: Path, policy) -> dict:
    """The pipeline's evaluate verdict (test split) for ``policy``."""
    sh(["augmill", "run", "--force", "--set", f"augment.policy={json.dumps(policy)}"], root)
    return json.loads((root / "reports" / "evaluate.json").read_text())


def summary(report: dict) -> dict:
    metric = report["primary_metric"]
    difference = report["difference"][metric]
    return {"baseline": report["baseline"][metric], "augmented": report["augmented"][metric],
            "difference": difference["mean"], "interval": [difference["low"], difference["high"]],
            "verdict": report["verdict"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", choices=("linear", "cnn"), default="linear", help="evaluate.model")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="tiles")
    parser.add_argument("--train", type=float, default=0.5, help="train share (default 0.5; test: the rest)")
    parser.add_argument("--val", type=float, default=0.2, help="val share (default 0.2)")
    parser.add_argument("--factor", type=float, default=2.0, help="augment.factor (default 2: one variant per source)")
    parser.add_argument("--seed", type=int, help="the run seed (default: params.yaml's)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="augmill-tune-bench-")) / "project"
    images = new_project(root, args.workers, args.train, args.model, args.dataset, args.val, args.factor, args.seed)
    for stage in ("prepare", "explore", "bias"):
        sh(["augmill", "stage", stage], root)
    started = time.perf_counter()
    output = sh(["augmill", "tune"], root).stdout
    wall = time.perf_counter() - started
    print(output)
    report = json.loads((root / "reports" / "tune.json").read_text())
    result = {"dataset": args.dataset, "images": images, "candidates": len(report["candidates"]),
              "tune_wall_seconds": round(wall, 1),
              "tune_search_seconds": report["seconds"], "recommended": report["recommended"],
              "statement": report["statement"]}
    result["test_current_policy"] = summary(evaluate_with(root, POLICY))
    if report["recommended"] is not None:
        result["test_tuned_policy"] = summary(evaluate_with(root, report["recommended"]["policy"]))
    print(json.dumps(result, indent=2))
    if args.keep is None:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
