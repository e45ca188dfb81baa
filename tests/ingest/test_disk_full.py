"""A full disk, for real: tmpfs mounts of a few MiB (as root; skipped where they cannot be
had), one for the data dir (the database) and one for the spool, filled up in turn under a
running `observer start` and the real hook.

- Database full: the hooks still commit to the spool; the server's commits fail, and nothing
  it could not commit is shown to a client; once space is freed every committed event is
  ingested.
- Spool full: the hook exits 0, silently, and commits nothing broken (no marker without its
  whole payload, no half file left).
- After a restart nothing a client was shown is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks import SCRIPT_NAME, hook_script_path
from observer.install.hooks import hook_command
from scripts.bench.kill_soak import _free_port, _payload, _start
from tests.support.credentials import get_json


def _mount(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    data_dir = tmp_path / "data"
    mounted: list[Path] = []
    try:
        _mount(data_dir, "3m")
        mounted.append(data_dir)
        _mount(data_dir / "spool", "512k")
        mounted.append(data_dir / "spool")
        yield data_dir, data_dir / "spool"
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    # Unbuffered: a buffered file would try the refused bytes again as it closes, and raise.
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    # And the last few bytes, so that nothing of a page is left.
    for n in range(100):
        try:
            (directory / f"filler-{n}").write_bytes(b"\0" * 512)
        except OSError:
            break
    return filler


def _free(directory: Path) -> None:
    for path in directory.glob("filler*"):
        path.unlink()


def _hook(
    hook: Path, spool: Path, session: str, event: str, k: int
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["sh", "-c", hook_command(event, str(hook), str(spool))],
        input=_payload(session, event, k, "/tmp"),
        env={"PATH": os.environ["PATH"], "CLAUDE_PID": str(os.getpid())},
        capture_output=True,
        timeout=30,
    )


def _sessions(url: str, data_dir: Path) -> dict[str, dict[str, object]]:
    return {s["id"]: s for s in get_json(f"{url}/api/sessions", data_dir)["sessions"]}


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_full_disk_loses_nothing_committed_and_shows_nothing_uncommitted(
    tmp_path: Path, disks: tuple[Path, Path]
) -> None:
    data_dir, spool = disks
    hook = tmp_path / SCRIPT_NAME
    shutil.copyfile(hook_script_path(SCRIPT_NAME), hook)
    env = dict(os.environ, OBSERVER_LIVENESS_INTERVAL="0", OBSERVER_DATA_DIR=str(data_dir))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    process = _start(data_dir, port, log, env)
    try:
        _wait(lambda: _up(url), "the server")
        for k in range(3):  # session A, before anything is full
            for event in ("UserPromptSubmit", "Stop"):
                assert _hook(hook, spool, "A", event, k).returncode == 0
        _wait(lambda: _sessions(url, data_dir).get("A", {}).get("title") == "p0", "A")
        _wait(lambda: not list(spool.glob("*ev.*")), "A's events to be ingested")

        # 1. The database's disk is full: the hooks still commit, the server shows none of B.
        _fill(data_dir)
        for k in range(10):
            for event in ("UserPromptSubmit", "Stop"):
                done = _hook(hook, spool, "B", event, k)
                assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        committed_b = sorted(p.name for p in spool.glob("ev.*.ready"))
        assert len(committed_b) == 20
        _wait(lambda: "database commit failed" in log.read_text(), "a drain the disk refused")
        assert "B" not in _sessions(url, data_dir)

        # 2. The spool's disk is full too: the hook commits nothing, and nothing broken.
        _fill(spool)
        for k in range(10):
            done = _hook(hook, spool, "C", "UserPromptSubmit", k)
            assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        for marker in spool.glob("ev.*.ready"):
            payload = spool / f".{marker.name[: -len('.ready')]}.json"
            json.loads(payload.read_bytes())  # whole: never a marker for half a payload
        assert not [p for p in spool.glob(".ev.*C*") if p.exists()]
        assert sorted(p.name for p in spool.glob("ev.*.ready")) == committed_b

        # 3. Space again: every event a hook committed is ingested, once.
        _free(spool)
        _free(data_dir)
        _wait(lambda: not list(spool.glob("ev.*.ready")), "the spool to drain")
        shown = _sessions(url, data_dir)
        assert shown["B"]["status"] == "waiting" and shown["B"]["title"] == "p0"
        assert "C" not in shown
    finally:
        process.terminate()
        process.wait(30)

    # 4. After a restart, nothing a client was shown is missing.
    process = _start(data_dir, port, log, env)
    try:
        _wait(lambda: _up(url), "the server again")
        again = _sessions(url, data_dir)
        for session_id, session in shown.items():
            assert again[session_id]["revision"] >= session["revision"], session_id
            assert again[session_id]["status"] == session["status"]
    finally:
        process.terminate()
        process.wait(30)


def _up(url: str) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(f"{url}/health", timeout=1).close()
        return True
    except OSError:
        return False
