"""`observer status`: ask the running server, or fall back to the database when it is down.

Light to import (the HTTP helper, the store and the attention order are imported where they are
used): `observer status` renders through here on its fast path too (observer/cli/fast.py).
"""

from __future__ import annotations

from typing import Any

from observer.core.usage import compact, limit_label
from observer.running import locate_server
from observer.settings import Settings

_WAITS_FOR = {
    "permission": "approve {tool}: {summary}",
    "question": "answer: {summary}",
    "waiting": "your next prompt",
}


def gather_status(settings: Settings) -> dict[str, Any]:
    import http.client

    from observer.clients import local_http

    settings = locate_server(settings)
    url = settings.local_url()
    report: dict[str, Any] = {"server": {"url": url, "running": False}, "sessions": []}
    try:
        health = local_http.request(settings, "GET", "/health", timeout=2.0, token=False)
        if health.status == 200:
            report["server"].update(running=True, version=health.json().get("version"))
            listed = local_http.request(settings, "GET", "/api/sessions", timeout=2.0)
            if listed.status == 200:
                return from_server(url, report["server"]["version"], listed.json()["sessions"])
            report["server"]["error"] = f"HTTP {listed.status}" + (
                f": wrong or missing token (observer reads {settings.token_path})"
                if listed.status == 401
                else ""
            )
    except (OSError, http.client.HTTPException, ValueError, KeyError, AttributeError):
        pass
    report["sessions"] = _from_database(settings)
    report["source"] = "database"
    return report


def from_server(url: str, version: object, sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of a server that answered both questions (the fast path builds it too)."""
    server = {"url": url, "running": True, "version": version}
    return {"server": server, "sessions": sessions, "source": "server"}


def _from_database(settings: Settings) -> list[dict[str, Any]]:
    if not settings.db_path.exists():
        return []
    import time

    from observer.core.attention import listed
    from observer.store import Store

    store = Store(settings.db_path)
    try:  # the server's list, as it would send it: live and recently ended sessions
        return [s.public() for s in listed(store.load_states(), time.time())]
    finally:
        store.close()


def render_status(report: dict[str, Any], now: float) -> str:
    server = report["server"]
    if server["running"] and "error" not in server:
        lines = [f"server: running at {server['url']} (observer {server.get('version')})"]
    elif server["running"]:
        lines = [f"server: running at {server['url']} but {server['error']}"]
    else:
        lines = [f"server: not running at {server['url']} (last known state from the database)"]
    sessions = report["sessions"]
    live = [s for s in sessions if s["status"] != "ended"]
    if not live:
        lines.append("no live sessions")
        return "\n".join(lines)
    lines.append(
        f"{'STATUS':<11} {'AGENT':<7} {'PROJECT':<20} {'AGE':>6}  {'TOKENS/COST/CONTEXT':<24}"
        "  WAITING FOR"
    )
    for s in live:
        age = _age(now - (s.get("status_since") or s.get("last_activity_at") or now))
        project = s.get("project") or "-"
        if s.get("host"):  # forwarded from another machine (`observer forward`)
            project = f"{s['host']}:{project}"
        lines.append(
            f"{s['status']:<11} {s['agent']:<7} {project[:20]:<20} "
            f"{age:>6}  {compact(s.get('usage')):<24}  {_waits_for(s)}"
        )
    limits = limits_line(sessions)
    if limits:
        lines.append(limits)
    return "\n".join(lines)


def limits_line(sessions: list[dict[str, Any]]) -> str:
    """`plan limits: claude 5h 23% (resets 14:20), 7d 41%; codex 5h 12% ...`: each agent's
    limits as its most recently active session last heard them (Claude's from its status line,
    Codex's from its rollout); empty when none did."""
    import time

    newest: dict[str, tuple[float, list[Any]]] = {}
    for s in sessions:
        usage = s.get("usage")
        limits = usage.get("rate_limits") if isinstance(usage, dict) else None
        at = float(s.get("last_activity_at") or 0)
        if limits and at >= newest.get(s["agent"], (-1.0, []))[0]:
            newest[s["agent"]] = (at, limits)
    said = []
    for agent, (_, limits) in sorted(newest.items()):
        parts = []
        for limit in limits:
            text = f"{limit_label(limit['name'], limit.get('window_minutes'))} "
            text += f"{limit['used_percent']:.0f}%"
            if limit is limits[0] and limit.get("resets_at"):
                text += f" (resets {time.strftime('%H:%M', time.localtime(limit['resets_at']))})"
            parts.append(text)
        said.append(f"{agent} {', '.join(parts)}")
    return f"plan limits: {'; '.join(said)}" if said else ""


def _waits_for(session: dict[str, Any]) -> str:
    template = _WAITS_FOR.get(session["status"])
    if template is None:
        tool = session.get("current_tool")
        return f"(working: {tool})" if tool else "(working)"
    pending = session.get("pending") or {}
    summary = pending.get("summary") or session.get("last_message") or ""
    text = template.format(tool=pending.get("tool") or "tool", summary=summary)
    return text[:80]


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
