"""What every modality shares about samples: the reason a sample cannot be used."""

from __future__ import annotations


class UnusableSample(Exception):
    """A sample that cannot become training data; ``code`` is machine-readable,
    ``message`` names the file or row and says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
