"""The agent registry (observer/agents.py): a made-up fourth agent, "quill", defined here and
nowhere else — its connector (a hook parser, a tailed file format) and its row — is observed end
to end: its hook writes the spool exactly as the shipped hook script does, its session files are
tailed, and the sessions reach the WebSocket and REST with the statuses its events mean. Nothing
in core, ingest or server names it; `agents.registered` is the whole of its wiring.

And the registry is the only place observer lists its agents."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from connectors.files import json_lines_format
from connectors.wire import load_object, opt_text, read_lines, str_field
from observer import agents
from observer.agents import Agent, FileTree
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin
from observer.server.app import create_app
from observer.settings import load_settings
from tests.support.live import drain_statuses, stats_when, subscribed
from tests.support.paths import REPO_ROOT as ROOT

QUILL = "quill"
HOOK = ROOT / "hooks" / "observer-hook"

# -- quill's connector: what its hooks send and what its session files hold -------------------

_HOOK_KINDS = {
    "start": Kind.SESSION_START,
    "prompt": Kind.PROMPT,
    "ask": Kind.APPROVAL_REQUEST,
    "tool_done": Kind.TOOL_END,
    "done": Kind.TURN_END,
    "bye": Kind.SESSION_END,
}


def parse_quill_hook(raw: bytes, origin: Origin) -> list[Event]:
    """`{"event", "session", "cwd"?, "tool"?, "text"?}` -> one event."""
    data = load_object(raw)
    name, session_id = str_field(data, "event"), str_field(data, "session")
    kind = _HOOK_KINDS.get(name)
    if kind is None or not session_id:
        raise ParseError(f"not a quill hook payload: {name!r}")
    tool = opt_text(data, "tool")
    return [
        Event(
            kind=kind,
            session_id=session_id,
            agent=QUILL,
            at=origin.at,
            wire=f"hook:{name}",
            pid=origin.pid,
            cwd=opt_text(data, "cwd"),
            tool=tool,
            tool_key=tool,
            detail=opt_text(data, "text"),
        )
    ]


@dataclass(frozen=True, slots=True)
class QuillFileContext:
    """A quill session file names its session on its first line only."""

    session_id: str | None = None
    transcript_path: str | None = None


def read_quill_line(
    line: bytes, origin: Origin, context: QuillFileContext
) -> tuple[list[Event], QuillFileContext]:
    """`{"session": id}` first, then `{"role": "user"|"quill", "text"}` one a line."""
    data = load_object(line)
    if "session" in data:
        return [], replace(context, session_id=str_field(data, "session") or None)
    if context.session_id is None:
        raise ParseError("a quill line before its session's")
    kind = {"user": Kind.PROMPT, "quill": Kind.TURN_END}.get(str_field(data, "role"))
    if kind is None:
        return [], context
    event = Event(
        kind=kind,
        session_id=context.session_id,
        agent=QUILL,
        at=origin.at,
        wire="file:line",
        transcript_path=context.transcript_path,
        detail=opt_text(data, "text"),
    )
    return [event], context


def read_quill(
    data: bytes, origin: Origin, context: QuillFileContext
) -> tuple[list[Event], QuillFileContext]:
    return read_lines(data, origin, context, read_quill_line)


QUILL_FILES = json_lines_format(
    "quill session",
    QUILL,
    read_quill,
    lambda path: QuillFileContext(transcript_path=path),
    QuillFileContext,
)


def quill_row(sessions_dir: Path) -> Agent:
    return Agent(
        name=QUILL,
        hook_parser=parse_quill_hook,
        file_parser=lambda _path: parse_quill_hook,
        file_trees=(
            FileTree(
                "quill",
                "quill-sessions",
                QUILL_FILES,
                lambda _settings: sessions_dir,
                lambda directory: lambda path: path.suffix == ".jsonl",
            ),
        ),
        observed_actions=("approve_tool",),
    )


# -- observed end to end ------------------------------------------------------------------------


@pytest.fixture
def quill_dir(isolated_home: Path) -> Iterator[Path]:
    sessions = isolated_home / ".quill" / "sessions"
    with agents.registered(quill_row(sessions)):
        yield sessions


def hook(spool_dir: Path, event: str, payload: dict[str, Any]) -> None:
    """What quill's installed hook runs: the shipped script, `SPOOL AGENT EVENT`, on stdin."""
    body = json.dumps({"event": event, **payload}).encode()
    subprocess.run([str(HOOK), str(spool_dir), QUILL, event], input=body, check=True)


