"""The price table: `observer/prices.toml` shipped with the package, then the `[prices]`
tables of `<data dir>/config.toml` on top (a model there replaces the shipped entry whole)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from observer.core.errors import ConfigError
from observer.core.usage import ModelPrice


def load_prices(config_path: Path | None = None) -> dict[str, ModelPrice]:
    shipped = tomllib.loads(resources.files("observer.ingest").joinpath("prices.toml").read_text())
    prices = _entries(shipped.get("models") or {}, "observer/prices.toml")
    if config_path is not None:
        try:
            with config_path.open("rb") as handle:
                overrides = tomllib.load(handle).get("prices") or {}
        except FileNotFoundError:
            overrides = {}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {config_path}: {exc}") from None
        prices.update(_entries(overrides, str(config_path)))
    return prices


def _entries(table: Any, where: str) -> dict[str, ModelPrice]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: prices must be a table of models")
    return {str(model): _price(model, entry, where) for model, entry in table.items()}


def _price(model: str, entry: Any, where: str) -> ModelPrice:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: price of {model!r} must be a table")
    values: dict[str, float] = {}
    for key, value in entry.items():
        if key not in ("input", "output", "cache_read", "cache_write"):
            raise ConfigError(f"{where}: price of {model!r}: unknown key {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}: price of {model!r}: {key} must be a number >= 0")
        values[key] = float(value)
    if "input" not in values or "output" not in values:
        raise ConfigError(f"{where}: price of {model!r} needs input and output (USD per 1M)")
    return ModelPrice(**values)
