"""hooks/observer-hook, run the way agents run it: `sh -c '<command>'`, payload on stdin.

The hook's promises: exit 0 always, silent always, the payload byte for byte in the hidden
`SPOOL/.ev.<agent>.<event>.<agent pid>.<n>.json` (0600), committed by the empty marker
`ev.<agent>.<event>.<agent pid>.<n>.ready`, the spool dir created 0700 when missing, nothing
written for bad arguments, never a file overwritten. Both forms are tested: sourced, as
install-hooks registers it (`A=.. E=.. S=.. command . observer-hook`), and run with arguments.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from hooks import hook_script_path
from observer.ingest import spool
from observer.install.hooks import hook_command
from tests.support.paths import REPO_ROOT

HOOK = hook_script_path()
PAYLOAD = (
    b'{"session_id": "675bf7ca-68df-4c7d-893a-f1fb7734b767", "transcript_path": '
    b'"/home/dev/claude/home/.claude/projects/-home-dev-claude-work-b-bash/'
    b'675bf7ca-68df-4c7d-893a-f1fb7734b767.jsonl", "cwd": "/home/dev/claude/work/b_bash", '
    b'"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": '
    b'"echo hello > out.txt && ls"}, "tool_use_id": "toolu_fake_d521339eaeec48a9a7c5"}\n'
)
EVENT_NAME = re.compile(r"^ev\.claude\.PreToolUse\.4242\.(\d+)\.ready$")
LINUX = sys.platform.startswith("linux")
SH = shutil.which("sh") or "/bin/sh"  # resolved here: some tests give the hook a bare PATH


def hook_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "CLAUDE_PID": "4242"}
    env.update(extra)
    return env


def installed(spool_dir: Path, event: str = "PreToolUse", agent: str = "claude") -> str:
    """The command string install-hooks writes into settings.json."""
    return hook_command(event, str(HOOK), str(spool_dir), agent)


def run_hook(
    tmp_path: Path,
    args: Sequence[str],
    payload: bytes = PAYLOAD,
    env: dict[str, str] | None = None,
    script: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """`sh -c '<hook> ARGS'`, as Claude Code runs a hook command."""
    command = script or " ".join(shlex.quote(a) for a in [str(HOOK), *args])
    return subprocess.run(
        [SH, "-c", command],
        input=payload,
        capture_output=True,
        env=hook_env(tmp_path) if env is None else env,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )


def entries(tmp_path: Path) -> list[str]:
    """What is in tmp_path, without the home dir the autouse fixture makes."""
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "home")


def assert_quiet_success(proc: subprocess.CompletedProcess[bytes]) -> None:
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")


def only_event(spool_dir: Path) -> Path:
    """The one committed event's marker; asserts nothing else is in the spool."""
    entries, unusable = spool.list_ready(spool_dir)
    assert unusable == [] and len(entries) == 1, (entries, unusable)
    names = sorted(p.name for p in spool_dir.iterdir())
    assert names == sorted([entries[0].path.name, entries[0].marker.name])
    return entries[0].marker


def payload_of(marker: Path) -> bytes:
    return spool.data_path(marker).read_bytes()


def test_the_script_is_an_executable_sh_script_next_to_the_package() -> None:
    assert HOOK.name == "observer-hook"
    assert HOOK.parent == REPO_ROOT / "hooks"
    assert stat.S_IMODE(HOOK.stat().st_mode) == 0o755
    assert HOOK.read_bytes().startswith(b"#!/bin/sh\n")


