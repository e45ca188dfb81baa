"""docs/state-machine.md carries the state table generated from the code: it cannot drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from observer.core.events import Kind
from observer.core.table import Status, render_table_markdown
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
DOC = ROOT / "docs" / "state-machine.md"
START = "<!-- table:start -->"
END = "<!-- table:end -->"
REGENERATE = (
    "docs/state-machine.md is out of date: regenerate it with python -m scripts.gen_state_doc"
)


def marked_section(text: str) -> str:
    assert text.count(START) == 1 and text.count(END) == 1, (
        f"markers missing or doubled; {REGENERATE}"
    )
    return text.split(START, 1)[1].split(END, 1)[0]


def test_the_doc_holds_the_generated_table() -> None:
    assert marked_section(DOC.read_text(encoding="utf-8")) == "\n" + render_table_markdown(), (
        REGENERATE
    )


def test_the_doc_names_every_status_and_kind() -> None:
    prose = DOC.read_text(encoding="utf-8").split(START, 1)[0]
    names = [*(s.value for s in Status), *(k.value for k in Kind)]
    missing = [name for name in names if f"`{name}`" not in prose]
    assert missing == [], f"docs/state-machine.md does not describe {missing}"


def _gen(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scripts.gen_state_doc", *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_generator_rewrites_only_the_marked_section(tmp_path: Path) -> None:
    stale = tmp_path / "state-machine.md"
    stale.write_text(f"# Title\n\nprose\n\n{START}\n| old |\n{END}\n\nafter\n", encoding="utf-8")
    assert _gen("--check", "--doc", str(stale)).returncode == 1
    assert _gen("--doc", str(stale)).returncode == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nprose\n\n")
    assert text.endswith(f"{END}\n\nafter\n")
    assert marked_section(text) == "\n" + render_table_markdown()
    assert _gen("--check", "--doc", str(stale)).returncode == 0
