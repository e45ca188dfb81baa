"""Tests for observer's Codex hooks: hooks.json merged like Claude's settings.json, trust
recorded through `codex app-server` (a fake one here, written by the test; the real binary is
in tests/e2e/test_codex.py), trust records and notify edited in config.toml.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.install.backups import backups_of
from observer.install.codex import (
    CODEX_OBSERVE_EVENTS,
    default_codex_home,
    event_snake,
    install_codex_hooks,
    our_positions,
    trust_codex_hooks,
    uninstall_codex_hooks,
)
from observer.install.codex_config import (
    forget_trust,
    install_notify,
    is_our_notify,
    notify_command,
    uninstall_notify,
)
from observer.install.codex_trust import AppServerError
from observer.install.hooks import SettingsError, is_observer_entry

HOOK = "/opt/agent observer/bin/observer-hook"
SPOOL = "/var/tmp/observer spool"
FOREIGN: dict[str, Any] = {
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh"}]},
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "say done", "timeout": 5}]}],
        "SomeFutureEvent": [{"hooks": []}],
    },
    "extra": {"kept": ["as", "is"]},
}
CONFIG = """\
# my codex config
model = "gpt-5.5"

[profiles.fast]
model = "gpt-5.5-mini"  # cheaper

[hooks.state."/elsewhere/hooks.json:stop:0:0"]
trusted_hash = "sha256:aaaa"
"""


@pytest.fixture
def home(isolated_home: Path) -> Path:
    """$CODEX_HOME as the autouse fixture set it (conftest.py)."""
    return isolated_home / ".codex"


def write_json(path: Path, data: object) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, indent=3).encode()
    path.write_bytes(raw)
    return raw


def ours(data: dict[str, Any], event: str) -> list[dict[str, Any]]:
    groups = data.get("hooks", {}).get(event, [])
    return [h for g in groups for h in g.get("hooks", []) if is_observer_entry(h)]


def listing(directory: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in directory.iterdir())


# -- hooks.json ------------------------------------------------------------------------------


def test_events_are_every_state_carrying_event_codex_fires() -> None:
    assert len(CODEX_OBSERVE_EVENTS) == 13 == len(set(CODEX_OBSERVE_EVENTS))
    assert {"SessionStart", "PermissionRequest", "Interrupt", "SessionEnd"} <= set(
        CODEX_OBSERVE_EVENTS
    )
    assert "PreModelRequest" in CODEX_OBSERVE_EVENTS  # see the comment on the constant


def test_fresh_install_entries(home: Path) -> None:
    path = home / "hooks.json"
    result = install_codex_hooks(path, HOOK, SPOOL)

    assert result.changed and result.backup is None and result.added_events == CODEX_OBSERVE_EVENTS
    data = json.loads(path.read_text())
    assert list(data["hooks"]) == list(CODEX_OBSERVE_EVENTS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for event in CODEX_OBSERVE_EVENTS:
        [group] = data["hooks"][event]
        tool = event in ("PreToolUse", "PermissionRequest", "PostToolUse")
        assert group.get("matcher") == (".*" if tool else None)
        [entry] = group["hooks"]
        # Synchronous (no "async"): Codex may exit before an async hook ran.
        assert entry.keys() == {"type", "command", "timeout"} and entry["timeout"] == 3
        words = shlex.split(entry["command"])
        assert words[:3] == ["A=codex", f"E={event}", f"S={SPOOL}"] and words[5] == HOOK


def test_foreign_kept_idempotent_and_round_trip(home: Path) -> None:
    path = home / "hooks.json"
    old = write_json(path, FOREIGN)

    first = install_codex_hooks(path, HOOK, SPOOL)
    after = json.loads(path.read_text())
    installed = path.read_bytes()
    again = install_codex_hooks(path, HOOK, SPOOL)

    assert first.backup is not None and first.backup.read_bytes() == old
    assert not again.changed and path.read_bytes() == installed
    assert after["extra"] == FOREIGN["extra"]
    assert after["hooks"]["PreToolUse"][0] == FOREIGN["hooks"]["PreToolUse"][0]
    assert after["hooks"]["Stop"][0] == FOREIGN["hooks"]["Stop"][0]
    assert all(len(ours(after, e)) == 1 for e in CODEX_OBSERVE_EVENTS)
    assert our_positions(after) >= {("stop", 1, 0), ("pre_tool_use", 1, 0), ("interrupt", 0, 0)}

    result, forgotten = uninstall_codex_hooks(home)
    assert result.removed_entries == len(CODEX_OBSERVE_EVENTS) and forgotten == 0
    assert json.dumps(json.loads(path.read_text())) == json.dumps(FOREIGN)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"hooks": ', "is not valid JSON"),
        (b'{"hooks": []}', '"hooks" as an array'),
        (b'{"hooks": {"Stop": {}}}', '"hooks.Stop" as an object'),
        (b'{"a": 1, "a": 2}', "twice"),
    ],
)
def test_malformed_hooks_json_is_refused_untouched(home: Path, raw: bytes, problem: str) -> None:
    home.mkdir()
    (home / "hooks.json").write_bytes(raw)
    before = listing(home)
    for run in (
        lambda: install_codex_hooks(home / "hooks.json", HOOK, SPOOL),
        lambda: install_codex_hooks(home / "hooks.json", HOOK, SPOOL, dry_run=True),
        lambda: uninstall_codex_hooks(home),
    ):
        with pytest.raises(SettingsError, match=problem):
            run()
        assert listing(home) == before


def test_dry_run_writes_nothing(home: Path) -> None:
    planned = install_codex_hooks(home / "hooks.json", HOOK, SPOOL, dry_run=True)
    assert planned.changed and not home.exists()
    old = write_json(home / "hooks.json", FOREIGN)
    planned = install_codex_hooks(home / "hooks.json", HOOK, SPOOL, dry_run=True)
    assert planned.changed and listing(home) == [("hooks.json", old)]


def test_default_codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CODEX_HOME")
    assert default_codex_home() == tmp_path / ".codex"
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "cx"))
    assert default_codex_home() == tmp_path / "cx"


def test_event_snake() -> None:
    assert [event_snake(e) for e in ("PreToolUse", "Stop", "PreModelRequest")] == [
        "pre_tool_use",
        "stop",
        "pre_model_request",
    ]


# -- trust records in config.toml ------------------------------------------------------------


def trusted_config(home: Path, positions: list[tuple[str, int, int]]) -> str:
    """CONFIG plus trust records as Codex's config/batchWrite writes them."""
    text = CONFIG + "\n[hooks.state]\n"
    for event, group, handler in positions:
        key = f"{home / 'hooks.json'}:{event}:{group}:{handler}"
        text += f'\n[hooks.state."{key}"]\ntrusted_hash = "sha256:{event}"\n'
    return text


