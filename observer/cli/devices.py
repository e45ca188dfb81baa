"""`observer pair` and `observer devices`: letting a phone in with one scan, and seeing and
ending the devices that are in. Both ask the running server, with the token (only a tool on
observer's machine can let a device in or shut one out: access.TOKEN_ONLY_PATHS)."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from observer.cli.common import DataDir, app, clean_errors, settings_for


@app.command(rich_help_panel="Server")
@clean_errors
def pair(
    name: Annotated[
        str | None,
        typer.Option(help="What to call the device in `observer devices` (else its browser)."),
    ] = None,
    qr: Annotated[
        bool, typer.Option("--qr/--no-qr", help="Show the link as a QR code to scan.")
    ] = True,
    data_dir: DataDir = None,
) -> None:
    """Let a phone (or any browser) in: scan the QR code, or open the link, on it.

    The link works once, for 5 minutes. Opening it logs that browser in as a device of its own
    (a cookie for 30 days; no token is typed or stored in the page), which `observer devices`
    lists and `observer devices --revoke ID` shuts out at once.

    The phone must reach the address in the link: on this machine's network, start observer
    with `--bind` and TLS (the link then carries the certificate's fingerprint, for the phone
    to compare), or put it behind `tailscale serve` and set `public_url` (docs/remote.md).

    Examples:
      observer pair --name "my phone"
      observer pair --no-qr      # only the link, to send yourself
    """
    from observer.clients.local_http import request_json

    settings = settings_for(data_dir)
    reply = request_json(settings, "POST", "/api/login-links", {"name": name, "pair": True})
    url = str(reply["url"])
    if qr:
        import segno

        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
    minutes = max(1, round((float(reply["expires_at"]) - time.time()) / 60))
    if reply.get("fingerprint"):
        typer.echo(f"certificate SHA-256: {reply['fingerprint']} (the page shows it too)")
    typer.echo(url)
    typer.echo(
        f"works once, for {minutes} minutes; then `observer devices` lists the device",
        err=True,
    )


@app.command(rich_help_panel="Server")
@clean_errors
def devices(
    revoke: Annotated[
        str | None,
        typer.Option(help="Shut this device out now (its ID from the list): its page stops."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="The list as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """The devices logged in to the web page (paired phones, browsers `observer open` let in):
    their name, when they last asked something and from where.

    Examples:
      observer devices
      observer devices --revoke 3f9a1c2e
    """
    import json

    from observer.clients.local_http import request_json

    settings = settings_for(data_dir)
    if revoke is not None:
        reply = request_json(settings, "DELETE", f"/api/devices/{revoke}")
        typer.echo(f"revoked {reply['device']['name']!r} ({revoke}): it is shut out now")
        return
    found: list[dict[str, Any]] = request_json(settings, "GET", "/api/devices")["devices"]
    if json_out:
        typer.echo(json.dumps(found, indent=1))
        return
    if not found:
        typer.echo("no device is logged in: `observer pair` lets one in")
        return
    for device in found:
        seen = device.get("last_seen")
        where = device.get("last_address") or "-"
        typer.echo(
            f"{device['id']}  {device['name']:<24}  paired {_ago(device['created'])}"
            f"  last seen {_ago(seen) if seen else 'never'} from {where}"
        )


def _ago(at: float) -> str:
    seconds = max(0.0, time.time() - float(at))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return "just now"
