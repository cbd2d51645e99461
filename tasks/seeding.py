"""Every seed and random generator of a run descends from the run's seed (``params.seed``) here.

Three derivations, each with its own named purposes (``PURPOSES``); no other module hashes a
seed or builds a ``SeedSequence`` from it:

1. **Orders** (``rank``): a 64-bit key ``stable_hash(f"{seed}:{tag}:{key}")`` to sort samples in
   a seeded, order-free way (which sources get the remainder variant, which split a content hash
   falls in, which samples a gallery shows first).
2. **Keyed seeds** (``keyed_seed``): 63 bits from ``SeedSequence([seed, stable_hash(f"{tag}:{key}"),
   index])``. The per-sample augment seed ``sample_seed(seed, source_id, variant)`` is the
   untagged case; loaders and the preview redraw exactly that sample, so they share it on purpose.
   Model-training seeds (``train``) and synthetic samples' seeds are tagged.
3. **Streams** (``stream``): a ``SeedSequence([seed, *numbers])`` with a purpose's numeric tag,
   for generators that draw many values (evaluate's repeats, bootstraps, demo data).

A purpose whose tag is ``""`` is an untagged legacy key, kept so that outputs recorded before this
module stay byte-identical. Its keys cannot meet another purpose's in the same derivation: content
hashes are 64 hex digits, sample ids always hold a ``-`` and never a ``:`` (``ingest.sample_id_for``),
and every tagged key holds a ``:`` (``tests/test_seeding.py`` checks the tags and these forms).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

Derivation = Literal["rank", "keyed", "stream"]


@dataclass(frozen=True)
class Purpose:
    derivation: Derivation
    tag: str | int  # rank/keyed: text before the key ("" = untagged legacy key); stream: a number
    what: str


PURPOSES: dict[str, Purpose] = {
    # ---- orders --------------------------------------------------------------------------------
    "split": Purpose("rank", "", "ingest: order of content hashes (sha256) assigned to test/val/train"),
    "remainder_variants": Purpose("rank", "", "augment: which sources (source_id) get a class's remainder variant"),
    "jitter_order": Purpose("rank", "", "tabular jitter operator: order of a class's rows, from the operator's own seed"),
    "demo_clip": Purpose("rank", "", "spoken-digits demo: amplitude and encoding of clip number <index>"),
    "review": Purpose("rank", "review", "review gallery: order of sources"),
    "preview": Purpose("rank", "preview", "preview page: order of originals per class"),
    "gallery": Purpose("rank", "gallery", "tabular gallery: order of rows per class"),
    "report": Purpose("rank", "report", "report: order of samples per section (<section>:<sample_id>)"),
    "synthesize_sources": Purpose("rank", "synthesize", "synthesize: order of a class's sources per method "
                                  "(tag = the method's name, see synthesize_source_rank)"),
    # ---- keyed seeds ---------------------------------------------------------------------------
    "augment_sample": Purpose("keyed", "", "augment: one variant's generator (source_id, variant)"),
    "synthetic_from_source": Purpose("keyed", "", "synthesize: a variant made by <method> from a source "
                                     "(<method>:<sample_id>, k)"),
    "class_rows": Purpose("keyed", "class", "tabular: a class's generated rows (<label>, operator index)"),
    "train": Purpose("keyed", "synthesize:train", "synthesize: a generative model's training (<kind>)"),
    "synthetic": Purpose("keyed", "synthetic", "synthesize: a generated sample (<kind>:<label>, i)"),
    # ---- streams -------------------------------------------------------------------------------
    "digits_demo": Purpose("stream", 7, "digits demo: noise and split"),
    "breast_cancer_demo": Purpose("stream", 11, "breast-cancer demo: split"),
    "shapes_demo": Purpose("stream", 19, "shapes demo: images of split number <n>"),
    "synthetic_draw": Purpose("stream", 1, "synthesize: a generated sample's draw, from its keyed seed"),
    "generative_gate": Purpose("stream", 0xFD, "synthesize gates: the held-out draw"),
    "bootstrap": Purpose("stream", 0xB0075, "stats: bootstrap resamples"),
    "label_issues": Purpose("stream", 0x1AB3, "label issues: the cross-validation model's random_state"),
    "evaluate_rows": Purpose("stream", 0xE7A1, "evaluate: the rows of repeat <r> (tag after the repeat)"),
    "tune_sampler": Purpose("stream", 0x0B7, "tune.search: optuna, the TPE sampler's seed"),
    "evaluate_model": Purpose("stream", 0xC11, "evaluate: the model's seed in repeat <r> (tag after the repeat)"),
}
# Streams whose tag follows their numbers (kept as recorded: evaluate's SeedSequence([seed, r, tag])).
_TAG_LAST = frozenset({"evaluate_rows", "evaluate_model"})


def stable_hash(text: str) -> int:
    """A process-independent 64-bit hash (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _purpose(name: str, derivation: Derivation) -> Purpose:
    purpose = PURPOSES[name]
    if purpose.derivation != derivation:
        raise ValueError(f"seed purpose {name!r} is a {purpose.derivation} purpose, not a {derivation} one")
    return purpose


def _tagged(tag: str | int, key: str) -> str:
    return f"{tag}:{key}" if tag != "" else key


def rank(seed: int, purpose: str, key: str) -> int:
    """A seeded, order-free sort key for ``key`` (sort by ``(rank, key)`` to break ties)."""
    return stable_hash(f"{seed}:{_tagged(_purpose(purpose, 'rank').tag, key)}")


def synthesize_source_rank(seed: int, method: str, sample_id: str) -> int:
    """synthesize_sources: the method's own name is its tag (as recorded), so each method orders apart."""
    _purpose("synthesize_sources", "rank")
    return stable_hash(f"{seed}:{method}:{sample_id}")


def keyed_seed(seed: int, purpose: str, key: str, index: int = 0) -> int:
    """63 bits (fits Parquet int64) from the run seed, a purpose, a key and a number only, so a
    value never depends on worker count, shard size or order, and one can be recomputed alone."""
    text = _tagged(_purpose(purpose, "keyed").tag, key)
    state = np.random.SeedSequence([seed, stable_hash(text), index]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def sample_seed(seed: int, source_id: str, variant: int) -> int:
    """The seed of one augmented sample's own generator (augment, loaders and preview draw it alike)."""
    return keyed_seed(seed, "augment_sample", source_id, variant)


def stream(seed: int, purpose: str, *numbers: int) -> np.random.SeedSequence:
    """The SeedSequence of a purpose's generator; ``numbers`` (a repeat, a split's number) follow the seed."""
    tag = _purpose(purpose, "stream").tag
    words = [seed, *numbers, tag] if purpose in _TAG_LAST else [seed, tag, *numbers]
    return np.random.SeedSequence(words)


def generator(seed: int, purpose: str, *numbers: int) -> np.random.Generator:
    return np.random.default_rng(stream(seed, purpose, *numbers))


def stream_int(seed: int, purpose: str, *numbers: int) -> int:
    """A 32-bit seed for libraries that take one (scikit-learn's random_state, torch)."""
    return int(stream(seed, purpose, *numbers).generate_state(1)[0])


def seed_32_bits(seed: int) -> int:
    """An operator's seed for a library that seeds numpy's legacy RandomState (32 bits; imbalanced-learn):
    all 63 bits are mixed in rather than cut."""
    return int(np.random.SeedSequence(seed).generate_state(1)[0])
