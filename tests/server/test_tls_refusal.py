"""Plain HTTP stays on loopback: an address other machines can reach is served over TLS, or
plain only when `--insecure-http` says it is meant. The decision, pure, for every kind of
address; and a real `observer start` refused before it binds anything."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from observer.core.errors import ConfigError
from observer.server.tls import plain_http_refusal, refuse_plain_http
from observer.settings import Settings, load_settings
from tests.support.server_process import free_port

OFF_LOOPBACK = ["0.0.0.0:4700", "[::]:4700", "192.168.1.5:4700", ":4700", "mybox.lan:4700"]
LOOPBACK = ["127.0.0.1:4700", "127.0.0.2:4700", "[::1]:4700", "localhost:4700"]


def at(bind: str, certfile: Path | None = None) -> Settings:
    return replace(load_settings(), bind=bind, certfile=certfile)


@pytest.mark.parametrize("bind", OFF_LOOPBACK)
def test_plain_http_off_loopback_is_refused_unless_meant(bind: str) -> None:
    refusal = plain_http_refusal(at(bind), insecure_http=False)
    assert refusal is not None
    assert refusal.startswith(f"refusing to serve plain HTTP on {bind}:")
    # It says each way out.
    assert "certfile and keyfile" in refusal
    assert "tailscale serve" in refusal
    assert "--insecure-http" in refusal
    with pytest.raises(ConfigError):
        refuse_plain_http(at(bind), insecure_http=False)
    assert plain_http_refusal(at(bind), insecure_http=True) is None


@pytest.mark.parametrize("bind", OFF_LOOPBACK)
def test_tls_off_loopback_needs_no_flag(bind: str, tmp_path: Path) -> None:
    assert plain_http_refusal(at(bind, tmp_path / "cert.pem"), insecure_http=False) is None


@pytest.mark.parametrize("bind", LOOPBACK)
def test_loopback_is_served_plain(bind: str) -> None:
    assert plain_http_refusal(at(bind), insecure_http=False) is None


def test_a_start_off_loopback_is_refused_before_it_binds(tmp_path: Path) -> None:
    """192.0.2.1 is a documentation address (TEST-NET-1), off loopback and on no interface
    here: were the refusal missing, the start would fail at the bind instead (another
    message), and nothing can listen off loopback in this test either way."""
    data_dir = tmp_path / "data"
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(data_dir)]
    done = subprocess.run(
        [*command, "--bind", f"192.0.2.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OBSERVER_DATA_DIR": str(data_dir)},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: refusing to serve plain HTTP on 192.0.2.1:"), done.stderr
    assert "--insecure-http" in done.stderr and "Traceback" not in done.stderr
    # Refused before anything: no lock, no remembered bind, no server.json.
    assert not (data_dir / "config.toml").exists()
    assert not (data_dir / "server.json").exists()
