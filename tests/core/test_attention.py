"""The attention order, the one every client shows sessions in (each client's use of it:
tests/clients/test_attention_order.py)."""

from __future__ import annotations

from observer.core.attention import (
    RECENT_ENDED_MAX,
    RECENT_ENDED_SECONDS,
    UNKNOWN_RANK,
    attention_key,
    listed,
    sort_states,
    sort_views,
)
from observer.core.state import SessionState
from observer.core.table import Status


def test_attention_order_permission_question_waiting_working_ended() -> None:
    def state(sid: str, status: Status, since: float) -> SessionState:
        return SessionState(
            sid,
            "claude",
            status=status,
            held=False,
            materialized=True,
            status_since=since,
            last_activity_at=since,
        )

    states = [
        state("e", Status.ENDED, 1),
        state("w2", Status.WORKING, 5),
        state("a", Status.WAITING, 3),
        state("p-new", Status.PERMISSION, 9),
        state("q", Status.QUESTION, 2),
        state("p-old", Status.PERMISSION, 4),
        state("w1", Status.WORKING, 7),
    ]
    order = [s.session_id for s in sort_states(states)]
    assert order == ["p-old", "p-new", "q", "a", "w1", "w2", "e"]


def test_needing_you_waits_longest_first_the_rest_moved_last_first() -> None:
    waited = [{"id": i, "status": "question", "status_since": t} for i, t in (("b", 9), ("a", 1))]
    moved = [
        {"id": i, "status": "working", "status_since": 0, "last_activity_at": t}
        for i, t in (("old", 1), ("new", 9))
    ]
    assert [s["id"] for s in sort_views(waited + moved)] == ["a", "b", "new", "old"]


def test_a_status_this_version_does_not_know_goes_last() -> None:
    assert attention_key("napping", 1.0, 1.0)[0] == UNKNOWN_RANK
    views = [{"id": "x", "status": "napping"}, {"id": "e", "status": "ended"}]
    assert [s["id"] for s in sort_views(views)] == ["e", "x"]


def test_every_status_has_a_rank() -> None:
    assert {attention_key(s, 0, 0)[0] for s in Status} == set(range(len(Status)))


def test_the_list_holds_live_sessions_and_the_newest_recently_ended() -> None:
    now = 1_000_000.0

    def state(sid: str, status: Status, at: float) -> SessionState:
        return SessionState(
            sid, "claude", status=status, held=False, materialized=True, last_activity_at=at
        )

    recent = [state(f"e{n:03d}", Status.ENDED, now - n) for n in range(RECENT_ENDED_MAX + 5)]
    old = state("old", Status.ENDED, now - RECENT_ENDED_SECONDS - 1)
    quiet = state("quiet", Status.WAITING, now - 10 * RECENT_ENDED_SECONDS)
    ids = [s.session_id for s in listed([old, *reversed(recent), quiet], now)]
    assert ids == ["quiet", *(f"e{n:03d}" for n in range(RECENT_ENDED_MAX))]
