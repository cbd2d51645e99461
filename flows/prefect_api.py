"""Prefect API servers that augmill starts itself, early: a temporary one for one `augmill run`,
and, for `augmill serve`, a local `prefect server start` with its scheduler (ScheduledServer).

Without a configured API (PREFECT_API_URL), Prefect starts a temporary server
when the flow is first called: it imports its whole server package in this
process (~5 s) and then waits for a server subprocess to import it again and
come up (~7 s), with nothing else happening meanwhile. Starting that same
subprocess (the command Prefect uses: uvicorn on Prefect's app factory, UI off)
first thing in `augmill run` lets it come up while this process checks params,
imports Prefect and DVC and asks DVC what is stale; this process never imports
the server package. A configured API (environment, Prefect profile or .env) is always used
instead: the early server is then stopped unused.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT_S = 120.0
PROJECT_SERVER_HOME = Path(".augmill") / "prefect"  # `augmill serve`'s server: its database and log


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TemporaryAPI:
    """A Prefect API server subprocess on a free loopback port, for one run."""

    description = "the temporary Prefect server"
    startup_timeout_s = STARTUP_TIMEOUT_S

    def __init__(self) -> None:
        self.log = tempfile.TemporaryFile()  # the server's errors, for the message if it fails (a pipe could fill up)
        self._launch()

    def _launch(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        site = Path(importlib.util.find_spec("prefect").origin).parents[1]  # without importing prefect
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(site), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            # As Prefect starts its own temporary server: no UI, ephemeral-server services only.
            env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                 "PREFECT__SERVER_FINAL": "1"},
            stdout=subprocess.DEVNULL, stderr=self.log)

    def _log_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def _errors(self) -> str:
        return self._log_text()[-2000:]

    def wait_until_healthy(self) -> None:
        deadline, relaunched = time.monotonic() + self.startup_timeout_s, False
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                # The whole log: uvicorn's "address already in use" comes before a long traceback.
                if "already in use" in self._log_text().lower() and not relaunched:
                    relaunched = True  # another process took the free port first: once more, on another
                    # (uvicorn says "address already in use", `prefect server start` "Port N is already in use")
                    self._launch()
                    continue
                raise RuntimeError(f"{self.description} exited with code {self.process.returncode}: "
                                   f"{self._errors()}")
            try:
                # Not /health: the server builds its routes on the first other request (~0.5 s),
                # which is the flow run's first; this way that happens while `augmill run` preloads.
                with urllib.request.urlopen(f"{self.url}/admin/version", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        errors = self._errors()  # before stop() closes the log
        self.stop()
        raise RuntimeError(f"{self.description} did not answer on {self.url} within {self.startup_timeout_s:.0f}s "
                           f"(is the machine very busy?): {errors}")

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class ScheduledServer(TemporaryAPI):
    """`prefect server start` for `augmill serve`: with its services, the scheduler among them
    (Prefect's temporary server has none, so a schedule served on it never fires), the UI,
    and its database in ``home``, so that the run history outlives the process."""

    description = "the local Prefect server"
    # Slower to come up than the temporary one (all services, the UI, migrations on a first start):
    # measured 19 s, 65 s on this 2-core machine under a load of 12.
    startup_timeout_s = 300.0

    def __init__(self, home: Path) -> None:
        self.home = home.resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.database = self.home / "prefect.db"
        self.log_path = self.home / "server.log"
        self.log_path.write_bytes(b"")
        # Appending: the server writes through the same file offset that _errors() moves.
        self.log = open(self.log_path, "a+b")  # noqa: SIM115 (closed in stop())
        self._launch()

    def _launch(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env={**os.environ, "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.database}",
                 "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true"},
            # Its own session: a Ctrl-C in the terminal reaches `augmill serve`, which first stops
            # its runner (that pauses the schedule through this server), then this server.
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.log.closed:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):  # the whole group: no orphans
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        self.log.close()


def start_server_unless_configured(home: Path) -> ScheduledServer | None:
    """For `augmill serve`: a local server with its scheduler, unless the environment names an API."""
    return None if os.environ.get("PREFECT_API_URL") else ScheduledServer(home)


def start_unless_configured() -> TemporaryAPI | None:
    """Start the server now if the environment names no API (a profile may still: see ``serving``)."""
    return None if os.environ.get("PREFECT_API_URL") else TemporaryAPI()


def _send_pending_logs_and_events() -> None:
    """Prefect sends logs and events from background workers; they must reach the
    server before it stops (Prefect does the same before stopping its own)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


@contextmanager
def serving(api: TemporaryAPI | None):
    """Within: Prefect (this process and its worker processes) talks to ``api``, unless
    Prefect's own settings name an API, which wins. The server stops on the way out."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    if api is None or get_current_settings().api.url:
        if api is not None:
            api.stop()
        yield
        return
    try:
        api.wait_until_healthy()
        # start_unless_configured found no PREFECT_API_URL in the environment: it is ours to set and remove.
        os.environ["PREFECT_API_URL"] = api.url  # process-pool workers read it from the environment
        # Threads Prefect starts without copying the context (the process pool's message forwarder)
        # read the global settings, made when Prefect was imported: without this refresh they found
        # no API and started a second temporary server of Prefect's own (~5 s, during validate).
        refresh_global_settings_context()
        # No heartbeats: they tell a long-lived server that a run crashed, and this server stops
        # with the run; the heartbeat thread also costs each flow run up to 1 s at its end.
        with temporary_settings(updates={PREFECT_API_URL: api.url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            try:
                yield
            finally:
                _send_pending_logs_and_events()
    finally:
        if os.environ.pop("PREFECT_API_URL", None):
            refresh_global_settings_context()
        api.stop()
