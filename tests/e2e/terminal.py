"""A real agent CLI in a pseudo-terminal, as a person runs it: keys in, the screen's text
(escapes removed) out. The Codex TUI, Claude Code's TUI and pi's TUI all run in one."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence
from pathlib import Path

_ESCAPES = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")
# What a TUI asks its terminal, and what a terminal answers (crossterm and pi's TUI wait for
# some of these before they draw).
_QUERIES = {
    b"\x1b[6n": b"\x1b[1;1R",  # cursor position
    b"\x1b[c": b"\x1b[?62;22c",  # primary device attributes
    b"\x1b]10;?": b"\x1b]10;rgb:ffff/ffff/ffff\x1b\\",  # foreground colour
    b"\x1b]11;?": b"\x1b]11;rgb:0000/0000/0000\x1b\\",  # background colour
}


class Terminal:
    """`argv` in a 50×200 pseudo-terminal of its own session (so it can be ended as a group)."""

    def __init__(self, argv: Sequence[str | Path], env: dict[str, str], cwd: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.process = subprocess.Popen(
            [str(arg) for arg in argv],
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.raw = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.raw.extend(chunk)
            for query, answer in _QUERIES.items():
                if query in chunk:
                    with contextlib.suppress(OSError):
                        os.write(self.master, answer)

    def text(self, after: int = 0) -> str:
        with self.lock:
            raw = bytes(self.raw[after:])
        return _ESCAPES.sub(b"", raw).decode("utf-8", "replace")

    def mark(self) -> int:
        """Where the output is now: `shows(..., after=mark)` looks only at what came since."""
        with self.lock:
            return len(self.raw)

    def shows(self, pattern: str, after: int = 0) -> bool:
        return re.search(pattern, self.text(after), re.IGNORECASE) is not None

    def keys(self, data: str) -> None:
        os.write(self.master, data.encode())

    def type_line(self, line: str) -> None:
        for char in line:  # one by one: a burst would read as a paste
            self.keys(char)
            time.sleep(0.01)
        time.sleep(0.5)
        self.keys("\r")

    def until(self, pattern: str, timeout: float, after: int = 0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.shows(pattern, after):
                return True
            time.sleep(0.1)
        return self.shows(pattern, after)

    def close(self, quit_keys: str = "\x03") -> None:
        """`quit_keys` twice (ctrl-c by default), then the process group's end."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.keys(quit_keys)
                time.sleep(0.3)
                self.keys(quit_keys)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(OSError):
            os.close(self.master)
