"""What an observed session offers, and when (core/capabilities.py `offered`, through the state
machine): approval while observer holds the request; a message while observer holds its Stop
hook and it waits; a stop while it works on this machine. A launched session: all its driver's."""

from __future__ import annotations

from observer import agents  # noqa: F401  the rows declare each agent's capabilities
from observer.core.capabilities import offered
from observer.core.events import Event, Kind
from observer.core.state import SessionState, transition


def _apply(state: SessionState | None, kind: Kind, at: float, **fields: object) -> SessionState:
    result = transition(state, Event(kind, "s1", "claude", at, f"test:{kind}", **fields), at)  # type: ignore[arg-type]
    assert result.state is not None
    return result.state


def test_an_observed_claude_session_offers_a_message_only_while_listening() -> None:
    state = _apply(None, Kind.PROMPT, 1.0, detail="hi")
    assert "interrupt_session" in state.offered()  # working, here: a stop is heard
    assert "send_message" not in state.offered()
    # The Stop hook's wait may reach observer before the spool's Stop event: listening, but
    # not yet waiting, offers no message.
    state = _apply(state, Kind.METADATA, 2.0, listening=True)
    assert state.listening and "send_message" not in state.offered()
    state = _apply(state, Kind.TURN_END, 3.0)
    assert "send_message" in state.offered() and "interrupt_session" not in state.offered()
    assert state.public()["listening"] is True
    state = _apply(state, Kind.PROMPT, 4.0, detail="typed at the keyboard")
    assert not state.listening and "send_message" not in state.offered()  # the wait is over
    state = _apply(state, Kind.TURN_END, 5.0)
    assert "send_message" not in state.offered()  # waiting, but no hook held


def test_the_wait_ends_when_observer_lets_it_go() -> None:
    state = _apply(None, Kind.PROMPT, 1.0, detail="hi")
    state = _apply(state, Kind.TURN_END, 2.0)
    state = _apply(state, Kind.METADATA, 3.0, listening=True)
    assert "send_message" in state.offered()
    state = _apply(state, Kind.METADATA, 4.0, listening=False)
    assert "send_message" not in state.offered() and state.status.value == "waiting"


def test_the_rules_by_control() -> None:
    direct = offered("claude", "direct", held=False, listening=False, working=False)
    assert "send_message" in direct and "interrupt_session" in direct
    observed = offered("claude", "observed", held=False, listening=False, working=False)
    assert observed == []
    # pi, through observer's extension: as Claude, by its hooks' way (no line needed).
    pi = offered("pi", "observed", held=False, listening=True, working=False)
    assert pi == ["send_message"]


def test_a_codex_tui_session_takes_a_message_or_a_stop_only_while_followed() -> None:
    def codex(kind: Kind, at: float, state: SessionState | None, **fields: object) -> SessionState:
        event = Event(kind, "t1", "codex", at, f"test:{kind}", **fields)  # type: ignore[arg-type]
        result = transition(state, event, at)
        assert result.state is not None
        return result.state

    state = codex(Kind.PROMPT, 1.0, None, detail="hi")
    assert state.offered() == []  # working, but no line to it: nothing reaches it
    state = codex(Kind.METADATA, 2.0, state, reachable=True)
    assert state.offered() == ["interrupt_session"]
    state = codex(Kind.TURN_END, 3.0, state)
    assert state.offered() == ["send_message"]
    assert state.public()["reachable"] is True
    state = codex(Kind.METADATA, 4.0, state, reachable=False)  # the daemon went
    assert state.offered() == []
