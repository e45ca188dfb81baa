"""Fixtures of the real-agents lane. See harness.py."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Lab, NpmUnavailableError, install, open_lab


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    try:
        return install("claude")
    except NpmUnavailableError as exc:
        pytest.skip(f"E2E LANE NOT RUN: {exc}")


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    try:
        return install("codex")
    except NpmUnavailableError as exc:
        pytest.skip(f"E2E LANE NOT RUN: {exc}")


@pytest.fixture(scope="session")
def pi_bin() -> Path:
    try:
        return install("pi")
    except NpmUnavailableError as exc:
        pytest.skip(f"E2E LANE NOT RUN: {exc}")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    opened = open_lab(tmp_path)
    try:
        yield opened
    finally:
        opened.close()
    # Real agents' traffic, checked against the published protocol too.
    assert not opened.recorder.violations, "\n".join(opened.recorder.violations[:20])


def report(scenario: str, expected: list[str], seen: list[str]) -> None:
    """One row of `scripts/e2e`'s table (only when it asked for one)."""
    target = os.environ.get("OBSERVER_E2E_REPORT")
    if target:
        with Path(target).open("a") as handle:
            row = {"scenario": scenario, "expected": expected, "seen": seen}
            handle.write(json.dumps(row) + "\n")
