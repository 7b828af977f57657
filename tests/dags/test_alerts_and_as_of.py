"""Failure alerts (log + webhook that can never fail the callback) and the as-of date a task works on."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from rapport.orchestration import alert_on_failure, as_of_from_context, post_alert


@pytest.fixture()
def webhook():
    """A local HTTP endpoint that records the JSON bodies posted to it and answers ``status``."""
    received: list[dict] = []
    state = {"status": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/alert", received=received, state=state)
    server.shutdown()
    server.server_close()


def _context(error: Exception) -> dict:
    ti = SimpleNamespace(dag_id="rapport_score", task_id="score_churn", run_id="manual__x", try_number=3, log_url=None)
    return {"ti": ti, "run_id": "manual__x", "exception": error, "params": {"as_of": "2026-11-01"}}


def test_failure_alert_is_logged_and_posted_to_the_webhook(webhook, monkeypatch, caplog):
    monkeypatch.setenv("RAPPORT_ALERT_WEBHOOK", webhook.url)
    with caplog.at_level(logging.ERROR, logger="rapport.alerts"):
        alert_on_failure(_context(LookupError("rapport-churn has no @champion version")))
    assert "rapport_score.score_churn failed" in caplog.text
    assert "LookupError: rapport-churn has no @champion version" in caplog.text
    [posted] = webhook.received
    assert posted["dag_id"] == "rapport_score" and posted["task_id"] == "score_churn"
    assert posted["try_number"] == 3 and posted["as_of"] == "2026-11-01"
    assert posted["error"] == "LookupError: rapport-churn has no @champion version"


def test_a_failing_webhook_never_fails_the_callback(webhook, monkeypatch, caplog):
    webhook.state["status"] = 500
    assert post_alert(webhook.url, {"event": "x"}, timeout=2) is False
    monkeypatch.setenv("RAPPORT_ALERT_WEBHOOK", "http://127.0.0.1:9/unreachable")
    with caplog.at_level(logging.WARNING, logger="rapport.alerts"):
        alert_on_failure(_context(RuntimeError("boom")))
    assert "could not post the failure alert" in caplog.text


def test_without_a_webhook_nothing_is_posted(webhook, monkeypatch):
    monkeypatch.delenv("RAPPORT_ALERT_WEBHOOK", raising=False)
    alert_on_failure(_context(RuntimeError("boom")))
    assert webhook.received == []


def test_as_of_prefers_the_param_then_the_triggering_event_then_the_logical_date():
    events = {
        "raw": [SimpleNamespace(extra={"as_of": "2026-10-30"}), SimpleNamespace(extra={"as_of": "2026-10-31"})],
        "other": [SimpleNamespace(extra={})],
    }
    logical = datetime(2026, 9, 1, tzinfo=UTC)
    assert as_of_from_context({"as_of": "2026-11-01"}, logical, events) == date(2026, 11, 1)
    assert as_of_from_context({"as_of": None}, None, events) == date(2026, 10, 31)
    assert as_of_from_context({}, logical, {}) == date(2026, 9, 1)
