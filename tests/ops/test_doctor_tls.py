"""observer doctor's tls line: the certificate's fingerprint when TLS works, one clear line when
it cannot, and what a bind without TLS means."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from observer.ops import doctor
from observer.ops.doctor import FAIL, OK, WARN
from observer.server.tls import fingerprint
from observer.settings import Settings, load_settings
from tests.support.tls import throwaway_certificate


def settings(**given: object) -> Settings:
    return replace(load_settings(), **given)


def test_a_working_certificate_shows_its_fingerprint(tmp_path: Path) -> None:
    certificate = throwaway_certificate(tmp_path / "certs")
    check = doctor.tls_check(settings(certfile=certificate.certfile, keyfile=certificate.keyfile))
    assert check.level == OK
    assert fingerprint(certificate.certfile) in check.message
    assert str(certificate.certfile) in check.message


def test_a_key_others_can_read_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    certificate = throwaway_certificate(tmp_path / "certs")
    certificate.keyfile.chmod(0o644)
    check = doctor.tls_check(settings(certfile=certificate.certfile, keyfile=certificate.keyfile))
    assert check.level == WARN and "readable by others" in check.message
    assert check.fix == f"chmod 600 {certificate.keyfile}"


def test_a_certificate_that_cannot_work_fails(tmp_path: Path) -> None:
    certificate = throwaway_certificate(tmp_path / "certs")
    other = throwaway_certificate(tmp_path / "certs", "other")
    check = doctor.tls_check(settings(certfile=certificate.certfile, keyfile=other.keyfile))
    assert check.level == FAIL and "does not match" in check.message


def test_without_tls_loopback_is_fine_and_off_loopback_is_warned(tmp_path: Path) -> None:
    assert doctor.tls_check(settings(bind="127.0.0.1:4700")).level == OK
    off = doctor.tls_check(settings(bind="0.0.0.0:4700"))
    assert off.level == WARN and "--insecure-http" in off.message
    assert "tailscale serve" in off.fix


def test_the_running_servers_certificate_is_shown_when_the_settings_name_none(
    tmp_path: Path,
) -> None:
    certificate = throwaway_certificate(tmp_path / "certs")
    check = doctor.tls_check(settings(), serving_with=certificate.certfile)
    assert check.level == OK and fingerprint(certificate.certfile) in check.message
