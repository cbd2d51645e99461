"""`augment.policy: auto` on text, audio and tables: for each, a real project (git + DVC, `dvc repro`)
whose augment stage searches policies on the validation split; the evaluate stage then compares,
on the TEST split (which the search never reads), no augmentation with the chosen policy. Prints,
per dataset: the chosen policy, the search's evidence, and the test figures with their interval.

Datasets (public, shipped inside installed packages or made by a Debian package; none is a demo):
- table: scikit-learn's bundled wine recognition set (178 wines, 13 measurements, 3 cultivars).
- text: docstrings shipped in SciPy: the summary and extended summary (the text before "Parameters")
  of every public function of scipy.stats, scipy.signal, scipy.linalg and scipy.optimize; the
  label is the submodule, and the submodule's own name is blanked out of the text.
- audio: ten speech commands (yes no up down left right on off stop go) spoken by Debian's
  espeak-ng in 8 voices, 3 speaking rates and 2 pitches (480 clips; the demo speaks digits), split by
  voice: 4 voices train, 2 val, 2 test (VOICE_SPLIT), so every test voice is new to the models.
Splits of the table and the texts are drawn by data.split: 50 % train, 25 % val, 25 % test, with the run seed
(`--train`/`--val` change it; `--factor` sets augment.factor, default 2).

Few-shot text, the setup chosen before any measurement on it and not changed after: the docstrings
with `--train 0.15 --val 0.35 --factor 4` (about 94 / 219 / 313 texts, three variants per source), run
seeds 42 (params.yaml's), 43 and 44 (`--seed`: each its own split and repeats).

Run by hand from the project root (espeak-ng for the audio set: apt-get install -y espeak-ng):

    PYTHONPATH=. python benchmarks/tune_modalities.py [--only table text audio] [--keep DIR] [--model cnn]
    PYTHONPATH=. python benchmarks/tune_modalities.py --only text --train 0.15 --val 0.35 --factor 4
"""

from __future__ import annotations

import argparse
import copy
import inspect
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.project import REPO, merge_dicts, new_project, run  # noqa: E402

SPLIT = {"train": 0.5, "val": 0.25, "test": 0.25}
SEARCH = {"max_candidates": 20, "repeats": 5, "screen_repeats": 2}


def base_params(modality: str) -> dict:
    """examples/<modality>.yaml over the repository's params.yaml (the sections an example leaves out)."""
    return merge_dicts(yaml.safe_load((REPO / "params.yaml").read_text()),
                       yaml.safe_load((REPO / "examples" / f"{modality}.yaml").read_text()))


def project_params(modality: str, section: dict, model: str = "linear", split: dict = SPLIT,
                   factor: float = 2.0, seed: int | None = None) -> dict:
    params = base_params(modality)
    if seed is not None:  # another run seed: another split, other repeats
        params["seed"] = seed
    params["evaluate"]["model"] = model
    base = params["augment"]["policy"]
    params["data"].update(raw_dir="input", split=split)
    params["prepare"] = {"dataset": "none"}
    params["bias"]["policy"] = "report"  # every train source its share of variants, not a rebalancing
    params["augment"].update(policy="auto", factor=factor)
    params["tune"] = params.get("tune", {}) | SEARCH | {"base_policy": base}
    params["evaluate"]["allow_worse"] = True  # measure, whatever the verdict
    params["validate"]["max_rejection_rate"] = 1.0
    params["execution"] = {"workers": 2}
    params[modality] = merge_dicts(params.get(modality, {}), section)
    return params


# ---- the datasets ------------------------------------------------------------------

def wine(folder: Path) -> dict:
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map(lambda code: f"cultivar_{code}")
    frame.insert(0, "wine_id", [f"wine{index:03d}" for index in range(len(frame))])
    folder.mkdir(parents=True)
    frame.to_csv(folder / "wine.csv", index=False)
    return {"files": ["wine.csv"], "label_column": "cultivar", "split_column": None, "id_column": "wine_id"}


def docstrings(folder: Path) -> dict:
    import scipy.linalg
    import scipy.optimize
    import scipy.signal
    import scipy.stats

    rows = []
    for module in (scipy.stats, scipy.signal, scipy.linalg, scipy.optimize):
        topic = module.__name__.split(".")[1]
        for name in sorted(getattr(module, "__all__", dir(module))):
            item = getattr(module, name, None)
            if name.startswith("_") or not callable(item) or not inspect.getdoc(item):
                continue
            summary = re.split(r"\n\s*Parameters\s*\n\s*-+", inspect.getdoc(item))[0]
            text = " ".join(re.sub(rf"\b(scipy\.)?{topic}\b", " ", summary, flags=re.IGNORECASE).split())
            if len(text.split()) >= 5:
                rows.append({"text": text, "label": topic})
    frame = pd.DataFrame(rows).drop_duplicates("text")
    folder.mkdir(parents=True)
    frame.to_csv(folder / "docstrings.csv", index=False)
    return {"files": ["docstrings.csv"], "text_column": "text", "label_column": "label", "split_column": None}


WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


# Split by speaker, as a test set recorded by other people is: the models never hear a test voice.
VOICE_SPLIT = {"train": ["en-us", "en-gb", "en-us+f3", "en-gb+f4"], "val": ["en-029", "en-us+m3"],
               "test": ["en-gb-scotland", "en-gb-x-rp+f2"]}


def speech_commands(folder: Path) -> dict:
    for split, voices in VOICE_SPLIT.items():
        for word, voice, speed, pitch in itertools.product(WORDS, voices, (130, 165, 200), (35, 65)):
            target = folder / split / word / f"{word}_{voice.replace('+', '_')}_{speed}_{pitch}.wav"
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(target), word],
                           check=True, capture_output=True)
    return {}


DATASETS = {"table": ("tabular", wine), "text": ("text", docstrings), "audio": ("audio", speech_commands)}


# ---- one measurement -----------------------------------------------------------------

def measure(name: str, root: Path, model: str = "linear", split: dict = SPLIT, factor: float = 2.0,
            seed: int | None = None) -> dict:
    modality, make = DATASETS[name]
    section = make(root / "input")
    new_project(root, {})
    params = project_params(modality, section, model, split, factor, seed)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    run(["dvc", "repro"], root, timeout=7200)
    seconds = time.perf_counter() - started
    choice = json.loads((root / "reports" / "policy_choice.json").read_text())
    report = json.loads((root / "reports" / "evaluate.json").read_text())
    metric = report["primary_metric"]
    difference = report["difference"][metric]
    candidates = [{"name": row["name"], "status": row["status"], "val": row.get("score"),
                   "versus_none": {key: row["interval"][key] for key in ("difference", "low", "high", "verdict")}
                   if "interval" in row else None} for row in choice["search"]["candidates"]]
    return {"dataset": name, "modality": modality, "metric": metric, "pipeline_seconds": round(seconds, 1),
            "val_rows": choice["search"]["validation_rows"], "train_sources": choice["search"]["train_sources"],
            "test_rows": report["setup"]["test_rows"], "chosen": choice["chosen"], "policy": choice["policy"],
            "search_statement": choice["search"]["statement"], "candidates": candidates,
            "test": {"baseline": report["baseline"][metric], "tuned": report["augmented"][metric],
                     "difference": difference["mean"], "interval": [difference["low"], difference["high"]],
                     "verdict": report["verdict"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(DATASETS), default=sorted(DATASETS))
    parser.add_argument("--keep", type=Path, help="build the projects under this folder and keep them")
    parser.add_argument("--model", choices=("linear", "cnn"), default="linear", help="evaluate.model (cnn: audio only)")
    parser.add_argument("--train", type=float, default=SPLIT["train"], help="train share (table, text; test: the rest)")
    parser.add_argument("--val", type=float, default=SPLIT["val"], help="val share (table, text)")
    parser.add_argument("--factor", type=float, default=2.0, help="augment.factor")
    parser.add_argument("--seed", type=int, help="the run seed (default: params.yaml's)")
    args = parser.parse_args()
    split = {"train": args.train, "val": args.val, "test": round(1 - args.train - args.val, 4)}
    parent = args.keep or Path(tempfile.mkdtemp(prefix="augmill-tune-modalities-"))
    results = []
    for name in args.only:
        result = measure(name, parent / name, args.model, split, args.factor, args.seed)
        print(json.dumps(result, indent=1), flush=True)
        results.append(copy.deepcopy(result))
    for result in results:
        test = result["test"]
        print(f"{result['dataset']}: chosen {result['chosen'] or 'none'}; test {result['metric']} "
              f"{test['baseline']['mean']:.4f} ± {test['baseline']['std']:.4f} -> {test['tuned']['mean']:.4f} ± "
              f"{test['tuned']['std']:.4f}, difference {test['difference']:+.4f} [{test['interval'][0]:+.4f}, "
              f"{test['interval'][1]:+.4f}] {test['verdict']} ({result['pipeline_seconds']:.0f}s)")
    if args.keep is None:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
