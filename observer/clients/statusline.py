"""`observer statusline`: a Claude Code status line, run on every redraw.

Claude Code runs it with the session as JSON on stdin (`session_id`, `model.display_name`,
`cost.total_cost_usd`, `context_window.used_percentage`, and on Pro/Max plans `rate_limits`:
`five_hour` / `seven_day`, each `used_percentage` and `resets_at`), and shows the first line it
prints. It prints one compact line: the model, the session's cost (Claude's own figure), the
cost of today's calls of every agent (from observer's database), the context in use, the plan's
limits; and records those limits in the database (`usage_limits`), where `observer usage`
shows them, and, when a session's limits changed, writes its JSON to observer's spool as a
hook would (event `Status`), so the server shows them in that session's live usage.

Two rules above all. It must be fast (its budget is 3x a bare `python -c pass`, measured in
scripts/bench/usage.py): no typer, no store package (its imports alone cost more than the
budget), so this module speaks the little SQL it needs on a plain `sqlite3` connection (the
schema is the store's: m003, m008, m010), and today's cost is priced only when new calls came
(else a small cache file in the data dir answers). And it must never fail the status line: bad
input, a missing or locked database, anything at all prints a plain line and exits 0.

`--chain CMD` (what `observer install-hooks --statusline` writes when the user had a status
line of their own): CMD runs through `sh -c` with the same stdin, beside observer's own work,
and its first line is shown before observer's (`theirs | ours`; its other lines follow). A
chained command that fails (exit status not 0) or is still running after CHAIN_SECONDS is left
out (killed, with what it started) and observer's part printed alone, exit 0 as always.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

CACHE_NAME = "statusline.json"
CHAIN_SECONDS = 1.0  # a chained status line slower than this is left out of this redraw
SPOOLED_KEPT = 20  # sessions whose last spooled limits the cache remembers
BUSY_MS = 200  # a locked database never holds a redraw longer than this
# Claude Code's windows, and how long each is.
WINDOWS = {"five_hour": ("5h", 300), "seven_day": ("7d", 10080)}


def main(argv: list[str], stdin: Any = None, out: Any = None) -> int:
    out = out or sys.stdout
    raw = ""
    try:
        raw = (stdin or sys.stdin).read()
    except Exception:  # noqa: BLE001 - a status line must never fail
        pass
    chain = _option(argv, "--chain")
    running = _start(chain, raw) if chain else None
    try:
        line = render(argv, raw)
    except Exception:  # noqa: BLE001
        line = "observer"
    if running is not None:
        line = _beside(_finish(*running), line)
    try:
        out.write(line + "\n")
        out.flush()
    except Exception:  # noqa: BLE001
        pass
    return 0


def _start(chain: str, raw: str) -> tuple[Any, float] | None:
    """The user's own status line, started with the same stdin (it runs while ours renders)."""
    try:
        import subprocess

        data = raw.encode("utf-8", "replace")
        if len(data) <= 8192:  # fits a pipe's buffer: written now, never blocks
            read, write = os.pipe()
            os.write(write, data)
            os.close(write)
            source: Any = read
        else:
            import tempfile

            source = tempfile.TemporaryFile()
            source.write(data)
            source.seek(0)
        try:
            process = subprocess.Popen(
                chain,
                shell=True,
                stdin=source,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own group: killed whole when too slow
            )
        finally:
            if isinstance(source, int):
                os.close(source)
            else:
                source.close()
        return process, time.monotonic() + CHAIN_SECONDS
    except Exception:  # noqa: BLE001
        return None


def _finish(process: Any, deadline: float) -> str:
    """What the chained command printed, or "" when it failed or took too long."""
    import subprocess

    try:
        printed, _ = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, 9)
            process.stdout.close()
            process.wait(0.5)  # its shell, killed: gone at once
        except Exception:  # noqa: BLE001
            pass
        return ""
    except Exception:  # noqa: BLE001
        return ""
    if process.returncode != 0:
        return ""
    return str(printed.decode("utf-8", "replace")).rstrip("\r\n")


def _beside(theirs: str, ours: str) -> str:
    if not theirs.strip():
        return ours
    first, *rest = theirs.split("\n")
    return "\n".join([f"{first} | {ours}", *rest])


