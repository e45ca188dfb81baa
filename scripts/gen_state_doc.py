"""Rewrite the generated state table in docs/state-machine.md from `observer.core.table.TABLE`.

    .venv/bin/python -m scripts.gen_state_doc          # rewrite the marked section
    .venv/bin/python -m scripts.gen_state_doc --check  # exit 1 if it is out of date

Only the text between `<!-- table:start -->` and `<!-- table:end -->` is touched; the rest of
the document is written by hand. tests/core/test_docs_state.py fails when the two drift apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from observer.core.table import render_table_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "state-machine.md"
START = "<!-- table:start -->"
END = "<!-- table:end -->"


def rewrite(text: str, table: str) -> str:
    """`text` with its marked section replaced by `table` (markers kept, one per line)."""
    head, sep, rest = text.partition(START)
    if not sep:
        raise ValueError(f"no {START} marker")
    _, sep, tail = rest.partition(END)
    if not sep:
        raise ValueError(f"no {END} marker after {START}")
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document to rewrite")
    args = parser.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    try:
        updated = rewrite(text, render_table_markdown())
    except ValueError as exc:
        print(f"{args.doc}: {exc}", file=sys.stderr)
        return 2
    if updated == text:
        return 0
    if args.check:
        print(f"{args.doc} is out of date: run python -m scripts.gen_state_doc", file=sys.stderr)
        return 1
    args.doc.write_text(updated, encoding="utf-8")
    print(f"rewrote the state table in {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
