"""The base of every params section (kept apart so modality modules can define
their own sections without importing the whole params module)."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # strict: `seed: true` or `workers: "2"` is a mistake to report, not to coerce; no inf/nan knobs.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