def test_writes_the_payload_byte_for_byte_under_the_contract_name(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir(mode=0o700)
    before = time.time_ns()
    proc = run_hook(tmp_path, [str(spool_dir), "claude", "PreToolUse"])
    after = time.time_ns()
    assert_quiet_success(proc)
    event = only_event(spool_dir)
    assert EVENT_NAME.match(event.name), event.name
    data = spool.data_path(event)
    assert data.read_bytes() == PAYLOAD
    assert event.read_bytes() == b""
    assert stat.S_IMODE(data.stat().st_mode) == 0o600
    assert stat.S_IMODE(event.stat().st_mode) == 0o600
    # The event's time is the payload's mtime, written by the kernel while cat wrote.
    assert before - 20_000_000 <= data.stat().st_mtime_ns <= after + 20_000_000
    # And the server side reads it as the event it is.
    assert spool.parse_name(event.name) == ("claude", "PreToolUse", 4242)


def test_the_installed_sourced_form_writes_the_same_event(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    assert_quiet_success(run_hook(tmp_path, [], script=installed(spool_dir)))
    event = only_event(spool_dir)
    assert EVENT_NAME.match(event.name), event.name
    assert payload_of(event) == PAYLOAD


def test_the_installed_form_is_silent_and_exits_0_when_the_hook_file_is_gone(
    tmp_path: Path,
) -> None:
    """An uninstalled observer must not turn into hook errors (or exit 2, a deny)."""
    command = hook_command("Stop", str(tmp_path / "gone" / "observer-hook"), str(tmp_path))
    assert_quiet_success(run_hook(tmp_path, [], script=command))


def test_without_claude_pid_the_agent_pid_is_the_hooks_parent(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    env = hook_env(tmp_path)
    del env["CLAUDE_PID"]
    # The trailing `echo $$` keeps the shell from exec'ing the hook, so the shell is its parent.
    script = f"{shlex.quote(str(HOOK))} {shlex.quote(str(spool_dir))} claude Stop; echo $$"
    proc = run_hook(tmp_path, [], env=env, script=script)
    assert (proc.returncode, proc.stderr) == (0, b"")
    shell_pid = int(proc.stdout)
    event = only_event(spool_dir)
    assert spool.parse_name(event.name) == ("claude", "Stop", shell_pid)


def test_sourced_without_claude_pid_the_agent_pid_is_the_agent(tmp_path: Path) -> None:
    """Sourced, the hook runs in the agent's own `sh -c`, whose parent is the agent: us."""
    spool_dir = tmp_path / "spool"
    env = hook_env(tmp_path)
    del env["CLAUDE_PID"]
    proc = run_hook(tmp_path, [], env=env, script=installed(spool_dir, "Stop"))
    assert_quiet_success(proc)
    assert spool.parse_name(only_event(spool_dir).name) == ("claude", "Stop", os.getpid())


@pytest.mark.parametrize("claude_pid", ["", "12x", "-5", " 42", "4 2"])
def test_a_claude_pid_that_is_not_all_digits_is_ignored(tmp_path: Path, claude_pid: str) -> None:
    spool_dir = tmp_path / "spool"
    script = f"{shlex.quote(str(HOOK))} {shlex.quote(str(spool_dir))} claude Stop; echo $$"
    proc = run_hook(tmp_path, [], env=hook_env(tmp_path, CLAUDE_PID=claude_pid), script=script)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert spool.parse_name(only_event(spool_dir).name) == ("claude", "Stop", int(proc.stdout))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"k": "' + b"x" * (1024 * 1024) + b'"}\n', id="1MB"),
        pytest.param(
            '{"a": "line1\\nline2", "q": "\\"quoted\\" \'single\'", "b": "back\\\\slash", '
            '"u": "héllo ✓ 日本 🎉", "raw": "tab\there"}'.encode(),
            id="no-trailing-newline-escapes-unicode",
        ),
        pytest.param(b"line one\nline two\r\n\\n $HOME `id` $(id) \x00\x01\xff\xfe", id="binary"),
        pytest.param(b"", id="empty"),
    ],
)
def test_any_payload_arrives_byte_identical(tmp_path: Path, payload: bytes) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    assert_quiet_success(run_hook(tmp_path, [str(spool_dir), "claude", "PreToolUse"], payload))
    assert payload_of(only_event(spool_dir)) == payload