def test_forget_trust_removes_only_ours(home: Path) -> None:
    home.mkdir()
    config = home / "config.toml"
    config.write_text(trusted_config(home, [("stop", 0, 0), ("stop", 1, 0), ("interrupt", 0, 0)]))

    gone = forget_trust(
        config, home / "hooks.json", frozenset({("stop", 1, 0), ("interrupt", 0, 0)})
    )

    assert gone == 2
    state = tomllib.loads(config.read_text())["hooks"]["state"]
    assert sorted(state) == ["/elsewhere/hooks.json:stop:0:0", f"{home / 'hooks.json'}:stop:0:0"]
    assert config.read_text().startswith(CONFIG)  # every other line as it was


def test_forget_trust_of_all_ours_restores_the_file(home: Path) -> None:
    home.mkdir()
    config = home / "config.toml"
    original = '# mine\nmodel = "x"\n'
    config.write_text(
        original
        + "\n[hooks.state]\n\n"
        + '[hooks.state."%s:stop:0:0"]\n' % (home / "hooks.json")
        + 'trusted_hash = "sha256:1"\n'
    )
    assert forget_trust(config, home / "hooks.json", frozenset({("stop", 0, 0)})) == 1
    assert config.read_text() == original
    [backup] = backups_of(config)
    assert backup.read_text().startswith(original)


def test_forget_trust_refuses_what_it_cannot_edit(home: Path) -> None:
    home.mkdir()
    config = home / "config.toml"
    key = f"{home / 'hooks.json'}:stop:0:0"
    inline = f'"{key}" = {{ trusted_hash = "sha256:1" }}, "b" = {{ trusted_hash = "sha256:2" }}'
    config.write_text(f"[hooks]\nstate = {{ {inline} }}\n")
    before = listing(home)
    with pytest.raises(SettingsError, match="by hand"):
        forget_trust(config, home / "hooks.json", frozenset({("stop", 0, 0)}))
    assert listing(home) == before
    assert forget_trust(home / "missing.toml", home / "hooks.json", frozenset()) == 0


# -- notify ----------------------------------------------------------------------------------


def test_notify_installed_chained_and_restored(home: Path) -> None:
    home.mkdir()
    config = home / "config.toml"
    original = '# top\nnotify = ["notify-send", "Codex"]\n\n[profiles.x]\nmodel = "m"\n'
    config.write_text(original)

    install_notify(config, HOOK, SPOOL)
    first = config.read_text()
    install_notify(config, HOOK, SPOOL)  # again: no second link in the chain

    value = tomllib.loads(config.read_text())["notify"]
    assert config.read_text() == first
    assert is_our_notify(value) and value[4:] == ["notify-send", "Codex"]
    backups = backups_of(config)
    assert uninstall_notify(config, backup=False) is not None
    assert config.read_text() == original
    assert backups_of(config) == backups  # no new one: the run's first edit made it
    assert uninstall_notify(config) is None


