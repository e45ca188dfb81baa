"""TLS for the server's TCP port, and the rule that keeps plain HTTP off the network.

- `check_tls`: certfile and keyfile, checked before anything binds, each fault one clear line
  (a missing or unreadable file, no PEM in it, a passphrase on the key, a key that belongs to
  another certificate), not a traceback from deep inside Hypercorn, and no passphrase prompt.
- `plain_http_refusal`: a server reached from other machines speaks TLS, or is told
  `--insecure-http` on purpose; the decision, pure, and the words that say what to do.
- `fingerprint`: the SHA-256 fingerprint of the configured certificate, as `openssl x509
  -fingerprint -sha256` prints it, so a phone's user can compare it with what their browser
  shows before trusting a self-signed certificate (`observer doctor` shows it; pairing puts it
  in its link).

The unix socket in the data dir stays plain HTTP: only this user can reach it.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

from observer.core.errors import ConfigError
from observer.running import leaf_certificate
from observer.settings import Settings

INSECURE_FLAG = "--insecure-http"


def plain_http_refusal(settings: Settings, insecure_http: bool) -> str | None:
    """Why these settings must not start (None: they may). Plain HTTP on an address other
    machines can reach sends the token, the login cookie and every prompt and command in the
    clear, so it takes TLS, or the user's explicit `--insecure-http`."""
    if settings.tls or settings.is_loopback or insecure_http:
        return None
    return (
        f"refusing to serve plain HTTP on {settings.bind}: other machines can reach that "
        "address, and the token, the login cookie and every prompt would cross the network "
        "readable. Either set certfile and keyfile (a certificate; docs/remote.md shows how to "
        f"make one), or keep bind on 127.0.0.1 and put `tailscale serve` in front "
        f"(docs/remote.md), or, on a network that is yours alone, start with {INSECURE_FLAG}. "
        f"(bind comes from --bind, OBSERVER_BIND or {settings.config_path})"
    )


def refuse_plain_http(settings: Settings, insecure_http: bool) -> None:
    refusal = plain_http_refusal(settings, insecure_http)
    if refusal is not None:
        raise ConfigError(refusal)


def check_tls(settings: Settings) -> None:
    """Raise ConfigError, saying what to do, unless certfile and keyfile are both unset or
    both usable together: what Hypercorn will load, loaded once here first."""
    certfile, keyfile = settings.certfile, settings.keyfile
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        given, missing = ("certfile", "keyfile") if keyfile is None else ("keyfile", "certfile")
        raise ConfigError(f"{given} is set but {missing} is not: TLS needs both (or neither)")
    for name, path in (("certfile", certfile), ("keyfile", keyfile)):
        if not path.is_absolute():
            raise ConfigError(
                f"{name} {path} is a relative path: give it from / (the service starts in "
                "another directory)"
            )
    leaf_certificate(certfile)  # missing, unreadable, or no certificate: said by name
    _check_key_text(keyfile)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_passphrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"keyfile {keyfile} does not match certfile {certfile}: the key belongs to "
                "another certificate"
            ) from None
        raise ConfigError(
            f"cannot use certfile {certfile} with keyfile {keyfile}: {exc.reason or exc}"
        ) from None
    except OSError as exc:  # gone or unreadable since it was read above
        raise ConfigError(f"cannot read {exc.filename or keyfile}: {exc.strerror}") from None


def _check_key_text(keyfile: Path) -> None:
    try:
        text = keyfile.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise ConfigError(f"keyfile {keyfile} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read keyfile {keyfile}: {exc.strerror}") from None
    if "PRIVATE KEY-----" not in text:
        raise ConfigError(f"keyfile {keyfile} holds no PEM private key (-----BEGIN ...KEY-----)")
    if "ENCRYPTED" in text:
        raise ConfigError(
            f"keyfile {keyfile} is protected by a passphrase, which nobody is there to type "
            "when observer starts: write it out without one (`openssl pkey -in KEY -out "
            "KEY.plain`), readable by you alone (chmod 600)"
        )


def _no_passphrase() -> bytes:
    # Never OpenSSL's own prompt on the terminal (or a service's closed stdin).
    raise ConfigError("the keyfile wants a passphrase")


def fingerprint(certfile: Path) -> str:
    """SHA-256 of the certificate (DER), as colon-separated hex pairs in capitals: the form
    `openssl x509 -noout -fingerprint -sha256` and the browsers' certificate viewers show."""
    der = ssl.PEM_cert_to_DER_cert(leaf_certificate(certfile))
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def configured_fingerprint(settings: Settings) -> str | None:
    """The fingerprint of the certificate these settings serve with, or None without TLS.
    Raises ConfigError when the certificate cannot be read."""
    return fingerprint(settings.certfile) if settings.certfile is not None else None
