"""The pure session state machine, driven by hand-built events (no connector, no IO)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observer.core.book import SessionBook
from observer.core.events import Event, Kind
from observer.core.state import (
    PROCESS_EXITED,
    Effect,
    PendingApproval,
    SessionState,
    Transition,
    transition,
)
from observer.core.table import HELD, TABLE, Status
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SID = "s1"
VISIBLE = (Effect.CREATED, Effect.UPDATED, Effect.ENDED)
REGISTRY_WIRE = {
    Kind.BUSY: "registry:busy",
    Kind.IDLE: "registry:idle",
    Kind.BLOCKED: "registry:waiting",
}


def ev(kind: Kind, at: float, **extra: Any) -> Event:
    wire = REGISTRY_WIRE.get(kind, kind.value)
    return Event(
        kind=kind,
        session_id=extra.pop("session_id", SID),
        agent="claude",
        at=at,
        wire=wire,
        **extra,
    )


def run(*events: Event, state: SessionState | None = None) -> list[Transition]:
    """Apply events in order, as the owner would (its clock = the event time)."""
    results = []
    for event in events:
        result = transition(state, event, event.at)
        results.append(result)
        state = result.state
    return results


def last(*events: Event, state: SessionState | None = None) -> SessionState:
    final = run(*events, state=state)[-1].state
    assert final is not None
    return final


def tool_start(
    at: float, tool: str = "Bash", use_id: str = "toolu_a", key: str = "ka", **extra: Any
) -> Event:
    return ev(Kind.TOOL_START, at, tool=tool, tool_use_id=use_id, tool_key=key, **extra)


def approval(
    at: float, tool: str = "Bash", key: str = "ka", detail: str = "ls -la", **extra: Any
) -> Event:
    # Claude's PermissionRequest carries no tool_use_id: only the tool digest pairs it.
    return ev(Kind.APPROVAL_REQUEST, at, tool=tool, tool_key=key, detail=detail, **extra)


def question(at: float, key: str = "kq", detail: str = "Which color?") -> Event:
    return ev(Kind.QUESTION, at, tool="AskUserQuestion", tool_key=key, detail=detail)


def tool_end(
    at: float, tool: str = "Bash", use_id: str = "toolu_a", key: str = "ka", **extra: Any
) -> Event:
    return ev(Kind.TOOL_END, at, tool=tool, tool_use_id=use_id, tool_key=key, **extra)


START = ev(Kind.SESSION_START, 1.0, cwd="/work/proj", detail="startup")
PROMPT = ev(Kind.PROMPT, 2.0, detail="do the thing")


def working() -> SessionState:
    state = last(START, PROMPT)
    assert state.status is Status.WORKING
    return state


def permission() -> SessionState:
    state = last(tool_start(3.0), approval(4.0), state=working())
    assert state.status is Status.PERMISSION and state.pending is not None
    return state


def asking() -> SessionState:
    state = last(
        tool_start(3.0, "AskUserQuestion", "toolu_q", "kq"), question(4.0), state=working()
    )
    assert state.status is Status.QUESTION and state.pending is not None
    return state


def waiting() -> SessionState:
    state = last(ev(Kind.TURN_END, 5.0, detail="done"), state=working())
    assert state.status is Status.WAITING
    return state


def ended() -> SessionState:
    state = last(ev(Kind.SESSION_END, 9.0, detail="other"), state=waiting())
    assert state.status is Status.ENDED
    return state


# -- deferred materialisation ----------------------------------------------------------------


def test_session_start_alone_is_held_and_invisible() -> None:
    result = transition(None, START, 1.0)
    assert result.effect is Effect.HELD
    assert result.state is not None
    assert result.state.held and not result.state.materialized
    assert result.state.revision == 0
    book = SessionBook()
    assert book.apply(START, 1.0).effect is Effect.HELD
    assert list(book.visible()) == []


@pytest.mark.parametrize("kind", [Kind.METADATA, Kind.IDLE, Kind.ATTENTION])
def test_facts_alone_keep_a_session_held(kind: Kind) -> None:
    results = run(START, ev(kind, 1.5, model="m1"))
    assert [r.effect for r in results] == [Effect.HELD, Effect.HELD]
    assert results[-1].state is not None and results[-1].state.held


@pytest.mark.parametrize("end", [Kind.SESSION_END, Kind.PROCESS_GONE])
def test_an_end_before_any_real_event_drops_the_session(end: Kind) -> None:
    book = SessionBook()
    book.apply(START, 1.0)
    result = book.apply(ev(end, 2.0, detail="other"), 2.0)
    assert result.effect is Effect.DROPPED
    assert result.state is None
    assert book.get(SID) is None
    assert list(book.visible()) == []


@pytest.mark.parametrize("end", [Kind.SESSION_END, Kind.PROCESS_GONE])
def test_an_end_of_a_session_never_seen_is_nothing(end: Kind) -> None:
    result = transition(None, ev(end, 2.0), 2.0)
    assert result.effect is Effect.NONE and result.state is None


def test_the_first_real_event_creates_the_session_at_revision_1() -> None:
    held, created = run(START, PROMPT)
    assert held.effect is Effect.HELD
    assert created.effect is Effect.CREATED
    state = created.state
    assert state is not None
    assert state.revision == 1
    assert state.status is Status.WORKING
    assert not state.held and state.materialized
    assert state.started_at == 1.0  # the held SessionStart's time, not the prompt's
    assert state.cwd == "/work/proj" and state.project == "proj"
    assert state.title == "do the thing"
    assert "status" in created.changed


# -- the table -------------------------------------------------------------------------------


def _state_in(current: str) -> SessionState:
    """A state sitting in `current`, with nothing that would trigger a guard."""
    if current == HELD:
        return SessionState(SID, "claude", held=True, started_at=100.0)
    status = Status(current)
    pending = None
    if status in (Status.PERMISSION, Status.QUESTION):
        pending = PendingApproval("toolu_1", status.value, "Bash", "ls", 100.0, tool_key="k1")
    return SessionState(
        SID,
        "claude",
        status=status,
        held=False,
        materialized=True,
        cwd="/w",
        project="w",
        pending=pending,
        started_at=90.0,
        last_activity_at=100.0,
        status_since=100.0,
        revision=3,
        open_tools=(("k1", "toolu_1", "Bash"),),
    )


def _table_event(kind: Kind) -> Event:
    """Newer than the state (registry guard off); tool ends match the pending request;
    requests are for another tool (duplicate guard off); not from a subagent."""
    if kind in (Kind.APPROVAL_REQUEST, Kind.QUESTION):
        return ev(kind, 200.0, tool="Bash", tool_key="k2", detail="touch x")
    if kind in (Kind.TOOL_START, Kind.TOOL_END, Kind.TOOL_DENIED):
        return ev(kind, 200.0, tool="Bash", tool_use_id="toolu_1", tool_key="k1")
    return ev(kind, 200.0, detail="why")


FROMS = [HELD, *(s.value for s in Status if s is not Status.ENDED)]


@pytest.mark.parametrize(("current", "kind"), sorted(TABLE), ids=lambda v: str(v))
def test_each_table_row(current: str, kind: Kind) -> None:
    result = transition(_state_in(current), _table_event(kind), 200.0)
    if current == HELD and kind in (Kind.SESSION_END, Kind.PROCESS_GONE):
        assert result.effect is Effect.DROPPED and result.state is None
        return
    assert result.state is not None
    assert result.state.status is TABLE[(current, kind)]
    assert not result.state.held
    if current == HELD:
        assert result.effect is Effect.CREATED and result.state.revision == 1


_NOT_IN_TABLE = [
    (current, kind)
    for current in FROMS
    for kind in Kind
    # BLOCKED is decided by its guard alone; SESSION_START on a held session re-holds it.
    if (current, kind) not in TABLE and kind is not Kind.BLOCKED
]


@pytest.mark.parametrize(("current", "kind"), _NOT_IN_TABLE, ids=lambda v: str(v))
def test_kinds_absent_from_a_row_change_facts_only(current: str, kind: Kind) -> None:
    before = _state_in(current)
    result = transition(before, _table_event(kind), 200.0)
    assert result.state is not None
    assert result.state.status is before.status
    assert result.state.held is before.held
    if current == HELD:
        assert result.effect is Effect.HELD
    else:
        assert result.effect in (Effect.NONE, Effect.UPDATED)
        assert "status" not in result.changed


def test_the_table_never_leaves_from_ended_and_covers_every_live_status() -> None:
    assert {current for current, _ in TABLE} == set(FROMS)
    assert all(kind is not Kind.BLOCKED for _, kind in TABLE)


# -- the semantic rows, literally ------------------------------------------------------------


def test_prompt_means_working() -> None:
    state = last(ev(Kind.PROMPT, 6.0, detail="again"), state=waiting())
    assert state.status is Status.WORKING


def test_approval_request_pairs_with_its_tool_start_by_digest() -> None:
    state = last(
        tool_start(3.0, "Bash", "toolu_a", "ka"),
        tool_start(3.5, "Read", "toolu_b", "kb"),
        approval(4.0, "Bash", "ka", detail="rm -rf build"),
        state=working(),
    )
    assert state.status is Status.PERMISSION
    assert state.pending == PendingApproval(
        request_id="toolu_a",
        kind="permission",
        tool="Bash",
        summary="rm -rf build",
        since=4.0,
        tool_key="ka",
    )


def test_approval_pairs_with_a_second_call_of_the_same_tool() -> None:
    state = last(
        tool_start(3.0, "Bash", "toolu_a", "ka"),
        ev(Kind.TOOLS_DONE, 3.2),  # the first call was denied by a hook
        tool_start(3.5, "Bash", "toolu_b", "kb"),
        approval(4.0, "Bash", "kb", detail="touch call2.txt"),
        state=working(),
    )
    assert state.status is Status.PERMISSION
    assert state.pending is not None and state.pending.request_id == "toolu_b"


def test_question_means_question() -> None:
    state = asking()
    assert state.pending is not None
    assert state.pending.kind == "question"
    assert state.pending.request_id == "toolu_q"
    assert state.pending.summary == "Which color?"
    assert state.pending.tool == "AskUserQuestion"


@pytest.mark.parametrize("by", ["tool_use_id", "tool_key"])
def test_tool_end_matching_the_pending_resolves_it(by: str) -> None:
    end = tool_end(5.0) if by == "tool_use_id" else tool_end(5.0, use_id="other")
    result = run(end, state=permission())[-1]
    assert result.state is not None
    assert result.state.status is Status.WORKING
    assert result.state.pending is None
    assert result.effect is Effect.UPDATED
    assert {"status", "pending"} <= set(result.changed)


def test_tool_end_of_another_tool_keeps_the_permission() -> None:
    before = permission()
    state = last(tool_end(5.0, "Read", "toolu_z", "kz"), state=before)
    assert state.status is Status.PERMISSION
    assert state.pending == before.pending


def test_tools_done_after_a_denied_tool_means_working() -> None:
    state = last(ev(Kind.TOOLS_DONE, 5.0), state=permission())
    assert state.status is Status.WORKING
    assert state.pending is None


def test_tool_denied_by_the_classifier_means_working() -> None:
    state = last(ev(Kind.TOOL_DENIED, 5.0, tool="Bash", tool_use_id="toolu_a"), state=permission())
    assert state.status is Status.WORKING


def test_turn_end_means_waiting() -> None:
    state = last(ev(Kind.TURN_END, 5.0, detail="All done."), state=working())
    assert state.status is Status.WAITING
    assert state.last_message == "All done."
    assert state.current_tool is None


def test_turn_failed_means_waiting_with_the_error() -> None:
    state = last(ev(Kind.TURN_FAILED, 5.0, detail="unknown: API Error: 400"), state=working())
    assert state.status is Status.WAITING
    assert state.error == "unknown: API Error: 400"
    assert last(ev(Kind.PROMPT, 6.0, detail="retry"), state=state).error is None


def test_a_turn_that_ends_on_an_unanswered_question_is_a_question() -> None:
    # AskUserQuestion was asked, then the batch finished without its PostToolUse (denied).
    after_batch = last(ev(Kind.TOOLS_DONE, 5.0), state=asking())
    assert after_batch.status is Status.WORKING
    assert after_batch.pending is None
    result = run(ev(Kind.TURN_END, 6.0), state=after_batch)[-1]
    assert result.state is not None
    assert result.state.status is Status.QUESTION
    assert result.state.pending is None
    # The TUI's idle notification does not answer it...
    idle = run(ev(Kind.IDLE, 11.0), state=result.state)[-1]
    assert idle.effect is Effect.NONE
    assert idle.state is not None and idle.state.status is Status.QUESTION
    # ...the user's next prompt does.
    answered = last(ev(Kind.PROMPT, 12.0, detail="blue"), ev(Kind.TURN_END, 13.0), state=idle.state)
    assert answered.status is Status.WAITING


def test_an_answered_question_ends_the_turn_waiting() -> None:
    state = last(
        tool_end(5.0, "AskUserQuestion", "toolu_q", "kq"),
        ev(Kind.TOOLS_DONE, 5.1),
        ev(Kind.TURN_END, 6.0),
        state=asking(),
    )
    assert state.status is Status.WAITING


def test_a_prompt_mid_turn_answers_the_open_question() -> None:
    state = last(
        ev(Kind.TOOLS_DONE, 5.0),  # AskUserQuestion went unanswered
        ev(Kind.PROMPT, 5.5, detail="blue, and carry on"),  # absorbed into the running turn
        ev(Kind.TURN_END, 6.0),
        state=asking(),
    )
    assert state.status is Status.WAITING


@pytest.mark.parametrize(
    "make", [working, permission, asking], ids=["working", "permission", "question"]
)
def test_idle_after_esc_means_waiting(make: Any) -> None:
    before: SessionState = make()
    state = last(ev(Kind.IDLE, before.status_since + 1), state=before)
    assert state.status is Status.WAITING
    assert state.pending is None
    assert state.current_tool is None


@pytest.mark.parametrize(
    ("make", "kind", "extra"),
    [
        (working, Kind.IDLE, {}),
        (waiting, Kind.BUSY, {}),
        (working, Kind.BLOCKED, {"waiting_for": "permission prompt"}),
        (working, Kind.BLOCKED, {"waiting_for": "input needed"}),
        (permission, Kind.BUSY, {}),
    ],
)
def test_registry_reports_older_than_the_status_are_ignored(
    make: Any, kind: Kind, extra: dict[str, Any]
) -> None:
    before: SessionState = make()
    stale = run(ev(kind, before.status_since - 0.5, **extra), state=before)[-1]
    assert stale.state is not None
    assert stale.state.status is before.status
    assert stale.state.revision == before.revision
    fresh = last(ev(kind, before.status_since + 0.5, **extra), state=before)
    assert fresh.status is not before.status  # the same report, newer, is believed


def test_an_older_event_changes_facts_never_the_status() -> None:
    """Rule 5 on its own, for any source: a prompt applied after the Stop that followed it
    (a late spool file) must not make the session look busy again."""
    ended_turn = waiting()
    late = run(
        ev(Kind.PROMPT, ended_turn.status_since - 1.0, detail="late prompt"), state=ended_turn
    )
    state = late[-1].state
    assert state is not None
    assert state.status is Status.WAITING and state.status_since == ended_turn.status_since
    late_tool = last(tool_start(ended_turn.status_since - 0.5), state=ended_turn)
    assert late_tool.status is Status.WAITING
    fresh = last(ev(Kind.PROMPT, ended_turn.status_since + 1.0, detail="now"), state=ended_turn)
    assert fresh.status is Status.WORKING  # the same event, newer, moves it
    # Ends always apply, however late they are read.
    gone = last(ev(Kind.SESSION_END, ended_turn.status_since - 1.0), state=working())
    assert gone.status is Status.ENDED


def test_registry_permission_prompt_then_the_hook_enriches_the_pending() -> None:
    started = last(tool_start(3.0), state=working())
    blocked = run(ev(Kind.BLOCKED, 3.5, waiting_for="permission prompt"), state=started)[-1]
    assert blocked.state is not None
    assert blocked.state.status is Status.PERMISSION
    first = blocked.state.pending
    assert first is not None and first.kind == "permission"
    assert first.tool is None and first.summary is None
    hook = run(approval(4.0, detail="touch perm_test.txt"), state=blocked.state)[-1]
    assert hook.state is not None
    assert hook.effect is Effect.UPDATED
    assert hook.state.revision == blocked.state.revision + 1
    assert hook.state.status is Status.PERMISSION
    assert hook.state.pending is not None
    assert hook.state.pending.tool == "Bash"
    assert hook.state.pending.summary == "touch perm_test.txt"
    assert hook.state.pending.request_id == "toolu_a"
    # A later registry snapshot of the same prompt changes nothing.
    again = run(ev(Kind.BLOCKED, 4.5, waiting_for="permission prompt"), state=hook.state)[-1]
    assert again.effect is Effect.NONE


def test_registry_input_needed_means_question() -> None:
    state = last(ev(Kind.BLOCKED, 3.0, waiting_for="input needed"), state=working())
    assert state.status is Status.QUESTION
    assert state.pending is not None and state.pending.kind == "question"


def test_registry_dialog_open_is_not_an_approval() -> None:
    state = last(ev(Kind.BLOCKED, 6.0, waiting_for="dialog open"), state=waiting())
    assert state.status is Status.WAITING
    assert state.pending is None


def test_session_end_means_ended_with_its_reason() -> None:
    result = run(ev(Kind.SESSION_END, 9.0, detail="clear"), state=waiting())[-1]
    assert result.effect is Effect.ENDED
    assert result.state is not None
    assert result.state.status is Status.ENDED
    assert result.state.ended_reason == "clear"


def test_process_gone_means_ended() -> None:
    state = last(ev(Kind.PROCESS_GONE, 9.0, detail="process exited"), state=permission())
    assert state.status is Status.ENDED
    assert state.ended_reason == "process exited"
    assert state.pending is None


@pytest.mark.parametrize(
    "event",
    [
        ev(Kind.PROMPT, 10.0, detail="late"),
        tool_start(10.0),
        approval(10.0),
        ev(Kind.BUSY, 10.0),
        ev(Kind.BLOCKED, 10.0, waiting_for="permission prompt"),
        ev(Kind.TURN_END, 10.0),
        ev(Kind.SESSION_END, 10.0, detail="other"),
        ev(Kind.PROCESS_GONE, 10.0),
    ],
    ids=lambda e: e.kind.value,
)
def test_events_after_the_end_are_ignored(event: Event) -> None:
    before = ended()
    result = transition(before, event, 10.0)
    assert result.effect is Effect.NONE
    assert result.state == before


def test_a_resume_holds_then_a_prompt_revives_the_session() -> None:
    before = ended()
    held = run(ev(Kind.SESSION_START, 20.0, detail="resume"), state=before)[-1]
    assert held.effect is Effect.HELD
    assert held.state is not None and held.state.held and held.state.materialized
    assert held.state.revision == before.revision
    book = SessionBook([held.state])
    assert [s.session_id for s in book.visible()] == [SID]  # still listed, as ended
    revived = book.apply(ev(Kind.PROMPT, 21.0, detail="and now?"), 21.0)
    assert revived.effect is Effect.UPDATED
    assert revived.state is not None
    assert revived.state.status is Status.WORKING
    assert revived.state.revision == before.revision + 1
    assert revived.state.ended_reason is None
    assert not revived.state.held


def test_a_resume_that_does_nothing_goes_back_to_ended_quietly() -> None:
    before = ended()
    results = run(
        ev(Kind.SESSION_START, 20.0, detail="resume"),
        ev(Kind.SESSION_END, 21.0, detail="other"),
        state=before,
    )
    assert [r.effect for r in results] == [Effect.HELD, Effect.NONE]
    final = results[-1].state
    assert final is not None
    assert final.status is Status.ENDED and not final.held
    assert final.revision == before.revision


def test_subagent_tools_do_not_change_the_main_status() -> None:
    idle = waiting()
    for event in (
        tool_start(6.0, "Bash", "toolu_s", "ks", subagent=True),
        tool_end(6.5, "Bash", "toolu_s", "ks", subagent=True),
        ev(Kind.TOOLS_DONE, 6.6, subagent=True),
    ):
        idle = last(event, state=idle)
        assert idle.status is Status.WAITING


def test_subagent_tools_do_not_resolve_the_main_approval() -> None:
    before = permission()
    # The subagent runs the very same command: same digest, same tool_use_id even.
    state = last(
        tool_start(5.0, "Bash", "toolu_s", "ka", subagent=True),
        tool_end(5.5, "Bash", "toolu_a", "ka", subagent=True),
        ev(Kind.TOOLS_DONE, 5.6, subagent=True),
        state=before,
    )
    assert state.status is Status.PERMISSION
    assert state.pending == before.pending
    assert state.current_tool == before.current_tool


def test_a_subagent_approval_request_is_a_permission() -> None:
    # The main agent is blocked on it just the same.
    state = last(tool_start(6.0, "Bash", "toolu_s", "ks", subagent=True), state=working())
    state = last(approval(6.5, "Bash", "ks", subagent=True), state=state)
    assert state.status is Status.PERMISSION
    assert state.pending is not None and state.pending.tool_key == "ks"


def test_a_subagent_approval_is_paired_with_its_tool_use_id() -> None:
    state = last(tool_start(6.0, "Bash", "toolu_s", "ks", subagent=True), state=working())
    state = last(approval(6.5, "Bash", "ks", subagent=True), state=state)
    assert state.pending is not None and state.pending.request_id == "toolu_s"


@pytest.mark.parametrize("make", [permission, asking], ids=["permission", "question"])
def test_a_duplicate_request_is_a_no_op(make: Any) -> None:
    before: SessionState = make()
    assert before.pending is not None
    duplicate = question(4.5) if before.status is Status.QUESTION else approval(4.5)
    result = transition(before, duplicate, 4.5)
    assert result.effect is Effect.NONE
    assert result.state is not None
    assert result.state.revision == before.revision
    assert result.state.pending == before.pending


_LEAVING = [
    Kind.PROMPT,
    Kind.TURN_END,
    Kind.TURN_FAILED,
    Kind.IDLE,
    Kind.BUSY,
    Kind.TOOLS_DONE,
    Kind.TOOL_DENIED,
    Kind.SESSION_END,
    Kind.PROCESS_GONE,
]


@pytest.mark.parametrize(
    ("make", "kind"),
    [(permission, kind) for kind in _LEAVING]
    # A turn ending on an open question stays a question (tested above).
    + [(asking, kind) for kind in _LEAVING if kind is not Kind.TURN_END],
    ids=lambda v: str(v) if isinstance(v, Kind) else v.__name__,
)
def test_leaving_permission_or_question_clears_the_pending(make: Any, kind: Kind) -> None:
    before: SessionState = make()
    assert before.pending is not None
    event = ev(kind, 8.0, detail="x", tool="Bash", tool_use_id=before.pending.request_id)
    result = transition(before, event, 8.0)
    assert result.state is not None
    assert result.state.status not in (Status.PERMISSION, Status.QUESTION)
    assert result.state.pending is None
    assert "pending" in result.changed


def test_a_new_request_replaces_the_pending_of_another_kind() -> None:
    state = last(approval(5.0, "Write", "kw", detail="/etc/passwd"), state=asking())
    assert state.status is Status.PERMISSION
    assert state.pending is not None
    assert state.pending.kind == "permission" and state.pending.tool == "Write"


def test_revision_grows_by_one_per_visible_change() -> None:
    events = [
        START,
        PROMPT,
        ev(Kind.MESSAGE, 2.5, detail="Let me look."),
        tool_start(3.0),
        approval(4.0),
        approval(4.1),  # duplicate
        ev(Kind.ATTENTION, 10.0, detail="Claude needs your permission"),
        tool_end(12.0),
        ev(Kind.TOOLS_DONE, 12.1),
        ev(Kind.TURN_END, 13.0, detail="Done."),
        ev(Kind.IDLE, 13.1),
        ev(Kind.SESSION_END, 14.0, detail="other"),
        ev(Kind.PROMPT, 15.0),
    ]
    revision = 0
    effects = []
    for result in run(*events):
        assert result.state is not None
        effects.append(result.effect)
        if result.effect in VISIBLE:
            assert result.state.revision == revision + 1
            assert result.changed
        else:
            assert result.state.revision == revision
        revision = result.state.revision
    assert effects[0] is Effect.HELD and effects[1] is Effect.CREATED
    assert effects[-2] is Effect.ENDED and effects[-1] is Effect.NONE
    assert revision == 7


def test_public_is_json_ready() -> None:
    for state in (permission(), asking(), waiting(), ended(), SessionState(SID, "claude")):
        public = state.public()
        assert json.loads(json.dumps(public)) == public
        assert public["id"] == SID
        assert public["status"] == state.status.value
    pending = permission().public()["pending"]
    assert pending["request_id"] == "toolu_a"
    assert set(pending) == {"request_id", "kind", "tool", "summary", "since", "questions", "rule"}


# -- a request observer holds: the only time an observed session's approval is offered -------


def test_an_observed_request_is_answerable_only_while_observer_holds_it() -> None:
    asked = permission()
    assert asked.public()["capabilities"] == []  # it asks in its terminal: nothing to tap
    assert asked.public()["pending"]["rule"] is None
    held = transition(asked, approval(4.2, held=True, subject="ls -la"), 4.2)
    assert held.effect is Effect.UPDATED and held.changed == ("pending",)
    assert held.state is not None and held.state.status is Status.PERMISSION
    public = held.state.public()
    assert public["capabilities"] == ["approve_tool"]
    assert public["pending"]["request_id"] == "toolu_a"  # the same request, not a new one
    assert public["pending"]["rule"] == {
        "action": "allow",
        "agent": "claude",
        "tool": "Bash",
        "pattern": "ls -la",
    }
    # The spool's copy of the same request, after: nothing changes.
    again = transition(held.state, approval(4.3), 4.3)
    assert again.effect is Effect.NONE
    # The wait ends with no decision (a timeout, away mode off): the terminal asks again.
    released = transition(held.state, ev(Kind.METADATA, 5.0, tool_key="ka", held=False), 5.0)
    assert released.changed == ("pending",) and released.state is not None
    assert released.state.public()["capabilities"] == []
    assert released.state.pending is not None and not released.state.pending.held
    # A release of another call changes nothing.
    other = transition(held.state, ev(Kind.METADATA, 5.0, tool_key="kb", held=False), 5.0)
    assert other.effect is Effect.NONE


def test_a_held_request_seen_first_makes_the_permission_and_its_rule_is_exact() -> None:
    state = last(
        tool_start(3.0),
        approval(4.0, detail="rm *.tmp", held=True, subject="rm *.tmp"),
        state=working(),
    )
    public = state.public()
    assert public["status"] == "permission" and public["capabilities"] == ["approve_tool"]
    assert public["pending"]["rule"]["pattern"] == "rm [*].tmp"  # exactly this command
    assert public["pending"]["summary"] == "rm *.tmp"
    assert transition(state, approval(4.1, detail="rm *.tmp"), 4.1).effect is Effect.NONE


def test_a_launched_session_offers_its_agents_actions_and_writes_no_rule() -> None:
    direct = replace(permission(), control="direct")
    assert "approve_tool" in direct.public()["capabilities"]
    held = last(approval(4.2, held=True, subject="ls -la"), state=direct)
    assert held.public()["pending"]["rule"] is None  # its driver answers, not the rules


def test_a_questions_options_reach_the_pending_request() -> None:
    asked = question(4.0)
    options = (
        {
            "question": "Which color?",
            "header": "Color",
            "options": [{"label": "Red", "description": None}],
            "multiple": False,
            "free_text": True,
        },
    )
    state = last(
        tool_start(3.0, "AskUserQuestion", "toolu_q", "kq"),
        replace(asked, questions=options),
        state=working(),
    )
    assert state.public()["pending"]["questions"] == list(options)


def test_facts_follow_the_wire() -> None:
    state = last(
        ev(Kind.METADATA, 3.0, cwd="/work/proj/sub"),
        ev(Kind.METADATA, 3.1, model="claude-sonnet-5-5"),
        state=working(),
    )
    assert state.cwd == "/work/proj/sub" and state.project == "sub"
    assert state.model == "claude-sonnet-5-5"
    branch = transition(state, replace(ev(Kind.METADATA, 4.0), git_branch="main"), 4.0)
    assert branch.state is not None and branch.state.git_branch == "main"
    # A subagent's cwd is not the session's.
    sub = last(tool_start(5.0, cwd="/elsewhere", subagent=True), state=branch.state)
    assert sub.cwd == "/work/proj/sub"


def test_a_registry_report_does_not_undo_a_cwd_change() -> None:
    moved = last(ev(Kind.METADATA, 3.0, cwd="/work/proj/sub"), state=working())
    result = run(ev(Kind.TURN_END, 4.0), ev(Kind.IDLE, 4.1, cwd="/work/proj"), state=moved)[-1]
    assert result.state is not None
    assert result.state.cwd == "/work/proj/sub"
    assert result.effect is Effect.NONE


def test_tools_done_clears_the_current_tool() -> None:
    state = last(ev(Kind.TOOLS_DONE, 5.0), state=permission())
    assert state.current_tool is None
    assert state.open_tools == ()


# -- property: random event soup through a SessionBook ---------------------------------------

_SESSIONS = ["s1", "s2", "s3"]
_events = st.builds(
    Event,
    kind=st.sampled_from(list(Kind)),
    session_id=st.sampled_from(_SESSIONS),
    agent=st.just("claude"),
    at=st.floats(min_value=0, max_value=100, allow_nan=False),
    wire=st.sampled_from(["hook", "registry:busy", "git_branch", "process_gone"]),
    pid=st.none() | st.integers(1, 3),
    cwd=st.sampled_from([None, "/w/a", "/w/b/", "C:\\w\\c", ""]),
    tool=st.sampled_from([None, "Bash", "Read", "AskUserQuestion"]),
    tool_use_id=st.sampled_from([None, "t1", "t2", "t3"]),
    tool_key=st.sampled_from([None, "k1", "k2", "k3"]),
    detail=st.none() | st.text(max_size=300),
    model=st.sampled_from([None, "m1", "m2"]),
    waiting_for=st.sampled_from([None, "permission prompt", "input needed", "dialog open", ""]),
    subagent=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_events, max_size=80))
def test_random_event_sequences_keep_the_invariants(events: list[Event]) -> None:
    book = SessionBook()
    revision: dict[str, int] = {}
    ended_for_good: set[str] = set()
    for now, event in enumerate(events):
        sid = event.session_id
        if event.kind is Kind.SESSION_START:
            ended_for_good.discard(sid)
        result = book.apply(event, float(now))
        state = result.state
        if result.effect in VISIBLE:
            assert state is not None
            assert state.revision == revision.get(sid, 0) + 1
            assert result.changed
            revision[sid] = state.revision
            json.dumps(state.public())
        elif state is not None:
            assert state.revision == revision.get(sid, 0)
        if result.effect is Effect.DROPPED:
            assert sid not in revision  # only never-seen sessions are dropped
        if state is not None and not state.held:
            if sid in ended_for_good:
                assert state.status is Status.ENDED
            if state.status is Status.ENDED:
                ended_for_good.add(sid)
        for held_or_live in (book.get(s) for s in _SESSIONS):
            if held_or_live is not None and held_or_live.status not in (
                Status.PERMISSION,
                Status.QUESTION,
            ):
                assert held_or_live.pending is None


def test_a_late_session_end_names_the_reason_of_a_process_seen_gone() -> None:
    """Claude deletes its registry file before its async SessionEnd hook lands."""
    book = SessionBook()
    for event in (
        Event(Kind.PROMPT, "s", "claude", 1.0, "UserPromptSubmit", detail="hi"),
        Event(Kind.PROCESS_GONE, "s", "claude", 2.0, "process_gone", detail=PROCESS_EXITED),
    ):
        book.apply(event, event.at)
    ended = book.get("s")
    assert ended is not None and ended.ended_reason == PROCESS_EXITED
    late = book.apply(Event(Kind.SESSION_END, "s", "claude", 2.1, "SessionEnd", detail="other"), 3)
    assert late.effect is Effect.UPDATED and late.changed == ("ended_reason",)
    assert late.state is not None and late.state.ended_reason == "other"
    assert late.state.status is Status.ENDED and late.state.revision == ended.revision + 1
    again = book.apply(Event(Kind.SESSION_END, "s", "claude", 2.2, "SessionEnd", detail="x"), 3)
    assert again.effect is Effect.NONE


def test_a_newer_prompt_revives_a_session_whose_process_was_seen_gone() -> None:
    """Codex resume appends to the same thread with no start record: a prompt newer than the
    process's disappearance brings it back. A stale one, or one after a SessionEnd, does not."""
    book = SessionBook()
    book.apply(Event(Kind.PROMPT, "s", "codex", 1.0, "task_started"), 1.0)
    book.apply(
        Event(Kind.PROCESS_GONE, "s", "codex", 5.0, "process_gone", detail=PROCESS_EXITED), 5
    )
    stale = book.apply(Event(Kind.PROMPT, "s", "codex", 4.0, "task_started"), 6.0)
    assert stale.effect is Effect.NONE
    revived = book.apply(Event(Kind.PROMPT, "s", "codex", 6.0, "task_started"), 6.0)
    assert revived.effect is Effect.UPDATED
    assert revived.state is not None and revived.state.status is Status.WORKING
    assert revived.state.ended_reason is None
    book.apply(Event(Kind.SESSION_END, "s", "codex", 7.0, "SessionEnd", detail="other"), 7.0)
    after_end = book.apply(Event(Kind.PROMPT, "s", "codex", 8.0, "task_started"), 8.0)
    assert after_end.effect is Effect.NONE


