"""Write docs/protocol.schema.json from `observer.server.protocol` (the code's own message schemas).

    .venv/bin/python -m scripts.gen_protocol_schema          # rewrite the file
    .venv/bin/python -m scripts.gen_protocol_schema --check  # exit 1 if it is out of date

tests/server/test_protocol.py fails when the file and the code drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from observer.server.protocol import document

TARGET = Path(__file__).resolve().parent.parent / "docs" / "protocol.schema.json"


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/protocol.schema.json.")
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args(argv)
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if current != render():
            print(f"{TARGET} is out of date: run python -m scripts.gen_protocol_schema")
            return 1
        return 0
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
