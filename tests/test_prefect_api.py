"""The early temporary Prefect server of `augmill run` (flows/prefect_api.py): a real
server subprocess, a real flow run recorded on it, the server stopped afterwards; a
Prefect setting naming another API wins; a port taken meanwhile is survived."""

from __future__ import annotations

import socket
import threading

import pytest

from augmill.flows import prefect_api


@pytest.fixture(autouse=True)
def no_configured_api(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def api_url_seen_by_a_new_thread() -> str | None:
    from prefect.settings import get_current_settings

    seen = []
    thread = threading.Thread(target=lambda: seen.append(get_current_settings().api.url))
    thread.start()
    thread.join()
    return seen[0]


def test_a_flow_runs_against_the_early_server_which_stops_afterwards():
    from prefect import flow
    from prefect.client.orchestration import get_client

    @flow(name="early-server-check")
    def answer() -> int:
        return 42

    api = prefect_api.start_unless_configured()
    assert api is not None and api.process.poll() is None
    with prefect_api.serving(api):
        state = answer(return_state=True)
        assert state.result() == 42
        with get_client(sync_client=True) as client:
            assert str(client.api_url).rstrip("/") == api.url
            assert client.read_flow_run(state.state_details.flow_run_id).state.is_completed()  # recorded there
        # A thread started without the context (as Prefect's process-pool message forwarder is)
        # must see the server too, or Prefect starts a second temporary server of its own.
        assert api_url_seen_by_a_new_thread() == api.url
    assert api.process.poll() is not None  # stopped
    assert api_url_seen_by_a_new_thread() is None
    another = prefect_api.start_unless_configured()
    assert another is not None
    another.stop()  # not left running after the test


def test_a_configured_api_wins_and_the_early_server_is_stopped_unused(monkeypatch):
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    api = prefect_api.TemporaryAPI()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # as a profile would
        with prefect_api.serving(api):
            assert api.process.poll() is not None
            assert get_current_settings().api.url == "http://127.0.0.1:9/api"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert prefect_api.start_unless_configured() is None


def test_a_port_taken_before_the_server_binds_it_is_survived(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free_port = prefect_api._free_port
        ports = iter([taken.getsockname()[1]])
        monkeypatch.setattr(prefect_api, "_free_port", lambda: next(ports, None) or free_port())
        api = prefect_api.TemporaryAPI()
        try:
            api.wait_until_healthy()
            assert api.port != taken.getsockname()[1]
        finally:
            api.stop()
