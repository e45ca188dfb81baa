"""The architecture, checked: which package may import which, and which packages are pure.

One test polices the whole tree (it replaced three copies of a purity check that covered five
modules). Every module of observer/, connectors/, service/ and hooks/ is read with `ast`,
imports inside functions included (the CLI imports lazily), and:
- each import of another of our packages must be one its package may use (LAYERS below, the
  same lists each package's docstring gives); the graph they draw has no cycle, so no package
  imports one above it;
- the pure packages (core, connectors, service) import only the standard library's pure parts
  and call no IO builtin: bytes or values in, values out; IO lives at the edges.
A new package or top-level module fails here until it is given its place.
"""

from __future__ import annotations

import ast
import importlib
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

# What each unit may import (besides itself, the standard library and third-party packages).
# A unit is a package (observer.core, connectors, ...) or a top-level module of observer.
# `observer` itself is only its __init__ (the version strings): anyone may read it.
LAYERS: dict[str, set[str]] = {
    "observer": set(),
    "observer.core": set(),
    "connectors": {"observer.core"},
    "service": {"observer.core"},
    "hooks": set(),
    "observer.web": set(),
    "observer.fsio": set(),
    "observer.agents": {"observer.core", "connectors", "observer.settings"},
    "observer.settings": {"observer.core", "observer.fsio"},
    "observer.running": {"observer.core", "observer.fsio", "observer.settings"},
    "observer.store": {"observer.core", "observer.agents", "observer.settings"},
    "observer.install": {"observer.core", "observer.settings", "observer.fsio"},
    "observer.runtime": {"observer.core", "observer.settings", "observer.store", "observer.fsio"},
    "observer.ingest": {
        "observer.core",
        "connectors",
        "observer.agents",
        "observer.settings",
        "observer.store",
        "observer.runtime",
    },
    "observer.direct": {
        "observer.core",
        "connectors",
        "observer.agents",
        "observer.install",
        "observer.runtime",
    },
    "observer.approvals": {
        "observer.core",
        "connectors",
        "observer.agents",
        "observer.settings",
        "observer.runtime",
    },
    "observer.server": {
        "observer.core",
        "observer.running",
        "observer.agents",
        "observer.settings",
        "observer.store",
        "observer.fsio",
        "observer.runtime",
        "observer.ingest",
        "observer.direct",
        "observer.approvals",
    },
    "observer.clients": {
        "observer.core",
        "observer.fsio",
        "observer.running",
        "connectors",
        "observer.agents",
        "observer.settings",
        "observer.store",
        "observer.ingest",
    },
    "observer.ops": {
        "observer.core",
        "observer.running",
        "service",
        "observer.agents",
        "observer.settings",
        "observer.fsio",
        "observer.install",
        "observer.ingest",
        "observer.server",
        "observer.clients",
    },
    "observer.cli": {
        "observer.core",
        "observer.running",
        "observer.agents",
        "hooks",
        "observer.settings",
        "observer.fsio",
        "observer.install",
        "observer.runtime",
        "observer.server",
        "observer.clients",
        "observer.ops",
    },
    "observer.__main__": {"observer.cli"},
}
# The one inversion: the agent registry sits low so that every package can look an agent up,
# and names what lives higher up (a launched session's driver class, Claude's own ingest
# sources) through factories that import it when called — never when the registry is imported.
LATE: dict[str, set[str]] = {
    "observer.agents": {"observer.ingest", "observer.direct", "observer.install"}
}
ROOTS = ("observer", "connectors", "service", "hooks")

