"""The sender's loop (observer/ops/forward.py) against a stand-in remote: what it deletes, keeps,
moves aside, and that a stop finishes the batch in flight and sends no other."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from observer.ingest import spool
from observer.ops.forward import BATCH_FILES, Forwarder

Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


class Remote:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answer: Answer = lambda body: (200, commit_all(body))
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                remote.requests.append(body)
                remote.headers.append(dict(self.headers))
                status, reply = remote.answer(body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def commit_all(body: dict[str, Any]) -> dict[str, Any]:
    return {"committed": [e["name"] for e in body["entries"]], "duplicates": 0, "rejected": []}


@pytest.fixture
def remote() -> Iterator[Remote]:
    server = Remote()
    yield server
    server.server.shutdown()
    server.server.server_close()


def spooled(spool_dir: Path, count: int) -> list[str]:
    names = []
    for n in range(count):
        marker = spool.write_event(spool_dir, "claude", "Stop", 7, f'{{"n": {n}}}'.encode())
        names.append(marker.name)
    return names


def left(spool_dir: Path) -> list[str]:
    return [e.marker.name for e in spool.list_ready(spool_dir)[0]]


def test_files_go_in_order_with_the_token_and_host_and_are_deleted_once_committed(
    tmp_path: Path, remote: Remote
) -> None:
    names = spooled(tmp_path, BATCH_FILES + 3)
    forwarder = Forwarder(tmp_path, remote.url + "/", "tok", host="laptop")
    assert forwarder.drain() == BATCH_FILES + 3
    assert [len(r["entries"]) for r in remote.requests] == [BATCH_FILES, 3]
    sent = [e["name"] for r in remote.requests for e in r["entries"]]
    assert sent == names and left(tmp_path) == []
    first = remote.requests[0]["entries"][0]
    assert first["payload"] == base64.b64encode(b'{"n": 0}').decode()
    assert {r["host"] for r in remote.requests} == {"laptop"}
    assert remote.headers[0]["Authorization"] == "Bearer tok"


@pytest.mark.parametrize(
    "status, reply",
    [(500, {}), (401, {}), (200, {"what": 1}), (200, {"committed": [], "rejected": []})],
)
def test_any_failure_keeps_every_file(
    tmp_path: Path, remote: Remote, status: int, reply: dict[str, Any]
) -> None:
    names = spooled(tmp_path, 3)
    remote.answer = lambda _body: (status, reply)
    forwarder = Forwarder(tmp_path, remote.url, None)
    with pytest.raises(Exception, match="refused|HTTP|committed|none"):
        forwarder.drain()
    assert left(tmp_path) == names


def test_an_unreachable_remote_keeps_every_file(tmp_path: Path, remote: Remote) -> None:
    names = spooled(tmp_path, 2)
    url = remote.url
    remote.server.shutdown()
    remote.server.server_close()
    with pytest.raises(Exception, match="cannot reach"):
        Forwarder(tmp_path, url, None, timeout=5).drain()
    assert left(tmp_path) == names


def test_rejected_files_move_aside_and_unlisted_ones_stay(tmp_path: Path, remote: Remote) -> None:
    names = spooled(tmp_path, 3)

    def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        entries = body["entries"]
        rejected = [{"index": 1, "name": entries[1]["name"], "reason": "bad"}]
        return 200, {"committed": [entries[0]["name"]], "duplicates": 1, "rejected": rejected}

    remote.answer = answer
    forwarder = Forwarder(tmp_path, remote.url, None)
    assert forwarder.drain() == 1
    assert left(tmp_path) == [names[2]]
    assert (tmp_path / "rejected" / names[1].replace(".ready", ".json")).exists()
    assert (forwarder.stats.sent, forwarder.stats.duplicates, forwarder.stats.rejected) == (1, 1, 1)


def test_a_stop_finishes_the_batch_in_flight_and_sends_no_other(
    tmp_path: Path, remote: Remote
) -> None:
    spooled(tmp_path, BATCH_FILES + 2)
    forwarder = Forwarder(tmp_path, remote.url, None)

    def stop_while_answering(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        forwarder.stop()  # what SIGTERM does, while the batch is in flight
        return 200, commit_all(body)

    remote.answer = stop_while_answering
    stats = forwarder.run()
    assert len(remote.requests) == 1
    assert stats.sent == BATCH_FILES and len(left(tmp_path)) == 2
