"""The history of ended sessions, a page at a time, over HTTP and for the WebSocket: the
request's parameters checked once (the same rules for both) and the page they answer with.

`GET /api/history?agent=&project=&before=&limit=` is the WebSocket's `get_history`
(docs/protocol.md); it sits behind the app-wide guard like every other route. The list a
client subscribes to (`sessions_list`) holds only live and recently ended sessions
(observer/core/attention.py, `listed`): older ones are read from here, never sent whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, jsonify, request

from observer.runtime.hub import Message, error
from observer.server.context import runtime
from observer.server.timeline_api import MAX_SEARCH_TEXT, BadRequestError, integer
from observer.store import BadCursorError, HistoryQuery, Store
from observer.store.history import HISTORY_DEFAULT, HISTORY_MAX, parse_cursor

bp = Blueprint("history", __name__)


def history_request(params: Mapping[str, Any], query: bool = False) -> HistoryQuery:
    """`query`: the parameters are a query string's texts (HTTP), not JSON values."""
    names: dict[str, str | None] = {}
    for name in ("agent", "project", "before"):
        value = params.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_SEARCH_TEXT):
            raise BadRequestError(f"history {name} must be a string")
        names[name] = value or None
    if names["before"] is not None:
        try:
            parse_cursor(names["before"])
        except BadCursorError as exc:
            raise BadRequestError(f"{exc}: send a page's own before") from None
    limit = integer(params.get("limit"), "limit", 1, HISTORY_MAX, query)
    return HistoryQuery(
        agent=names["agent"],
        project=names["project"],
        before=names["before"],
        limit=HISTORY_DEFAULT if limit is None else limit,
    )


def history_page(store: Store, ask: HistoryQuery) -> Message:
    """Ended sessions, newest first: `sessions`, `before` (the next page's cursor; null:
    none), `total` matching, and the `agents` and `projects` ended sessions have."""
    return {"type": "history_page", **store.history(ask)}


@bp.get("/api/history")
async def history() -> tuple[Response, int]:
    try:
        ask = history_request(request.args, query=True)
    except BadRequestError as exc:
        return jsonify(error("bad_request", str(exc))), 400
    return jsonify(history_page(runtime().store, ask)), 200
