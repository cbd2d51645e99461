"""Text operators on ``str``: the EDA family (Wei & Zou 2019: synonym replacement,
random insertion, random swap, random deletion), sentence shuffling, and one
offline paraphrase, expanding or forming English contractions.

Every operator edits words or sentences only: punctuation, emoji and spacing stay
where they were, a replaced word keeps the case pattern of the word it replaces,
and a non-empty text never becomes empty. ``alpha`` is EDA's "fraction of words
changed": n = max(1, int(alpha * words)), with alpha drawn from the configured
[min, max] (a fixed value when min == max, as in the paper). The recorded params
are the edits themselves (which word goes where, which synonym), so ``apply`` and
a replay need no thesaurus and no generator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from augmill.tasks.modalities.text.lexicon import Lexicon, load_lexicon
from augmill.tasks.modalities.text.tokens import Tokenised, join_sentences, match_case, split_sentences
from augmill.tasks.ops.base import Operator, check_range
from augmill.tasks.ops.policy import register


@dataclass(frozen=True)
class TextOperator(Operator):
    modality: ClassVar[str] = "text"
    # Not a policy option: the thesaurus and stop words are the same for every operator
    # (params `text.synonyms`, `text.extra_stop_words`); the modality binds them with `with_lexicon`.
    lexicon: Lexicon | None = field(default=None, init=False, repr=False, compare=False)

    def validate(self) -> None:
        if hasattr(self, "alpha"):  # YAML gives a list: keep the checked pair, so the frozen op stays hashable
            object.__setattr__(self, "alpha", check_range(self.name, "alpha", self.alpha, 0.0, 1.0))

    def with_lexicon(self, lexicon: Lexicon) -> TextOperator:
        bound = dataclasses.replace(self)
        object.__setattr__(bound, "lexicon", lexicon)
        return bound

    @property
    def vocabulary(self) -> Lexicon:
        return self.lexicon or load_lexicon()

    def how_many(self, rng: np.random.Generator, words: int) -> int:
        alpha = round(float(rng.uniform(*self.alpha)), 4)
        return max(1, int(alpha * words))

    def replaceable(self, text: Tokenised) -> list[int]:
        """Indices of words a synonym may replace or be drawn from: not stop words, in the
        thesaurus, and not capitalised mid-sentence (a name: "Ben Franklin" is no "mountain")."""
        lexicon = self.vocabulary
        initial = text.sentence_initial()
        return [i for i, word in enumerate(text.words)
                if not lexicon.is_stop_word(word) and word in lexicon
                and (word.islower() or word.isupper() or initial[i])]


def _rebuild(parts: list[str]) -> str:
    return "".join(parts)


@register
@dataclass(frozen=True)
class SynonymReplacement(TextOperator):
    """EDA's SR: n non-stop words, each replaced by one of its synonyms."""

    name: ClassVar[str] = "synonym_replacement"
    alpha: Any = (0.1, 0.1)

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        text = Tokenised.of(item)
        candidates = self.replaceable(text)
        n = min(self.how_many(rng, len(text.word_positions)), len(candidates))
        chosen = sorted(int(candidates[k]) for k in rng.permutation(len(candidates))[:n])
        replacements = []
        for index in chosen:
            word = text.words[index]
            synonyms = self.vocabulary.synonyms(word)
            replacements.append([index, match_case(word, synonyms[int(rng.integers(len(synonyms)))])])
        return {"replacements": replacements}

    def apply(self, item: str, replacements: list) -> str:
        text = Tokenised.of(item)
        parts = list(text.tokens)
        for index, word in replacements:
            parts[text.word_positions[index]] = word
        return _rebuild(parts)


