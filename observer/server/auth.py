"""Credentials. The bearer token (local tools read it from `<data dir>/token`) and the logins
of browsers (a one-time link turned into an HttpOnly cookie). The server keeps only SHA-256
digests of either and compares them in constant time or by digest lookup, so neither timing
nor a memory dump or a copy of `logins.json` gives a secret away.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from observer.fsio import atomic_write

log = logging.getLogger(__name__)


class TokenCheck:
    def __init__(self, token: str | None) -> None:
        self._digest = _digest(token) if token else None

    @property
    def required(self) -> bool:
        return self._digest is not None

    def accepts(self, presented: str | None) -> bool:
        if self._digest is None:
            return True
        # Always hash and compare, even for a missing token, so every answer costs the same.
        return hmac.compare_digest(self._digest, _digest(presented or ""))


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


# -- the browser's way in: a one-time login link turned into a session cookie ---------------
COOKIE_NAME = "observer_login"
CODE_TTL = 600.0  # seconds a login link works, once
PAIR_TTL = 300.0  # a pairing link (`observer pair`, shown as a QR code) works 5 minutes, once
LOGIN_TTL = 30 * 24 * 3600.0  # a browser stays logged in for 30 days
SEEN_SAVE_EVERY = 60.0  # last-seen times are written to logins.json at most this often
NAME_MAX = 60


@dataclass(frozen=True, slots=True)
class Login:
    """A logged-in browser: a device (`observer devices` lists them, `--revoke` ends one)."""

    id: str  # public: names the login in the audit log, never lets anyone in
    digest: str  # SHA-256 of the cookie's secret, hex
    created: float
    expires: float
    name: str = "browser"
    last_seen: float | None = None
    last_address: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "digest": self.digest,
            "created": self.created,
            "expires": self.expires,
            "name": self.name,
            "last_seen": self.last_seen,
            "last_address": self.last_address,
        }

    def public(self) -> dict[str, Any]:
        """What `observer devices` shows: all but the digest."""
        shown = self.to_json()
        del shown["digest"]
        return shown


def device_name(user_agent: str | None) -> str:
    """A name for a device that logged in without one: its system and browser, from the
    User-Agent (only a hint for the user, never trusted for anything)."""
    agent = user_agent or ""
    system = next(
        (
            name
            for needle, name in (
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Android", "Android"),
                ("Mac OS X", "Mac"),
                ("Windows", "Windows"),
                ("Linux", "Linux"),
            )
            if needle in agent
        ),
        None,
    )
    browser = next(
        (
            name
            for needle, name in (
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if needle in agent
        ),
        None,
    )
    if system and browser:
        return f"{browser} on {system}"
    return system or browser or "browser"


def clean_name(name: object) -> str | None:
    """A device name as given (`observer pair --name`): printable, trimmed, bounded."""
    if not isinstance(name, str):
        return None
    shown = "".join(c for c in name if c.isprintable()).strip()[:NAME_MAX]
    return shown or None


class LoginBook:
    """One-time login codes (in memory: a restart voids the links not yet used) and the
    logins they became (`<data dir>/logins.json`, 0600, digests only: the file lets no one in).

    A code is single-use and short-lived, so a link that leaks (a shell history, a screen
    share) is worthless once used or after `CODE_TTL`."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._codes: dict[bytes, tuple[float, str | None]] = {}  # digest -> expiry, name
        self._logins: dict[str, Login] = {login.digest: login for login in _read_logins(path)}
        self._saved_at = self.clock()

    def mint_code(self, name: str | None = None, ttl: float = CODE_TTL) -> tuple[str, float]:
        """A one-time code for a new login named `name`, and when it expires."""
        now = self.clock()
        self._codes = {d: c for d, c in self._codes.items() if c[0] > now}  # forget the expired
        code = secrets.token_urlsafe(16)
        self._codes[_digest(code)] = (now + ttl, name)
        return code, now + ttl

    def redeem(self, code: str, user_agent: str | None = None) -> tuple[Login, str] | None:
        """The new login and its cookie secret, or None: unknown, used or expired code."""
        minted = self._codes.pop(_digest(code), None)
        if minted is None or minted[0] <= self.clock():
            return None
        return self.open_login(minted[1] or device_name(user_agent))

    def open_login(self, name: str = "browser") -> tuple[Login, str]:
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        login = Login(secrets.token_hex(4), _digest(secret).hex(), now, now + LOGIN_TTL, name)
        self._logins = {d: x for d, x in self._logins.items() if x.expires > now}
        self._logins[login.digest] = login
        self._save()
        return login, secret

    def seen(self, login: Login, address: str | None) -> None:
        """Note a login's last request (kept in memory; written at most every minute)."""
        now = self.clock()
        current = self._logins.get(login.digest)
        if current is None:
            return
        self._logins[login.digest] = replace(current, last_seen=now, last_address=address)
        if now - self._saved_at >= SEEN_SAVE_EVERY:
            self._save()

    def devices(self) -> list[Login]:
        """The logins not expired, the most recently created first."""
        now = self.clock()
        alive = [login for login in self._logins.values() if login.expires > now]
        return sorted(alive, key=lambda login: login.created, reverse=True)

    def revoke(self, login_id: str) -> Login | None:
        """End the login with this id at once (its cookie lets no one in any more)."""
        for digest, login in list(self._logins.items()):
            if login.id == login_id:
                del self._logins[digest]
                self._save()
                return login
        return None

    def check(self, secret: str | None) -> Login | None:
        if not secret:
            return None
        login = self._logins.get(_digest(secret).hex())  # a lookup by digest: no timing leak
        if login is None or login.expires <= self.clock():
            return None
        return login

    def close(self, secret: str | None) -> None:
        login = self.check(secret)
        if login is not None:
            del self._logins[login.digest]
            self._save()

    def close_all(self) -> int:
        count = len(self._logins)
        self._logins.clear()
        self._save()
        return count

    def _save(self) -> None:
        self._saved_at = self.clock()
        body = json.dumps([login.to_json() for login in self._logins.values()], indent=1)
        atomic_write(self.path, (body + "\n").encode(), 0o600)


def _read_logins(path: Path) -> list[Login]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.error("cannot read %s (%s): every browser must log in again", path, exc)
        return []
    logins = []
    for entry in data if isinstance(data, list) else []:
        try:
            seen = entry.get("last_seen")
            address = entry.get("last_address")
            logins.append(
                Login(
                    str(entry["id"]),
                    str(entry["digest"]),
                    float(entry["created"]),
                    float(entry["expires"]),
                    clean_name(entry.get("name")) or "browser",  # before devices had names
                    float(seen) if isinstance(seen, (int, float)) else None,
                    str(address) if isinstance(address, str) else None,
                )
            )
        except (KeyError, TypeError, ValueError):
            log.error("%s: skipping a malformed login", path)
    return logins
