"""A session's timeline and search, over HTTP and for the WebSocket: the requests' parameters
checked once (the same rules for both), the page and the search they answer with.

`GET /api/sessions/<id>/timeline?before=&after=&limit=` is the WebSocket's `get_timeline`;
`GET /api/search?text=&agent=&project=&since=&until=&limit=` its `search` (docs/protocol.md).
Both sit behind the app-wide guard like every other route.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, jsonify, request

from observer.runtime.hub import Message, error
from observer.server.context import runtime
from observer.store import SearchQuery, Store
from observer.store.timeline import PAGE_DEFAULT, PAGE_MAX, SEARCH_DEFAULT, SEARCH_MAX

bp = Blueprint("timeline", __name__)

MAX_SEARCH_TEXT = 1000


class BadRequestError(ValueError):
    """A request's parameter that is not what it should be: the message says which."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    session_id: str
    before: int | None = None
    limit: int = PAGE_DEFAULT
    after: int | None = None  # a page read forwards from here (a search hit's seq - 1)


def page_request(session_id: object, params: Mapping[str, Any], query: bool = False) -> PageRequest:
    """`query`: the parameters are a query string's texts (HTTP), not JSON values."""
    if not isinstance(session_id, str) or not session_id:
        raise BadRequestError("a timeline needs a string session_id")
    before = integer(params.get("before"), "before", 0, 2**63 - 1, query)
    after = integer(params.get("after"), "after", 0, 2**63 - 1, query)
    if before is not None and after is not None:
        raise BadRequestError("a timeline page is read before a seq or after one, not both")
    limit = integer(params.get("limit"), "limit", 1, PAGE_MAX, query)
    return PageRequest(session_id, before, PAGE_DEFAULT if limit is None else limit, after)


def search_request(params: Mapping[str, Any], query: bool = False) -> SearchQuery:
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequestError("search needs a non-empty string text")
    if len(text) > MAX_SEARCH_TEXT:
        raise BadRequestError(f"search text is at most {MAX_SEARCH_TEXT} characters")
    names: dict[str, str | None] = {}
    for name in ("agent", "project"):
        value = params.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_SEARCH_TEXT):
            raise BadRequestError(f"search {name} must be a string")
        names[name] = value or None
    limit = integer(params.get("limit"), "limit", 1, SEARCH_MAX, query)
    return SearchQuery(
        text=text,
        agent=names["agent"],
        project=names["project"],
        since=_time(params.get("since"), "since", query),
        until=_time(params.get("until"), "until", query),
        limit=SEARCH_DEFAULT if limit is None else limit,
    )


def integer(value: object, name: str, low: int, high: int, query: bool) -> int | None:
    if value is None:
        return None
    if query and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise BadRequestError(f"{name} must be an integer") from None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequestError(f"{name} must be an integer from {low} to {high}")
    return value


def _time(value: object, name: str, query: bool) -> float | None:
    if value is None:
        return None
    if query and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadRequestError(f"{name} must be a time in epoch seconds") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequestError(f"{name} must be a time in epoch seconds")
    return float(value)


def timeline_page(store: Store, known: bool, ask: PageRequest) -> Message:
    """A page of a session's items, newest last (`before` and `after`: the cursors of the pages
    before and after it, null when there is none); not_found when the session has neither a
    state nor an item."""
    items, before, after = store.timeline_window(ask.session_id, ask.before, ask.after, ask.limit)
    if not items and not known and not store.has_timeline(ask.session_id):
        return error("not_found", f"no session {ask.session_id!r}")
    return {
        "type": "timeline_page",
        "session_id": ask.session_id,
        "items": items,
        "before": before,
        "after": after,
    }


async def search(store: Store, query: SearchQuery) -> Message:
    """The sessions a search finds, newest hit first; in a worker thread (its own connection)."""
    results = await asyncio.to_thread(store.search, query)
    return {"type": "search_results", "text": query.text, "results": results}


def _known(session_id: str) -> bool:
    state = runtime().hub.book.get(session_id)
    return state is not None and state.materialized


@bp.get("/api/sessions/<session_id>/timeline")
async def session_timeline(session_id: str) -> tuple[Response, int]:
    try:
        ask = page_request(session_id, request.args, query=True)
    except BadRequestError as exc:
        return jsonify(error("bad_request", str(exc))), 400
    reply = timeline_page(runtime().store, _known(session_id), ask)
    return jsonify(reply), 404 if reply["type"] == "error" else 200


@bp.get("/api/search")
async def search_sessions() -> tuple[Response, int]:
    try:
        query = search_request(request.args, query=True)
    except BadRequestError as exc:
        return jsonify(error("bad_request", str(exc))), 400
    return jsonify(await search(runtime().store, query)), 200
