"""`observer status --watch`: the status table, redrawn on every change, live over the
WebSocket (observer.clients.feed reconnects on its own when the server restarts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from observer.clients.feed import SessionFeed
from observer.clients.status import render_status
from observer.core.attention import sort_views
from observer.settings import Settings

REDRAW_EVERY = 0.2  # at most five redraws a second, however busy the sessions are
CLEAR = "\033[H\033[2J"


def watch_status(
    settings: Settings,
    write: Callable[[str], None],
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    feed = SessionFeed.for_settings(settings)
    drawn_at = -REDRAW_EVERY
    pending = False

    def draw(now: bool = False) -> None:
        nonlocal drawn_at, pending
        if pending and (now or clock() - drawn_at >= REDRAW_EVERY):
            write(CLEAR + render(feed, settings, connected=True))
            drawn_at, pending = clock(), False

    write(CLEAR + render(feed, settings, connected=False))
    # A change held back by the throttle is drawn when the feed goes quiet, not only at the next
    # change: the last of a burst (a turn's end) must not wait for one that may never come.
    for _change in feed.changes(stop=stop, idle=draw):
        pending = True
        draw()
    draw(now=True)


def render(feed: SessionFeed, settings: Settings, connected: bool) -> str:
    sessions = sort_views(feed.sessions.values())
    server: dict[str, Any] = {
        "url": feed.url,
        "running": connected,
        "version": feed.server_version,
    }
    report = {"server": server, "sessions": sessions}
    text = render_status(report, time.time())
    if not connected:
        # render_status's "last known state from the database" is not what this view shows.
        _, _, rest = text.partition("\n")
        seen = "the last state seen" if sessions else "nothing yet"
        text = f"server: connecting to {feed.url}… (showing {seen})\n{rest}"
    return text + "\n(live: Ctrl-C to quit)\n"
