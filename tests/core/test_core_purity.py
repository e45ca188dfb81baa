"""observer/core/ is pure: its modules import only the standard library's pure parts, bashlex
(the policy's shell parser) and each other, and call no IO builtin. Every module of the
package is checked, so a new one cannot slip past (tests/core/test_state.py keeps its narrower check
of the state machine's own imports)."""

from __future__ import annotations

import ast

import pytest

from tests.support.paths import REPO_ROOT

CORE = REPO_ROOT / "observer" / "core"
PURE_IMPORTS = {
    "__future__",
    "collections.abc",
    "dataclasses",
    "enum",
    "fnmatch",
    "ipaddress",
    "os.path",  # string work only (join, normpath): realpath is the caller's, passed in
    "re",
    "shlex",
    "typing",
    "urllib.parse",
    "bashlex",
    "bashlex.ast",
}
IO_CALLS = {"open", "print", "input", "__import__", "eval", "exec"}


@pytest.mark.parametrize("module", sorted(p.name for p in CORE.glob("*.py")))
def test_core_module_does_no_io(module: str) -> None:
    tree = ast.parse((CORE / module).read_text(), filename=module)
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: relative import"
            imported.add(node.module or "")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in IO_CALLS, f"{module} calls {node.func.id}()"
        elif isinstance(node, ast.Attribute) and node.attr == "realpath":
            pytest.fail(f"{module} resolves paths itself (realpath reads the file system)")
    foreign = {m for m in imported if m not in PURE_IMPORTS and not m.startswith("observer.core")}
    assert not foreign, f"{module} imports {sorted(foreign)}"


def test_every_core_module_is_checked() -> None:
    assert len(list(CORE.glob("*.py"))) >= 10