def test_a_question_answered_after_the_registry_cleared_it_is_still_answered() -> None:
    """Seen on the real CLI: the registry turns busy (the answer was given) before the
    question tool's PostToolUse arrives; the turn must then end in waiting, not question."""
    book = SessionBook()
    steps = [
        Event(Kind.PROMPT, "s", "claude", 1.0, "UserPromptSubmit", detail="ask me"),
        Event(
            Kind.TOOL_START,
            "s",
            "claude",
            2.0,
            "PreToolUse",
            tool="AskUserQuestion",
            tool_use_id="toolu_q",
            tool_key="kq",
        ),
        Event(
            Kind.QUESTION,
            "s",
            "claude",
            3.0,
            "PermissionRequest",
            tool="AskUserQuestion",
            tool_key="kq",
            detail="Which color?",
        ),
        Event(Kind.BUSY, "s", "claude", 4.0, "registry:busy"),
        Event(
            Kind.TOOL_END,
            "s",
            "claude",
            4.1,
            "PostToolUse",
            tool="AskUserQuestion",
            tool_use_id="toolu_q",
            tool_key="kq-with-answers",
        ),
        Event(Kind.TURN_END, "s", "claude", 5.0, "Stop"),
    ]
    statuses = []
    for event in steps:
        result = book.apply(event, event.at)
        assert result.state is not None
        statuses.append(result.state.status.value)
    assert statuses == ["working", "working", "question", "working", "working", "waiting"]


