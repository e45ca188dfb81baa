"""What the server checks on every request, before any route runs: the guard (Host, Origin,
Sec-Fetch-Site), then the token or a browser's login; and the answers it gives when it refuses.

`check_http` runs for the whole app (every Blueprint's routes alike), so a route added anywhere
is behind the credentials unless its path is one of `PUBLIC_PATHS`; `/ws` checks the same
before its handshake is accepted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from quart import Quart, Response, g, request
from werkzeug.datastructures import Headers

from observer.core.guard import Guard, Refusal
from observer.runtime.action_links import ActionLinks
from observer.server.auth import COOKIE_NAME, LOGIN_TTL, Login, LoginBook, TokenCheck, bearer
from observer.settings import Settings

log = logging.getLogger(__name__)

CONFIG_KEY = "OBSERVER_ACCESS"  # where the app keeps its Access (it exists before serving)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WEBSOCKET"})
PUBLIC_PATHS = frozenset({"/health", "/", "/login", "/logout"})
# Making and ending devices' logins takes the token (a tool on observer's machine: `observer
# pair`, `open`, `devices`): a device, a phone that may be lost, can neither let another device
# in (so revoking it is the end of it) nor shut the others out.
# The agents' hooks ask with the token too (found as the server finds it), and only they may: a
# device standing in for a session's hook could take the reply meant for it, swallow its stop,
# or hold approvals in its name.
TOKEN_ONLY_PATHS = ("/api/login-links", "/api/devices", "/api/hook/")
SECURITY_HEADERS = {
    # The page loads only its own files and can be framed by no one (clickjacking).
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Access:
    """What the server checks on every request: the guard, then the token or a login."""

    def __init__(self, settings: Settings) -> None:
        self.set_guard(settings)
        self.tokens = TokenCheck(None)
        self.logins = LoginBook(settings.data_dir / "logins.json")
        # The single-use links of notifications' buttons (POST /act/<token>, act_api.py).
        self.action_links = ActionLinks(settings.notify_action_ttl)
        # Each login's open WebSockets, by login id: revoking a device closes them at once.
        self.sockets: dict[str, set[Callable[[], Awaitable[None]]]] = {}

    def set_guard(self, settings: Settings) -> None:
        """The Host/Origin guard for these settings (at start, and again on SIGHUP)."""
        hosts, origins = settings.allowed_hosts, settings.allowed_origins
        if settings.public_url:  # the page behind a TLS proxy, whatever Host the proxy sends
            public = urlsplit(settings.public_url)
            hosts = (*hosts, public.hostname or "")
            origins = (*origins, f"{public.scheme}://{public.netloc}")
        self.guard = Guard.create(settings.host, hosts, origins)

    def start(self, settings: Settings) -> None:
        self.tokens = TokenCheck(settings.token)

    def identify(
        self, headers: Headers, cookies: Mapping[str, str], address: str | None = None
    ) -> str | None:
        """Who is asking (for the audit log: `token` or `login:<id>`), or None. A login's
        last-seen time and address are noted (`observer devices` shows them)."""
        presented = bearer(headers.get("Authorization"))
        if presented is not None:
            return "token" if self.tokens.accepts(presented) else None
        login = self.logins.check(cookies.get(COOKIE_NAME))
        if login is None:
            return None
        self.logins.seen(login, address)
        return f"login:{login.id}"

    async def revoke(self, login_id: str) -> Login | None:
        """End a device's login and close its open WebSockets, at once."""
        login = self.logins.revoke(login_id)
        for close in list(self.sockets.pop(login_id, ())):
            try:
                await close()
            except Exception:  # a socket already closing: nothing more to do
                log.debug("closing a revoked device's WebSocket failed", exc_info=True)
        return login

    async def check_http(self) -> Response | None:
        """The app's `before_request`: a refusal, or None to let the route run."""
        refusal = self.guard.check(request.method, request.path, request.headers)
        if refusal is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
            return refused(refusal, request.method, rule, request.path, request.headers)
        # The page, its static files and the login are public like /health: the credentials
        # protect the sessions (/api, /ws), and the page must load to log in.
        if request.path in PUBLIC_PATHS or request.path.startswith("/web/"):
            return None
        # A notification's button: the link itself is the credential, for one answer to one
        # request, once (act_api.py); a push service stores it, so it opens nothing else.
        if request.path.startswith("/act/"):
            return None
        address = request.remote_addr or "unix socket"
        who = self.identify(request.headers, request.cookies, address)
        if who is None:
            return unauthorized()
        if request.path.startswith(TOKEN_ONLY_PATHS) and who != "token":
            return token_only(request.path)
        g.who = f"{who}@http:{address}"
        return None


def access_of(app: Quart) -> Access:
    value = app.config.get(CONFIG_KEY)
    if not isinstance(value, Access):
        raise RuntimeError("not an observer app: no Access in its config")
    return value


async def security_headers(response: Response) -> Response:
    """The app's `after_request`, on every answer."""
    response.headers.update(SECURITY_HEADERS)
    return response


def refused(refusal: Refusal, method: str, rule: str, path: str, headers: Headers) -> Response:
    # One line per refusal; the same refusal repeated (same method, route and reason) is
    # folded by the log's rate limit into "(and N more like it)". The route, the method and
    # the reason make the template: a bounded set, whatever the requests carry.
    shown = method if method in KNOWN_METHODS else "OTHER"
    template = f"refused {shown} {rule}: {refusal.code}".replace("%", "%%")
    log.warning(
        template + " (path %r, Host %r, Origin %r, Sec-Fetch-Site %r)",
        path,
        headers.get("Host"),
        headers.get("Origin"),
        headers.get("Sec-Fetch-Site"),
    )
    body = {"type": "error", "code": refusal.code, "message": refusal.message}
    return Response(json.dumps(body), refusal.status, content_type="application/json")


def unauthorized() -> Response:
    body = {
        "type": "error",
        "code": "unauthorized",
        "message": "missing or wrong credentials: local tools read <data dir>/token, a browser "
        "logs in with the link `observer open` prints",
    }
    return Response(
        json.dumps(body),
        401,
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="observer"'},
    )


def token_only(path: str) -> Response:
    if path.startswith("/api/hook/"):
        message = "only the agents' hooks on observer's machine ask here, with its token"
    else:
        message = (
            "devices are paired and revoked from observer's machine (`observer pair`, "
            "`observer devices`), with its token"
        )
    body = {"type": "error", "code": "token_required", "message": message}
    return Response(json.dumps(body), 403, content_type="application/json")


def logged_in(response: Response, secret: str) -> Response:
    response.set_cookie(
        COOKIE_NAME,
        secret,
        max_age=int(LOGIN_TTL),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=reached_over_https(),
    )
    return response


def reached_over_https() -> bool:
    """The browser reached the page over https: our own TLS, or a TLS proxy in front that
    says so (`tailscale serve` sets X-Forwarded-Proto). Believing the header can only add
    Secure to the cookie, which keeps it off plain http: nobody gains by faking it."""
    forwarded = (request.headers.get("X-Forwarded-Proto") or "").strip().lower()
    return request.scheme in ("https", "wss") or forwarded == "https"