def test_notify_without_a_previous_one(home: Path) -> None:
    home.mkdir()
    config = home / "config.toml"
    config.write_text(CONFIG)
    install_notify(config, HOOK, SPOOL)
    assert tomllib.loads(config.read_text())["notify"] == notify_command(HOOK, SPOOL, [])
    uninstall_notify(config)
    assert config.read_text() == CONFIG


def test_notify_refuses_a_notify_it_does_not_understand(home: Path) -> None:
    home.mkdir()
    config = home / "config.toml"
    for text in ('notify = "say"\n', 'notify = [\n  "say",\n]\n', "notify = [\n"):
        config.write_text(text)
        with pytest.raises(SettingsError):
            install_notify(config, HOOK, SPOOL)
        assert config.read_text() == text


def test_notify_script_spools_and_runs_the_users_program(tmp_path: Path) -> None:
    from hooks import hook_script_path

    spool = tmp_path / "spool"
    got = tmp_path / "got"
    user = ["sh", "-c", 'printf "%s|" "$@" > "$0"', str(got), "one arg"]
    payload = json.dumps({"type": "agent-turn-complete", "thread-id": "t1", "x": "a b"})
    argv = notify_command(str(hook_script_path()), str(spool), user)

    done = subprocess.run([*argv, payload], capture_output=True, timeout=10)

    assert done.returncode == 0 and done.stdout == done.stderr == b""
    assert got.read_text() == f"one arg|{payload}|"
    [ready] = spool.glob("ev.codex.notify.*.ready")
    assert ready.name.split(".")[3] == str(os.getpid())  # the pid is Codex's (here: ours)
    [data] = spool.glob(".ev.codex.notify.*.json")
    assert data.read_text() == payload


# -- trust through a fake app-server ---------------------------------------------------------

FAKE_APP_SERVER = r"""
import hashlib, json, os, sys
home = os.environ["CODEX_HOME"]
mode = sys.argv[2] if len(sys.argv) > 2 else ""
log = open(os.path.join(home, "rpc.log"), "a")
state_file = os.path.join(home, "fake-trust.json")
if mode == "hang":
    sys.stdin.read()
if mode == "crash":
    sys.exit(3)
def trusted():
    try:
        return json.load(open(state_file))
    except OSError:
        return {}
def hooks():
    path = os.path.join(home, "hooks.json")
    data = json.load(open(path)).get("hooks", {})
    out = []
    for event, groups in data.items():
        snake = "".join("_" + c.lower() if c.isupper() else c for c in event).lstrip("_")
        for g, group in enumerate(groups):
            for h, entry in enumerate(group.get("hooks", [])):
                key = f"{path}:{snake}:{g}:{h}"
                digest = "sha256:" + hashlib.sha256(entry["command"].encode()).hexdigest()
                status = "trusted" if trusted().get(key) == digest else "untrusted"
                out.append({"key": key, "command": entry["command"], "sourcePath": path,
                            "currentHash": digest, "trustStatus": status})
    return out
for line in sys.stdin:
    msg = json.loads(line)
    log.write(line)
    log.flush()
    if "id" not in msg or "method" not in msg:
        continue  # a notification, or our answer to the noise request
    method, result = msg["method"], {}
    if method == "hooks/list":
        result = {"data": [{"cwd": msg["params"]["cwds"][0], "hooks": hooks()}]}
    elif method == "config/batchWrite" and mode != "ignore-writes":
        state = trusted()
        for edit in msg["params"]["edits"]:
            state.update({k: v["trusted_hash"] for k, v in edit["value"].items()})
        json.dump(state, open(state_file, "w"))
    print(json.dumps({"id": 99, "method": "noise/request", "params": {}}), flush=True)
    print(json.dumps({"method": "configWarning", "params": {}}), flush=True)
    print(json.dumps({"id": msg["id"], "result": result}), flush=True)
"""


@pytest.fixture
def fake_codex(tmp_path: Path) -> Path:
    script = tmp_path / "bin" / "codex"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\n{FAKE_APP_SERVER}")
    script.chmod(0o755)
    return script


def rpc_log(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "rpc.log").read_text().splitlines()]


