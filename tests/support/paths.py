"""Where the tests' files are, named once (tests live in subfolders of tests/)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
SUPPORT = TESTS / "support"