# -- sessions observer launched (control: direct) -----------------------------------------------


def direct(kind: Kind, at: float, **extra: Any) -> Event:
    return ev(kind, at, control="direct", **extra)


def test_a_launch_without_a_prompt_is_a_waiting_session_at_once() -> None:
    [result] = run(direct(Kind.SESSION_START, 1.0, cwd="/w/app"))
    assert result.effect is Effect.CREATED
    assert result.state is not None and result.state.status is Status.WAITING
    assert result.state.control == "direct" and result.state.project == "app"
    assert result.state.public()["capabilities"]  # it can be driven


def test_the_registry_does_not_steer_a_direct_session() -> None:
    """Claude's registry says idle while our message still sits in its stdin: ignored for a
    session whose driver reports the turn itself; the same registry still rules observed ones."""
    launched = last(
        direct(Kind.PROMPT, 1.0, detail="go"),
        ev(Kind.IDLE, 1.5),  # registry:idle, newer than the prompt
        ev(Kind.BUSY, 1.6),
    )
    assert launched.status is Status.WORKING and launched.status_since == 1.0
    assert last(direct(Kind.PROMPT, 1.0), direct(Kind.TURN_END, 2.0)).status is Status.WAITING
    observed = last(ev(Kind.PROMPT, 1.0, detail="go"), ev(Kind.IDLE, 1.5))
    assert observed.status is Status.WAITING  # Esc in a terminal session: only the registry says


