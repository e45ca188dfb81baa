"""The price table: `observer/prices.toml` shipped with the package, then the `[prices]`
tables of `<data dir>/config.toml` on top (a model there replaces the shipped entry whole).

An entry: `input`, `output` (required), `cache_read`, `cache_write` (5-minute writes),
`cache_write_1h` (one-hour writes), all USD per million tokens, and optionally a
`long_context` table: `threshold` (prompt tokens) and the rates of a request over it, whose
cache prices default to the base entry's scaled by the tier's input price (the providers'
"caching multipliers apply on top of long context pricing")."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from observer.core.errors import ConfigError
from observer.core.usage import ModelPrice

_RATES = ("input", "output", "cache_read", "cache_write", "cache_write_1h")


SHIPPED = Path(__file__).with_name("prices.toml")  # package data (importlib.resources: 25 ms)


def load_prices(config_path: Path | None = None) -> dict[str, ModelPrice]:
    shipped = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
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
    values = _rates(model, {k: v for k, v in entry.items() if k != "long_context"}, where)
    base = _model_price(values)
    tier = entry.get("long_context")
    if tier is None:
        return base
    if not isinstance(tier, dict):
        raise ConfigError(f"{where}: long_context of {model!r} must be a table")
    threshold = tier.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
        raise ConfigError(f"{where}: long_context of {model!r} needs a threshold (tokens) > 0")
    rates = _rates(model, {k: v for k, v in tier.items() if k != "threshold"}, where)
    scale = rates["input"] / base.input if base.input else 1.0
    for key in ("cache_read", "cache_write", "cache_write_1h"):
        if key not in rates and values.get(key) is not None:
            rates[key] = values[key] * scale
    long = _model_price(rates)
    return _model_price(values, threshold, long)


def _model_price(
    values: dict[str, float], threshold: int | None = None, long: ModelPrice | None = None
) -> ModelPrice:
    return ModelPrice(
        values["input"],
        values["output"],
        values.get("cache_read"),
        values.get("cache_write"),
        values.get("cache_write_1h"),
        threshold,
        long,
    )


def _rates(model: str, entry: dict[str, Any], where: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for key, value in entry.items():
        if key not in _RATES:
            raise ConfigError(f"{where}: price of {model!r}: unknown key {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}: price of {model!r}: {key} must be a number >= 0")
        values[key] = float(value)
    if "input" not in values or "output" not in values:
        raise ConfigError(f"{where}: price of {model!r} needs input and output (USD per 1M)")
    return values