@register
@dataclass(frozen=True)
class RandomInsertion(TextOperator):
    """EDA's RI: n times, a synonym of a random non-stop word of the text is
    inserted before a random word (or at the end)."""

    name: ClassVar[str] = "random_insertion"
    alpha: Any = (0.1, 0.1)

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        text = Tokenised.of(item)
        candidates = self.replaceable(text)
        if not candidates:
            return {"insertions": []}
        insertions = []
        for _ in range(self.how_many(rng, len(text.word_positions))):
            synonyms = self.vocabulary.synonyms(text.words[candidates[int(rng.integers(len(candidates)))]])
            word = synonyms[int(rng.integers(len(synonyms)))]
            insertions.append([int(rng.integers(len(text.word_positions) + 1)), word])
        return {"insertions": insertions}

    def apply(self, item: str, insertions: list) -> str:
        text = Tokenised.of(item)
        parts = list(text.tokens)
        count = len(text.word_positions)
        # Right to left, so earlier token positions stay valid; at one position the later-listed word
        # goes in first, so the words end up in the listed order.
        for _, (position, word) in sorted(enumerate(insertions), key=lambda e: (e[1][0], e[0]), reverse=True):
            if position < count:
                parts.insert(text.word_positions[position], f"{word} ")
            else:
                parts.insert(text.word_positions[-1] + 1, f" {word}")
        return _rebuild(parts)


@register
@dataclass(frozen=True)
class RandomSwap(TextOperator):
    """EDA's RS: n times, two random words trade places."""

    name: ClassVar[str] = "random_swap"
    alpha: Any = (0.1, 0.1)

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        count = len(Tokenised.of(item).word_positions)
        if count < 2:
            return {"swaps": []}
        swaps = []
        for _ in range(self.how_many(rng, count)):
            first = int(rng.integers(count))
            second = (first + 1 + int(rng.integers(count - 1))) % count  # any other word, uniformly
            swaps.append(sorted([first, second]))
        return {"swaps": swaps}

    def apply(self, item: str, swaps: list) -> str:
        text = Tokenised.of(item)
        parts = list(text.tokens)
        where = text.word_positions
        for i, j in swaps:
            parts[where[i]], parts[where[j]] = parts[where[j]], parts[where[i]]
        return _rebuild(parts)


@register
@dataclass(frozen=True)
class RandomDeletion(TextOperator):
    """EDA's RD: each word is deleted with probability alpha; at least one word goes
    (when there are two or more) and at least one stays."""

    name: ClassVar[str] = "random_deletion"
    alpha: Any = (0.1, 0.1)

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        count = len(Tokenised.of(item).word_positions)
        if count < 2:
            return {"deletions": []}
        alpha = round(float(rng.uniform(*self.alpha)), 4)
        deleted = rng.random(count) < alpha
        if not deleted.any():
            deleted[int(rng.integers(count))] = True
        if deleted.all():
            deleted[int(rng.integers(count))] = False
        return {"deletions": [int(i) for i in np.flatnonzero(deleted)]}

    def apply(self, item: str, deletions: list) -> str:
        text = Tokenised.of(item)
        parts = list(text.tokens)
        removed = set()
        for index in deletions:
            k = text.word_positions[index]
            removed.add(k)
            # Take one neighbouring space with the word, so no double space is left behind.
            for neighbour in (k + 1, k - 1):
                if 0 <= neighbour < len(parts) and neighbour not in removed and parts[neighbour].isspace():
                    removed.add(neighbour)
                    break
        return _rebuild([part for i, part in enumerate(parts) if i not in removed])


@register
@dataclass(frozen=True)
class SentenceShuffle(TextOperator):
    """The sentences in a new order (a text of one sentence is left as it is); the
    spacing between sentences stays where it was."""

    name: ClassVar[str] = "sentence_shuffle"

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        count = len(split_sentences(item)[0])
        order = rng.permutation(count)
        if count > 1 and (order == np.arange(count)).all():
            order[[0, 1]] = order[[1, 0]]
        return {"order": [int(i) for i in order]}

    def apply(self, item: str, order: list) -> str:
        sentences, separators = split_sentences(item)
        if sorted(order) != list(range(len(sentences))):
            raise ValueError(f"sentence_shuffle: order {order} does not fit a text of {len(sentences)} sentences")
        return join_sentences([sentences[i] for i in order], separators)


