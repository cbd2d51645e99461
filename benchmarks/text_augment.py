"""Text augment-stage benchmark: prints, in one run on one machine, texts per second of

- augmill's augment stage (tasks.augment.run: shards, workers, the manifest written)
  for the EDA policy of examples/text.yaml, with 1 and 2 workers, the memo off;
- each augmill text operator alone (sample + apply, one text at a time), beside
  nlpaug 1.1.11's equivalent where nlpaug runs offline (RandomWordAug swap and
  delete need no download), and beside a plain Python loop of the same work for
  synonym replacement (nlpaug's SynonymAug needs NLTK's WordNet data, a download).

The texts are the fortune cookies of the text demo (Debian's fortunes package),
repeated to N. nlpaug is not a dependency of augmill: `.venv/bin/pip install nlpaug`.

    .venv/bin/python benchmarks/text_augment.py            # N = 5000
    .venv/bin/python benchmarks/text_augment.py --n 500    # a quick look
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def corpus(n: int) -> list[str]:
    from augmill.tasks.demos.fortunes import fortunes_table

    texts = fortunes_table()["text"].tolist()
    return [texts[i % len(texts)] for i in range(n)]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10,.0f} texts/s"


def time_per_text(function, texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        function(text)
    return time.perf_counter() - started


def augmill_operator(name: str, alpha: float):
    from augmill.tasks.ops.policy import build_policy

    entry = {"name": name} | ({"alpha": [alpha, alpha]} if name != "sentence_shuffle" else {})
    (op,) = build_policy([entry], "text")
    rng = np.random.default_rng(0)
    return lambda text: op.apply(text, **op.sample(rng, text))


def plain_synonym_loop(alpha: float):
    """The same work as synonym_replacement with nothing but the standard library:
    split on spaces, pick n non-stop words that have synonyms, replace each."""
    from augmill.tasks.modalities.text.lexicon import STOP_WORDS, load_lexicon

    table = {word: load_lexicon().synonyms(word) for word in load_lexicon()._table}
    rng = random.Random(0)

    def replace(text: str) -> str:
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if w.lower() not in STOP_WORDS and w.lower() in table]
        for i in rng.sample(candidates, min(max(1, int(alpha * len(words))), len(candidates))):
            words[i] = rng.choice(table[words[i].lower()])
        return " ".join(words)

    return replace


def nlpaug_operators(alpha: float) -> dict:
    try:
        import nlpaug.augmenter.word as naw
    except ImportError:
        return {}
    found = {"random_swap": naw.RandomWordAug(action="swap", aug_p=alpha),
             "random_deletion": naw.RandomWordAug(action="delete", aug_p=alpha)}
    try:  # needs NLTK and its WordNet data, which are downloads: not run offline
        synonym = naw.SynonymAug(aug_src="wordnet", aug_p=alpha)
        synonym.augment("The quick brown fox")
        found["synonym_replacement"] = synonym
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        pass
    return {name: (lambda text, aug=aug: aug.augment(text)) for name, aug in found.items()}


def stage_rate(texts: list[str], workers: int) -> float:
    """Seconds of tasks.augment.run for the example policy, in a scratch project folder."""
    from augmill.tasks import augment, bias, explore, paths
    from augmill.tasks.io import write_csv
    from augmill.tasks.params_load import parse_params

    raw = yaml.safe_load((REPO / "examples/text.yaml").read_text())
    raw["prepare"] = {"dataset": "none"}
    raw["execution"] = {"workers": workers, "shard_size": 256, "cache": False}
    raw["augment"]["max_variants_per_source"] = 1
    params = parse_params(raw)
    import pandas as pd

    here = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            # Distinct texts (a number appended) so that no two sources are one text.
            table = pd.DataFrame({"text": [f"{t} ({i})" for i, t in enumerate(texts)], "split": "train",
                                  "label": [("a", "b")[i % 2] for i in range(len(texts))]})
            write_csv(table, paths.DEMO_RAW / "texts.csv")
            explore.run(params)
            bias.run(params)
            started = time.perf_counter()
            made = augment.run(params)
            seconds = time.perf_counter() - started
            assert made == len(texts), made
        finally:
            os.chdir(here)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="texts")
    parser.add_argument("--alpha", type=float, default=0.1, help="EDA's fraction of words changed")
    args = parser.parse_args()
    texts = corpus(args.n)
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(texts)} fortune cookies, {words:.1f} words on average, alpha {args.alpha}; "
          f"{os.cpu_count()} CPU(s), Python {sys.version.split()[0]}\n")

    print("augment stage (example policy, one new text per source, memo off):")
    for workers in (1, 2):
        seconds = stage_rate(texts, workers)
        print(f"  workers {workers}: {rate(len(texts), seconds)}  ({seconds:.2f} s)")

    from augmill.tasks.ops.policy import operators_for

    others = nlpaug_operators(args.alpha)
    print("\none operator, one text at a time:")
    print(f"  {'operator':22} {'augmill':>20} {'nlpaug 1.1.11':>20} {'plain Python loop':>20}")
    for name in sorted(operators_for("text")):
        ours = rate(len(texts), time_per_text(augmill_operator(name, args.alpha), texts))
        theirs = rate(len(texts), time_per_text(others[name], texts)) if name in others else "-"
        plain = rate(len(texts), time_per_text(plain_synonym_loop(args.alpha), texts)) \
            if name == "synonym_replacement" else "-"
        print(f"  {name:22} {ours:>20} {theirs:>20} {plain:>20}")
    if "synonym_replacement" not in others:
        print("\n  nlpaug's SynonymAug(wordnet) was not run: it needs NLTK's WordNet data, a download.")


if __name__ == "__main__":
    main()