# The pure packages: only these standard-library modules (and bashlex, the policy's shell
# parser; orjson, JSON text to values and back), no IO builtin. `os.path` is string work only;
# resolving a path is the caller's.
PURE: dict[str, set[str]] = {
    "observer.core": {
        "collections.abc", "dataclasses", "enum", "fnmatch", "ipaddress", "json", "orjson",
        "os.path", "re", "shlex", "typing", "urllib.parse", "bashlex", "bashlex.ast",
    },
    "connectors": {
        "collections.abc", "dataclasses", "datetime", "difflib", "enum", "hashlib", "json",
        "math", "re", "shlex", "typing",
    },
    "service": {"dataclasses", "pathlib", "plistlib", "typing"},
}  # fmt: skip
IO_CALLS = {"open", "print", "input", "__import__", "eval", "exec"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in ROOTS:
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def unit_of(module: str) -> str:
    """The unit a module belongs to: observer.<package or module>, or a top-level package."""
    parts = module.split(".")
    if parts[0] == "observer" and len(parts) > 1:
        return f"observer.{parts[1]}"
    return parts[0]


def _imports(path: Path) -> tuple[set[str], set[str], list[str]]:
    """What `path` imports when it is imported, what it imports only later (inside a function,
    or for the type checker alone), and the IO builtins it calls. `from observer import x`
    counts as observer.x when x is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    at_import: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            at_import.add(id(node))
        elif isinstance(node, ast.Try | ast.If) and not _type_checking(node):
            at_import.update(
                id(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)
            )
    now: set[str] = set()
    later: set[str] = set()
    calls: list[str] = []
    for node in ast.walk(tree):
        names: set[str] = set()
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            names = {base} | {
                f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES
            }
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in IO_CALLS:
                calls.append(node.func.id)
        (now if id(node) in at_import else later).update(names)
    return now, later, calls


def _type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _ours(module: str) -> bool:
    return module.split(".")[0] in ROOTS


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_what_its_layer_may(module: str) -> None:
    unit = unit_of(module)
    assert unit in LAYERS, f"{module}: its unit {unit} has no place in LAYERS: give it one"
    now, later, _ = _imports(MODULES[module])

    def wrong(imported: set[str], allowed: set[str]) -> list[str]:
        # `from observer import x` names the observer package itself too: only its __init__.
        return sorted(
            m
            for m in imported
            if _ours(m) and m != "observer" and unit_of(m) not in allowed | {unit}
        )

    assert not wrong(now, LAYERS[unit]), (
        f"{module} ({unit}) imports {wrong(now, LAYERS[unit])}, above or beside its layer"
    )
    late_allowed = LAYERS[unit] | LATE.get(unit, set())
    assert not wrong(later, late_allowed), (
        f"{module} ({unit}) imports {wrong(later, late_allowed)} in a function, above its layer"
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if unit_of(m) in PURE))
def test_pure_module_does_no_io(module: str) -> None:
    now, later, calls = _imports(MODULES[module])
    allowed = PURE[unit_of(module)] | {"__future__"}
    foreign = {m for m in now | later if not _ours(m) and m not in allowed}
    assert not foreign, f"{module} is pure but imports {sorted(foreign)}"
    assert not calls, f"{module} is pure but calls {calls}"
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    resolves = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "realpath"]
    assert not resolves, f"{module} resolves paths itself (realpath reads the disk)"


def test_the_layers_have_no_cycle() -> None:
    # The registry's late factories (LATE) are left out: they run after everything is loaded.
    try:
        order = list(TopologicalSorter(LAYERS).static_order())
    except CycleError as exc:
        pytest.fail(f"the layers import in a circle: {exc.args[1]}")
    assert order[0] in ("observer", "observer.core", "hooks", "observer.web")


SPOKEN_FOR = {"observer", "observer.__main__", "observer.web", "hooks"}  # import nothing of ours


@pytest.mark.parametrize("unit", sorted({unit_of(m) for m in MODULES} - SPOKEN_FOR))
def test_each_package_says_what_it_may_import(unit: str) -> None:
    """The package's (or module's) docstring names each unit it may import, so the rule is
    read where the code is; this keeps the prose and LAYERS together."""
    doc = ast.get_docstring(ast.parse(MODULES[unit].read_text(encoding="utf-8"))) or ""
    assert doc, f"{unit} has no docstring saying what it owns and may import"
    missing = sorted(u for u in LAYERS[unit] if u not in doc)
    assert not missing, f"{unit}'s docstring does not name {missing} (see LAYERS)"


def test_a_wrong_import_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: core importing the store is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text("from observer.store import Store\n")
    now, _, _ = _imports(bad)
    assert "observer.store" in now
    assert unit_of("observer.store") not in LAYERS["observer.core"]


def test_every_unit_has_a_place_and_imports() -> None:
    units = {unit_of(m) for m in MODULES}
    assert units <= set(LAYERS), f"units with no place: {sorted(units - set(LAYERS))}"
    for unit in units - {"observer.__main__"}:  # that one runs the command
        importlib.import_module(unit)


def test_the_readme_map_lists_the_layers_in_order() -> None:
    """README's "How it works" table is read top to bottom as the layers: each package there
    imports only packages listed above it."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w/.]+)` \|", readme, flags=re.MULTILINE)
    listed = [unit_of(row.removesuffix("/").removesuffix(".py").replace("/", ".")) for row in rows]
    assert set(listed) >= {u for u in LAYERS if u not in ("observer", "observer.__main__")}
    for position, unit in enumerate(listed):
        below = set(listed[position + 1 :])
        assert not LAYERS[unit] & below, f"README lists {unit} above {LAYERS[unit] & below}"


def test_modules_stay_small_and_the_top_level_few() -> None:
    """Small modules, and observer/ read as its packages: the layout's two size rules."""
    long = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 500
    }
    assert not long, f"modules over 500 lines: {long}"
    top = sorted(p.name for p in (REPO_ROOT / "observer").glob("*.py"))
    assert len(top) <= 12, f"observer/ has {len(top)} top-level modules: {top}"
