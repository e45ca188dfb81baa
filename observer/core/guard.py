"""Who may talk to the server at all: the Host, Origin, Sec-Fetch-Site and Content-Type checks
that keep every web page the user visits out, whatever credentials its browser holds. Pure: a
request's method, path and headers in, a refusal (or None) out; the server turns a refusal into
a 403/415 answer and one log line.

- **Host** (DNS rebinding): a page at `evil.example` whose name is re-pointed at 127.0.0.1
  reaches the server with `Host: evil.example`. Only loopback names and addresses, the bound
  address, the host of `public_url`, and the names in `allowed_hosts` are accepted. An IP literal
  cannot be rebound, so with a wildcard bind (0.0.0.0, ::) any IP literal is the server's own.
- **Origin** (cross-site requests and WebSocket hijacking): a browser names the page's origin on
  every WebSocket handshake and every non-GET request. It must be the server's own (its host is
  the Host just checked) or one of `allowed_origins`. No Origin means no browser page: a CLI, a
  hook, a curl.
- **Sec-Fetch-Site: cross-site** is refused outright, except a top-level navigation to the page
  or a login link (a link to observer from a chat or a mail, which reveals nothing by itself).
- **Content-Type**: a state-changing request must say `application/json`, a type no page can
  send across origins without a CORS preflight (which observer never grants); `text/plain` and
  form bodies are what a page can send blind.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NAVIGABLE_PATHS = frozenset({"/", "/login"})


class HeaderLookup(Protocol):
    """A request's headers, case-insensitive (werkzeug's Headers, a dict in tests)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Guard:
    bound_host: str
    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()

    @classmethod
    def create(
        cls, bound_host: str, allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...]
    ) -> Guard:
        return cls(
            bound_host.strip("[]").lower(),
            frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip()),
            frozenset(_origin_key(o) for o in allowed_origins if o.strip()),
        )

    def check(
        self, method: str, path: str, headers: HeaderLookup, websocket: bool = False
    ) -> Refusal | None:
        host = headers.get("Host") or ""
        if not self.host_allowed(host):
            return Refusal(
                403,
                "bad_host",
                f"Host {host!r} is not this server's name: add it to allowed_hosts if it is",
            )
        origin = headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin, host):
            return Refusal(
                403,
                "cross_origin",
                f"requests from {origin!r} are refused: add it to allowed_origins if it is yours",
            )
        if (headers.get("Sec-Fetch-Site") or "").lower() == "cross-site" and not (
            not websocket
            and method in ("GET", "HEAD")
            and (headers.get("Sec-Fetch-Mode") or "").lower() == "navigate"
            and path in NAVIGABLE_PATHS
        ):
            return Refusal(403, "cross_site", "cross-site requests are refused")
        if not websocket and method in CHANGING_METHODS and not _is_json(headers):
            return Refusal(
                415, "unsupported_media_type", "send the body as Content-Type: application/json"
            )
        return None

    def host_allowed(self, host_header: str) -> bool:
        name = _hostname(host_header)
        if not name:
            return False
        if name in LOOPBACK_NAMES or name in self.allowed_hosts:
            return True
        if name == self.bound_host and name not in WILDCARD_HOSTS:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        # An IP literal cannot be rebound by DNS: it is ours if it is loopback, the bound
        # address, or any address at all when the server listens on every interface.
        return address.is_loopback or self.bound_host in WILDCARD_HOSTS

    def origin_allowed(self, origin: str, host_header: str) -> bool:
        key = _origin_key(origin)
        if key in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


def _hostname(host_header: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets, lower-cased."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return ""
    return name.rstrip(".")  # "localhost." is "localhost"


def _origin_key(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def _is_json(headers: HeaderLookup) -> bool:
    media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"
