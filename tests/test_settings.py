"""Settings: precedence, validation, and that every setting is documented."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from observer.core.errors import ConfigError
from observer.running import (
    locate_server,
    read_running_server,
    remember_setting,
    remove_running_server,
    write_running_server,
)
from observer.settings import SETTINGS, Setting, Settings, load_settings, split_bind
from tests.support.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs" / "settings.md"


def _documented() -> dict[str, list[str]]:
    """docs/settings.md's table: setting name -> its environment, default and meaning cells."""
    rows: dict[str, list[str]] = {}
    for line in DOCS.read_text().splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0].split("`")[1]] = cells[1:]
    return rows


@pytest.mark.parametrize("row", SETTINGS, ids=lambda r: r.name)
def test_every_setting_is_documented_as_the_table_says(row: Setting) -> None:
    assert _documented()[row.name] == [f"`{row.env}`", row.shown_default, row.help]


def test_the_docs_list_no_setting_the_table_lacks() -> None:
    assert list(_documented()) == [row.name for row in SETTINGS]


def test_every_settings_field_is_a_row_with_its_default() -> None:
    from dataclasses import MISSING, fields

    assert [f.name for f in fields(Settings)] == [row.name for row in SETTINGS]
    for f, row in zip(fields(Settings), SETTINGS, strict=True):
        assert f.default == (MISSING if row.name == "data_dir" else row.default), row.name


@pytest.mark.parametrize(
    "row", [r for r in SETTINGS if r.default is not None], ids=lambda r: r.name
)
def test_each_default_is_a_value_of_its_own_parser(row: Setting) -> None:
    assert row.parse(row.default) == row.default


@pytest.mark.parametrize(
    "row", [r for r in SETTINGS if r.default is not None and r.shown is None], ids=lambda r: r.name
)
def test_the_default_as_documented_read_from_the_environment_is_the_default(
    row: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(row.env, row.shown_default)
    assert getattr(load_settings(), row.name) == row.default


def test_a_value_its_parser_refuses_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVER_MAX_CLIENTS", "0")
    with pytest.raises(
        ConfigError, match=r"setting max_clients='0' is invalid: must be at least 1"
    ):
        load_settings()


def test_precedence_flag_over_env_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "config.toml").write_text('bind = "127.0.0.1:1111"\nreplay_ring = 7\n')
    monkeypatch.setenv("OBSERVER_DATA_DIR", str(data))
    assert load_settings().bind == "127.0.0.1:1111"
    assert load_settings().replay_ring == 7
    monkeypatch.setenv("OBSERVER_BIND", "127.0.0.1:2222")
    assert load_settings().bind == "127.0.0.1:2222"
    assert load_settings(bind="127.0.0.1:3333").bind == "127.0.0.1:3333"


def test_default_data_dir_and_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBSERVER_DATA_DIR")
    settings = load_settings()
    assert settings.data_dir.name == "observer"
    assert str(settings.data_dir).startswith(str(tmp_path))  # HOME is the tmp home
    assert settings.bind == "127.0.0.1:4700"
    assert settings.token is None


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1:1", True),
        ("localhost:1", True),
        ("[::1]:1", True),
        ("0.0.0.0:1", False),
        ("192.168.1.5:1", False),
        ("[::]:1", False),
    ],
)
def test_loopback_detection(bind: str, loopback: bool) -> None:
    assert load_settings(bind=bind).is_loopback is loopback


@pytest.mark.parametrize("bad", ["nonsense", "1.2.3.4", "host:99999", "host:port"])
def test_bad_bind_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError):
        split_bind(bad)


def test_bad_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "config.toml").write_text("bind = ")
    monkeypatch.setenv("OBSERVER_DATA_DIR", str(data))
    with pytest.raises(ConfigError, match="config.toml"):
        load_settings()


# -- where the server is, and remembering a setting ---------------------------------------------


def test_the_server_file_says_where_the_server_is(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bind="127.0.0.1:4811")
    written = write_running_server(settings, "9.9")
    assert stat.S_IMODE(settings.server_path.stat().st_mode) == 0o600
    assert read_running_server(settings) == written
    assert written.url == "http://127.0.0.1:4811" and written.pid == os.getpid()
    elsewhere = Settings(data_dir=tmp_path)  # a client whose config says nothing
    assert locate_server(elsewhere).bind == "127.0.0.1:4811"
    remove_running_server(settings)
    assert not settings.server_path.exists()
    assert locate_server(elsewhere) == elsewhere


def test_a_dead_or_garbled_server_file_is_not_believed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    entry = {"pid": gone.pid, "url": "http://127.0.0.1:1", "bind": "127.0.0.1:1", "socket": None}
    settings.server_path.write_text(json.dumps(entry))
    assert read_running_server(settings) is None
    assert read_running_server(settings, check_alive=False) is not None
    for garbage in ("", "[]", "{", '{"pid": "x"}', json.dumps({**entry, "bind": "nonsense"})):
        settings.server_path.write_text(garbage)
        assert read_running_server(settings, check_alive=False) is None, garbage


def test_observer_bind_in_the_environment_wins_over_the_server_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_running_server(Settings(data_dir=tmp_path, bind="127.0.0.1:4811"), "9.9")
    monkeypatch.setenv("OBSERVER_BIND", "127.0.0.1:4822")
    settings = load_settings(data_dir=str(tmp_path))
    assert locate_server(settings).bind == "127.0.0.1:4822"


def test_remember_setting_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert remember_setting(settings, "bind", "127.0.0.1:4811")
    assert settings.config_path.read_text() == 'bind = "127.0.0.1:4811"\n'
    assert stat.S_IMODE(settings.config_path.stat().st_mode) == 0o600
    assert not remember_setting(settings, "bind", "127.0.0.1:4811")  # already so: untouched
    text = '# mine\naway_timeout = 60\n  bind = "0.0.0.0:1"  # old\n\n[extra]\nbind = "x"\n'
    settings.config_path.write_text(text)
    assert remember_setting(settings, "bind", "127.0.0.1:4822")
    edited = settings.config_path.read_text()
    assert edited == text.replace('  bind = "0.0.0.0:1"  # old', 'bind = "127.0.0.1:4822"')
    settings.config_path.write_text('[extra]\nbind = "x"\n')  # only a table's own key
    assert remember_setting(settings, "bind", "127.0.0.1:4833")
    assert tomllib.loads(settings.config_path.read_text()) == {
        "bind": "127.0.0.1:4833",
        "extra": {"bind": "x"},
    }
    assert load_settings(data_dir=str(tmp_path)).bind == "127.0.0.1:4833"


def test_remember_setting_refuses_an_edit_it_cannot_make_safely(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    text = 'bind = """127.0.0.1:\n4811"""\n'
    settings.config_path.write_text(text)
    with pytest.raises(ConfigError, match="cannot set bind"):
        remember_setting(settings, "bind", "127.0.0.1:4822")
    assert settings.config_path.read_text() == text
