"""Labelled benchmark sets built from files that ship inside installed packages (nothing
downloads), shared by the benchmarks that need a set other than the demos.

- image tiles: ten photographs shipped inside the scikit-image wheel (camera, moon, brick,
  grass, gravel, astronaut, rocket, coffee, hubble_deep_field, motorcycle_left), in
  greyscale, cut into non-overlapping 32x32 tiles; 200 tiles per photograph, drawn with a
  fixed seed; the label is the photograph a tile comes from;
- fortune languages: fortune cookies from Debian's fortunes packages, labelled by their
  language: English (`fortunes`, BSD), German (`fortunes-de`, GPL-2+), Italian
  (`fortunes-it`, public domain), Spanish (`fortunes-es`, public domain) and Brazilian
  Portuguese (`fortunes-br`, GPL-2+); 300 per language, drawn with a fixed seed
  (`apt-get install fortunes fortunes-de fortunes-it fortunes-es fortunes-br`);
- glyphs (in the spirit of notMNIST): the letters A to J, upper and lower case, in each of the 22
  text fonts shipped inside the matplotlib wheel (DejaVu Sans, Sans Mono and Serif in their
  weights and slants, STIX General in four, Computer Modern roman, bold, italic, math italic,
  sans and typewriter; the symbol fonts left out), white on black, fitted into 24x24 and centred
  in 32x32 greyscale; 440 images, 44 per letter; the label is the letter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

PHOTOS = ("camera", "moon", "brick", "grass", "gravel", "astronaut", "rocket", "coffee", "hubble_deep_field",
          "motorcycle_left")
SIDE, PER_CLASS, SEED = 32, 200, 7

# Fortune files per language, relative to /usr/share/games/fortunes. English: the topics of the
# `fortunes` package that hold prose (not ASCII art or verse); the others: every file of their
# package but ASCII art, banners, the offensive sections and the German IRC logs and translations
# (debian, infodrom, linuxtag, channel-debian, translations: half English).
LANGUAGE_FILES = {
    "english": ("computers", "education", "food", "law", "medicine", "people", "science", "sports", "wisdom"),
    "german": tuple(f"de/{name}" for name in (
        "anekdoten", "bahnhof", "beilagen", "brot", "computer", "dessert", "doppelsinnig", "elefanten", "fussball",
        "gedichte", "hauptgericht", "holenlassen", "huhn", "kalt", "kinderzitate", "kuchen", "letzteworte",
        "lieberals", "loewe", "mathematiker", "ms", "murphy", "namen", "plaetzchen", "quiz", "regeln", "salat",
        "sauce", "sicherheitshinweise", "sprichworte", "sprichwortev", "sprueche", "stilblueten", "suppe", "tips",
        "unfug", "vornamen", "vorspeise", "warmduscher", "witze", "woerterbuch", "wusstensie", "zitate")),
    "italian": tuple(f"it/{name}" for name in (
        "adams", "computer", "definizioni", "formiche", "italia", "itatrek", "jackfr", "leggi", "luke", "luttazzi",
        "norm", "paolotedeschi", "zuse")),
    "spanish": tuple(f"es/{name}.fortunes" for name in (
        "amistad", "arte", "asimov", "ciencia", "deprimente", "familia", "famosos", "filosofia", "humanos",
        "informatica", "lao-tse", "leydemurphy", "libertad", "nietzsche", "pintadas", "poder", "proverbios",
        "refranes", "sabiduria", "schopenhauer", "sentimientos", "varios", "verdad", "vida")),
    "portuguese": ("brasil",),
}
PER_LANGUAGE = 300


def photo(name: str) -> Image.Image:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    path = next(folder.glob(f"{name}.*"))  # the wheel's own file: skimage.data would fetch what is not shipped
    return Image.open(path).convert("L")


def make_tiles(folder: Path) -> pd.DataFrame:
    """Write the tiles as ``folder/<photo>/<photo>_<x>_<y>.png``; one row per tile: path (relative), label."""
    rng = np.random.default_rng(SEED)
    rows = []
    for name in PHOTOS:
        image = photo(name)
        corners = [(x, y) for y in range(0, image.height - SIDE + 1, SIDE) for x in range(0, image.width - SIDE + 1, SIDE)]
        chosen = rng.choice(len(corners), size=min(PER_CLASS, len(corners)), replace=False)
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in sorted(chosen.tolist()):
            x, y = corners[index]
            relative = f"{name}/{name}_{x}_{y}.png"
            image.crop((x, y, x + SIDE, y + SIDE)).save(folder / relative)
            rows.append({"path": relative, "label": name})
    return pd.DataFrame(rows)


GLYPH_LETTERS = "ABCDEFGHIJ"
GLYPH_FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique", "DejaVuSansMono",
               "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique", "DejaVuSerif",
               "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic", "STIXGeneral", "STIXGeneralBol",
               "STIXGeneralItalic", "STIXGeneralBolIta", "cmr10", "cmb10", "cmti10", "cmmi10", "cmss10", "cmtt10")


def make_glyphs(folder: Path) -> pd.DataFrame:
    """Write ``folder/<letter>/<font>_<letter or letter_lower>.png``; one row per glyph: path (relative), label."""
    import matplotlib
    from PIL import ImageFont

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    rows = []
    for font_name in GLYPH_FONTS:
        font = ImageFont.truetype(str(fonts / f"{font_name}.ttf"), 96)
        for letter in GLYPH_LETTERS:
            for glyph, suffix in ((letter, letter), (letter.lower(), f"{letter}_lower")):
                mask = font.getmask(glyph)
                ink = Image.frombytes("L", mask.size, bytes(mask))
                ink = ink.crop(ink.getbbox())
                scale = 24 / max(ink.size)
                ink = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))), Image.Resampling.LANCZOS)
                canvas = Image.new("L", (SIDE, SIDE), 0)
                canvas.paste(ink, ((SIDE - ink.width) // 2, (SIDE - ink.height) // 2))
                relative = f"{letter}/{font_name}_{suffix}.png"
                (folder / letter).mkdir(parents=True, exist_ok=True)
                canvas.save(folder / relative)
                rows.append({"path": relative, "label": letter})
    return pd.DataFrame(rows)


def fortune_languages() -> pd.DataFrame:
    """Columns text, label (the language); a cookie found under two languages is left out."""
    from augmill.tasks.demos.fortunes import read_topic

    rows = [{"text": text, "label": language}
            for language, files in LANGUAGE_FILES.items() for name in files for text in read_topic(name)]
    table = pd.DataFrame(rows)
    table = table[~table["text"].duplicated(keep=False)]
    rng = np.random.default_rng(SEED)
    picked = [group.iloc[np.sort(rng.choice(len(group), size=min(PER_LANGUAGE, len(group)), replace=False))]
              for _, group in table.groupby("label", sort=True)]
    return pd.concat(picked, ignore_index=True)
