"""The base of every params section (kept apart so modality modules can define
their own sections without importing the whole params module)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # strict: `seed: true` or `workers: "2"` is a mistake to report, not to coerce; no inf/nan knobs.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# The knobs read while `reading_knobs()` is active: "section.knob" (tests: flows.stages checks
# them against READ_BY when AUGMILL_CHECK_KNOBS is set). None: not recording, the usual case.
_knobs_read: set[str] | None = None


class ModalitySection(Section):
    """A modality's section (`text:`, `audio:`, `tabular:`). READ_BY names the stages that read
    each knob: the `params` stage gives each stage its own share in data/interim/params/, and
    dvc.yaml makes the stage depend on that file, so a knob change re-runs only its readers."""

    NAME: ClassVar[str] = ""
    READ_BY: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __getattribute__(self, name: str):
        if _knobs_read is not None and name in type(self).model_fields:
            _knobs_read.add(f"{type(self).NAME}.{name}")
        return super().__getattribute__(name)

    def stage_share(self, stage: str) -> dict:
        """The knobs ``stage`` reads, with their values (JSON types)."""
        values = self.model_dump(mode="json")
        return {name: values[name] for name, stages in self.READ_BY.items() if stage in stages}


@contextmanager
def reading_knobs():
    """Collects the modality knobs read inside the block (across threads of this process)."""
    global _knobs_read
    _knobs_read = set()
    try:
        yield _knobs_read
    finally:
        _knobs_read = None