def test_a_missing_spool_dir_is_created_0700_and_nothing_is_lost(tmp_path: Path) -> None:
    spool_dir = tmp_path / "data" / "deeper" / "spool"
    assert_quiet_success(run_hook(tmp_path, [str(spool_dir), "claude", "PreToolUse"]))
    assert stat.S_IMODE(spool_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(spool_dir.parent.stat().st_mode) == 0o700  # umask 077 for parents too
    event = only_event(spool_dir)
    assert EVENT_NAME.match(event.name)
    assert payload_of(event) == PAYLOAD  # stdin was still unread when the first try failed


@pytest.mark.parametrize("where", ["is-a-file", "under-a-file"])
def test_an_unusable_spool_path_is_a_silent_success(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"not a dir")
    spool_dir = blocker if where == "is-a-file" else blocker / "spool"
    assert_quiet_success(run_hook(tmp_path, [str(spool_dir), "claude", "PreToolUse"]))
    assert blocker.read_bytes() == b"not a dir"
    assert entries(tmp_path) == ["blocker"]


def test_an_unwritable_spool_dir_is_a_silent_success(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir(mode=0o555)
    command = " ".join(shlex.quote(a) for a in [str(HOOK), str(spool_dir), "claude", "Stop"])
    if os.geteuid() == 0:
        # Root writes through directory permissions: run the hook as an unprivileged user.
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root for this test"
        tmp_path.chmod(0o755)
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", SH, "-c", command]
    else:
        argv = [SH, "-c", command]
    try:
        proc = subprocess.run(
            argv, input=PAYLOAD, capture_output=True, env=hook_env(tmp_path), timeout=30
        )
        assert_quiet_success(proc)
        assert list(spool_dir.iterdir()) == []
    finally:
        spool_dir.chmod(0o700)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["{spool}"],
        ["{spool}", "claude"],
        ["", "claude", "Stop"],
        ["{spool}", "", "Stop"],
        ["{spool}", "claude", ""],
        ["{spool}", "../x", "Stop"],
        ["{spool}", "claude", "Pre/Tool"],
        ["{spool}", "cl.aude", "Stop"],
        ["{spool}", "claude", "Stop now"],
        ["{spool}", "claude", "Stop\n"],
        ["{spool}", "clé", "Stop"],
        ["{spool}", "claude", "*"],
    ],
)
def test_bad_arguments_write_nothing_and_still_succeed(tmp_path: Path, args: list[str]) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    argv = [a.replace("{spool}", str(spool_dir)) for a in args]
    assert_quiet_success(run_hook(tmp_path, argv))
    assert list(spool_dir.iterdir()) == []
    assert entries(tmp_path) == ["spool"]  # nothing in the cwd either