def render(argv: list[str], raw: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    parts = [_text(_get(data, "model", "display_name")) or _text(_get(data, "model", "id"))]
    session = _number(_get(data, "cost", "total_cost_usd"))
    if session is not None:
        parts.append(f"session {_money(session)}")
    limits = _limits(data.get("rate_limits"))
    data_dir = _data_dir(argv)
    db = data_dir / "observer.db"
    session_id = _text(data.get("session_id"))
    if limits and session_id:
        try:
            _spool(data_dir, raw, session_id, limits)
        except Exception:  # noqa: BLE001 - a full disk, a spool gone: the line still prints
            pass
    if db.exists():
        try:
            today = _today(db, now)
            if today is not None:
                parts.append(f"today {today}")
            if limits:
                _record(db, limits, session_id, now)
        except Exception:  # noqa: BLE001 - locked, older schema, damaged: say less
            pass
    context = _context(data.get("context_window"))
    if context is not None:
        parts.append(f"ctx {context:.0f}%")
    for name, used, _window, resets in limits:
        label = WINDOWS.get(name, (name, 0))[0]
        when = f" (resets {time.strftime('%H:%M', time.localtime(resets))})" if resets else ""
        parts.append(f"{label} {used:.0f}%{when if name == 'five_hour' else ''}")
    return " | ".join(p for p in parts if p) or "observer"


def _data_dir(argv: list[str]) -> Path:
    """`--data-dir D`, else OBSERVER_DATA_DIR, else the default of observer/settings.py (its
    import alone would be a third of the budget; tests hold the two equal)."""
    named = _option(argv, "--data-dir") or os.environ.get("OBSERVER_DATA_DIR")
    if named:
        return Path(named).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("observer", appauthor=False))


def _option(argv: list[str], name: str) -> str | None:
    """`name VALUE` or `name=VALUE` in argv."""
    for n, arg in enumerate(argv):
        if arg == name and n + 1 < len(argv):
            return argv[n + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _today(db: Path, now: float) -> str | None:
    """Today's cost (local midnight on) of every agent's calls, `$1.23` (`+?`: part unknown),
    priced only when calls came since the last redraw."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=BUSY_MS / 1000)
    try:
        last = conn.execute("select coalesce(max(rowid), 0) from usage_records").fetchone()[0]
        midnight = _midnight(now)
        config = db.parent / "config.toml"
        prices_at = config.stat().st_mtime if config.exists() else 0.0
        key = [midnight, int(last), prices_at]
        cache = db.parent / CACHE_NAME
        try:
            kept = json.loads(cache.read_text())
            if kept.get("key") == key:
                return str(kept["today"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass
        today = _priced_since(conn, midnight, config)
    finally:
        conn.close()
    _keep(cache, {"key": key, "today": today})
    return today


def _priced_since(conn: sqlite3.Connection, since: float, config: Path) -> str:
    from observer.core.usage import buckets_from_rows, prompt_class_sql, summarize, thresholds
    from observer.ingest.prices import load_prices

    prices = load_prices(config)
    klass = prompt_class_sql(thresholds(prices))
    rows = conn.execute(
        f"select model, agent_cost is not null, {klass}, sum(input), sum(output),"
        " sum(cache_read), sum(cache_write), sum(reasoning), count(*),"
        " sum(coalesce(agent_cost, 0)), sum(cache_write_1h) from usage_records where at >= ?"
        " group by 1, 2, 3",
        [since],
    ).fetchall()
    view = summarize(buckets_from_rows(rows), prices)
    cost = view["cost_usd"]
    if cost is None:
        return "$?"
    return _money(cost) + ("" if view["cost_complete"] else "+?")


def _record(
    db: Path, limits: list[tuple[str, float, int | None, float | None]], session: str, now: float
) -> None:
    """The plan's limits into `usage_limits`, when they changed since the last redraw."""
    cache = db.parent / CACHE_NAME
    try:
        kept = json.loads(cache.read_text())
    except (OSError, ValueError):
        kept = {}
    if kept.get("limits") == [list(limit) for limit in limits]:
        return
    conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=BUSY_MS / 1000)
    try:
        with conn:
            conn.executemany(
                "insert into usage_limits (agent, name, used_percent, window_minutes, resets_at,"
                " at, session_id) values ('claude', ?, ?, ?, ?, ?, ?)"
                " on conflict(agent, name) do update set used_percent=excluded.used_percent,"
                " window_minutes=excluded.window_minutes, resets_at=excluded.resets_at,"
                " at=excluded.at, session_id=excluded.session_id",
                [
                    (name, used, window, resets, now, session or None)
                    for name, used, window, resets in limits
                ],
            )
    finally:
        conn.close()
    kept["limits"] = [list(limit) for limit in limits]
    _keep(cache, kept)


