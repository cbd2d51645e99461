"""Cutting text into words and sentences without losing a character.

Text operators edit words and sentences but must leave everything else
(punctuation, emoji, spacing, case) where it was, so a text is cut into tokens
that join back into exactly the original: words, runs of whitespace, and single
other characters. Operators address words by their index among the word tokens.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A word: letters/digits, with inner apostrophes or hyphens ("don't", "well-known").
WORD = re.compile(r"\w+(?:['’-]\w+)*")
_TOKENS = re.compile(r"\w+(?:['’-]\w+)*|\s+|.", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_WHITESPACE = re.compile(r"\s+")
# "Dr. Smith" is one sentence: a full stop after these (lower-cased) words ends none.
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "fig", "mt"}


def tokens(text: str) -> list[str]:
    """Words, whitespace runs and single other characters; ``"".join(tokens(t)) == t``."""
    return _TOKENS.findall(text)


def is_word(token: str) -> bool:
    """For tokens from ``tokens``: a word token is the only kind that starts with a word character."""
    first = token[0]
    return first.isalnum() or first == "_"


@dataclass(frozen=True)
class Tokenised:
    """A text's tokens and where its words are among them."""

    tokens: list[str]
    word_positions: list[int]  # index into tokens of each word, in order

    @classmethod
    def of(cls, text: str) -> Tokenised:
        parts = tokens(text)
        # is_word inlined: this runs for every token of every text, twice per operator.
        return cls(parts, [i for i, token in enumerate(parts) if token[0].isalnum() or token[0] == "_"])

    @property
    def words(self) -> list[str]:
        return [self.tokens[i] for i in self.word_positions]

    def sentence_initial(self) -> list[bool]:
        """Per word: does it start a sentence (first word, or first after . ! ?)."""
        flags, starts, words = [], True, set(self.word_positions)
        for index, token in enumerate(self.tokens):
            if index in words:
                flags.append(starts)
                starts = False
            elif token in ".!?…" and not _is_abbreviation(self.tokens, index):
                starts = True
        return flags


def _is_abbreviation(parts: list[str], index: int) -> bool:
    return parts[index] == "." and index > 0 and parts[index - 1].lower() in _ABBREVIATIONS


def words(text: str) -> list[str]:
    return WORD.findall(text)


def lower_words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def split_sentences(text: str) -> tuple[list[str], list[str]]:
    """(sentences, separators) with ``sentences[0] + separators[0] + sentences[1] + ...``
    giving the text back; leading and trailing whitespace belong to the separators
    around them (``separators`` has one more item than ``sentences``)."""
    stripped = text.strip()
    if not stripped:
        return [], [text]
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    sentences, separators, start = [], [lead], 0
    for match in _SENTENCE_END.finditer(stripped):
        # Abbreviations are short: the 8 characters before the stop are enough to see one (and
        # looking no further keeps this linear in the text's length).
        before = stripped[max(0, match.start() - 8): match.start()].split()
        if match.group().startswith(".") and before and before[-1].lower() in _ABBREVIATIONS:
            continue
        end = match.end()
        gap = _WHITESPACE.match(stripped, end)
        sentences.append(stripped[start:end])
        separators.append(gap.group())
        start = gap.end()
    sentences.append(stripped[start:])
    separators.append(trail)
    return sentences, separators


def join_sentences(sentences: list[str], separators: list[str]) -> str:
    parts = [separators[0]]
    for sentence, separator in zip(sentences, separators[1:], strict=True):
        parts += [sentence, separator]
    return "".join(parts)


def match_case(model: str, word: str) -> str:
    """``word`` written in the case pattern of ``model``: GLAD for HAPPY, Glad for Happy.
    A replacement with capitals of its own (an acronym from a user's file) keeps them."""
    if word != word.lower():
        return word.upper() if model.isupper() and len(model) > 1 else word
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def normalise(text: str) -> str:
    """NFC with runs of whitespace collapsed and the ends stripped: two texts equal after
    this are the same text for duplicate and leakage checks."""
    return " ".join(unicodedata.normalize("NFC", text).split())
