"""The thesaurus and stop words the synonym operators draw from.

A thesaurus is read from files in the Solr synonyms format, the one search
engines use and domain thesauri are often shipped in:

    # a comment
    heart attack, myocardial infarction, MI      equivalent terms: each maps to the others
    doc, medic => physician                      one way: doc and medic map to physician

``wordnet`` names the bundled English table (data/wordnet_synonyms.txt, derived
from WordNet 3.0 by scripts/build_synonyms.py, licence in data/WORDNET_LICENSE.txt).
Only single words are looked up (a word of the text is replaced or echoed); a
multi-word term can still be a replacement. Nothing is downloaded.
"""

from __future__ import annotations

import functools
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
BUNDLED = {"wordnet": DATA / "wordnet_synonyms.txt"}

# English function words: never replaced, never used to anchor an insertion (EDA, Wei & Zou 2019).
STOP_WORDS = frozenset("""
a about above after again against ain all am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
either else ever every few for from further had hadn't has hasn't have haven't having he he'd he'll he's her
here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
just let's may me might mightn't more most must mustn't my myself neither no nor not now of off on once only
or other ought our ours ourselves out over own same shall shan't she she'd she'll she's should shouldn't so
some such than that that's the their theirs them themselves then there there's these they they'd they'll
they're they've this those through to too under until up upon us very was wasn't we we'd we'll we're we've
were weren't what what's when when's where where's whether which while who who's whom whose why why's will
with won't would wouldn't yet you you'd you'll you're you've your yours yourself yourselves
""".split())


class SynonymFileError(ValueError):
    """A synonym file cannot be read; the message names the file and line."""


class Lexicon:
    """word (lower case) -> its synonyms, sorted so that a seeded draw is reproducible;
    and the stop words, which are never replaced."""

    def __init__(self, table: dict[str, set[str]], sources: tuple[str, ...], stop_words: frozenset[str] = STOP_WORDS) -> None:
        self.sources = sources
        self.stop_words = stop_words
        self._table = {word: tuple(sorted(synonyms)) for word, synonyms in table.items() if synonyms}

    def is_stop_word(self, word: str) -> bool:
        return word.lower().replace("’", "'") in self.stop_words

    def synonyms(self, word: str) -> tuple[str, ...]:
        return self._table.get(word.lower(), ())

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, word: str) -> bool:
        return word.lower() in self._table


def parse_synonyms(text: str, where: str) -> dict[str, set[str]]:
    """Solr-format lines -> word -> synonyms; SynonymFileError names ``where`` and the line."""
    table: dict[str, set[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sides = line.split("=>")
        if len(sides) > 2:
            raise SynonymFileError(f"{where}:{number}: more than one '=>' in {line!r}")
        groups = [[" ".join(term.split()) for term in side.split(",")] for side in sides]
        if any(not term for group in groups for term in group):
            raise SynonymFileError(f"{where}:{number}: empty term in {line!r} (a stray comma?)")
        keys, replacements = (groups[0], groups[1]) if len(groups) == 2 else (groups[0], groups[0])
        for key in keys:
            if " " in key:
                continue  # a phrase can replace a word but is never looked up
            found = table.setdefault(key.lower(), set())
            found.update(r for r in replacements if r.lower() != key.lower())
    return table


def read_synonym_file(source: str) -> dict[str, set[str]]:
    path = BUNDLED.get(source, Path(source))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SynonymFileError(f"{path}: synonym file not found") from None
    except UnicodeDecodeError as error:
        raise SynonymFileError(f"{path}: not UTF-8 ({error})") from None
    except OSError as error:
        raise SynonymFileError(f"{path}: cannot read ({error.strerror or error})") from None
    return parse_synonyms(text, str(path))


@functools.lru_cache(maxsize=8)
def load_lexicon(sources: tuple[str, ...] = ("wordnet",), extra_stop_words: tuple[str, ...] = ()) -> Lexicon:
    """The union of the named thesauri ("wordnet" or a file path), read once per process."""
    table: dict[str, set[str]] = {}
    for source in sources:
        for word, synonyms in read_synonym_file(source).items():
            table.setdefault(word, set()).update(synonyms)
    return Lexicon(table, sources, STOP_WORDS | {w.lower() for w in extra_stop_words})
