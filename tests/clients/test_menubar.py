"""`observer menubar`: the exact SwiftBar lines for a set of sessions, the stream's framing, and
the loop against a stand-in WebSocket server (throttled updates, a refused token, no server)."""

from __future__ import annotations

import asyncio
import http
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from observer.cli import app
from observer.clients import menubar

URL = "http://127.0.0.1:4700"
NOW = 10_000.0


def session(sid: str, status: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": sid,
        "agent": "claude",
        "status": status,
        "cwd": f"/src/{sid}",
        "project": sid,
        "pending": None,
        "current_tool": None,
        "last_message": None,
        "status_since": NOW - 30,
        "last_activity_at": NOW - 30,
        "revision": 1,
    }
    base.update(fields)
    return base


SESSIONS = [
    session("web", "working", current_tool="Bash", last_activity_at=NOW - 5),
    session("old", "ended"),
    session("api", "waiting", agent="codex", status_since=NOW - 600),
    session(
        "app",
        "permission",
        status_since=NOW - 200,
        pending={"request_id": "r1", "tool": "Bash", "summary": "rm -rf build"},
    ),
    session(
        "docs",
        "question",
        agent="pi",
        status_since=NOW - 4000,
        pending={"request_id": "r2", "tool": "ask", "summary": "Which color?"},
    ),
    session("idle", "working", last_activity_at=NOW - 90_000, project=None, cwd="/src/idle/"),
]


def test_render_needing_you_first() -> None:
    plain = menubar.PLAIN
    assert menubar.render(SESSIONS, URL + "/", NOW).split("\n") == [
        "⚠ 2 | color=#d9480f",
        "---",
        f"permission · app · claude · 3m | href={URL}/#/session/app color=#c92a2a {plain}",
        f"↳ Approve Bash: rm -rf build | href={URL}/#/session/app size=12 {plain}",
        f"question · docs · pi · 1h | href={URL}/#/session/docs color=#7048e8 {plain}",
        f"↳ Answer: Which color? | href={URL}/#/session/docs size=12 {plain}",
        f"waiting · api · codex · 10m | href={URL}/#/session/api color=#1c7ed6 {plain}",
        f"↳ Your turn | href={URL}/#/session/api size=12 {plain}",
        "---",
        f"working · web · claude · 30s | href={URL}/#/session/web {plain}",
        f"↳ running Bash | href={URL}/#/session/web size=12 {plain}",
        f"working · idle · claude · 30s | href={URL}/#/session/idle {plain}",
        "---",
        f"Open observer | href={URL}/",
    ]


def test_render_nothing_live() -> None:
    assert menubar.render([session("old", "ended")], URL, NOW) == (
        f"✓ 0\n---\nNo live sessions | color=#868e96\n---\nOpen observer | href={URL}/"
    )


def test_session_text_cannot_break_the_format() -> None:
    nasty = "a | b\n~~~\n--- :fire: " + "x" * 80
    pending = {"request_id": "r", "tool": "Bash", "summary": nasty}
    block = menubar.render([session("p|q", "permission", pending=pending)], URL, NOW)
    lines = block.split("\n")
    assert len(lines) == 6
    assert "~~~" not in block
    detail = lines[3]
    assert detail.startswith("↳ Approve Bash: a ¦ b ~~ --- :fire: xxx")
    title, params = detail.split(" | ")
    assert len(title) == 2 + menubar.MAX_TEXT and title.endswith("…")
    assert "symbolize=false emojize=false" in params
    assert lines[2].startswith("permission · p¦q · claude")


def test_frame_ends_with_the_trailing_separator() -> None:
    assert menubar.frame("✓ 0\n---\nx") == "✓ 0\n---\nx\n~~~\n"


def test_problem_block() -> None:
    assert menubar.render_problem("observer is not running at X", URL) == (
        "⊘ | color=#868e96\n---\n"
        f"observer is not running at X | color=#868e96 {menubar.PLAIN}\n"
        f"---\nOpen observer | href={URL}/"
    )


def test_plugin_script() -> None:
    script = menubar.plugin_script(["/Users/me/my venv/bin/observer", "menubar"])
    assert script.splitlines() == [
        "#!/bin/sh",
        "# <xbar.title>observer</xbar.title>",
        "# <xbar.desc>Which agent session needs you now: approvals and questions first."
        "</xbar.desc>",
        "# <swiftbar.type>streamable</swiftbar.type>",
        "# <swiftbar.useTrailingStreamSeparator>true</swiftbar.useTrailingStreamSeparator>",
        "# <swiftbar.hideRunInTerminal>true</swiftbar.hideRunInTerminal>",
        "exec '/Users/me/my venv/bin/observer' menubar",
    ]


