"""The one error family: everything observer raises on purpose derives from ObserverError.

The CLI turns these into one clear line and a non-zero exit; anything else escaping is a bug.
"""

from __future__ import annotations


class ObserverError(Exception):
    """Base of every error observer raises on purpose."""


class ParseError(ObserverError):
    """A connector could not turn a raw line or payload into events."""


class ConfigError(ObserverError):
    """A setting or a command-line choice that cannot work (bad bind, missing token...)."""


class ActionError(ObserverError):
    """An action a client asked for that cannot be done; `code` goes into the error message
    (and, over HTTP, chooses the status)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)
