"""How a browser logs in and out: the one-time link `observer open` prints (`GET /login`), the
token typed into the page (`POST /login`), `POST /logout`, and the links minted for local tools
holding the token (`POST /api/login-links`). The first three are public paths: they answer for
themselves."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, jsonify, request

from observer.runtime.request_body import json_body
from observer.server.access import logged_in, unauthorized
from observer.server.auth import COOKIE_NAME
from observer.server.context import runtime

log = logging.getLogger(__name__)
bp = Blueprint("login", __name__)

LINK_REFUSED = (
    "<!doctype html><title>observer: link refused</title><p>This login link was already used "
    "or has expired. Run <code>observer open</code> on observer's machine for a new one.</p>"
)


@bp.get("/login")
async def login_link() -> Response | tuple[Response, int]:
    opened = runtime().access.logins.redeem(request.args.get("code", ""))
    if opened is None:
        log.warning("refused a login link: unknown, used or expired code")
        return Response(LINK_REFUSED, 403, content_type="text/html; charset=utf-8")
    log.info("a browser logged in with a one-time link (login %s)", opened[0].id)
    return logged_in(Response("", 303, headers={"Location": "/"}), opened[1])


@bp.post("/login")
async def login_with_token() -> Response | tuple[Response, int]:
    access = runtime().access
    body = await json_body(force=False)
    presented = body.get("token") if isinstance(body, dict) else None
    if not isinstance(presented, str) or not access.tokens.accepts(presented):
        log.warning("refused a login: wrong token, from %s", request.remote_addr)
        return unauthorized()
    login, secret = access.logins.open_login()
    log.info("a browser logged in with the token (login %s)", login.id)
    return logged_in(jsonify({"ok": True, "login": login.id}), secret)


@bp.post("/logout")
async def logout() -> Response:
    runtime().access.logins.close(request.cookies.get(COOKIE_NAME))
    response = jsonify({"ok": True})
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@bp.post("/api/login-links")
async def login_link_for() -> tuple[Response, int]:
    # For `observer open`: a local tool holding the token asks for a browser's way in.
    the = runtime()
    base = (the.settings.public_url or the.settings.local_url()).rstrip("/")
    return jsonify({"url": f"{base}/login?code={the.access.logins.mint_code()}"}), 201
