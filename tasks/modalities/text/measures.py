"""Measurements of texts: lengths, lexical similarity of a variant to its source,
and near-duplicate pairs found with MinHash (no quadratic comparison)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict

import numpy as np

from augmill.tasks.modalities.text.tokens import lower_words, normalise, split_sentences

MINHASH_PERMUTATIONS = 64
BANDS = 16  # 16 bands of 4 rows: pairs from about Jaccard 0.5 up share a bucket; each is then checked exactly


def lengths(text: str) -> dict[str, int]:
    return {"chars": len(normalise(text)), "words": len(lower_words(text)), "sentences": len(split_sentences(text)[0])}


def _dice(a: Counter, b: Counter) -> float:
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 1.0


def similarity(source: str, variant: str) -> float:
    """Mean of the multiset Dice overlap of words and of adjacent word pairs (lower case), 0..1.

    Words alone cannot see a swap or a sentence shuffle (same words); pairs alone punish
    them too hard. 1.0 for the same words in the same order; near 0 for unrelated texts."""
    a, b = lower_words(source), lower_words(variant)
    if not a and not b:
        return 1.0 if normalise(source) == normalise(variant) else 0.0
    words = _dice(Counter(a), Counter(b))
    pairs_a, pairs_b = Counter(zip(a, a[1:], strict=False)), Counter(zip(b, b[1:], strict=False))
    if not pairs_a and not pairs_b:
        return round(words, 4)
    return round((words + _dice(pairs_a, pairs_b)) / 2, 4)


def shingles(text: str) -> set[str]:
    """Word 3-grams of the lower-cased text (a text of fewer words is one shingle)."""
    words = lower_words(text)
    if len(words) < 3:
        return {" ".join(words)}
    return {" ".join(words[i:i + 3]) for i in range(len(words) - 2)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _minhash(shingle_sets: list[set[str]]) -> np.ndarray:
    # Fixed multipliers (not global random state): signatures do not change between runs.
    params = np.random.default_rng(20190131).integers(1, 2**63, size=(2, MINHASH_PERMUTATIONS), dtype=np.uint64)
    multipliers, offsets = params[0] | np.uint64(1), params[1]
    signatures = np.empty((len(shingle_sets), MINHASH_PERMUTATIONS), dtype=np.uint64)
    for row, items in enumerate(shingle_sets):
        hashes = np.array([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") for s in items],
                          dtype=np.uint64)
        signatures[row] = (np.outer(hashes, multipliers) + offsets).min(axis=0)  # wraps mod 2**64, on purpose
    return signatures


def near_duplicate_pairs(texts: list[str], threshold: float) -> list[tuple[int, int, float]]:
    """(i, j, Jaccard) for texts whose word-3-gram sets overlap at least ``threshold``,
    excluding exact copies (the same text), which are reported apart; texts that differ
    only in spacing, case or punctuation are pairs with Jaccard 1.0."""
    first_of = {}
    for i, text in enumerate(texts):
        first_of.setdefault(text, i)
    unique = sorted(first_of.values())
    sets = [shingles(texts[i]) for i in unique]
    if len(unique) < 2:
        return []
    signatures = _minhash(sets)
    rows = MINHASH_PERMUTATIONS // BANDS
    candidates = set()
    for band in range(BANDS):
        buckets = defaultdict(list)
        for k, key in enumerate(map(bytes, signatures[:, band * rows:(band + 1) * rows])):
            buckets[key].append(k)
        for members in buckets.values():
            candidates.update((a, b) for n, a in enumerate(members) for b in members[n + 1:])
    pairs = []
    for a, b in sorted(candidates):
        score = jaccard(sets[a], sets[b])
        if score >= threshold:
            pairs.append((unique[a], unique[b], round(score, 4)))
    return pairs