async def session_when(client: Any, session_id: str, status: str) -> dict[str, Any]:
    for _ in range(500):
        response = await client.get(f"/api/sessions/{session_id}")
        if response.status_code == 200:
            session: dict[str, Any] = (await response.get_json())["session"]
            if session["status"] == status:
                return session
        await asyncio.sleep(0.02)
    raise AssertionError(f"{session_id} never {status}")


async def test_a_fourth_agent_from_its_row_alone(quill_dir: Path) -> None:
    settings = load_settings(liveness_interval=0)
    app = create_app(settings)
    seen: dict[str, list[str]] = {}
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/ws") as ws:
            assert await subscribed(ws) == []
            cwd = {"session": "q-1", "cwd": "/work/poem"}
            hook(settings.spool_dir, "start", cwd)
            hook(settings.spool_dir, "prompt", {**cwd, "text": "a sonnet, please"})
            hook(settings.spool_dir, "ask", {**cwd, "tool": "rhyme"})
            await session_when(client, "q-1", "permission")
            hook(settings.spool_dir, "tool_done", {**cwd, "tool": "rhyme"})
            hook(settings.spool_dir, "done", {**cwd, "text": "Shall I compare thee"})
            waiting = await session_when(client, "q-1", "waiting")

            quill_dir.mkdir(parents=True)  # its session files, after the server started
            lines = [{"session": "q-2"}, {"role": "user", "text": "a haiku"}]
            path = quill_dir / "q-2.jsonl"
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
            await session_when(client, "q-2", "working")
            with path.open("a") as handle:
                handle.write(json.dumps({"role": "quill", "text": "old pond"}) + "\n")
            await session_when(client, "q-2", "waiting")
            hook(settings.spool_dir, "bye", cwd)
            await session_when(client, "q-1", "ended")
            await drain_statuses(ws, seen)
            stats = await stats_when(client, lambda s: s["quill_files"] == 1)
            listed = await (await client.get("/api/sessions")).get_json()
    assert seen == {
        "q-1": ["working", "permission", "working", "waiting", "ended"],
        "q-2": ["working", "waiting"],
    }
    assert waiting["agent"] == QUILL and waiting["project"] == "poem"
    assert waiting["last_message"] == "Shall I compare thee"
    # Its row's observed approve_tool is offered only while observer holds a request of it.
    assert waiting["capabilities"] == []
    assert stats["spool_rejected"] == 0 and stats["quill_parse_errors"] == 0
    assert stats["quill_bytes_read"] == path.stat().st_size
    assert {s["id"] for s in listed["sessions"]} >= {"q-1", "q-2"}


async def test_an_agent_not_registered_is_refused_not_guessed(isolated_home: Path) -> None:
    settings = load_settings(liveness_interval=0)
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        hook(settings.spool_dir, "start", {"session": "q-9"})
        stats = await stats_when(client, lambda s: s["spool_rejected"] == 1)
        assert (await client.get("/api/sessions/q-9")).status_code == 404
    assert stats["spool_rejected"] == 1
    rejected = settings.spool_dir / "rejected"
    assert any(QUILL in name for name in os.listdir(rejected))


