"""A seam for crash tests: pause a run at a chosen write, so a test can SIGKILL it exactly there.

``AUGMILL_PAUSE_AT="<folder>:<n>:<before|after>"`` pauses the process at the n-th atomic
write (counted per process) of a file under ``<folder>`` (relative to the project), either
with the temporary file complete but not yet renamed (``before``) or just after the rename
(``after``). It then creates ``AUGMILL_PAUSE_MARKER`` and sleeps until killed. Unset (always,
outside tests) it costs one dictionary lookup per write. Killing at chosen moments, rather than
after wall-clock delays, makes the crash test hit the same points on a slow or a fast machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_SPEC = os.environ.get("AUGMILL_PAUSE_AT")
_writes = 0  # per process: each pool worker counts its own


def _pause_point() -> tuple[str, int, str] | None:
    if not _SPEC:
        return None
    folder, count, when = _SPEC.rsplit(":", 2)
    return folder.rstrip("/") + "/", int(count), when


_POINT = _pause_point()


def at_write(path: Path, when: str) -> None:
    """Called by tasks.io around each atomic rename; pauses when the chosen point is reached."""
    global _writes
    if _POINT is None:
        return
    folder, count, chosen = _POINT
    relative = os.path.relpath(os.path.abspath(path))
    if not (relative + "/").startswith(folder):
        return
    if when == "before":
        _writes += 1
    if _writes == count and when == chosen:
        Path(os.environ["AUGMILL_PAUSE_MARKER"]).write_text(f"{os.getpid()} {relative} {when}\n")
        while True:  # until the test's SIGKILL
            time.sleep(60)
