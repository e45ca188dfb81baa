"""The web page (observer/web/, package data: its index at `/`, its files under `/web/`) and
`/health`, all public: the page must load to log in, and health is what a supervisor polls."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from quart import Blueprint, Response, abort, current_app, jsonify, request

from observer import __version__
from observer.server.context import runtime

bp = Blueprint("page", __name__)
SERVICE_WORKER = "sw.js"  # observer/web/sw.js: the offline shell


@bp.get("/")
async def page() -> Response:
    return await current_app.send_static_file("index.html")


async def static_file(filename: str) -> Response:
    """Quart's own static view, but a name the filesystem refuses (ENAMETOOLONG, say) is no
    such file, not a 500. The app puts it in place of its `static` view."""
    try:
        response = await current_app.send_static_file(filename)
    except OSError:
        abort(404)
    if filename == SERVICE_WORKER:
        # The offline shell's worker lives with the page's files but serves the page itself,
        # one level up (its scope); and a new one is looked for on every visit.
        response.headers["Service-Worker-Allowed"] = "/"
        response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/health")
async def health() -> Response:
    # Public: error texts are class names only, unless the caller has credentials (an
    # exception's message may name a path). The backlog: committed spool files waiting.
    the = runtime()
    detailed = the.access.identify(request.headers, request.cookies) is not None
    report = the.supervisor.report(detailed)
    backlog = await asyncio.to_thread(spool_backlog, the.settings.spool_dir)
    return jsonify(
        {
            "status": report["status"],
            "version": __version__,
            "sources": report["sources"],
            "spool_backlog": backlog,
        }
    )


def spool_backlog(spool_dir: Path) -> int | None:
    """Committed spool files waiting (names only: no file is read); None if unreadable."""
    try:
        with os.scandir(spool_dir) as entries:
            return sum(1 for e in entries if e.name.startswith("ev.") and e.name.endswith(".ready"))
    except OSError:
        return None
