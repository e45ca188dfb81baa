"""How a browser logs in and out: the one-time link `observer open` and `observer pair` print
(`GET /login`), the token typed into the page (`POST /login`), `POST /logout`; the links minted
for local tools holding the token (`POST /api/login-links`), and the devices those logins are
(`GET /api/devices`, `DELETE /api/devices/<id>`: token only, see access.TOKEN_ONLY_PATHS).
The first three are public paths: they answer for themselves."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, jsonify, request

from observer.runtime.request_body import json_body
from observer.server.access import logged_in, unauthorized
from observer.server.auth import CODE_TTL, COOKIE_NAME, PAIR_TTL, clean_name
from observer.server.context import runtime
from observer.server.tls import configured_fingerprint

log = logging.getLogger(__name__)
bp = Blueprint("login", __name__)

LINK_REFUSED = (
    "<!doctype html><title>observer: link refused</title><p>This login link was already used "
    "or has expired. Run <code>observer open</code> on observer's machine for a new one.</p>"
)


@bp.get("/login")
async def login_link() -> Response | tuple[Response, int]:
    # A client that sends the link's fragment (browsers never do) still names its code.
    code = request.args.get("code", "").split("#", 1)[0]
    opened = runtime().access.logins.redeem(code, request.headers.get("User-Agent"))
    if opened is None:
        log.warning("refused a login link: unknown, used or expired code")
        return Response(LINK_REFUSED, 403, content_type="text/html; charset=utf-8")
    log.info(
        "a device logged in with a one-time link: %r (login %s, from %s)",
        opened[0].name,
        opened[0].id,
        request.remote_addr,
    )
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
    """For `observer open` and `observer pair`: a local tool holding the token asks for a
    device's way in. `{"name": …}` names the device; `{"pair": true}` makes the link
    shorter-lived (it is shown as a QR code, on a screen others may see)."""
    the = runtime()
    body = await json_body(force=False)
    asked = body if isinstance(body, dict) else {}
    name = clean_name(asked.get("name"))
    ttl = PAIR_TTL if asked.get("pair") is True else CODE_TTL
    code, expires = the.access.logins.mint_code(name, ttl)
    base = (the.settings.public_url or the.settings.local_url()).rstrip("/")
    url = f"{base}/login?code={code}"
    # Served with a certificate of its own (a LAN, self-signed): the link carries its
    # fingerprint, in the fragment (never sent to any server), so the page can show the phone
    # which certificate the link was made for, to compare with what the browser accepted.
    found = configured_fingerprint(the.settings) if not the.settings.public_url else None
    if found is not None:
        url += "#fp=" + found.replace(":", "")
    reply = {"url": url, "expires_at": expires, "name": name, "fingerprint": found}
    return jsonify(reply), 201


@bp.get("/api/devices")
async def devices() -> Response:
    return jsonify({"devices": [login.public() for login in runtime().access.logins.devices()]})


@bp.delete("/api/devices/<device_id>")
async def revoke_device(device_id: str) -> Response | tuple[Response, int]:
    login = await runtime().access.revoke(device_id)
    if login is None:
        body = {"type": "error", "code": "not_found", "message": f"no device {device_id!r}"}
        return jsonify(body), 404
    log.info("device %r (login %s) revoked", login.name, login.id)
    return jsonify({"ok": True, "device": login.public()})
