"""One run per workspace: a second `augmill run` or stage started while one is
running refuses with a clear message instead of corrupting the outputs.

An advisory lock (flock) on .augmill/lock: the kernel releases it when the
holder dies, even by SIGKILL, so a crashed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = Path(".augmill") / "lock"


class WorkspaceBusy(RuntimeError):
    """Another augmill process holds this workspace."""


@contextlib.contextmanager
def workspace_lock(what: str, root: Path = Path(".")) -> Iterator[None]:
    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise WorkspaceBusy(
                f"the workspace {root.resolve()} is in use by {holder}; wait for it to finish "
                "(two runs on one workspace would overwrite each other's outputs)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"augmill {what} (pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