def test_trust_marks_only_our_hooks(home: Path, fake_codex: Path) -> None:
    write_json(home / "hooks.json", FOREIGN)
    install_codex_hooks(home / "hooks.json", HOOK, SPOOL)

    result = trust_codex_hooks(str(fake_codex), home, timeout=10)

    assert (result.listed, result.newly_trusted) == (13, 13)
    [write] = [m for m in rpc_log(home) if m.get("method") == "config/batchWrite"]
    [edit] = write["params"]["edits"]
    assert edit["keyPath"] == "hooks.state" and edit["mergeStrategy"] == "upsert"
    assert write["params"]["reloadUserConfig"] is True
    assert len(edit["value"]) == 13 and f"{home / 'hooks.json'}:stop:1:0" in edit["value"]
    assert not any(k.endswith((":stop:0:0", ":pre_tool_use:0:0")) for k in edit["value"])
    methods = [m["method"] for m in rpc_log(home) if "method" in m]
    assert {"id": 99, "jsonrpc": "2.0"}.items() <= rpc_log(home)[1].items()  # refused, not hung
    assert methods[:3] == ["initialize", "initialized", "hooks/list"]
    assert methods[-2:] == ["config/batchWrite", "hooks/list"]

    again = trust_codex_hooks(str(fake_codex), home, timeout=10)
    assert (again.listed, again.newly_trusted) == (13, 0)


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("hang", "did not answer initialize within 1 s"),
        ("crash", "exited (status 3) during initialize"),
        ("ignore-writes", "still reports observer's hooks as untrusted"),
    ],
)
def test_trust_failures_are_one_clear_error(
    home: Path, tmp_path: Path, mode: str, problem: str
) -> None:
    install_codex_hooks(home / "hooks.json", HOOK, SPOOL)
    wrapper = tmp_path / "codex-wrapper"
    wrapper.write_text(
        f'#!/bin/sh\nexec {sys.executable} -c {shlex.quote(FAKE_APP_SERVER)} "$1" {mode}\n'
    )
    wrapper.chmod(0o755)
    with pytest.raises(AppServerError, match=re.escape(problem)):
        trust_codex_hooks(str(wrapper), home, timeout=1)


def test_trust_without_our_hooks_or_binary(home: Path, fake_codex: Path) -> None:
    write_json(home / "hooks.json", FOREIGN)
    with pytest.raises(AppServerError, match="lists none of observer's hooks"):
        trust_codex_hooks(str(fake_codex), home, timeout=10)
    with pytest.raises(AppServerError, match="cannot run"):
        trust_codex_hooks(str(home / "no-such-codex"), home, timeout=10)


# -- the command -----------------------------------------------------------------------------


def test_cli_install_trust_notify_and_uninstall(home: Path, fake_codex: Path) -> None:
    home.mkdir()
    (home / "config.toml").write_text(CONFIG)
    runner = CliRunner()
    args = ["install-hooks", "--agent", "codex", "--codex-bin", str(fake_codex), "--notify"]

    done = runner.invoke(app, args)

    assert done.exit_code == 0, done.output
    # 13 observing entries and the PermissionRequest entry that can decide (remote approval)
    assert "trusted 14 of observer's 14 hooks" in done.output
    assert is_our_notify(tomllib.loads((home / "config.toml").read_text())["notify"])
    data = json.loads((home / "hooks.json").read_text())
    hook = shlex.split(ours(data, "Stop")[0]["command"])[5]
    assert Path(hook).is_file()  # the hook script was installed into the data dir

    done = runner.invoke(app, ["install-hooks", "--agent", "codex", "--uninstall"])
    assert done.exit_code == 0, done.output
    assert "removed observer's notify" in done.output
    assert (home / "config.toml").read_text() == CONFIG
    assert json.loads((home / "hooks.json").read_text()) == {}


def test_cli_without_codex_still_writes_hooks_and_warns(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    done = CliRunner().invoke(app, ["install-hooks", "--agent", "codex"])
    assert done.exit_code == 0
    assert "NOT trusted yet" in done.output and "--codex-bin" in done.output
    assert "/hooks" in done.output
    assert len(ours(json.loads((home / "hooks.json").read_text()), "Stop")) == 1


def test_cli_dry_run_for_codex_writes_nothing(home: Path) -> None:
    done = CliRunner().invoke(app, ["install-hooks", "--agent", "codex", "--dry-run", "--notify"])
    assert done.exit_code == 0, done.output
    assert '"PreToolUse"' in done.output and "notify = " in done.output
    assert not home.exists()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--agent", "gemini"], "claude, codex, pi"),
        (["--pi-dir", "x"], "for --agent pi"),
        (["--notify"], "for --agent codex"),
        (["--agent", "codex", "--settings", "x.json"], "for --agent claude"),
    ],
)
def test_cli_refuses_what_does_not_fit(args: list[str], problem: str) -> None:
    done = CliRunner().invoke(app, ["install-hooks", *args])
    assert done.exit_code == 1
    assert problem in done.output


def test_cli_uses_the_codex_dir_setting(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBSERVER_CODEX_DIR", str(tmp_path / "cx"))
    monkeypatch.setenv("PATH", "/nonexistent")
    done = CliRunner().invoke(app, ["install-hooks", "--agent", "codex"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "cx" / "hooks.json").is_file() and not home.exists()
