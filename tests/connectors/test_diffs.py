"""Unified diffs from each agent's record of a file change (connectors/diffs.py)."""

from __future__ import annotations

from connectors.diffs import apply_patch_diffs, codex_changes, hunks_diff, numbered_diff, text_diff


def test_text_diff_of_a_new_file_comes_from_dev_null() -> None:
    assert text_diff("a.txt", "", "one\ntwo\n", created=True) == (
        "--- /dev/null\n+++ a.txt\n@@ -0,0 +1,2 @@\n+one\n+two"
    )


def test_text_diff_keeps_three_lines_of_context() -> None:
    old = "".join(f"l{i}\n" for i in range(10))
    new = old.replace("l5\n", "five\n")
    assert text_diff("f", old, new) == (
        "--- f\n+++ f\n@@ -3,7 +3,7 @@\n l2\n l3\n l4\n-l5\n+five\n l6\n l7\n l8"
    )
    assert text_diff("f", old, old) == "--- f\n+++ f"


def test_claude_structured_patch_hunks() -> None:
    hunks = [
        {"oldStart": 1, "oldLines": 2, "newStart": 1, "newLines": 2, "lines": [" a", "-b", "+c"]},
        {"oldStart": "x", "lines": ["-bad"]},  # not a hunk: skipped
    ]
    assert hunks_diff("/p", hunks) == "--- /p\n+++ /p\n@@ -1,2 +1,2 @@\n a\n-b\n+c"
    assert hunks_diff("/p", [{"lines": "nope"}]) is None


def test_pi_numbered_diff_gets_real_hunk_headers() -> None:
    # pi 0.73's edit result (tests/fixtures/pi/json_edit): context and "-" lines carry the old
    # file's numbers, "+" lines the new file's.
    assert numbered_diff("notes.txt", " 1 line one\n-2 line two\n+2 line 2 (edited)") == (
        "--- notes.txt\n+++ notes.txt\n@@ -1,2 +1,2 @@\n line one\n-line two\n+line 2 (edited)"
    )
    two_hunks = " 1 a\n+2 new\n 2 b\n   ...\n 9 x\n-10 y\n 11 z"
    assert numbered_diff("f", two_hunks) == (
        "--- f\n+++ f\n@@ -1,2 +1,3 @@\n a\n+new\n b\n@@ -9,3 +10,2 @@\n x\n-y\n z"
    )
    assert numbered_diff("f", "not pi's shape") is None


def test_apply_patch_adds_updates_moves_and_deletes() -> None:
    patch = (
        "*** Begin Patch\n"
        "*** Add File: new.txt\n+hello\n+world\n"
        "*** Update File: src/app.py\n*** Move to: src/main.py\n@@ def main():\n-    return 1\n"
        "+    return 2\n"
        "*** Delete File: old.txt\n"
        "*** End Patch\n"
    )
    assert apply_patch_diffs(patch) == [
        ("new.txt", "add", "--- /dev/null\n+++ new.txt\n@@ -0,0 +1,2 @@\n+hello\n+world"),
        (
            "src/app.py",
            "update",
            "--- src/app.py\n+++ src/main.py\n@@ def main():\n-    return 1\n+    return 2",
        ),
        ("old.txt", "delete", "--- old.txt\n+++ /dev/null"),
    ]
    assert apply_patch_diffs("no patch here") == []


def test_codex_changes_in_both_shapes() -> None:
    # 0.169's FileChange item (tests/fixtures/codex/as_patch), and the older tagged form.
    assert codex_changes({"/w/hello.txt": {"type": "add", "content": "hi\n"}}) == [
        ("/w/hello.txt", "add", "--- /dev/null\n+++ /w/hello.txt\n@@ -0,0 +1 @@\n+hi")
    ]
    older = {
        "/w/a": {"update": {"unified_diff": "@@ -1 +1 @@\n-a\n+b\n", "move_path": "/w/b"}},
        "/w/c": {"delete": {"content": "gone\n"}},
        "/w/d": "not a change",
    }
    assert codex_changes(older) == [
        ("/w/a", "update", "--- /w/a\n+++ /w/b\n@@ -1 +1 @@\n-a\n+b"),
        ("/w/c", "delete", "--- /w/c\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone"),
    ]
    assert codex_changes(None) == []
