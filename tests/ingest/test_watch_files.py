"""`TreeWatcher.tail_files`: a history of many files is committed in batches, not file by file.

Driven directly (no server): the watcher's `apply` is a recorder that plays the events into a
real Hub, as `Ingestor.apply` does, so each call is one transaction the server would commit.
The files are real Codex rollouts (tests/fixtures/codex) under new thread ids.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from connectors.codex.rollout import context_for_path, read_rollout
from observer import agents
from observer.core.events import Event, Origin
from observer.core.state import INACTIVE_IN_HISTORY
from observer.core.table import Status
from observer.core.timeline import Item
from observer.ingest import rollouts, timeline_tail, watch_files
from observer.ingest.watch_files import BATCH_BYTES, HISTORY_QUIET_SECONDS, TreeWatcher
from observer.runtime.hub import Hub
from observer.store import FileOffset, Record, TimelineItem, TimelineOffset
from tests.support.paths import FIXTURES

(ROLLOUTS,) = agents.get("codex").file_trees  # type: ignore[union-attr]

FIXTURES = FIXTURES / "codex"
SOURCE = next(iter(sorted(FIXTURES.glob("exec_shell/rollouts/rollout-*.jsonl"))))
SOURCE_ID = SOURCE.name[-42:-6]
LONG_AGO = time.time() - 10 * HISTORY_QUIET_SECONDS


class Recorder:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.calls: list[tuple[list[Event], list[FileOffset]]] = []
        self.timeline: list[Record] = []  # the items and their offsets, committed alongside

    async def __call__(self, events: Sequence[Event], records: Sequence[Record]) -> None:
        offsets = [r for r in records if isinstance(r, FileOffset)]
        self.calls.append((list(events), offsets))
        self.timeline.extend(r for r in records if not isinstance(r, FileOffset))
        for event in events:
            self.hub.apply(event, time.time())


def watcher(directory: Path) -> tuple[TreeWatcher, Recorder]:
    hub = Hub()
    recorder = Recorder(hub)
    return TreeWatcher(
        ROLLOUTS.format, directory, ROLLOUTS.owns(directory), recorder, hub, lambda: False
    ), (recorder)


def rollout(directory: Path, body: bytes, thread: str, mtime: float | None = LONG_AGO) -> Path:
    """The fixture under another thread id (file name and content), last written at `mtime`."""
    path = directory / SOURCE.name.replace(SOURCE_ID, thread)
    path.write_bytes(body.replace(SOURCE_ID.encode(), thread.encode()))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def whole_events(path: Path) -> list[Event]:
    origin = Origin("codex", path.stat().st_mtime, None, path.name)
    return read_rollout(path.read_bytes(), origin, context_for_path(str(path)))[0]


async def test_a_history_is_committed_in_one_batch_and_ended(tmp_path: Path) -> None:
    body = SOURCE.read_bytes()
    count = min(40, BATCH_BYTES // (2 * len(body)))  # read for events and for items
    assert count >= 10
    paths = sorted(rollout(tmp_path, body, str(uuid.uuid4())) for _ in range(count))
    tree, recorder = watcher(tmp_path)
    await tree.tail_files(paths)
    # One transaction for every file's events and offsets, one for the history ends.
    assert len(recorder.calls) == 2
    events, offsets = recorder.calls[0]
    assert events == [e for path in paths for e in whole_events(path)]
    assert [(o.path, o.offset) for o in offsets] == [(str(p), len(body)) for p in paths]
    ends, no_offsets = recorder.calls[1]
    assert no_offsets == [] and len(ends) == len(paths)
    assert {e.detail for e in ends} == {INACTIVE_IN_HISTORY}
    assert tree.bytes_read == len(body) * len(paths) and len(tree.files) == len(paths)
    states = [recorder.hub.book.get(str(e.session_id)) for e in ends]
    assert all(s is not None and s.status is Status.ENDED for s in states)

    await tree.tail_files(paths)  # nothing new: nothing read, nothing committed
    assert len(recorder.calls) == 2 and tree.bytes_read == len(body) * len(paths)


async def test_a_file_over_one_read_takes_turns_with_the_others(tmp_path: Path) -> None:
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    turns = rollouts.READ_MAX // len(b"".join(lines[1:])) + 2
    big = rollout(tmp_path, lines[0] + b"".join(lines[1:]) * turns, str(uuid.uuid4()))
    small = [rollout(tmp_path, SOURCE.read_bytes(), str(uuid.uuid4())) for _ in range(3)]
    assert big.stat().st_size > rollouts.READ_MAX
    paths = sorted([big, *small])
    tree, recorder = watcher(tmp_path)
    await tree.tail_files(paths)
    events = [e for events, _ in recorder.calls for e in events if e.wire != "history"]
    for path in paths:  # each file's events in its own order, none lost or repeated
        assert [e for e in events if e.session_id == path.name[-42:-6]] == whole_events(path)
    ends = [e for events, _ in recorder.calls for e in events if e.wire == "history"]
    assert sorted(str(e.session_id) for e in ends) == sorted(p.name[-42:-6] for p in paths)
    assert tree.bytes_read == sum(p.stat().st_size for p in paths)
    assert tree.files[str(big)].committed == big.stat().st_size
    big_reads = [c for c in recorder.calls if any(o.path == str(big) for o in c[1])]
    assert len(big_reads) == -(-big.stat().st_size // rollouts.READ_MAX)  # bounded reads


async def test_a_quiet_file_is_not_ended_beside_a_live_one_of_its_session(tmp_path: Path) -> None:
    """Two files of one thread read together (one old, one being written): not history."""
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    thread = str(uuid.uuid4())
    old = rollout(tmp_path, b"".join(lines), thread)
    live_dir = tmp_path / "today"
    live_dir.mkdir()
    live = rollout(live_dir, b"".join(lines), thread, mtime=None)
    tree, recorder = watcher(tmp_path)
    await tree.tail_files([old, live])
    assert [e for events, _ in recorder.calls for e in events if e.wire == "history"] == []
    state = recorder.hub.book.get(thread)
    assert state is not None and state.status is not Status.ENDED


def _items_of(records: Sequence[Record]) -> list[str]:
    return [r.item.item_id for r in records if isinstance(r, TimelineItem)]


async def test_items_commit_with_the_events_of_the_same_bytes_and_reach_subscribers(
    tmp_path: Path,
) -> None:
    path = rollout(tmp_path, SOURCE.read_bytes(), str(uuid.uuid4()), mtime=None)
    tree, recorder = watcher(tmp_path)
    sub = recorder.hub.add_subscriber()
    sub.timelines.add(path.name[-42:-6])
    await tree.tail_files([path])
    expected = [i.item_id for i in read_items(path)]
    assert expected and _items_of(recorder.timeline) == expected
    offsets = [r for r in recorder.timeline if isinstance(r, TimelineOffset)]
    assert [(o.path, o.offset) for o in offsets] == [(str(path), path.stat().st_size)]
    message = sub.queue.get_nowait()
    assert message is not None and message["type"] == "timeline_items"
    assert [i["item_id"] for i in message["items"]] == expected
    assert tree.items_read == len(expected)


async def test_history_read_before_the_timeline_is_caught_up_and_not_published(
    tmp_path: Path,
) -> None:
    path = rollout(tmp_path, SOURCE.read_bytes(), str(uuid.uuid4()))
    tree, recorder = watcher(tmp_path)
    size = path.stat().st_size
    tree.load([FileOffset(str(path), path.stat().st_ino, size, {})])  # events: all read
    sub = recorder.hub.add_subscriber()
    sub.timelines.add(path.name[-42:-6])
    await tree.tail_files([path])
    assert _items_of(recorder.timeline) == [i.item_id for i in read_items(path)]
    assert sub.queue.empty()  # old items are no live ones
    assert recorder.calls[0][0] == []  # no event read twice


async def test_timeline_content_none_reads_no_item(tmp_path: Path) -> None:
    path = rollout(tmp_path, SOURCE.read_bytes(), str(uuid.uuid4()))
    hub = Hub()
    recorder = Recorder(hub)
    tree = TreeWatcher(
        ROLLOUTS.format,
        tmp_path,
        ROLLOUTS.owns(tmp_path),
        recorder,
        hub,
        lambda: False,
        items=False,
    )
    await tree.tail_files([path])
    assert recorder.calls and recorder.timeline == []


def read_items(path: Path) -> list[Item]:
    reader = ROLLOUTS.format.timeline
    assert reader is not None
    found, _ = timeline_tail.feed(timeline_tail.fresh(str(path), 1, reader), path.read_bytes())[:2]
    return found


# -- catching up gives way to live work --------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pace_is_live_for_a_window_after_live_work() -> None:
    clock = Clock()
    pace = watch_files.Pace(clock)
    assert not pace.is_live()
    pace.live()
    clock.now += watch_files.LIVE_WINDOW - 0.1
    assert pace.is_live()
    clock.now += 0.2
    assert not pace.is_live()


async def test_a_file_changed_during_a_catch_up_is_read_between_its_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_files, "BATCH_FILES", 1)  # one file per batch
    body = SOURCE.read_bytes()
    history = sorted(rollout(tmp_path, body, str(uuid.uuid4())) for _ in range(12))
    live_dir = tmp_path / "today"
    live_dir.mkdir()
    live_thread = str(uuid.uuid4())
    tree, recorder = watcher(tmp_path)
    record = recorder.__call__

    async def and_a_live_change(events: Sequence[Event], records: Sequence[Record]) -> None:
        await record(events, records)
        if len(recorder.calls) == 2:  # the agent writes while history is caught up
            tree.follow([rollout(live_dir, body, live_thread, mtime=None)])

    tree._apply = and_a_live_change
    await tree.tail_files(history, live=False)
    sessions = [{e.session_id for e in events} - {None} for events, _ in recorder.calls if events]
    live_at = next(n for n, ids in enumerate(sessions) if live_thread in ids)
    assert live_at == 2  # right after the batch it was written during
    read = {e.session_id for events, _ in recorder.calls for e in events}
    assert {p.name[-42:-6] for p in history} <= read  # and the history all the same
    assert tree.files[str(history[-1])].committed == len(body)


async def test_while_live_catch_up_reads_are_small(tmp_path: Path) -> None:
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    turns = watch_files.CATCH_UP_BYTES_WHILE_LIVE // len(b"".join(lines[1:])) + 2
    big = rollout(tmp_path, lines[0] + b"".join(lines[1:]) * turns, str(uuid.uuid4()))
    tree, recorder = watcher(tmp_path)
    tree._pace.live()
    await tree.tail_files([big], live=False)
    reads = [c for c in recorder.calls if c[1]]
    most = watch_files.CATCH_UP_BYTES_WHILE_LIVE
    assert len(reads) >= -(-big.stat().st_size // most)
    assert tree.files[str(big)].committed == big.stat().st_size
    events = [e for events, _ in recorder.calls for e in events if e.wire != "history"]
    assert events == whole_events(big)  # in bounded reads, none lost or repeated


async def test_only_live_reads_make_the_pace_live(tmp_path: Path) -> None:
    path = rollout(tmp_path, SOURCE.read_bytes(), str(uuid.uuid4()))
    tree, _ = watcher(tmp_path)
    await tree.tail_files([path], live=False)
    assert not tree._pace.is_live()
    with path.open("ab") as handle:
        handle.write(SOURCE.read_bytes().splitlines(keepends=True)[-1])
    await tree.tail_files([path])
    assert tree._pace.is_live()