def _spool(
    data_dir: Path,
    raw: str,
    session: str,
    limits: list[tuple[str, float, int | None, float | None]],
) -> None:
    """The status line's JSON into observer's spool, as a hook's event (`Status`), when this
    session's limits changed since it was last spooled: the server puts them in the session's
    live usage (connectors/claude/hooks.py). Only where observer's spool is (never created)."""
    spool = data_dir / "spool"
    if not spool.is_dir():
        return
    cache = data_dir / CACHE_NAME
    try:
        told = json.loads(cache.read_text()).get("spooled")
    except (OSError, ValueError, AttributeError):
        told = None
    told = told if isinstance(told, dict) else {}
    said = [list(limit) for limit in limits]
    if told.get(session) == said:
        return
    _write_event(spool, raw.encode("utf-8", "replace"))
    told.pop(session, None)
    told[session] = said
    _keep(cache, {"spooled": dict(list(told.items())[-SPOOLED_KEPT:])})


def _write_event(spool: Path, payload: bytes) -> None:
    """The hook's contract (hooks/observer-hook, observer/ingest/spool.py's `write_event`):
    the payload to a hidden `.ev.claude.Status.0.<nonce>.json` (0: no agent pid), then the
    empty marker that commits it. Written here: importing the spool module costs a redraw
    about 30 ms, as much as the whole line."""
    name = f"ev.claude.Status.0.sl{os.getpid()}x{time.monotonic_ns()}"
    path = spool / f".{name}.json"
    data = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        left = memoryview(payload)
        while left:
            left = left[os.write(data, left) :]
    except OSError:
        path.unlink(missing_ok=True)  # incomplete: never committed
        raise
    finally:
        os.close(data)
    os.close(os.open(spool / f"{name}.ready", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _keep(cache: Path, update: dict[str, Any]) -> None:
    """Merge `update` into the cache file (written whole, then renamed into place)."""
    try:
        kept = json.loads(cache.read_text())
        if not isinstance(kept, dict):
            kept = {}
    except (OSError, ValueError):
        kept = {}
    kept.update(update)
    from observer.fsio import atomic_write  # the one atomic write (tests/test_fsio.py)

    try:
        # Not durable: it runs on every redraw, and a cache lost in a crash is read again.
        atomic_write(cache, json.dumps(kept).encode(), 0o600, durable=False)
    except OSError:
        pass  # a status line never fails


def _limits(raw: Any) -> list[tuple[str, float, int | None, float | None]]:
    """`rate_limits` -> (name, used %, window minutes, resets at), shortest window first."""
    if not isinstance(raw, dict):
        return []
    found = []
    for name, window in raw.items():
        if not isinstance(window, dict):
            continue
        used = _number(window.get("used_percentage"))
        if used is None:
            continue
        resets = _number(window.get("resets_at"))
        minutes = WINDOWS.get(str(name), ("", None))[1]
        found.append((str(name), used, minutes, resets))
    return sorted(found, key=lambda item: (item[2] or 10**9, item[0]))


def _context(raw: Any) -> float | None:
    if not isinstance(raw, dict):
        return None
    used = _number(raw.get("used_percentage"))
    if used is not None:
        return used
    size = _number(raw.get("context_window_size"))
    current = raw.get("current_usage")
    if not size or not isinstance(current, dict):
        return None
    keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    tokens = sum(_number(current.get(k)) or 0.0 for k in keys)
    return 100.0 * tokens / size


def _midnight(now: float) -> float:
    local = time.localtime(now)
    return time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))


def _get(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)  # type: ignore[assignment]
    return data


def _text(value: Any) -> str:
    return value.strip()[:60] if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _money(cost: float) -> str:
    """As observer/core/usage.py's `money` (imported only when pricing: it costs a redraw)."""
    if cost == 0:
        return "$0.00"
    if abs(cost) >= 0.01:
        return f"${cost:,.2f}"
    digits = 2
    while abs(cost) < 10 ** (1 - digits) and digits < 12:
        digits += 1
    return "$" + f"{cost:.{digits}f}".rstrip("0").rstrip(".")
