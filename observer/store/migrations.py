"""The database's schema, as sqlite-utils migrations: applied in order, each once, by name.

The names are in users' databases (`_sqlite_migrations`): never rename one, only add the next.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from observer.store.search_index import PENDING_TRIGGERS, SEARCHED_SQL

migrations = Migrations("observer")


@migrations()
def m001_sessions_and_events(db: Database) -> None:
    db.table("sessions").create(
        {
            "id": str,
            "agent": str,
            "status": str,
            "revision": int,
            "updated_at": float,
            "state": str,
        },
        pk="id",
    )
    events = db.table("events")
    events.create(
        {
            "seq": int,
            "session_id": str,
            "revision": int,
            "at": float,
            "kind": str,
            "wire": str,
            "status": str,
            "changes": str,
            "event": str,
        },
        pk="seq",
    )
    events.create_index(["session_id", "revision"])


@migrations()
def m002_rollout_offsets(db: Database) -> None:
    """How far each tailed file (Codex rollouts) was applied, so a restart reads only new bytes."""
    db.table("file_offsets").create(
        {"path": str, "inode": int, "offset": int, "context": str},
        pk="path",
    )


@migrations()
def m003_usage_records(db: Database) -> None:
    """One row per model call, keyed by what names the call for its agent: inserted with
    INSERT OR IGNORE in the same transaction as the offset of the file it was read from, so a
    re-read (restart, truncation, a fork's copied history) never counts it twice. Costs from
    the price table are not stored (see observer/core/usage.py); the agent's own are."""
    usage = db.table("usage_records")
    usage.create(
        {
            "agent": str,
            "record_id": str,
            "session_id": str,
            "turn_id": str,
            "at": float,
            "model": str,
            "input": int,
            "output": int,
            "cache_read": int,
            "cache_write": int,
            "reasoning": int,
            "agent_cost": float,
        },
        pk=("agent", "record_id"),
    )
    usage.create_index(["session_id", "at"])
    usage.create_index(["at"])


@migrations()
def m004_forwarded_files(db: Database) -> None:
    """Spool files another machine sent (`observer forward`), keyed by (host, file name, mtime):
    inserted in the same transaction as their events, so a batch sent again after its answer
    was lost is recognised and applied once. The mtime is in the key because a hook's nonce
    may repeat after a reboot, never with the same mtime."""
    db.table("forwarded_files").create(
        {"host": str, "name": str, "mtime_ns": int},
        pk=("host", "name", "mtime_ns"),
    )


@migrations()
def m005_timeline(db: Database) -> None:
    """A session's timeline (observer/core/timeline.py): one row per item, keyed by (session,
    item id) so a re-read or a resume replaces an item instead of repeating it; `seq` keeps
    the order items were first seen in and is the cursor of a page. `text` (the item's text)
    and `about` (tool, path, command) are searched through FTS5, kept in step by the triggers
    sqlite-utils makes; `body` holds the rest of the item as JSON. `timeline_offsets` is how
    far each tailed file was read for items, committed with them."""
    timeline = db.table("timeline")
    timeline.create(
        {
            "seq": int,
            "session_id": str,
            "item_id": str,
            "agent": str,
            "at": float,
            "kind": str,
            "text": str,
            "about": str,
            "body": str,
        },
        pk="seq",
    )
    timeline.create_index(["session_id", "item_id"], unique=True)
    timeline.create_index(["session_id", "seq"])
    timeline.create_index(["at"])
    timeline.enable_fts(["text", "about"], fts_version="FTS5", create_triggers=True)
    db.table("timeline_offsets").create(
        {"path": str, "inode": int, "offset": int, "context": str},
        pk="path",
    )


@migrations()
def m006_sessions_history(db: Database) -> None:
    """The history of ended sessions, paged newest first (observer/store/history.py): the
    session's project as a column (it was only inside `state`), and indexes that read a page
    of ended sessions in the order of their last activity, by agent or project."""
    sessions = db.table("sessions")
    sessions.add_column("project", str)
    db.execute("update sessions set project = json_extract(state, '$.project')")
    sessions.create_index(["status", "updated_at", "id"])
    sessions.create_index(["status", "agent", "updated_at", "id"])
    sessions.create_index(["status", "project", "updated_at", "id"])


@migrations()
def m007_search_index_off_the_commit(db: Database) -> None:
    """The search index is built after the commit, not in it (observer/store/search_index.py).

    m005's triggers indexed every item inside the commit that stored it, so a history being
    read made each live commit wait for FTS5 (90% of the writer's time), and every word of a
    long tool output was indexed. Now an item's commit only notes its seq in
    `timeline_fts_pending`; the writer indexes pending items in small slices when nothing
    else is queued. The index covers `searched`: the item's text, except a tool output longer
    than SEARCHED_OUTPUT_CHARS, of which only both ends are searched (the part that names
    what ran and how it ended). Existing items are indexed again that way, in the background.
    """
    timeline = db.table("timeline")
    timeline.disable_fts()  # m005's index and its triggers (sqlite-utils')
    db.execute(
        f"alter table timeline add column searched text generated always as ({SEARCHED_SQL})"
        " virtual"
    )
    # The shape sqlite-utils' enable_fts writes, so its detect_fts and search find it; not
    # enable_fts itself, which would index the whole table here, before start-up goes on.
    db.execute(
        "create virtual table [timeline_fts] using FTS5 ([searched], [about], content=[timeline])"
    )
    db.table("timeline_fts_pending").create({"seq": int}, pk="seq")
    db.execute("insert into timeline_fts_pending (seq) select seq from timeline")
    db.executescript(PENDING_TRIGGERS)


@migrations()
def m008_usage_history(db: Database) -> None:
    """Usage read from every agent file on disk, hooks or not (observer/ingest/usage_history.py):
    `usage_offsets` is how far each file was read for usage alone (apart from `file_offsets`,
    which the session tailers own: a file read for usage is still read whole for its session
    when that tailer gets to it); each row says its project (the call's working directory's
    last part) so reports group without the sessions table, which history-only calls have no
    row in; `cache_write_1h` is the part of `cache_write` written for an hour, priced apart.
    Rows before this take their session's project."""
    usage = db.table("usage_records")
    usage.add_column("cache_write_1h", int, not_null_default=0)
    usage.add_column("project", str)
    db.execute(
        "update usage_records set project ="
        " (select s.project from sessions s where s.id = usage_records.session_id)"
    )
    db.table("usage_offsets").create(
        {"path": str, "inode": int, "offset": int, "context": str},
        pk="path",
    )


@migrations()
def m009_usage_reported(db: Database) -> None:
    """What an agent itself says a session used so far (Claude's cost-state), the last word per
    session: `models` and `copied` are JSON lists of [model, input, output, cache read, cache
    write, cost] (observer/core/events.py, ReportedUsage)."""
    db.table("usage_reported").create(
        {
            "agent": str,
            "session_id": str,
            "at": float,
            "cost_usd": float,
            "models": str,
            "copied": str,
        },
        pk=("agent", "session_id"),
    )


@migrations()
def m010_usage_limits(db: Database) -> None:
    """The plan's usage limits as an agent last reported them (Claude Code passes them to its
    status line: `observer statusline` writes them here), one row per window: `name` as the
    agent says it (`five_hour`, `seven_day`, …), `at` when it was said."""
    db.table("usage_limits").create(
        {
            "agent": str,
            "name": str,
            "used_percent": float,
            "window_minutes": int,
            "resets_at": float,
            "at": float,
            "session_id": str,
        },
        pk=("agent", "name"),
    )
