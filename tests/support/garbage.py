"""Shared by the connectors' robustness tests: JSON of any shape, and the one contract every
parser keeps — ParseError, or a list of well-formed events, and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from hypothesis import strategies as st

from observer.core.errors import ParseError
from observer.core.events import Event, Kind

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
any_json = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


def only_events_or_parse_error(parsers: Sequence[Callable[[], Sequence[Event]]]) -> None:
    for parse in parsers:
        try:
            events = parse()
        except ParseError:
            continue
        assert isinstance(events, list)
        for event in events:
            assert isinstance(event, Event) and isinstance(event.kind, Kind)
            assert isinstance(event.session_id, str) and event.session_id
            assert isinstance(event.at, float)
            json.dumps(event.to_json())
