"""`--help` reads well: no type after a flag, prose that flows, examples that run (cli/help.py)."""

from __future__ import annotations

import inspect
import shlex
from typing import Any

import pytest
import typer
import typer.rich_utils
from typer.core import TyperGroup
from typer.testing import CliRunner

from observer.cli import app
from observer.cli.help import flow

runner = CliRunner()
EXAMPLED = ["start", "status", "install-hooks", "launch", "away", "rules"]


def _commands() -> list[tuple[list[str], Any]]:
    """Every command and group, with the words that reach it."""
    root = typer.main.get_command(app)
    found: list[tuple[list[str], Any]] = [([], root)]
    for path, command in found:
        if isinstance(command, TyperGroup):
            ctx = typer.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                found.append(([*path, name], sub))
    return found


def _help(words: list[str]) -> str:
    result = runner.invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("words", [words for words, _ in _commands()], ids=" ".join)
def test_no_flag_shows_a_type(words: list[str]) -> None:
    output = _help(words)
    assert "<bool>" not in output
    assert "--help " in output and "Show this message and exit." in output


def test_a_value_option_still_shows_its_type() -> None:
    assert "<path>" in _help(["status"])  # --data-dir
    assert "<str>" in _help(["install-hooks"])  # --agent


def test_the_command_list_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command's first paragraph is one line on a wide terminal: the source's line breaks
    are gone (rich mode kept them, breaking sentences in the middle of the row)."""
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 1000)
    lines = [line.strip("│ ") for line in _help([]).splitlines()]
    for words, command in _commands()[1:]:
        if len(words) != 1:
            continue
        first = " ".join(inspect.cleandoc(command.help or "").split("\n\n")[0].split())
        assert f"{words[0]} {first}" in [" ".join(line.split()) for line in lines], words


def test_markup_like_text_is_shown_as_written() -> None:
    output = " ".join(_help([]).replace("│", " ").split())
    assert "<data dir>/token" in output  # markdown mode would have eaten it as HTML
    assert "`~~~`" in " ".join(_help(["menubar"]).replace("│", " ").split())


@pytest.mark.parametrize("name", EXAMPLED)
def test_the_main_commands_have_examples_that_parse(name: str) -> None:
    """Each example line is indented under "Examples:", fits an 80-column terminal, and is a
    command line the command accepts (its flags exist, its arguments are enough)."""
    output = _help([name])
    assert "Examples:" in output
    examples = output.split("Examples:", 1)[1].split("╭", 1)[0].strip("\n").splitlines()
    examples = [line.rstrip() for line in examples if line.strip()]
    assert len(examples) >= 2
    command = dict((" ".join(w), c) for w, c in _commands())[name]
    for line in examples:
        assert line.startswith("   observer "), line  # kept on its own line, indented
        assert len(line) <= 78, line
        argv = shlex.split(line, comments=True)
        assert argv[:2] == ["observer", name], line
        command.make_context(name, argv[2:])  # raises on an unknown flag or a missing argument


def test_flow_joins_wrapped_lines_and_keeps_indented_ones() -> None:
    text = """First line
    wraps here.

    Second paragraph
    also wraps.
      observer kept --as-is   # a comment
      observer [bold] is text

    Third."""
    assert flow(text) == (
        "First line wraps here.\n\n\n"
        "Second paragraph also wraps.\n"
        "  observer kept --as-is   # a comment\n"
        "  observer \\[bold] is text\n\n"
        "Third."
    )
    assert flow("One line.") == "One line."
    assert flow(None) is None
