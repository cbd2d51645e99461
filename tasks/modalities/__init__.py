"""One module per modality, each with the same hooks, so the stage modules
(explore, bias, augment, validate, merge) hold the shared logic only.

A modality module provides:
  read_raw(params) -> (raw manifest, context)       explore: one row per input sample
  profile(ok, params) -> dict                       explore: the modality's own profile section
  bias_extra(ok, params) -> dict                    bias: e.g. length or loudness bias between classes
  augment_shard(shard, params) -> list[dict]        augment: rows of new samples (files written atomically)
  AUGMENTED_COLUMNS: list[str]                      the modality's extra columns in augmented rows
  LIBRARIES: tuple[str, ...]                        the distributions that shape its bytes (in memo keys)
  features(augmented, sources, params) -> frame     validate: one row of measurements per new sample
  SUITE_FILE, suite_parameters(labels, params)      validate: the Great Expectations suite and its parameters
  render_gallery(validated, raw, params, path)      validate: sources beside their variants, for review
  finalize(originals, accepted, params) -> frame    merge: write data/final/, return the final manifest

and may provide (optional; the stages fall back to the shared behaviour):
  check_params(params) -> list[str]                 params: problems with its own section (keys it requires)
  make_shards(sources, params) -> list[Shard]       augment: its own unit of work (e.g. one class)
  augmented_columns(sources, params) -> list[str]   augment: extra columns known per dataset (a table's own)
  a row's own "origin" key                          augment: e.g. "synthetic" instead of "augmented"
  FEATURES_PER_SAMPLE = False                       validate: features depend on the whole set: no per-sample memo
  summary_extra(features, params) -> dict           validate: added to reports/validation.json
  final_columns(final, params) -> list[str]         merge: extra final columns known per dataset
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODALITIES = ("image", "text", "audio", "tabular")


def get_modality(name: str) -> ModuleType:
    if name not in MODALITIES:
        raise ValueError(f"data.modality: {name!r} is not one of {list(MODALITIES)}")
    try:
        return importlib.import_module(f"tasks.modalities.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"tasks.modalities.{name}":
            raise
        raise ValueError(f"data.modality: {name!r} is not available in this version of augmill") from None
