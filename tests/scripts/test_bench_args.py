"""The Reproduce line of a benchmark section shows how to measure, not the prose passed in."""

from __future__ import annotations

from scripts.bench import shown_arguments


def test_findings_and_their_text_are_left_out() -> None:
    argv = ["--runs", "3", "--finding", "- before: 50 ms", "--write", "--finding=- after"]
    assert shown_arguments(argv) == ["--runs", "3", "--write"]


def test_other_dropped_options_go_with_their_values() -> None:
    argv = ["--only", "fanout", "--seconds", "5", "--write"]
    assert shown_arguments(argv, ("--finding", "--only")) == ["--seconds", "5", "--write"]