def test_unregistered_it_is_gone_and_the_three_remain(isolated_home: Path) -> None:
    with agents.registered(quill_row(isolated_home)):
        assert QUILL in agents.names()
    assert agents.names() == ("claude", "codex", "pi")
    assert agents.get(QUILL) is None


async def test_a_launch_of_an_agent_without_a_driver_is_unsupported(quill_dir: Path) -> None:
    app = create_app(load_settings(liveness_interval=0))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        response = await client.post("/api/sessions", json={"agent": QUILL, "cwd": "/"})
        body = await response.get_json()
    assert response.status_code >= 400 and body["code"] == "unsupported", body


# -- its installer, through the row ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuillSetup:
    """quill's installer: one line in a file of its own, and doctor's view of it."""

    config: Path
    label: str = "quill hooks"
    options: frozenset[str] = frozenset()

    def install(self, settings: Any, options: Any, hook_script: Any) -> Any:
        from observer.install.setup import Report

        report = Report()
        if options.uninstall:
            self.config.unlink(missing_ok=True)
            report.say(f"removed observer's hook from {self.config}")
        else:
            self.config.write_text(f"hook = {settings.hooks_dir / 'observer-hook'}\n")
            report.say(f"installed observer's hook in {self.config}")
        return report

    def check(self, settings: Any) -> Any:
        from observer.install.setup import Health

        if self.config.exists():
            return Health("ok", f"installed in {self.config}")
        return Health(
            "warn", f"not installed in {self.config}", "observer install-hooks --agent quill"
        )


def test_install_hooks_and_doctor_reach_its_installer_through_its_row(
    tmp_path: Path, isolated_home: Path
) -> None:
    from typer.testing import CliRunner

    from observer.cli import app
    from observer.ops.doctor import run_checks

    config = isolated_home / ".quill" / "hooks.conf"
    config.parent.mkdir(parents=True)
    row = replace(quill_row(isolated_home), setup=lambda: QuillSetup(config))
    data = ["--data-dir", str(tmp_path / "data")]
    with agents.registered(row):
        settings = load_settings(data_dir=str(tmp_path / "data"))
        before = {c.name: c for c in run_checks(settings)}["quill hooks"]
        done = CliRunner().invoke(app, ["install-hooks", "--agent", QUILL, *data])
        assert done.exit_code == 0, done.output
        assert f"installed observer's hook in {config}" in done.output
        assert config.read_text().startswith("hook = ")
        after = {c.name: c for c in run_checks(settings)}["quill hooks"]
        refused = CliRunner().invoke(
            app, ["install-hooks", "--agent", QUILL, "--pi-dir", "/x", *data]
        )
    assert (before.level, after.level) == ("warn", "ok")
    assert refused.exit_code == 1 and "--pi-dir is for --agent pi" in refused.output
    gone = CliRunner().invoke(app, ["install-hooks", "--agent", QUILL, *data])
    assert gone.exit_code == 1 and "install-hooks knows --agent claude, codex, pi" in gone.output


# -- the only place -----------------------------------------------------------------------------

# Where an agent's name may still be written out: its row, the code that exists only for that
# agent (its installer, its driver, Claude's own ingest sources), the CLI's per-agent flags and
# the wire's `launch` enum (docs/protocol.schema.json).
AGENT_SPECIFIC = {
    "observer/agents.py",
    "observer/clients/statusline.py",  # Claude Code's status line command: Claude's alone
    "observer/direct/claude.py",
    "observer/direct/codex.py",
    "observer/direct/pi.py",
    "observer/server/protocol.py",
}
AGENT_SPECIFIC_DIRS = ("observer/install/", "observer/cli/")


def test_the_registry_is_the_only_place_agents_are_named() -> None:
    named: list[str] = []
    for path in sorted((ROOT / "observer").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in AGENT_SPECIFIC or relative.startswith(AGENT_SPECIFIC_DIRS):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
            if isinstance(node, ast.Constant) and node.value in agents.names():
                named.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert named == []
