"""What the routes reach while the server serves: one typed, frozen `Runtime`, built in the
app's `while_serving` once every part is up, kept in `app.extensions` until serving ends.

Routes ask `runtime()` (typed) rather than a dict of names: a part a route needs and the
lifespan forgot is a type error, not a KeyError at request time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quart import Quart, current_app

if TYPE_CHECKING:
    from observer.ingest.drain import Ingestor
    from observer.runtime.decisions import DecisionDesk
    from observer.runtime.hub import Hub
    from observer.runtime.notify_send import Notifier
    from observer.runtime.relay import Relay
    from observer.runtime.supervisor import Supervisor
    from observer.server.access import Access
    from observer.server.actions import Actions
    from observer.server.forward_api import Receiver
    from observer.server.metrics import Metrics
    from observer.server.ws import Feed
    from observer.settings import Settings
    from observer.store import Store

KEY = "observer"


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    access: Access
    supervisor: Supervisor
    feed: Feed  # the WebSocket clients: how many, and the messages' encoded text
    store: Store
    hub: Hub
    ingestor: Ingestor
    desk: DecisionDesk
    relay: Relay  # messages to and stops of sessions started in a terminal (Claude Code)
    actions: Actions  # every client action, whichever path answers it
    forwarded: Receiver  # POST /api/ingest, from `observer forward`
    metrics: Metrics  # GET /metrics: its registry outlives a serving, like the feed
    notifier: Notifier | None = None  # None: no channel configured (reload.py may start one)


def runtime() -> Runtime:
    """The serving app's runtime (inside a request or a WebSocket)."""
    return runtime_of(current_app)


def runtime_of(app: Quart) -> Runtime:
    value = app.extensions.get(KEY)
    if not isinstance(value, Runtime):
        raise RuntimeError("the app is not serving: no runtime yet")
    return value
