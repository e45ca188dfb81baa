"""Unified diffs from what each agent records of a file change, for timeline `file_change` items.

* from an old and a new text (difflib): Claude Edit/MultiEdit/Write, pi write, Codex adds and
  deletes;
* from Claude's own hunks (`toolUseResult.structuredPatch`: oldStart/oldLines/newStart/newLines
  and `lines` already prefixed with " ", "-", "+");
* from pi's edit result (`details.diff`: one line per changed or context line, prefixed with
  "+", "-" or " ", then the line number — the new file's for "+", the old file's otherwise —
  and "..." where lines were skipped);
* from a Codex `apply_patch` input (`*** Begin Patch` … `*** End Patch`), whose hunks carry no
  line numbers: their `@@` lines are kept as Codex wrote them.

Headers name the path as the agent gave it (`--- path` / `+++ path`, `/dev/null` for a file
that did not exist before or no longer does). Pure: difflib and re only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

DEV_NULL = "/dev/null"


def text_diff(
    path: str, old: str, new: str, *, created: bool = False, deleted: bool = False
) -> str:
    """The unified diff (3 lines of context) turning `old` into `new`."""
    lines = difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        DEV_NULL if created else path,
        DEV_NULL if deleted else path,
        lineterm="",
    )
    diff = "\n".join(lines)
    return diff or _header(path, path)


def hunks_diff(path: str, hunks: Iterable[Any]) -> str | None:
    """Claude's structuredPatch -> a unified diff; None when it holds no usable hunk."""
    out: list[str] = []
    for hunk in hunks:
        if not isinstance(hunk, dict):
            continue
        lines = hunk.get("lines")
        numbers = [hunk.get(k) for k in ("oldStart", "oldLines", "newStart", "newLines")]
        if not isinstance(lines, list) or not all(_count(n) for n in numbers):
            continue
        old_start, old_lines, new_start, new_lines = numbers
        out.append(f"@@ -{old_start},{old_lines} +{new_start},{new_lines} @@")
        out.extend(line for line in lines if isinstance(line, str))
    if not out:
        return None
    return _header(path, path) + "\n" + "\n".join(out)


_NUMBERED = re.compile(r"^([ +-])\s*(\d+) ?(.*)$", re.DOTALL)


def numbered_diff(path: str, text: str) -> str | None:
    """pi's edit `details.diff` -> a unified diff with real line numbers; None when a line is
    not in pi's shape (the caller falls back to a diff of the edit's own texts)."""
    hunks: list[list[tuple[str, int, int, str]]] = [[]]
    shift = 0  # new line number - old line number, past the changes read so far
    for line in text.split("\n"):
        if line.strip() in ("...", ""):
            if hunks[-1]:
                hunks.append([])
            continue
        match = _NUMBERED.match(line)
        if match is None:
            return None
        sign, number, body = match.group(1), int(match.group(2)), match.group(3)
        if sign == "+":
            hunks[-1].append((sign, number - shift, number, body))
            shift += 1
        elif sign == "-":
            hunks[-1].append((sign, number, number + shift, body))
            shift -= 1
        else:
            hunks[-1].append((sign, number, number + shift, body))
    out: list[str] = []
    for hunk in hunks:
        if not hunk:
            continue
        old_count = sum(1 for sign, *_ in hunk if sign != "+")
        new_count = sum(1 for sign, *_ in hunk if sign != "-")
        old_start, new_start = _starts(hunk)
        out.append(f"@@ -{old_start},{old_count} +{new_start},{new_count} @@")
        out.extend(f"{sign}{body}" for sign, _, _, body in hunk)
    if not out:
        return None
    return _header(path, path) + "\n" + "\n".join(out)


def _starts(hunk: list[tuple[str, int, int, str]]) -> tuple[int, int]:
    """Where a hunk starts in the old and the new file: the first line each side has."""
    old = next((o for sign, o, _, _ in hunk if sign != "+"), None)
    new = next((n for sign, _, n, _ in hunk if sign != "-"), None)
    first_sign, first_old, first_new, _ = hunk[0]
    if old is None:  # only additions: after the old line before them
        old = first_old - 1 if first_sign == "+" else first_old
    if new is None:  # only removals
        new = first_new - 1
    return old, new


_PATCH_FILE = re.compile(r"^\*\*\* (Add|Delete|Update) File: (.+)$")


def apply_patch_diffs(patch: str) -> list[tuple[str, str, str]]:
    """A Codex apply_patch input -> (path, operation add/update/delete, diff) per file, in
    the patch's order. Lines outside a file section are ignored; no file, no entry."""
    files: list[tuple[str, str, str | None, list[str]]] = []  # op, path, moved to, body
    for line in patch.splitlines():
        match = _PATCH_FILE.match(line)
        if match:
            files.append((match.group(1).lower(), match.group(2).strip(), None, []))
        elif line.startswith("*** Move to: ") and files:
            op, path, _, body = files[-1]
            files[-1] = (op, path, line[len("*** Move to: ") :].strip(), body)
        elif line.startswith("*** ") or not files:
            continue  # Begin/End Patch, End of File
        else:
            files[-1][3].append(line)
    diffs: list[tuple[str, str, str]] = []
    for op, path, moved_to, body in files:
        if op == "add":
            added = [line[1:] for line in body if line.startswith("+")]
            diffs.append((path, op, text_diff(path, "", "\n".join(added), created=True)))
        elif op == "delete":
            diffs.append((path, op, _header(path, DEV_NULL)))
        else:
            lines = [
                line if line.startswith(("@@", "+", "-", " ")) else f" {line}" for line in body
            ]
            diffs.append((path, op, _header(path, moved_to or path) + "\n" + "\n".join(lines)))
    return diffs


def codex_changes(changes: Any) -> list[tuple[str, str, str]]:
    """Codex's `changes` (FileChange items, patch_apply_end) -> (path, operation, diff) per
    file. Each change is `{"type": "add"|"delete"|"update", …}` (0.169) or the older
    `{"add": {…}}` form; add and delete carry `content`, update a `unified_diff` (hunks only)
    and `move_path`."""
    if not isinstance(changes, dict):
        return []
    diffs: list[tuple[str, str, str]] = []
    for path, change in changes.items():
        if not isinstance(path, str) or not isinstance(change, dict):
            continue
        op = change.get("type")
        body: Any = change
        if not isinstance(op, str):  # {"add": {"content": …}}
            op, body = next(iter(change.items()), ("", None))
            if not isinstance(body, dict):
                continue
        content = body.get("content")
        content = content if isinstance(content, str) else ""
        if op == "add":
            diffs.append((path, op, text_diff(path, "", content, created=True)))
        elif op == "delete":
            diffs.append((path, op, text_diff(path, content, "", deleted=True)))
        elif op == "update":
            hunks = body.get("unified_diff")
            hunks = hunks if isinstance(hunks, str) else ""
            moved = body.get("move_path")
            target = moved if isinstance(moved, str) and moved else path
            if not hunks.startswith("--- "):
                hunks = _header(path, target) + "\n" + hunks
            diffs.append((path, op, hunks.rstrip("\n")))
    return diffs


def _header(old: str, new: str) -> str:
    return f"--- {old}\n+++ {new}"


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
