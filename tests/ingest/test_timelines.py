"""Recorded real Claude sessions replayed through a SessionBook, against golden status timelines.

Each `tests/fixtures/claude/<scenario>/expected.json` maps session id -> the status sequence a user
should see (consecutive repeats collapsed). The goldens were generated once by running the code,
then read one by one against the scenario's real event order (the bugs that reading found were
fixed in the code, never in the golden).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from observer.core.book import SessionBook
from observer.core.events import Event, Kind
from observer.core.state import Effect, Transition
from observer.core.table import Status
from tests.support.timeline import FIXTURES, collapse, load_rows, row_events, statuses

CLAUDE = FIXTURES / "claude"
SCENARIOS = sorted(p.name for p in CLAUDE.iterdir() if (p / "timeline.jsonl").is_file())
# The session /clear starts in m_tui: it never does anything (the user types /exit).
M_TUI_MAIN = "650a5566-723a-4b62-809e-e327f29521cb"
M_TUI_CLEARED = "669e0a1d-f81d-4bd0-9811-4b4d4f3a0f30"


def golden(scenario: str) -> dict[str, list[str]]:
    loaded: dict[str, list[str]] = json.loads((CLAUDE / scenario / "expected.json").read_text())
    return loaded


def seen(scenario: str, *, with_registry: bool = True) -> dict[str, list[str]]:
    return {
        sid: collapse(values)
        for sid, values in statuses(scenario, with_registry=with_registry).items()
    }


def replay(scenario: str) -> Iterator[tuple[dict[str, object], Event, Transition]]:
    book = SessionBook()
    pids: dict[int, str] = {}
    for row in load_rows(scenario):
        for event in row_events(book, row, pids):
            yield row, event, book.apply(event, float(row["t"]))  # type: ignore[arg-type]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_timeline_matches_golden(scenario: str) -> None:
    assert seen(scenario) == golden(scenario)


def test_every_scenario_has_a_golden() -> None:
    assert SCENARIOS
    assert [s for s in SCENARIOS if not (CLAUDE / s / "expected.json").is_file()] == []


def test_m_tui_main_session_matches_golden() -> None:
    # The part of m_tui that is right today: permission dialog, Esc while a tool ran, /clear.
    assert seen("m_tui")[M_TUI_MAIN] == golden("m_tui")[M_TUI_MAIN]
    assert M_TUI_CLEARED not in golden("m_tui")


# -- what the goldens must say, whatever regenerated them -----------------------------------


def test_golden_interrupt_shows_the_esc() -> None:
    # Esc fires no hook: only the registry going idle shows the first turn stopped.
    assert list(golden("f_interrupt").values()) == [
        ["working", "waiting", "working", "waiting", "ended"]
    ]


@pytest.mark.parametrize(
    "scenario",
    ["c_perm_noprompt", "c_perm_stdio_allow", "c_perm_stdio_deny", "g_hook_exit2", "m_tui"],
)
def test_golden_permission_scenarios_show_permission(scenario: str) -> None:
    for sequence in golden(scenario).values():
        assert "permission" in sequence
        # Every approval was answered (or auto-denied): work resumed afterwards.
        assert sequence[sequence.index("permission") + 1] == "working"


def test_golden_question_shows_question() -> None:
    assert list(golden("j_question").values()) == [
        ["working", "question", "working", "waiting", "ended"]
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_golden_sessions_all_end(scenario: str) -> None:
    for sequence in golden(scenario).values():
        assert sequence[0] == "working" and sequence[-1] == "ended"
        assert set(sequence) <= {s.value for s in Status}


# -- hooks alone ----------------------------------------------------------------------------

HOOKS_ONLY = {
    # Enough on their own: the registry adds nothing to these.
    "a_text": None,
    "c_perm_stdio_allow": None,
    "d_subagent": None,
    "e_resume": None,
    "h_multiturn": None,
    "j_question": None,
    "p_compact": None,
    # Esc fires no hook: without the registry the interrupted turn looks like it went on.
    "f_interrupt": {"48ebdf5a-43b3-481d-9246-38b850567130": ["working", "waiting", "ended"]},
}


@pytest.mark.parametrize("scenario", sorted(HOOKS_ONLY))
def test_hooks_only(scenario: str) -> None:
    expected = HOOKS_ONLY[scenario] or golden(scenario)
    assert seen(scenario, with_registry=False) == expected


def test_hooks_only_m_tui_has_no_ghost_but_misses_the_esc() -> None:
    only_hooks = seen("m_tui", with_registry=False)
    assert list(only_hooks) == [M_TUI_MAIN]
    # Approved, then Esc during the slow tool: no hook says so, so it stays "permission".
    assert only_hooks[M_TUI_MAIN][-2:] == ["permission", "ended"]


# -- details along the way ------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_timeline_hooks_are_the_recorded_hooks(scenario: str) -> None:
    hooks = [
        json.loads(line)
        for line in (CLAUDE / scenario / "hooks.jsonl").read_text().splitlines()
        if line
    ]
    in_timeline = [row["hook"] for row in load_rows(scenario) if "hook" in row]
    assert in_timeline == hooks


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_revisions_grow_by_one(scenario: str) -> None:
    revisions: dict[str, int] = {}
    for _, event, result in replay(scenario):
        if result.effect in (Effect.CREATED, Effect.UPDATED, Effect.ENDED):
            assert result.state is not None
            assert result.state.revision == revisions.get(event.session_id, 0) + 1
            revisions[event.session_id] = result.state.revision


def _approval_pairs(scenario: str) -> list[tuple[str | None, str | None]]:
    """(request id the session shows, tool_use_id of the PreToolUse it was asked for)."""
    starts: dict[str | None, str | None] = {}
    pairs = []
    for _, event, result in replay(scenario):
        if event.kind is Kind.TOOL_START:
            starts[event.tool_key] = event.tool_use_id
        if event.kind in (Kind.APPROVAL_REQUEST, Kind.QUESTION) and result.state is not None:
            pending = result.state.pending
            pairs.append((pending.request_id if pending else None, starts.get(event.tool_key)))
    assert pairs
    return pairs


@pytest.mark.parametrize(
    "scenario",
    [
        "c_perm_noprompt",
        "c_perm_stdio_allow",
        "c_perm_stdio_deny",
        "j_question",
        "m_tui",
        "g_hook_exit2",
    ],
)
def test_approvals_carry_the_tool_use_id(scenario: str) -> None:
    for request_id, tool_use_id in _approval_pairs(scenario):
        assert tool_use_id is not None
        assert request_id == tool_use_id


def test_r_misc_cwd_follows_cwd_changed() -> None:
    moved = False
    for _, event, result in replay("r_misc"):
        if event.wire == "CwdChanged":
            moved = True
        if moved and result.state is not None:
            assert result.state.cwd == "/home/dev/claude/work/r_misc/sub"
    assert moved


def test_r_apierror_keeps_the_error() -> None:
    errors = [
        r.state.error for _, e, r in replay("r_apierror") if e.kind is Kind.TURN_FAILED and r.state
    ]
    assert errors and errors[0] is not None and "API Error: 400" in errors[0]


def test_e_resume_ended_reasons() -> None:
    ended: dict[str, list[str | None]] = {}
    for _, event, result in replay("e_resume"):
        if result.effect is Effect.ENDED and result.state is not None:
            ended.setdefault(event.session_id, []).append(result.state.ended_reason)
    # -p runs: the registry file vanishes before the SessionEnd hook lands; then it is ignored.
    assert ended == {
        "46e404d0-faa0-44bd-a362-714678a557e0": ["process exited", "other"],
        "1434346d-48b7-452d-8b38-612d317e7218": ["other"],
    }
