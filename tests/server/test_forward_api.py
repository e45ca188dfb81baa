"""`POST /api/ingest` (observer/server/forward_api.py), in process: exactly once, bad entries
alone."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from quart import Quart

from observer.core.book import SessionBook
from observer.core.events import Event, Kind
from observer.server.app import create_app
from observer.settings import Settings, load_settings
from observer.store import Store

SESSION = "11111111-2222-3333-4444-555555555555"


def payload(event: str, n: int, session: str = SESSION) -> bytes:
    body: dict[str, Any] = {"hook_event_name": event, "session_id": session, "cwd": "/w/p"}
    if event == "UserPromptSubmit":
        body["prompt"] = f"prompt {n}"
    else:
        body["last_assistant_message"] = f"reply {n}"
    return json.dumps(body).encode()


def entry(event: str, n: int, raw: bytes | None = None, pid: int = 4242) -> dict[str, Any]:
    data = payload(event, n) if raw is None else raw
    return {
        "name": f"ev.claude.{event}.{pid}.n{n}.ready",
        "mtime_ns": 1_700_000_000_000_000_000 + n,
        "payload": base64.b64encode(data).decode(),
    }


def batch(first: int, count: int) -> list[dict[str, Any]]:
    events = ("UserPromptSubmit", "Stop")
    return [entry(events[n % 2], n) for n in range(first, first + count)]


async def post(app: Quart, body: object) -> tuple[int, Any]:
    response = await app.test_client().post("/api/ingest", json=body)
    return response.status_code, await response.get_json()


def event_rows(settings: Settings) -> list[dict[str, Any]]:
    store = Store(settings.db_path)
    try:
        rows = store._read().execute("select event from events order by seq").fetchall()
    finally:
        store.close()
    return [json.loads(r[0]) for r in rows]


async def test_a_batch_sent_again_is_acknowledged_and_applied_once(
    running_app: Quart, settings: Settings
) -> None:
    body = {"host": "laptop", "entries": batch(0, 6)}
    status, reply = await post(running_app, body)
    assert status == 200
    assert reply == {
        "committed": [e["name"] for e in body["entries"]],
        "duplicates": 0,
        "rejected": [],
    }
    # The answer was lost: the sender sends the same batch again, plus what came next.
    status, again = await post(running_app, {"host": "laptop", "entries": batch(0, 8)})
    assert status == 200
    assert again["duplicates"] == 6 and len(again["committed"]) == 8
    session = (await (await running_app.test_client().get(f"/api/sessions/{SESSION}")).get_json())[
        "session"
    ]
    assert session["host"] == "laptop"
    assert session["pid"] == 4242
    details = [e["detail"] for e in event_rows(settings)]
    assert details == [f"prompt {n}" if n % 2 == 0 else f"reply {n}" for n in range(8)]
    assert all(e["host"] == "laptop" for e in event_rows(settings))


async def test_the_same_file_from_another_host_is_another_event(running_app: Quart) -> None:
    await post(running_app, {"host": "a", "entries": batch(0, 1)})
    _, reply = await post(running_app, {"host": "b", "entries": batch(0, 1)})
    assert reply["duplicates"] == 0


async def test_bad_entries_are_rejected_alone_and_reported(
    running_app: Quart, settings: Settings
) -> None:
    entries = [
        entry("UserPromptSubmit", 0),
        entry("UserPromptSubmit", 1, raw=b"\xff not json"),
        {"name": "not-a-marker", "mtime_ns": 1, "payload": ""},
        {"name": "ev.claude.Stop.1.x.ready", "mtime_ns": 1, "payload": "***"},
        entry("Stop", 2),
        "nonsense",
        {**entry("Stop", 3), "name": "ev.nosuchagent.Stop.1.y.ready"},
        entry("UserPromptSubmit", 4),
    ]
    status, reply = await post(running_app, {"host": "laptop", "entries": entries})
    assert status == 200
    assert reply["committed"] == [entries[i]["name"] for i in (0, 4, 7)]  # type: ignore[index]
    assert [r["index"] for r in reply["rejected"]] == [1, 2, 3, 5, 6]
    assert all(r["reason"] for r in reply["rejected"])
    assert [e["detail"] for e in event_rows(settings)] == ["prompt 0", "reply 2", "prompt 4"]


async def test_malformed_requests_are_refused_whole(running_app: Quart) -> None:
    for body in ([], {"entries": []}, {"host": "", "entries": []}, {"host": "h"}):
        status, reply = await post(running_app, body)
        assert status == 400 and reply["code"] == "bad_request"


async def test_ingest_needs_the_token(settings: Settings) -> None:
    app = create_app(load_settings(token="s3cret", liveness_interval=0))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        client.anonymous = True  # type: ignore[attr-defined]
        body = {"host": "h", "entries": batch(0, 1)}
        assert (await client.post("/api/ingest", json=body)).status_code == 401
        wrong = {"Authorization": "Bearer s3cre"}
        assert (await client.post("/api/ingest", json=body, headers=wrong)).status_code == 401
        ok = await client.post("/api/ingest", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_a_remote_pid_is_never_checked_for_liveness() -> None:
    """pid 4242 names a process on the laptop, not here: liveness must not end the session."""
    book = SessionBook()
    event = Event(Kind.PROMPT, SESSION, "claude", 1.0, "UserPromptSubmit", pid=4242, host="laptop")
    book.apply(event, 2.0)
    assert book.get(SESSION) is not None and book.get(SESSION).host == "laptop"  # type: ignore[union-attr]
    assert book.live_pids() == {}
    assert book.process_gone(4242, 3.0) == []


def test_install_service_forward_needs_forward_to_and_keeps_the_token_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from observer.cli import app

    runner = CliRunner()
    args = ["install-service", "--forward", "--dry-run", "--platform", "linux"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "forward_to" in refused.output
    monkeypatch.setenv("OBSERVER_FORWARD_TO", "https://observer.example.net")
    monkeypatch.setenv("OBSERVER_FORWARD_TOKEN", "s3cret-forward")
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert " forward --data-dir " in done.output and "s3cret-forward" not in done.output


def test_status_names_the_machine_of_a_forwarded_session() -> None:
    from observer.clients.status import render_status

    session = {"status": "waiting", "agent": "claude", "project": "api", "host": "laptop"}
    local = {**session, "host": None, "project": "web"}
    report = {"server": {"running": True, "url": "u", "version": "v"}, "sessions": [session, local]}
    text = render_status(report, now=0.0)
    assert "laptop:api" in text and " web " in text and "None" not in text
