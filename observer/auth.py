"""Bearer-token auth. The server keeps only a SHA-256 digest of the token and compares
digests in constant time, so neither timing nor a memory dump of the server gives it away.
"""

from __future__ import annotations

import hashlib
import hmac


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
