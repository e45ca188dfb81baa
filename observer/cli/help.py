"""How `--help` reads: prose that flows, examples that keep their lines, no type after a flag.

Typer's rich help keeps every hard line break of a docstring's first paragraph in the command
list (`observer --help` broke sentences where the source wrapped them), and shows a type column
for every option, `<bool>` included, after flags that take no value. Its markdown mode would join
the lines, but it also eats `<data dir>` as HTML and turns `*` and `_` into emphasis. So the
commands keep rich mode and get these classes instead (commands.py gives them to every command
and group): a docstring's lines are joined within each paragraph, except lines indented under
it (examples), which stay as they are; and a flag shows no type.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.models import DefaultPlaceholder

EXAMPLE_INDENT = "  "  # a docstring line indented this much more than its text is an example


def flow(text: str | None) -> str | None:
    """The help text with each paragraph's wrapped lines joined; indented lines kept whole."""
    if not text:
        return text
    from rich.markup import escape  # a `[--json]` in an example is text, not rich markup

    first, *rest = (escape(_flow_paragraph(p)) for p in inspect.cleandoc(text).split("\n\n"))
    if not rest:
        return first
    # Typer dedents the paragraphs after the first as one text, whose first line does not count
    # (inspect.cleandoc): an examples paragraph right after the first would lose its indent.
    # A blank first line makes the heading count, and cleandoc drops it again.
    return first + "\n\n\n" + "\n\n".join(rest)


def _flow_paragraph(paragraph: str) -> str:
    lines: list[str] = []
    for line in paragraph.split("\n"):
        kept = line.startswith(EXAMPLE_INDENT)
        if lines and not kept and not lines[-1].startswith(EXAMPLE_INDENT):
            lines[-1] = f"{lines[-1]} {line.strip()}"
        else:
            lines.append(line.rstrip())
    return "\n".join(lines)


def _flag_without_type(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # typer's rich help shows the metavar, when set, as the type
    return params


class HelpCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = flow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _flag_without_type(super().get_params(ctx))


class HelpGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = flow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _flag_without_type(super().get_params(ctx))


def use_help_classes(app: typer.Typer) -> None:
    """Give every command and group under `app` these classes, unless one names its own."""
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):  # typer's `command()` names TyperCommand
            command.cls = HelpCommand
    for group in app.registered_groups:
        group.cls = HelpGroup if isinstance(group.cls, DefaultPlaceholder) else group.cls
        if group.typer_instance is not None:
            use_help_classes(group.typer_instance)
