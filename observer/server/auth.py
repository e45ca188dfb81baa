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
from dataclasses import dataclass
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
LOGIN_TTL = 30 * 24 * 3600.0  # a browser stays logged in for 30 days


@dataclass(frozen=True, slots=True)
class Login:
    id: str  # public: names the login in the audit log, never lets anyone in
    digest: str  # SHA-256 of the cookie's secret, hex
    created: float
    expires: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "digest": self.digest,
            "created": self.created,
            "expires": self.expires,
        }


class LoginBook:
    """One-time login codes (in memory: a restart voids the links not yet used) and the
    logins they became (`<data dir>/logins.json`, 0600, digests only: the file lets no one in).

    A code is single-use and short-lived, so a link that leaks (a shell history, a screen
    share) is worthless once used or after `CODE_TTL`."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._codes: dict[bytes, float] = {}
        self._logins: dict[str, Login] = {login.digest: login for login in _read_logins(path)}

    def mint_code(self) -> str:
        now = self.clock()
        self._codes = {d: t for d, t in self._codes.items() if t > now}  # forget the expired
        code = secrets.token_urlsafe(24)
        self._codes[_digest(code)] = now + CODE_TTL
        return code

    def redeem(self, code: str) -> tuple[Login, str] | None:
        """The new login and its cookie secret, or None: unknown, used or expired code."""
        expires = self._codes.pop(_digest(code), None)
        if expires is None or expires <= self.clock():
            return None
        return self.open_login()

    def open_login(self) -> tuple[Login, str]:
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        login = Login(secrets.token_hex(4), _digest(secret).hex(), now, now + LOGIN_TTL)
        self._logins = {d: x for d, x in self._logins.items() if x.expires > now}
        self._logins[login.digest] = login
        self._save()
        return login, secret

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
            logins.append(
                Login(
                    str(entry["id"]),
                    str(entry["digest"]),
                    float(entry["created"]),
                    float(entry["expires"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            log.error("%s: skipping a malformed login", path)
    return logins
