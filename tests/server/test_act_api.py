"""A notification's buttons, in process: the server's notifier sends a held permission request
to a stand-in ntfy with Approve, Deny and Open; pressing Approve as the ntfy app would answers
it (audited as that notification's); pressing it again, or Deny after it, is refused with
nothing applied; a link for a request answered elsewhere, an expired one or a made-up one too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from quart import Quart

from observer.runtime.action_links import ActionLinks, LinkRefusedError
from observer.server.access import access_of
from observer.server.app import create_app
from observer.server.context import runtime_of
from observer.settings import load_settings
from tests.runtime.test_decisions import JSON, perm_payload
from tests.support.live import spool_scenario
from tests.support.ntfy import Received, ntfy_actions, stand_in_ntfy


async def _press(app: Quart, url: str, headers: dict[str, str], body: str) -> tuple[int, Any]:
    """As ntfy's app: no credentials, the action's method, headers and body."""
    client = app.test_client()
    client.anonymous = True  # type: ignore[attr-defined]
    path = urlsplit(url).path
    reply = await client.post(path, headers=headers, data=body)
    return reply.status_code, await reply.get_json()


async def _held_request(app: Quart, received: Received, scenario_dir: Path) -> tuple[Any, Any]:
    """Away mode on, the hook's question held: the hook's task and the ntfy message."""
    client = app.test_client()
    assert (await client.post("/api/away", json={"on": True})).status_code == 200
    settings = runtime_of(app).settings
    spool_scenario(settings, "c_perm_stdio_allow", 5)  # up to the PermissionRequest
    hook = asyncio.create_task(
        client.post("/api/hook/permission?agent=claude", data=perm_payload(), headers=JSON)
    )
    # Pressed as soon as it arrives: the server waits for the hook's question if need be.
    (published,) = await asyncio.to_thread(received.wait_for, 1)
    return hook, published


async def test_approve_from_the_notification_once(tmp_path: Path) -> None:
    with stand_in_ntfy() as (url, received):
        settings = load_settings(
            data_dir=str(tmp_path / "data"), liveness_interval=0, notify_ntfy=f"{url}/topic"
        )
        app = create_app(settings)
        async with app.test_app() as running:
            hook, (path, headers, _body) = await _held_request(running.app, received, tmp_path)  # type: ignore[arg-type]
            assert path == "/topic" and headers["Priority"] == "high"
            approve, deny, open_page = ntfy_actions(headers["Actions"])
            assert (approve.label, deny.label, open_page.label) == ("Approve", "Deny", "Open")
            assert open_page.kind == "view" and "#/session/" in open_page.url
            token = (tmp_path / "data" / "token").read_text().strip()
            assert token not in headers["Actions"]  # no credential in a stored message

            status, answer = await _press(running.app, approve.url, approve.headers, approve.body)  # type: ignore[arg-type]
            assert (status, answer["message"]) == (200, "Approved")
            decided = await asyncio.wait_for(hook, 10)
            assert (await decided.get_json())["decision"] == "allow"

            status, again = await _press(running.app, approve.url, approve.headers, approve.body)  # type: ignore[arg-type]
            assert (status, again["code"]) == (410, "link_used")
            status, sibling = await _press(running.app, deny.url, deny.headers, deny.body)  # type: ignore[arg-type]
            assert (status, sibling["code"]) == (410, "link_used")
            assert "another button" in sibling["message"]
            status, made_up = await _press(
                running.app,  # type: ignore[arg-type]
                approve.url.rsplit("/", 1)[0] + "/not-a-link",
                approve.headers,
                approve.body,
            )
            assert (status, made_up["code"]) == (410, "link_unknown")
            audit = await (await running.test_client().get("/api/audit")).get_json()
            decided_by = [e["by"] for e in audit["entries"] if e.get("decision") == "allow"]
            assert decided_by[-1].startswith("notification:ntfy@http:")


async def test_a_request_answered_elsewhere_is_refused_and_nothing_applied(
    tmp_path: Path,
) -> None:
    with stand_in_ntfy() as (url, received):
        settings = load_settings(
            data_dir=str(tmp_path / "data"), liveness_interval=0, notify_ntfy=f"{url}/topic"
        )
        app = create_app(settings)
        async with app.test_app() as running:
            hook, (_path, headers, _body) = await _held_request(running.app, received, tmp_path)  # type: ignore[arg-type]
            _approve, deny, _open = ntfy_actions(headers["Actions"])
            sessions = await (await running.test_client().get("/api/sessions")).get_json()
            (session,) = sessions["sessions"]
            answer = {"request_id": session["pending"]["request_id"], "decision": "allow"}
            done = await running.test_client().post(
                f"/api/sessions/{session['id']}/approve_tool", json=answer
            )
            assert done.status_code == 200  # answered on the page
            assert (await (await asyncio.wait_for(hook, 10)).get_json())["decision"] == "allow"
            status, refused = await _press(running.app, deny.url, deny.headers, deny.body)  # type: ignore[arg-type]
            assert (status, refused["code"]) == (409, "already_resolved")
            assert "nothing was done" in refused["message"]


async def test_a_button_needs_its_json_body_as_sent(tmp_path: Path) -> None:
    settings = load_settings(data_dir=str(tmp_path / "data"), liveness_interval=0)
    app = create_app(settings)
    async with app.test_app() as running:
        token = access_of(running.app).action_links.mint("s", "r", "approve_tool", (), "ntfy")  # type: ignore[arg-type]
        client = running.test_client()
        client.anonymous = True  # type: ignore[attr-defined]
        form = await client.post(f"/act/{token}", form={"x": "1"})  # a cross-site form
        assert form.status_code == 415
        page = await client.get(f"/act/{token}")  # a link preview: nothing happens
        assert page.status_code == 405


def test_links_expire_and_are_scoped_to_one_request() -> None:
    now = [0.0]
    links = ActionLinks(ttl=60, clock=lambda: now[0])
    first = links.mint("s", "r1", "approve_tool", (("decision", "allow"),), "ntfy")
    other = links.mint("s", "r2", "approve_tool", (("decision", "deny"),), "ntfy")
    grant = links.redeem(first)
    assert (grant.session_id, grant.request_id, dict(grant.params)) == (
        "s",
        "r1",
        {"decision": "allow"},
    )
    now[0] = 61
    try:
        links.redeem(other)
    except LinkRefusedError as refused:
        assert refused.code == "link_expired"
    else:
        raise AssertionError("an expired link was taken")