# Contractions whose expansion is unambiguous ('s and 'd are not: is/has, would/had).
_NEGATIONS = {"do not": "don't", "does not": "doesn't", "did not": "didn't", "is not": "isn't", "are not": "aren't",
              "was not": "wasn't", "were not": "weren't", "have not": "haven't", "has not": "hasn't",
              "had not": "hadn't", "could not": "couldn't", "would not": "wouldn't", "should not": "shouldn't",
              "must not": "mustn't", "need not": "needn't", "will not": "won't", "shall not": "shan't",
              "cannot": "can't"}
_PRONOUN_VERBS = {"i am": "i'm", "you are": "you're", "we are": "we're", "they are": "they're", "i will": "i'll",
                  "you will": "you'll", "he will": "he'll", "she will": "she'll", "we will": "we'll",
                  "they will": "they'll", "it will": "it'll"}
_EXPAND_ONLY = {"i've": "i have", "you've": "you have", "we've": "we have", "they've": "they have", "let's": "let us"}
_CONTRACT_ONLY = {"it is": "it's", "that is": "that's", "there is": "there's", "what is": "what's",
                  "he is": "he's", "she is": "she's", "who is": "who's"}
EXPANSIONS = {short: long for long, short in {**_NEGATIONS, **_PRONOUN_VERBS}.items()} | _EXPAND_ONLY
# phrase -> (contraction, needs a word after it: "I know what it is." cannot become "what it's.")
CONTRACTIONS = ({long: (short, False) for long, short in _NEGATIONS.items()}
                | {long: (short, True) for long, short in {**_PRONOUN_VERBS, **_CONTRACT_ONLY}.items()})


@register
@dataclass(frozen=True)
class Contractions(TextOperator):
    """A meaning-preserving paraphrase that needs no model: "do not" <-> "don't",
    "I am" <-> "I'm", "it is" -> "it's" (as TextAttack's contract/extend transforms).
    alpha here is the fraction of the places where that can be done (at least one)."""

    name: ClassVar[str] = "contractions"
    alpha: Any = (0.5, 1.0)

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        sites = contraction_sites(item)
        if not sites:
            return {"edits": []}
        alpha = round(float(rng.uniform(*self.alpha)), 4)
        n = min(max(1, round(alpha * len(sites))), len(sites))
        return {"edits": [sites[int(k)] for k in sorted(rng.permutation(len(sites))[:n])]}

    def apply(self, item: str, edits: list) -> str:
        text = Tokenised.of(item)
        parts = list(text.tokens)
        for index, length, replacement in sorted(edits, reverse=True):
            first, last = text.word_positions[index], text.word_positions[index + length - 1]
            parts[first:last + 1] = [replacement]
        return _rebuild(parts)


def contraction_sites(item: str) -> list[list]:
    """[word index, words replaced, replacement] for every place a contraction can be
    expanded or formed, left to right, no two overlapping."""
    text = Tokenised.of(item)
    words, where, parts = text.words, text.word_positions, text.tokens
    apostrophe = "’" if "’" in item and "'" not in item else "'"
    sites, i = [], 0
    while i < len(words):
        word = words[i].lower().replace("’", "'")
        pair = f"{word} {words[i + 1].lower()}" if i + 1 < len(words) and where[i + 1] == where[i] + 2 \
            and parts[where[i] + 1] == " " else None
        if word in EXPANSIONS:
            sites.append([i, 1, match_case(words[i], EXPANSIONS[word])])
        elif word in CONTRACTIONS:  # "cannot"
            sites.append([i, 1, match_case(words[i], CONTRACTIONS[word][0].replace("'", apostrophe))])
        elif pair in CONTRACTIONS:
            short, needs_next = CONTRACTIONS[pair]
            followed = i + 2 < len(words) and all(p.isspace() for p in parts[where[i + 1] + 1:where[i + 2]])
            if followed or not needs_next:
                sites.append([i, 2, match_case(words[i], short.replace("'", apostrophe))])
                i += 2
                continue
        i += 1
    return sites
