"""Settings: precedence, validation, and that every setting is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from observer.core.errors import ConfigError
from observer.settings import SETTINGS, Settings, load_settings, split_bind
from tests.support.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs" / "settings.md"


@pytest.mark.parametrize("info", SETTINGS, ids=lambda i: i.name)
def test_every_setting_is_documented(info: object) -> None:
    text = DOCS.read_text()
    assert f"`{info.name}`" in text  # type: ignore[attr-defined]
    assert f"`{info.env}`" in text  # type: ignore[attr-defined]


def test_every_settings_field_is_declared() -> None:
    from dataclasses import fields

    assert {f.name for f in fields(Settings)} == {i.name for i in SETTINGS}


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
