"""The links a notification's buttons call (`POST /act/<token>`): each a single-use capability
scoped to one request of one session and one answer, expiring after `ttl`.

A notification goes through push services that store it (ntfy's server, a webhook's logs),
so it carries no credential that opens anything else: a link can answer only the request it
was made for, with only the answer written on its button, once. Using one of a request's links
voids its siblings (Approve used: Deny is dead too). Only SHA-256 digests are kept, in memory:
a restart voids every link (the request it answered is gone with the process anyway, or
answered in the terminal).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_TTL = 1800.0
MAX_LINKS = 5000  # a bound on memory whatever the notification rate; the oldest go first


@dataclass(frozen=True, slots=True)
class Grant:
    """What one link may do."""

    session_id: str
    request_id: str
    action: str  # approve_tool, answer_question
    params: tuple[tuple[str, str], ...]  # e.g. (("decision", "allow"),)
    channel: str  # which notification carried it: the audit says so
    expires: float


class LinkRefusedError(Exception):
    """Why a link did nothing: unknown, already used (or a sibling was), or expired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ActionLinks:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock
        self._grants: dict[bytes, Grant] = {}
        # Used or voided links, until they would have expired: why each is dead.
        self._spent: dict[bytes, tuple[float, str]] = {}

    def mint(
        self,
        session_id: str,
        request_id: str,
        action: str,
        params: tuple[tuple[str, str], ...],
        channel: str,
    ) -> str:
        now = self.clock()
        self._forget_expired(now)
        while len(self._grants) >= MAX_LINKS:
            del self._grants[next(iter(self._grants))]
        token = secrets.token_urlsafe(24)
        grant = Grant(session_id, request_id, action, params, channel, now + self.ttl)
        self._grants[_digest(token)] = grant
        return token

    def redeem(self, token: str) -> Grant:
        """The grant, now spent with every sibling link of its request; or LinkRefusedError."""
        digest = _digest(token)
        now = self.clock()
        grant = self._grants.pop(digest, None)
        if grant is None:
            spent = self._spent.get(digest)
            if spent is not None:
                raise LinkRefusedError("link_used", spent[1])
            raise LinkRefusedError("link_unknown", "no such link (or observer was restarted)")
        if grant.expires <= now:
            raise LinkRefusedError("link_expired", "this button has expired: open the page")
        self._spent[digest] = (grant.expires, "this button was already used")
        for other, sibling in list(self._grants.items()):
            if (sibling.session_id, sibling.request_id) == (grant.session_id, grant.request_id):
                del self._grants[other]
                self._spent[other] = (sibling.expires, "another button already answered this")
        return grant

    def _forget_expired(self, now: float) -> None:
        self._grants = {d: g for d, g in self._grants.items() if g.expires > now}
        self._spent = {d: t for d, t in self._spent.items() if t[0] > now}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()
