"""Throwaway certificates for the TLS tests (trustme): a CA made for the test alone, and a
certificate it issued for 127.0.0.1 and localhost, written where a server's settings can name
them."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Certificate:
    ca: trustme.CA
    certfile: Path  # the server's certificate, then its issuer's
    keyfile: Path

    def trusting(self) -> ssl.SSLContext:
        """A client context that trusts this test's CA, as a browser given it would."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def env(self) -> dict[str, str]:
        return {"OBSERVER_CERTFILE": str(self.certfile), "OBSERVER_KEYFILE": str(self.keyfile)}


def throwaway_certificate(where: Path, name: str = "server") -> Certificate:
    """A new CA and a certificate for 127.0.0.1 and localhost, as `<where>/<name>.pem` (the
    certificate, then the CA's) and `<where>/<name>.key` (0600)."""
    where.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = where / f"{name}.pem", where / f"{name}.key"
    # As a CA's full chain file is: the server's certificate first, then the issuer's.
    chain = [*issued.cert_chain_pems, ca.cert_pem]
    certfile.write_bytes(b"".join(pem.bytes() for pem in chain))
    keyfile.touch(mode=0o600)
    keyfile.write_bytes(issued.private_key_pem.bytes())
    return Certificate(ca, certfile, keyfile)


def server_env(root: Path, certificate: Certificate) -> dict[str, str]:
    """The environment of a server a module's tests share: started before any test's own
    isolation (tests/conftest.py) applies, it gets its home and agents' dirs under `root` here,
    none of the developer's OBSERVER_* settings, and the certificate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVER_")}
    env.update(
        HOME=str(root / "home"),
        CLAUDE_CONFIG_DIR=str(root / "home" / ".claude"),
        CODEX_HOME=str(root / "home" / ".codex"),
        PI_CODING_AGENT_DIR=str(root / "home" / ".pi" / "agent"),
        OBSERVER_LIVENESS_INTERVAL="0",
        **certificate.env(),
    )
    return env
