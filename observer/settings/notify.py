"""The rows of the notification settings: where notifications go, when they are held back, and
the cost budgets whose crossing is one (observer/runtime/budget.py). Part of the one table
(`observer.settings.SETTINGS`), in this order at its end."""

from __future__ import annotations

from observer.settings.rows import (
    Setting,
    _boolean,
    _dollars,
    _http_url,
    _quiet_hours,
    _seconds,
)

# fmt: off
NOTIFY_SETTINGS: tuple[Setting, ...] = (
    Setting("notify_desktop", False, _boolean,
        "Desktop notifications (notify-send on Linux, osascript on macOS) on approvals, "
        "questions and finished turns."),
    Setting("notify_webhook", None, _http_url,
        "URL that receives each notification as a JSON POST."),
    Setting("notify_ntfy", None, _http_url,
        "ntfy topic URL (e.g. https://ntfy.sh/my-secret-topic) to push notifications to a "
        "phone."),
    Setting("notify_cooldown", 30.0, _seconds,
        "Seconds a session stays quiet after a notification, unless something more urgent "
        "happens."),
    Setting("notify_escalate_after", 300.0, _seconds,
        "A permission request or question still open this many seconds after it was asked is "
        "sent once more, at the highest priority. 0: never."),
    Setting("notify_stalled_after", 900.0, _seconds,
        "A session working with no event for this many seconds is reported once as possibly "
        "stalled. 0: never."),
    Setting("notify_quiet_hours", None, _quiet_hours,
        "Hours a channel sends nothing, in local time, e.g. \"ntfy=22:00-07:00, "
        "desktop=23:00-08:00\" (* for every channel); the page still shows everything."),
    Setting("notify_action_ttl", 1800.0, _seconds, "Seconds a notification's button works, once."),
    Setting("budget_day_usd", None, _dollars,
        "A cost in USD for one day (local midnight to midnight, every agent's calls, priced as "
        "`observer usage` prices them): the first time a day's cost reaches it, one "
        "notification; none again that day, restarts included.",
        shown="none (no daily budget)"),
    Setting("budget_session_usd", None, _dollars,
        "A cost in USD for one session: the first time a session's cost reaches it, one "
        "notification for that session; never again for it, restarts included.",
        shown="none (no session budget)"),
)
# fmt: on
