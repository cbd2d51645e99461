"""User errors versus crashes, and keeping Prefect's tracebacks of user errors off the screen.

A user error is an exception augmill raises on purpose with a message for the user: a bad
param, unusable data, a policy that does not fit. Its message names the key, file or column
and the fix, so `augmill` prints that one line and exits 1; the traceback (Prefect logs one
for every failed task and flow run) is shown only with --verbose. Anything else is a crash
in augmill's own code (or a library's): its traceback is always shown.
"""

from __future__ import annotations

import logging
from pathlib import Path

from augmill.tasks.samples import UnusableSample

# The kinds augmill raises for the user (its own classes derive from these); a KeyError,
# TypeError, AttributeError ... out of augmill's code is a bug, never a message.
USER_ERROR_KINDS = (ValueError, RuntimeError, FileNotFoundError, UnusableSample)
_OWN_CODE = tuple(str(Path(__file__).resolve().parents[1] / package) for package in ("tasks", "flows"))


def raised_by_augmill(error: BaseException) -> bool:
    """Whether the innermost frame of the traceback is augmill's own code: a deliberate `raise`,
    not an error deep in a library (numpy's ValueError on a bug is a crash)."""
    trace, last = error.__traceback__, None
    while trace is not None:
        last, trace = trace, trace.tb_next
    return last is not None and str(Path(last.tb_frame.f_code.co_filename).resolve()).startswith(_OWN_CODE)


def is_user_error(error: BaseException) -> bool:
    from augmill.tasks.params import ParamsError

    if isinstance(error, ParamsError):
        return True
    return isinstance(error, USER_ERROR_KINDS) and raised_by_augmill(error)


def one_line(error: BaseException) -> str:
    """The message on one line (a params file with several problems lists them separated by ';')."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} " + "; ".join(lines[1:])
    return "; ".join(lines)


class UserErrorTracebacks(logging.Filter):
    """Drops Prefect's log records about a user error (its traceback, and the failed-state
    lines that repeat the message): `augmill` prints the message once, as one line."""

    def __init__(self) -> None:
        super().__init__()
        self.user_error_seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and is_user_error(error):
            self.user_error_seen = True
            return False
        message = record.getMessage()
        if self.user_error_seen and "Failed" in message:  # "Finished in state Failed(<the message again>)"
            return False
        return True


def hide_user_error_tracebacks() -> None:
    """Install the filter on the handlers Prefect set up (a filter on a logger would miss
    the records its child loggers propagate)."""
    shown = UserErrorTracebacks()
    for logger in (logging.getLogger(), logging.getLogger("prefect")):
        for handler in logger.handlers:
            handler.addFilter(shown)
