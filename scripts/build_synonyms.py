"""Build tasks/modalities/text/data/wordnet_synonyms.txt from Debian's WordNet 3.0
(`apt-get install wordnet-base`), so augmill ships a thesaurus and downloads nothing.

For every single-word, lower-case lemma, its synonyms are the other single-word,
lower-case lemmas of its most frequent senses (WordNet's index files list senses
by frequency), at most --senses per part of speech. Keeping only the frequent
senses is what makes the synonyms "close": EDA (Wei & Zou 2019) took every sense,
which turns "cat" into "guy" and "computer" into "figurer". Capitalised lemmas
(proper nouns) and multi-word lemmas are left out: a replacement must fit where a
single word stood.

Output is the Solr synonyms format that `text.synonyms` also reads from a user's
own file: one line per word, ``word => synonym, synonym``.

    python scripts/build_synonyms.py [--wordnet /usr/share/wordnet] [--senses 2]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

POS_FILES = ("noun", "verb", "adj", "adv")
WORD = re.compile(r"[a-z][a-z'-]*[a-z]")  # no digits, no capitals, no underscores (multi-word)
TARGET = Path(__file__).resolve().parents[1] / "tasks/modalities/text/data/wordnet_synonyms.txt"
NOTICE = """\
# English synonyms derived from WordNet 3.0 by scripts/build_synonyms.py (see its docstring).
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# Used under the WordNet 3.0 license, reproduced in full in WORDNET_LICENSE.txt beside this file.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO
# REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED.
# Format (Solr synonyms): word => synonym, synonym
"""


def read_synsets(data_file: Path) -> dict[str, list[str]]:
    """offset -> lemmas of that synset, as written in WordNet (markers like "(a)" removed)."""
    synsets = {}
    for line in data_file.read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):  # the licence header
            continue
        fields = line.split(" ")
        count = int(fields[3], 16)
        synsets[fields[0]] = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]) for i in range(count)]
    return synsets


def read_senses(index_file: Path) -> dict[str, tuple[list[str], int]]:
    """lemma -> (offsets of its senses, most frequent first; how many of them are attested)."""
    result = {}
    for line in index_file.read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split()
        pointer_count = int(fields[3])
        tagged = int(fields[5 + pointer_count])
        result[fields[0]] = (fields[6 + pointer_count:], tagged)
    return result


def build(wordnet: Path, senses: int) -> dict[str, list[str]]:
    by_pos = {pos: (read_synsets(wordnet / f"data.{pos}"), read_senses(wordnet / f"index.{pos}")) for pos in POS_FILES}
    attested = {lemma for _, index in by_pos.values() for lemma, (_, tagged) in index.items() if tagged}
    table: dict[str, set[str]] = {}
    for synsets, index in by_pos.values():
        for lemma, (offsets, tagged) in index.items():
            if not WORD.fullmatch(lemma):
                continue
            # Senses seen in the sense-tagged corpus only (a noun like "cat" keeps its animal and
            # loses its rare verb "to vomit"); a word never seen in it keeps each part of speech's first sense.
            kept = offsets[:min(tagged, senses)] if lemma in attested else offsets[:1]
            for offset in kept:
                others = {w for w in synsets[offset] if WORD.fullmatch(w) and w != lemma}
                if others:
                    table.setdefault(lemma, set()).update(others)
    return {word: sorted(synonyms) for word, synonyms in sorted(table.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--senses", type=int, default=2, help="most frequent senses kept per part of speech")
    parser.add_argument("--output", type=Path, default=TARGET)
    args = parser.parse_args()
    if not (args.wordnet / "index.noun").is_file():
        parser.error(f"{args.wordnet}: no WordNet database here; apt-get install wordnet-base")
    table = build(args.wordnet, args.senses)
    lines = [f"{word} => {', '.join(synonyms)}" for word, synonyms in table.items()]
    args.output.write_text(NOTICE + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.output}: {len(lines)} words, {sum(len(s) for s in table.values())} synonyms")


if __name__ == "__main__":
    main()
