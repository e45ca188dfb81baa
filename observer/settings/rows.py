"""One setting as a row of the table (its name, real default, parser and help), and the parsers
the rows share: how a value from a flag, the environment or config.toml becomes the setting's
value, or a ValueError saying what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observer.core.notify import parse_quiet_hours


@dataclass(frozen=True)
class Setting:
    """One row of the table: the setting's name (its key in config.toml), its real default, how
    a value from a flag, the environment or the file becomes the setting's value (raising
    ValueError), what it does, and the default as docs/settings.md shows it when the value alone
    would not say it (computed at run time, or "none" meaning something)."""

    name: str
    default: Any
    parse: Callable[[object], Any]
    help: str
    shown: str | None = None

    @property
    def env(self) -> str:
        return f"OBSERVER_{self.name.upper()}"

    @property
    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        value = self.default
        if value is None or value == ():
            return "none"
        if isinstance(value, bool):
            return str(value).lower()
        return f"{value:g}" if isinstance(value, float) else str(value)


def _text(value: object) -> str:
    return str(value)


def _path(value: object) -> Path:
    return Path(str(value)).expanduser()


def _seconds(value: object) -> float:
    seconds = float(value) if isinstance(value, int | float) else float(str(value))
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def _count(value: object) -> int:
    count = int(value) if isinstance(value, int | float) else int(str(value))
    if count < 1:
        raise ValueError("must be at least 1")
    return count


def _names(value: object) -> tuple[str, ...]:
    """A list setting: a TOML array, or one comma-separated string (environment, flag)."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _megabytes(value: object) -> float:
    return _seconds(value)  # the same rule: a number, not negative


def _content(value: object) -> str:
    text = str(value).strip().lower()
    if text not in ("full", "none"):
        raise ValueError("expected full or none")
    return text


def _quiet_hours(value: object) -> str:
    parse_quiet_hours(str(value))  # ValueError says what is wrong
    return str(value).strip()


def _http_url(value: object) -> str:
    text = str(value)
    if not text.startswith(("http://", "https://")) or len(text) < 10:
        raise ValueError("expected an http:// or https:// URL")
    return text


def _dollars(value: object) -> float:
    """A cost in USD, more than 0."""
    dollars = float(value) if isinstance(value, int | float) else float(str(value))
    if not dollars > 0 or dollars == float("inf"):
        raise ValueError("must be a number of dollars above 0")
    return dollars
