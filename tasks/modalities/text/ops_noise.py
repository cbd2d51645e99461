"""Character noise on ``str``: the slips people and machines make, for models that must read
real input. ``keyboard_typo`` swaps letters for a neighbouring key on a QWERTY keyboard (as
nlpaug's KeyboardAug); ``ocr_noise`` swaps characters that OCR engines confuse (0/O, 1/l/I,
5/S, rn-like shapes). ``alpha`` is the fraction of eligible characters changed, at least one
when any is eligible. The recorded params are the edits themselves (position, new character),
so apply and replay need no table and no generator. Only ASCII letters and digits are touched:
text in other scripts, punctuation, emoji and spacing stay as they are, and the length of the
text never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from augmill.tasks.modalities.text.ops import TextOperator
from augmill.tasks.ops.policy import register

_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Each key's neighbours on a QWERTY layout: left and right, and, since each row sits about
    half a key right of the one above, the keys at columns c and c + 1 above and c - 1 and c below."""
    neighbours: dict[str, str] = {}
    for r, row in enumerate(_ROWS):
        for c, key in enumerate(row):
            near = [row[c - 1] if c else "", row[c + 1] if c + 1 < len(row) else ""]
            for other, columns in ((r - 1, (c, c + 1)), (r + 1, (c - 1, c))):
                if 0 <= other < len(_ROWS):
                    near += [_ROWS[other][k] for k in columns if 0 <= k < len(_ROWS[other])]
            neighbours[key] = "".join(sorted(set("".join(near)) - {key}))
    return neighbours


KEYBOARD = _keyboard_neighbours()
# Shapes OCR engines mistake for one another (both directions where they read back).
OCR_CONFUSIONS = {"0": "Oo", "O": "0D", "o": "0", "D": "O", "1": "lI", "l": "1I", "I": "1l", "i": "l",
                  "5": "S", "S": "5", "s": "5", "8": "B", "B": "8", "6": "b", "b": "6", "9": "g", "g": "9",
                  "2": "Z", "Z": "2", "e": "c", "c": "e", "m": "n", "n": "m", "u": "v", "v": "u", "h": "b"}


@dataclass(frozen=True)
class CharacterNoise(TextOperator):
    alpha: Any = (0.02, 0.05)

    def choices(self, char: str) -> str:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        eligible = [i for i, char in enumerate(item) if char.isascii() and self.choices(char)]
        if not eligible:
            return {"edits": []}
        n = min(len(eligible), self.how_many(rng, len(eligible)))
        positions = sorted(int(eligible[k]) for k in rng.permutation(len(eligible))[:n])
        edits = []
        for position in positions:
            options = self.choices(item[position])
            edits.append([position, options[int(rng.integers(len(options)))]])
        return {"edits": edits}

    def apply(self, item: str, *, edits: list[list]) -> str:
        chars = list(item)
        for position, char in edits:
            chars[position] = char
        return "".join(chars)


@register
@dataclass(frozen=True)
class KeyboardTypo(CharacterNoise):
    """A letter or digit replaced by a neighbouring key (QWERTY), keeping its case."""

    name: ClassVar[str] = "keyboard_typo"

    def choices(self, char: str) -> str:
        near = KEYBOARD.get(char.lower(), "")
        return near.upper() if char.isupper() else near


@register
@dataclass(frozen=True)
class OcrNoise(CharacterNoise):
    """A character replaced by one that OCR confuses it with (``OCR_CONFUSIONS``)."""

    name: ClassVar[str] = "ocr_noise"

    def choices(self, char: str) -> str:
        return OCR_CONFUSIONS.get(char, "")
