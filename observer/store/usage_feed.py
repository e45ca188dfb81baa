"""Usage rows as they commit, read forward: what the server's `/metrics` counts tokens and cost
from (observer/server/metrics_usage.py).

Rows of `usage_records` are only ever inserted, never updated or deleted, so each one's rowid is
above every row committed before it: a reader that keeps the last rowid it read reads each row
once, each read a range of the table's own key (no scan, however big the history). The feed
starts past the rows already there when it opens: what a server counts is what committed while
it ran, so a restart neither counts the history again nor misses a row committed in between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlite_utils import Database

from observer.store import open_database

# The columns of a row, in order.
COLUMNS = (
    "rowid, agent, session_id, at, model, agent_cost is not null,"
    " input, output, cache_read, cache_write, coalesce(agent_cost, 0), cache_write_1h"
)


class UsageFeed:
    """Reads on the caller's thread (the loop's), on a connection of its own."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: Database | None = None
        self.after = 0  # the last rowid read

    def start(self) -> None:
        """Skip what is committed already."""
        row = self._conn().execute("select coalesce(max(rowid), 0) from usage_records").fetchone()
        self.after = int(row[0])

    def new_rows(self, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` rows committed since the last call, oldest first: (rowid, agent,
        session_id, at, model, priced by the agent, input, output, cache_read, cache_write,
        the agent's cost or 0, the part of cache_write written for an hour). Cache reads and
        writes are apart from input; reasoning is part of output (observer/core/usage.py)."""
        rows = (
            self._conn()
            .execute(
                f"select {COLUMNS} from usage_records where rowid > ? order by rowid limit ?",
                [self.after, limit],
            )
            .fetchall()
        )
        if rows:
            self.after = int(rows[-1][0])
        return rows

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None

    def _conn(self) -> Database:
        if self._db is None:
            self._db = open_database(self._path)
        return self._db
