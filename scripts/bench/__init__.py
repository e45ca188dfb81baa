"""Benchmarks: each script measures one thing, prints a table and rewrites its own section of
docs/benchmarks.md with --write."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def rewrite_section(doc: Path, heading: str, text: str) -> None:
    """Replace the section under `heading` (up to the next `## `) with `text`, or append it:
    each benchmark owns one section of the shared document and touches nothing else."""
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        doc.write_text(old.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    doc.write_text("".join(lines[:start]) + text + ("\n" + tail if tail else ""))


def shown_arguments(argv: list[str], dropped: tuple[str, ...] = ("--finding",)) -> list[str]:
    """The command line as a Reproduce line shows it: without the options in `dropped` and
    their values (a --finding is prose for the document, not a way to measure)."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in dropped:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in dropped)):
            shown.append(arg)
    return shown


def bearer_headers(data_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The `Authorization` header for the server a benchmark started on `data_dir` with `env`:
    its OBSERVER_TOKEN, else the token it wrote to `<data dir>/token` at its first start (call
    this once it answers /health: the file is written before it serves). None at all only from
    a build older than tokens (`--observer`), which asks for none."""
    token = env.get("OBSERVER_TOKEN", "").strip()
    if not token:
        try:
            token = (data_dir / "token").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return {}
    return {"Authorization": f"Bearer {token}"} if token else {}
