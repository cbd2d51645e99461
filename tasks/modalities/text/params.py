"""params.yaml section `text:`: the knobs of the text modality (read when data.modality is text)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import Field, computed_field, field_validator, model_validator

from augmill.tasks.params_base import ModalitySection

TEXT_FORMATS = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")


class TextParams(ModalitySection):
    NAME = "text"
    # The file(s) of labelled texts in data.raw_dir: CSV/TSV, Parquet or JSON Lines.
    # A list: each row's split comes from split_column, else it is drawn by data.split.
    # A mapping such as {train: train.csv, test: test.csv}: every row of a file is in that split.
    files: list[str] | dict[Literal["train", "val", "test"], str] = ["texts.csv"]
    text_column: str = Field("text", min_length=1)
    label_column: str = Field("label", min_length=1)
    split_column: str | None = "split"  # optional; ignored for files given per split
    # Thesauri for synonym_replacement and random_insertion: "wordnet" (bundled, English)
    # and/or paths of your own files in the Solr synonyms format (see docs/text.md).
    synonyms: list[str] = Field(["wordnet"], min_length=1)
    # Words never replaced, on top of the English function words (e.g. your domain's key terms).
    extra_stop_words: list[str] = []
    # explore: texts whose word-3-gram Jaccard similarity reaches this are near duplicates.
    near_duplicate_jaccard: float = Field(0.8, gt=0, le=1)
    # bias: flag length bias when one class's median length (words) exceeds another's by this factor.
    max_length_bias: float = Field(1.5, ge=1)
    # augment: a variant equal to its source or to an earlier variant is drawn again, up to this many times.
    max_redraws: int = Field(10, ge=0, le=100)
    # validate: characters of a variant over its source's, and the lexical similarity to the source
    # (mean of word and word-pair overlap, 0..1; see docs/text.md). Identical texts are refused anyway.
    min_length_ratio: float = Field(0.5, gt=0)
    max_length_ratio: float = Field(2.0, gt=0)
    min_similarity: float = Field(0.3, ge=0, le=1)
    max_similarity: float = Field(1.0, ge=0, le=1)

    @field_validator("files")
    @classmethod
    def _files_inside_raw_dir(cls, files):
        from augmill.tasks.modalities.text.files import file_slug

        names = list(files.values()) if isinstance(files, dict) else files
        if not names:
            raise ValueError("name at least one file of texts (inside data.raw_dir)")
        for name in names:
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or "\\" in name or not name.strip():
                raise ValueError(f"{name!r}: give a path relative to data.raw_dir, without '..'")
            if path.suffix.lower() not in TEXT_FORMATS:
                raise ValueError(f"{name!r}: unknown format; use one of {list(TEXT_FORMATS)}")
        slugs = [file_slug(name) for name in names]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"{names}: two files whose names differ only in punctuation; rename one")
        return files

    @field_validator("synonyms")
    @classmethod
    def _readable_thesauri(cls, sources):
        from augmill.tasks.modalities.text.lexicon import BUNDLED, read_synonym_file

        for source in sources:
            if source not in BUNDLED:
                read_synonym_file(source)  # refuses a missing or malformed file now, naming the line
        return sources

    @computed_field
    @property
    def synonyms_sha256(self) -> str:
        """The thesauri's content, so that a per-sample memo keyed on this section (the
        augment stage's) does not reuse variants drawn from an older synonym file."""
        from augmill.tasks.io import sha256_file
        from augmill.tasks.modalities.text.lexicon import BUNDLED

        return ",".join(sha256_file(BUNDLED.get(source, Path(source)))[:16] for source in self.synonyms)

    @model_validator(mode="after")
    def _consistent(self) -> TextParams:
        named = [c for c in (self.text_column, self.label_column, self.split_column) if c]
        if len(set(named)) != len(named):
            raise ValueError(f"text_column, label_column and split_column must differ, got {named}")
        if self.min_length_ratio > self.max_length_ratio:
            raise ValueError("min_length_ratio must not exceed max_length_ratio")
        if self.min_similarity > self.max_similarity:
            raise ValueError("min_similarity must not exceed max_similarity")
        return self



# Which stages read each knob (the `params` stage hands each its share: a change re-runs only those).
TextParams.READ_BY = {
    "files":                  ("explore",),
    "text_column":            ("explore",),
    "label_column":           ("explore",),
    "split_column":           ("explore",),
    "synonyms":               ("augment",),
    "synonyms_sha256":        ("augment",),
    "extra_stop_words":       ("augment",),
    "near_duplicate_jaccard": ("explore", "bias"),
    "max_length_bias":        ("bias",),
    "max_redraws":            ("augment",),
    "min_length_ratio":       ("validate",),
    "max_length_ratio":       ("validate",),
    "min_similarity":         ("validate",),
    "max_similarity":         ("validate",),
}