def test_relaunching_an_ended_direct_session_revives_it() -> None:
    ended = last(direct(Kind.PROMPT, 1.0), direct(Kind.SESSION_END, 2.0, detail="ended here"))
    assert ended.status is Status.ENDED and ended.ended_reason == "ended here"
    back = last(direct(Kind.SESSION_START, 3.0), state=ended)
    assert back.status is Status.WAITING and back.ended_reason is None


def test_the_agent_s_own_hooks_only_add_facts_to_a_direct_session() -> None:
    """Hooks lag or lead the driver (a PermissionRequest hook landing after we answered): for
    a session observer drives, only the driver's events move the status."""
    answered = last(
        direct(Kind.PROMPT, 1.0),
        direct(Kind.APPROVAL_REQUEST, 1.1, tool="Bash", tool_key="k", tool_use_id="t"),
        direct(Kind.BUSY, 1.2),  # the driver answered
        ev(Kind.APPROVAL_REQUEST, 1.3, tool="Bash", tool_key="k", cwd="/w/x"),  # the late hook
    )
    assert answered.status is Status.WORKING and answered.pending is None
    assert answered.cwd == "/w/x"  # its facts still count
    hooked = last(direct(Kind.PROMPT, 1.0), ev(Kind.SESSION_END, 2.0, detail="other"))
    assert hooked.status is Status.WORKING  # the hook's SessionEnd does not end it...
    ended = last(direct(Kind.SESSION_END, 2.1, detail="ended from observer"), state=hooked)
    assert ended.status is Status.ENDED and ended.ended_reason == "ended from observer"
    gone = last(ev(Kind.PROCESS_GONE, 2.2, detail="process exited"), state=hooked)
    assert gone.status is Status.ENDED  # ...but a process seen gone always does


def test_evolve_builds_what_dataclasses_replace_builds() -> None:
    from dataclasses import replace

    from observer.core.state import PendingApproval, _evolve

    state = SessionState("s1", "claude", cwd="/w", materialized=True, held=False, revision=4)
    pending = PendingApproval("r1", "permission", "Bash", "ls", 1.0)
    for changes in (
        {},
        {"status": Status.PERMISSION, "pending": pending, "status_since": 2.0},
        {"revision": 5, "open_tools": (("k", "t", "Bash"),), "usage": {"input": 3}},
    ):
        evolved = _evolve(state, dict(changes))
        assert evolved == replace(state, **changes)
        assert type(evolved) is SessionState
    with pytest.raises(TypeError, match="not SessionState fields: \\['statsu'\\]"):
        _evolve(state, {"statsu": Status.WORKING})
