"""observer/ingest/timeline_tail.py: a file read for items whole, in chunks or byte by byte
gives the same items; a 10 MB line is one item cut to both ends; bad bytes are no item."""

from __future__ import annotations

import json

from connectors.claude.transcript import transcripts_format
from observer.ingest import timeline_tail
from tests.support.paths import FIXTURES

READER = transcripts_format(lambda _path: "s1").timeline
TRANSCRIPT = (FIXTURES / "claude" / "b_bash" / "transcript.jsonl").read_bytes()


def _fed(data: bytes, size: int) -> list[dict[str, object]]:
    assert READER is not None
    state = timeline_tail.fresh("/x/s1.jsonl", 1, READER)
    found: list[dict[str, object]] = []
    for start in range(0, len(data), size):
        items, state, _ = timeline_tail.feed(state, data[start : start + size])
        found.extend(i.to_json() for i in items)
    assert state.committed == len(data) - len(state.partial)
    return found


def test_whole_in_chunks_and_byte_by_byte_the_same_items() -> None:
    whole = _fed(TRANSCRIPT, len(TRANSCRIPT))
    assert whole
    assert _fed(TRANSCRIPT, 997) == whole
    assert _fed(TRANSCRIPT[:20000], 1) == _fed(TRANSCRIPT[:20000], 20000)


def test_a_huge_line_is_an_item_cut_and_bad_bytes_are_none() -> None:
    prompt = {
        "type": "user",
        "uuid": "u1",
        "sessionId": "s1",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": {"role": "user", "content": "x" * (10 * 1024 * 1024)},
    }
    data = json.dumps(prompt).encode() + b"\n\xff\xfe{not json\n"
    (item,) = _fed(data, 4 * 1024 * 1024)
    assert item["truncated"] is True and item["full_size"] == 10 * 1024 * 1024
    assert len(str(item["text"])) < 70 * 1024