def test_extra_arguments_are_ignored(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    assert_quiet_success(run_hook(tmp_path, [str(spool_dir), "claude", "PreToolUse", "more"]))
    assert payload_of(only_event(spool_dir)) == PAYLOAD


def test_fifty_concurrent_events_all_arrive_intact(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    command = installed(spool_dir)
    payloads = [PAYLOAD.replace(b"hello", f"hello {i:02d}".encode()) * (i + 1) for i in range(50)]
    procs = [
        subprocess.Popen(
            [SH, "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=hook_env(tmp_path),
        )
        for _ in payloads
    ]
    for proc, payload in zip(procs, payloads, strict=True):
        out, err = proc.communicate(payload, timeout=60)
        assert (proc.returncode, out, err) == (0, b"", b"")
    entries, unusable = spool.list_ready(spool_dir)
    assert len(entries) == 50 and unusable == []
    assert len(list(spool_dir.iterdir())) == 100
    assert all(EVENT_NAME.match(e.marker.name) for e in entries)
    assert sorted(e.path.read_bytes() for e in entries) == sorted(payloads)


def test_an_existing_event_file_is_never_overwritten(tmp_path: Path) -> None:
    """A real name clash (pid reuse while an old event waits): the agent's shell writes the
    name the sourced hook will use, since the hook runs in that same shell with its `$$`."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    script = (
        f'printf original >"{spool_dir}/.ev.claude.PreToolUse.4242.$$.json"; echo $$ >&2; '
        + installed(spool_dir)
    )
    proc = run_hook(tmp_path, [], script=script)
    assert (proc.returncode, proc.stdout) == (0, b"")
    pid = int(proc.stderr)
    clash = spool_dir / f".ev.claude.PreToolUse.4242.{pid}.json"
    assert clash.read_bytes() == b"original"
    event = spool_dir / f"ev.claude.PreToolUse.4242.{pid}.b.ready"
    assert payload_of(event) == PAYLOAD
    # The clash is an old event whose commit never came: once older than spool_order's hold,
    # it no longer holds back its process's newer events.
    old = time.time() - 10
    os.utime(clash, (old, old))
    entries, _ = spool.list_ready(spool_dir)
    assert [e.marker for e in entries] == [event]


def test_without_cat_nothing_is_committed_and_all_is_quiet(tmp_path: Path) -> None:
    """No cat on PATH: no payload, so no marker; the hook still exits 0, silently."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    env = hook_env(tmp_path, PATH=str(tmp_path / "empty-bin"))
    assert_quiet_success(run_hook(tmp_path, [], env=env, script=installed(spool_dir)))
    assert spool.list_ready(spool_dir) == ([], [])


def test_without_cat_the_empty_payload_file_is_removed(tmp_path: Path) -> None:
    """cat missing but rm there: the file the hook opened for the payload goes too (an empty
    payload left behind would be adopted as an event a minute later)."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    only_rm = tmp_path / "only-rm"
    only_rm.mkdir()
    rm = shutil.which("rm")
    assert rm is not None
    (only_rm / "rm").symlink_to(rm)
    env = hook_env(tmp_path, PATH=str(only_rm))
    assert_quiet_success(run_hook(tmp_path, [], env=env, script=installed(spool_dir)))
    assert list(spool_dir.iterdir()) == []


def test_no_commands_at_all_is_still_a_silent_success(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = hook_env(tmp_path, PATH=str(empty_bin))
    spool_dir = tmp_path / "missing" / "spool"
    assert_quiet_success(run_hook(tmp_path, [str(spool_dir), "claude", "PreToolUse"], env=env))


def _shell(name: str, *args: str) -> pytest.ParameterSet:
    # dash and bash are always there on Linux (CI): a missing one fails the test loudly.
    required = LINUX and (name != "busybox" or bool(os.environ.get("CI")))  # CI installs it
    missing = shutil.which(name) is None
    reason = f"{name} is not installed"
    mark = pytest.mark.skipif(missing and not required, reason=reason)
    return pytest.param([name, *args], marks=mark, id=name)


SHELLS = [_shell("dash"), _shell("bash", "--posix"), _shell("busybox", "sh")]


def run_with(shell: list[str], tmp_path: Path, args: Sequence[str]) -> None:
    if shutil.which(shell[0]) is None:
        pytest.fail(f"{shell[0]} must be installed on Linux to test the hook with it")
    proc = subprocess.run(
        [*shell, str(HOOK), *args],
        input=PAYLOAD,
        capture_output=True,
        env=hook_env(tmp_path),
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert_quiet_success(proc)


@pytest.mark.parametrize("shell", SHELLS)
def test_works_with_every_posix_shell(tmp_path: Path, shell: list[str]) -> None:
    spool_dir = tmp_path / "new" / "spool"
    run_with(shell, tmp_path, [str(spool_dir), "claude", "PreToolUse"])
    assert stat.S_IMODE(spool_dir.stat().st_mode) == 0o700
    run_with(shell, tmp_path, [str(spool_dir), "claude", "PreToolUse"])
    entries, unusable = spool.list_ready(spool_dir)
    assert len(entries) == 2 and unusable == []
    assert all(EVENT_NAME.match(e.marker.name) for e in entries)
    assert all(e.path.read_bytes() == PAYLOAD for e in entries)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in spool_dir.iterdir())
    sourced = subprocess.run(
        [*shell, "-c", installed(spool_dir, "Stop")],
        input=PAYLOAD,
        capture_output=True,
        env=hook_env(tmp_path),
        timeout=30,
        check=False,
    )
    assert_quiet_success(sourced)
    assert len(spool.list_ready(spool_dir)[0]) == 3
    for bad in (["claude"], [str(spool_dir), "../x", "Stop"], [str(spool_dir), "claude", "a/b"]):
        run_with(shell, tmp_path, bad)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    run_with(shell, tmp_path, [str(blocker), "claude", "Stop"])
    assert len(list(spool_dir.iterdir())) == 6


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("blocks", [0, 8], ids=["nothing-written", "cut-midway"])
def test_a_failed_payload_write_commits_nothing_and_leaves_no_file(
    tmp_path: Path, shell: list[str], blocks: int
) -> None:
    """Disk full, EIO: cat fails. `ulimit -f` makes the kernel refuse the write (SIGXFSZ or
    EFBIG) in every shell. The hook used to retry under a second name, which read the rest of
    stdin, and commit that: an empty or truncated payload. Now the file goes, nothing is
    committed, and the agent still sees a silent success."""
    if shutil.which(shell[0]) is None:
        pytest.fail(f"{shell[0]} must be installed on Linux to test the hook with it")
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    payload = b'{"k": "' + b"x" * 1_000_000 + b'"}'  # past the limit in any shell's block unit
    as_program = " ".join(shlex.quote(a) for a in [str(HOOK), str(spool_dir), "claude", "Stop"])
    for command in (installed(spool_dir), as_program):
        proc = subprocess.run(
            [*shell, "-c", f"ulimit -f {blocks}; {command}"],
            input=payload,
            capture_output=True,
            env=hook_env(tmp_path),
            cwd=tmp_path,
            timeout=30,
            check=False,
        )
        assert_quiet_success(proc)
        assert list(spool_dir.iterdir()) == [], command
    # The same shells, the limit lifted: the hook writes as usual.
    proc = subprocess.run(
        [*shell, "-c", installed(spool_dir)],
        input=payload,
        capture_output=True,
        env=hook_env(tmp_path),
        timeout=30,
        check=False,
    )
    assert_quiet_success(proc)
    assert payload_of(only_event(spool_dir)) == payload


# -- the pi extension's writer (hooks/pi/observer.ts), the same promise ------------------------

PI_EXTENSION = HOOK.parent / "pi" / "observer.ts"
NODE = shutil.which("node") or "node"  # a missing one skips the test


def _pi_spool_function() -> str:
    """The extension's `spool()` as plain JS (its few type annotations stripped), with the
    stand-ins it needs: run by node, it writes one record into argv[2], padded to argv[3]."""
    source = PI_EXTENSION.read_text()
    start = source.index("function spool(hook: string")
    body = source[start : source.index("\n}\n", start) + 3]
    body = body.replace("hook: string, event: any, ctx: any): void", "hook, event, ctx)")
    body = re.sub(r"let (\w+): [\w |]+;", r"let \1;", body)
    body = body.replace("catch (err: any)", "catch (err)")
    return (
        "const { closeSync, futimesSync, mkdirSync, openSync, unlinkSync, writeSync } =\n"
        '  require("node:fs");\n'
        "const SPOOL_DIR = process.argv[2];\n"
        'const NONCE = "t";\nlet seq = 0;\nlet lastMicros = 0;\n'
        "const modelName = (m) => m;\nconst slim = (hook, event) => event;\n"
        f"{body}\n"
        'spool("agent_start", { type: "agent_start", pad: "x".repeat(Number(process.argv[3])) }, '
        '{ cwd: "/tmp" });\n'
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("limit", ["0", "1"], ids=["nothing-written", "short-write"])
def test_the_pi_extension_commits_nothing_when_its_write_fails(tmp_path: Path, limit: str) -> None:
    """`ulimit -f` (SIGXFSZ ignored, as node would otherwise die): a write refused outright
    (EFBIG) or cut short (a short count, as on a full disk) leaves neither record nor marker.
    The extension used to commit the first 512 bytes of the record."""
    script = tmp_path / "spool.js"
    script.write_text(_pi_spool_function())
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    run = f"trap '' XFSZ; ulimit -f {limit}; exec {NODE} {script} {spool_dir} 100000"
    proc = subprocess.run([SH, "-c", run], capture_output=True, timeout=60, check=False)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert list(spool_dir.iterdir()) == []
    proc = subprocess.run([NODE, str(script), str(spool_dir), "100000"], timeout=60, check=True)
    (entry,) = spool.list_ready(spool_dir)[0]
    assert entry.agent == "pi" and len(entry.path.read_bytes()) > 100000
