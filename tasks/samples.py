"""What every modality shares about samples: the reason a sample cannot be used."""

from __future__ import annotations

# reports/quarantine.csv: every sample that did not make it, from any stage, with its reason.
QUARANTINE_COLUMNS = ["sample_id", "path", "stage", "reason_code", "reason"]


class NothingUsable(ValueError):
    """explore found no usable sample at all: the run stops with a one-line summary."""


class UnusableSample(Exception):
    """A sample that cannot become training data; ``code`` is machine-readable,
    ``message`` names the file or row and says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
