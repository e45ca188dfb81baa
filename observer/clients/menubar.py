"""`observer menubar`: a SwiftBar / xbar plugin's output, streamed.

The pure part renders one menu block from the sessions: a title line counting the sessions
that need you (permission + question), `---`, then the sessions, needing you first, each a link
to its deep link on the web page (`<url>/#/session/<id>`). SwiftBar's streamable plugins read
one long-running process; with `useTrailingStreamSeparator` each block ends with a `~~~` line
and replaces the menu when that line arrives (`frame`). `follow` is the loop: it holds the
WebSocket's list subscription and hands over a new block on every change, at most one per
`throttle` seconds, and reconnects with backoff when the server goes away.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

from websockets.exceptions import InvalidStatus, WebSocketException

from observer.clients.feed import SessionFeed
from observer.core.attention import sort_views

SEPARATOR = "~~~"
COLORS = {"permission": "#c92a2a", "question": "#7048e8", "waiting": "#1c7ed6"}
ATTENTION_COLOR = "#d9480f"
MUTED = "#868e96"
# Session text is the agent's and the user's: no SF Symbol or emoji parsing of `:name:`.
PLAIN = "symbolize=false emojize=false"
MAX_TEXT = 60
Session = dict[str, Any]


# -- pure rendering ---------------------------------------------------------------------------
def render(sessions: Iterable[Session], page_url: str, now: float) -> str:
    """One menu block (no separator): title, `---`, the live sessions, a link to the page."""
    base = page_url.rstrip("/")
    ordered = sort_views(s for s in sessions if s.get("status") != "ended")
    attention = sum(1 for s in ordered if s["status"] in ("permission", "question"))
    lines = [f"⚠ {attention} | color={ATTENTION_COLOR}" if attention else "✓ 0"]
    lines.append("---")
    if not ordered:
        lines.append(f"No live sessions | color={MUTED}")
    working_header = False
    for s in ordered:
        if s["status"] == "working" and not working_header and len(lines) > 2:
            lines.append("---")  # needing you above, working below
            working_header = True
        link = f"href={base}/#/session/{s['id']}"
        color = COLORS.get(s["status"])
        style = f" color={color}" if color else ""
        where = _text(s.get("project") or _basename(s.get("cwd")) or str(s["id"])[:8], 30)
        age = _age(now - (s.get("status_since") or s.get("last_activity_at") or now))
        lines.append(f"{s['status']} · {where} · {s['agent']} · {age} | {link}{style} {PLAIN}")
        waits = waits_for(s)
        if waits:
            lines.append(f"↳ {_text(waits, MAX_TEXT)} | {link} size=12 {PLAIN}")
    lines.append("---")
    lines.append(f"Open observer | href={base}/")
    return "\n".join(lines)


def render_problem(problem: str, page_url: str) -> str:
    """The block shown while the server cannot be read (down, or the token refused)."""
    return "\n".join(
        [
            f"⊘ | color={MUTED}",
            "---",
            f"{_text(problem, 80)} | color={MUTED} {PLAIN}",
            "---",
            f"Open observer | href={page_url.rstrip('/')}/",
        ]
    )


def frame(block: str) -> str:
    """A block as SwiftBar's trailing-separator stream wants it: the block, then `~~~`."""
    return f"{block}\n{SEPARATOR}\n"


def waits_for(s: Session) -> str:
    pending = s.get("pending") or {}
    status = s.get("status")
    if status == "permission":
        tool = pending.get("tool") or "a tool"
        summary = pending.get("summary")
        return f"Approve {tool}: {summary}" if summary else f"Approve {tool}"
    if status == "question":
        return f"Answer: {pending.get('summary') or s.get('last_message') or '?'}"
    if status == "waiting":
        return "Your turn"
    tool = s.get("current_tool")
    return f"running {tool}" if tool else ""


def plugin_script(command: list[str]) -> str:
    """A SwiftBar plugin file that runs `command` (observer menubar) as a streamable plugin."""
    quoted = " ".join(_sh_quote(part) for part in command)
    return (
        "#!/bin/sh\n"
        "# <xbar.title>observer</xbar.title>\n"
        "# <xbar.desc>Which agent session needs you now: approvals and questions first."
        "</xbar.desc>\n"
        "# <swiftbar.type>streamable</swiftbar.type>\n"
        "# <swiftbar.useTrailingStreamSeparator>true</swiftbar.useTrailingStreamSeparator>\n"
        "# <swiftbar.hideRunInTerminal>true</swiftbar.hideRunInTerminal>\n"
        f"exec {quoted}\n"
    )


def _text(value: str, limit: int) -> str:
    """One safe menu line: no newlines, no `|` (it starts the parameters), no `~~~`."""
    text = " ".join(value.split()).replace("|", "¦")
    text = re.sub(r"~{3,}", "~~", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _basename(path: str | None) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if path else ""


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _sh_quote(part: str) -> str:
    if re.fullmatch(r"[\w@%+=:,./-]+", part):
        return part
    return "'" + part.replace("'", "'\"'\"'") + "'"


# -- the loop ---------------------------------------------------------------------------------
async def follow(
    server_url: str,
    token: str | None,
    page_url: str,
    write: Callable[[str], None],
    *,
    throttle: float = 0.5,
    refresh: float = 30.0,
    once: bool = False,
    backoff_max: float = 30.0,
    socket_path: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Hand `write` a block now and on every change (at most one per `throttle` s; every `refresh` s
    the ages move on). Server down or token refused: a problem block, then retry with backoff.
    With `once`, write the first block (or the problem) and return."""
    feed = SessionFeed(server_url, token, socket_path=socket_path, tls=tls)
    backoff = 1.0
    last = ""

    def emit(block: str) -> None:
        nonlocal last
        if block != last:
            write(block)
            last = block

    while True:
        try:
            async with feed.connect_async(open_timeout=5) as ws:
                async with asyncio.timeout(10):
                    feed.greet(await ws.recv())
                for ask in feed.subscriptions():
                    await ws.send(ask)
                lists = feed.lists_received
                loaded = dirty = False
                last_emit = -math.inf
                while True:
                    now = time.monotonic()
                    due = last_emit + (throttle if dirty else refresh)
                    if loaded and now >= due:
                        emit(render(feed.sessions.values(), page_url, time.time()))
                        last_emit, dirty, backoff = now, False, 1.0
                        if once:
                            return
                        continue
                    wait = due - now if loaded else 10.0
                    try:
                        async with asyncio.timeout(wait):
                            raw = await ws.recv()
                    except TimeoutError:
                        if not loaded:
                            raise
                        continue
                    changed = bool(feed.receive(raw)) or feed.lists_received > lists
                    dirty = dirty or changed
                    loaded = feed.lists_received > lists
        except InvalidStatus as exc:
            code = exc.response.status_code
            problem = (
                "observer refused the token (its token file changed? restart the plugin)"
                if code == 401
                else f"observer answered HTTP {code}"
            )
        except (OSError, TimeoutError, WebSocketException, ValueError):
            problem = f"observer is not running at {server_url}"
        emit(render_problem(problem, page_url))
        if once:
            return
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, backoff_max)
