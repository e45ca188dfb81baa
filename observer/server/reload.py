"""SIGHUP (`observer reload`): read config.toml (and the environment) again, and apply at once
the settings a running server can change without a restart.

Live: `LIVE` below — the notification channels and their cooldown (a notifier is started when
the first channel appears), the cost budgets, `away_timeout` for the next held call, the
Host/Origin guard (`allowed_hosts`, `allowed_origins`, `public_url`, which also makes the
notifications' and login links), and `max_clients` for the next WebSocket. Every other setting
that changed is named in the log as taking effect at the next restart: they are held by parts
built once at start (the address and socket, the store and its retention, the watched
directories, the ring, the token).
The log level is a flag of `observer start`, not a setting: a restart changes it.

The log says what changed, by name only (a webhook URL or an ntfy topic is a secret), at info; a
config file that does not parse is an error line, and the settings in use stay as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from quart import Quart

from observer.core.errors import ConfigError
from observer.server.context import KEY, runtime_of
from observer.settings import SETTINGS, Settings

if TYPE_CHECKING:
    from observer.runtime.notify_send import Notifier
    from observer.server.context import Runtime

log = logging.getLogger(__name__)

LIVE = (
    "away_timeout",
    "notify_desktop",
    "notify_webhook",
    "notify_ntfy",
    "notify_cooldown",
    "allowed_hosts",
    "allowed_origins",
    "public_url",
    "max_clients",
    "budget_day_usd",
    "budget_session_usd",
)
_SAID = {"burst": 20}  # each reload is a person's act: its line is never held back as a repeat
_NOT_COMPARED = ("data_dir", "token")  # the token: `generate-token` says to restart


def reload_settings(app: Quart, load: Callable[[], Settings]) -> tuple[list[str], list[str]]:
    """Read the settings again (`load`: as the server was started, its flags included) and apply
    the live ones; returns (applied now, needing a restart), by name."""
    the = runtime_of(app)
    old = the.settings
    try:
        new = load()
    except ConfigError as exc:
        log.error("config not reloaded: %s; the settings in use stay", exc, extra=_SAID)
        return [], []
    applied = [name for name in LIVE if getattr(new, name) != getattr(old, name)]
    later = [
        row.name
        for row in SETTINGS
        if row.name not in LIVE
        and row.name not in _NOT_COMPARED
        and getattr(new, row.name) != getattr(old, row.name)
    ]
    settings = replace(old, **{name: getattr(new, name) for name in applied})
    the.access.set_guard(settings)
    the.desk.away_timeout = settings.away_timeout
    notifier = _renotify(the.notifier, settings, the)
    app.extensions[KEY] = replace(the, settings=settings, notifier=notifier)
    app.config["OBSERVER_SETTINGS"] = settings
    if not applied and not later:
        log.info("config reloaded (%s): nothing changed", settings.config_path, extra=_SAID)
    else:
        log.info(
            "config reloaded (%s): applied now: %s; at the next restart: %s",
            settings.config_path,
            ", ".join(applied) or "none",
            ", ".join(later) or "none",
            extra=_SAID,
        )
    if "away_timeout" in applied and new.away_timeout > old.away_timeout:
        log.warning(
            "away_timeout went up to %g s: the installed hooks were given the old wait; "
            "`observer doctor --fix` installs them again so the agents wait that long",
            new.away_timeout,
        )
    return applied, later


def _renotify(notifier: Notifier | None, settings: Settings, the: Runtime) -> Notifier | None:
    from observer.core.notify import parse_quiet_hours
    from observer.runtime.budget import budget_watch
    from observer.runtime.notify_send import Notifier, channels_from, policy_from

    channels = channels_from(settings)
    policy = policy_from(settings)
    budget = budget_watch(settings, the.store, the.ingestor.usage.prices)
    the.access.action_links.ttl = settings.notify_action_ttl  # for links made from now on
    if notifier is not None:
        notifier.channels = channels  # read per message: the next one goes where it says now
        notifier.policy.link_base, notifier.policy.cooldown = policy.link_base, policy.cooldown
        notifier.policy.escalate_after = policy.escalate_after
        notifier.policy.stalled_after = policy.stalled_after
        notifier.quiet = parse_quiet_hours(settings.notify_quiet_hours)
        notifier.budget = budget  # what was told is in its file: never told again
        return notifier
    if not channels:
        return None
    started = Notifier(
        the.hub,
        policy,
        channels,
        links=the.access.action_links,
        quiet_hours=settings.notify_quiet_hours,
        budget=budget,
        away=lambda: the.desk.away,
    )
    the.supervisor.start("notifier", started.run)
    log.info("notifying via %s", ", ".join(channel.name for channel in channels))
    return started
