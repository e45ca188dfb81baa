"""The Quart app factory: the Blueprints (the page and /health, login, the sessions API, the
WebSocket, remote approval, forwarded ingest, metrics), the checks every request passes, and the
lifespan that builds the typed `Runtime` the routes reach.

`create_app` has no import-time side effects; the store, the hub and the ingestors start in
`while_serving` and stop when serving ends, so tests drive the whole server with
`app.test_app()` and `observer start` drives it with Hypercorn.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncGenerator
from functools import partial
from typing import TYPE_CHECKING

from quart import Quart, Response, jsonify

from observer import __version__
from observer.approvals import codex_daemon, hook_api
from observer.core.state import DIRECT
from observer.direct.manager import DirectSessions
from observer.ingest.drain import Ingestor
from observer.runtime.decisions import DecisionDesk
from observer.runtime.hub import Hub
from observer.runtime.relay import Relay
from observer.runtime.supervisor import Supervisor
from observer.server import (
    act_api,
    forward_api,
    history_api,
    login,
    metrics,
    page,
    sessions_api,
    timeline_api,
    ws,
)
from observer.server.access import CONFIG_KEY, Access, security_headers
from observer.server.actions import Actions
from observer.server.context import KEY, Runtime, runtime
from observer.settings import Settings, ensure_data_dir, ensure_token
from observer.store import Store, TimelineLimits

if TYPE_CHECKING:
    from observer.runtime.notify_send import Notifier

log = logging.getLogger(__name__)


def _start_notifier(
    settings: Settings,
    hub: Hub,
    supervisor: Supervisor,
    access: Access,
    ingestor: Ingestor,
    desk: DecisionDesk,
) -> Notifier | None:
    from observer.runtime.budget import budget_watch
    from observer.runtime.notify_send import Notifier, channels_from, policy_from

    channels = channels_from(settings)
    if not channels:
        return None
    log.info("notifying via %s", ", ".join(channel.name for channel in channels))
    notifier = Notifier(
        hub,
        policy_from(settings),
        channels,
        links=access.action_links,
        quiet_hours=settings.notify_quiet_hours,
        budget=budget_watch(settings, ingestor.store, ingestor.usage.prices),
        away=lambda: desk.away,
    )
    supervisor.start("notifier", notifier.run)
    return notifier


def _driven_by_observer(session_id: str) -> bool:
    """A session observer launched: its approvals come through its own channel."""
    state = runtime().hub.book.get(session_id)
    return state is not None and state.control == DIRECT


def create_app(settings: Settings, supervisor: Supervisor | None = None) -> Quart:
    """The app; `supervisor` runs its long-running tasks (tests pass one with short backoffs)."""
    # The web page (observer/web/, package data) is served from /web/, its index at /.
    app = Quart("observer", static_folder="web", static_url_path="/web")
    app.config["OBSERVER_SETTINGS"] = settings
    access = Access(settings)
    app.config[CONFIG_KEY] = access
    tasks = supervisor or Supervisor()
    feed = ws.Feed()  # outlives a serving: the count of open clients, the encoded messages
    counted = metrics.Metrics(settings)  # outlives a serving too: Prometheus's counters

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        ensure_data_dir(settings)
        access.start(ensure_token(settings))  # no server runs without credentials
        limits = TimelineLimits.of(settings)
        store = Store(
            settings.db_path, settings.event_retention_days, settings.max_stored_text, limits
        )
        hub = Hub(store.load_states(), ring_size=settings.replay_ring)
        store.start()
        ingestor = Ingestor(settings, hub, store, tasks)
        counted.follow(ingestor)  # before the ingest starts: every wait and usage row counts
        # What start-up built (modules, the app, the sessions) lives as long as the server:
        # out of the collector's sight, a full collection no longer walks it all again.
        gc.freeze()
        await ingestor.start()
        desk = DecisionDesk(settings.data_dir, settings.away_timeout)
        notifier = _start_notifier(settings, hub, tasks, access, ingestor, desk)
        desk.listeners.append(partial(feed.tell_away, hub))  # clients hear away mode switch
        relay = Relay(settings.data_dir, desk, settings.away_reply_timeout)
        tasks.start("approvals", partial(hook_api.follow, hub, desk))
        launched = DirectSessions(
            ingestor.apply,
            hub.book,
            settings.log_path.parent / "sessions",
            max_live=settings.max_launched,
            desk=desk,
        )
        # Codex TUI sessions: attached through Codex's own daemon whenever it is up.
        socket = codex_daemon.control_socket(settings)
        daemon = codex_daemon.DaemonAttacher(socket, ingestor.apply, desk)
        tasks.start("codex-daemon", daemon.run)
        app.extensions[KEY] = Runtime(
            settings=settings,
            access=access,
            supervisor=tasks,
            feed=feed,
            store=store,
            hub=hub,
            ingestor=ingestor,
            desk=desk,
            relay=relay,
            actions=Actions(launched, hub.book, desk, daemon, relay),
            forwarded=forward_api.Receiver(ingestor),
            metrics=counted,
            notifier=notifier,
        )
        counted.attach(app.extensions[KEY])
        log.info("observer %s serving; spool %s", __version__, settings.spool_dir)
        try:
            yield
        finally:
            app.extensions.pop(KEY, None)
            counted.detach()
            try:
                await tasks.stop()  # the notifier, approvals, the codex daemon's attacher
                await launched.stop_all()
                await ingestor.stop()
            finally:
                store.close()  # whatever failed before: the database is closed cleanly

    # Every route of every Blueprint passes the guard and the credentials check first.
    app.before_request(access.check_http)
    app.after_request(security_headers)
    app.register_blueprint(page.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(sessions_api.bp)
    app.register_blueprint(timeline_api.bp)  # a session's timeline, search
    app.register_blueprint(history_api.bp)  # ended sessions, a page at a time
    app.register_blueprint(ws.bp)
    app.register_blueprint(
        hook_api.blueprint(
            lambda: runtime().desk,
            lambda: runtime().ingestor.apply,
            _driven_by_observer,
            lambda: runtime().relay,
        )
    )
    app.register_blueprint(forward_api.bp)  # POST /api/ingest, from `observer forward`
    app.register_blueprint(metrics.bp)  # GET /metrics, for Prometheus
    app.register_blueprint(act_api.bp)  # POST /act/<token>: a notification's button
    app.view_functions["static"] = page.static_file

    @app.errorhandler(404)
    async def not_found(_exc: Exception) -> tuple[Response, int]:
        return jsonify({"error": "not_found", "message": "no such route or session"}), 404

    @app.errorhandler(500)
    async def internal_error(_exc: Exception) -> tuple[Response, int]:
        # A bug, never an answer by design: Quart has logged it (once, with the traceback);
        # the client gets JSON like every other error, and no detail.
        body = {"type": "error", "code": "internal", "message": "the server failed: see its log"}
        return jsonify(body), 500

    return app