# -- the loop, against a stand-in server --------------------------------------------------------
Handler = Callable[[ServerConnection], Any]


@asynccontextmanager
async def _serve(handler: Handler, token: str | None = None) -> AsyncIterator[str]:
    def check(connection: ServerConnection, request: Request) -> Response | None:
        if token and request.headers.get("Authorization") != f"Bearer {token}":
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "no\n")
        return None

    async with serve(handler, "127.0.0.1", 0, process_request=check) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"


def _lister(*after: dict[str, Any], pause: float = 0.0) -> Handler:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "hello"}))
        assert json.loads(await ws.recv()) == {"type": "subscribe_list"}
        await ws.send(json.dumps({"type": "sessions_list", "sessions": [session("s", "working")]}))
        await asyncio.sleep(pause)
        for message in after:
            await ws.send(json.dumps(message))
        await ws.wait_closed()

    return handler


def _delta(revision: int, status: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "session_delta",
        "session_id": "s",
        "revision": revision,
        "status": status,
        "changes": changes,
    }


async def test_follow_throttles_a_burst_into_one_update() -> None:
    burst = [_delta(n, "working", current_tool=f"tool{n}") for n in range(2, 7)]
    burst.append(_delta(7, "permission", pending={"tool": "Bash", "summary": "ls"}))
    blocks: list[str] = []
    async with _serve(_lister(*burst, pause=0.05)) as url:
        task = asyncio.create_task(menubar.follow(url, None, url, blocks.append, throttle=0.4))
        await asyncio.sleep(1.2)
        task.cancel()
    assert len(blocks) == 2, blocks
    assert blocks[0].startswith("✓ 0\n---\nworking · s")
    assert blocks[1].startswith("⚠ 1 | color=#d9480f\n---\npermission · s")
    assert "↳ Approve Bash: ls" in blocks[1]


async def test_follow_sends_the_token_and_says_when_it_is_refused() -> None:
    blocks: list[str] = []
    async with _serve(_lister(), token="right") as url:
        await menubar.follow(url, "wrong", url, blocks.append, once=True)
        await menubar.follow(url, "right", url, blocks.append, once=True)
    assert blocks[0].split("\n")[2].startswith("observer refused the token")
    assert blocks[1].startswith("✓ 0\n---\nworking · s")


async def test_follow_without_a_server() -> None:
    blocks: list[str] = []
    await menubar.follow("http://127.0.0.1:9", None, URL, blocks.append, once=True)
    assert blocks == [menubar.render_problem("observer is not running at http://127.0.0.1:9", URL)]


async def test_follow_reconnects_after_the_server_goes() -> None:
    blocks: list[str] = []
    calls = 0

    async def once_then_close(ws: ServerConnection) -> None:
        nonlocal calls
        calls += 1
        await ws.send(json.dumps({"type": "hello"}))
        await ws.recv()
        # A server's revisions only grow: the same one again would be nothing new.
        listed = [session("s", "waiting" if calls > 1 else "working", revision=calls)]
        await ws.send(json.dumps({"type": "sessions_list", "sessions": listed}))
        if calls == 1:
            return  # the connection closes: the server went away
        await ws.wait_closed()

    async with _serve(once_then_close) as url:
        task = asyncio.create_task(
            menubar.follow(url, None, url, blocks.append, throttle=0.05, backoff_max=0.1)
        )
        for _ in range(100):
            if calls > 1 and any("waiting" in b for b in blocks):
                break
            await asyncio.sleep(0.05)
        task.cancel()
    kinds = [b.split("\n")[2].split(" · ")[0] for b in blocks]
    assert kinds[0] == "working" and kinds[-1] == "waiting", blocks
    assert any(k.startswith("observer is not running") for k in kinds)


def test_cli_once_prints_one_plain_menu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # This fake observer listens on TCP only: a data dir too long for a unix socket is where
    # the CLI asks over TCP (elsewhere it asks the socket in the data dir).
    monkeypatch.setenv("OBSERVER_DATA_DIR", str(tmp_path / ("d" * 110)))

    async def run() -> tuple[str, str]:
        async with _serve(_lister()) as url:
            monkeypatch.setenv("OBSERVER_BIND", url.removeprefix("http://"))
            result = await asyncio.to_thread(CliRunner().invoke, app, ["menubar", "--once"])
            return url, result.output

    url, output = asyncio.run(run())
    assert output.startswith("✓ 0\n---\nworking · s · claude")
    assert output.endswith(f"---\nOpen observer | href={url}/\n")  # no ~~~: not a stream


def test_cli_plugin_names_this_install(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["menubar", "--plugin", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    last = result.output.splitlines()[-1]
    assert last.startswith("exec /") and last.endswith(f"/observer menubar --data-dir {tmp_path}")
