"""The agent hook: `observer-hook`, a POSIX sh script shipped as package data next to this file.

Agents run it for every event (`observer-hook SPOOL_DIR AGENT EVENT`, payload on stdin); it
writes the payload into the spool without parsing it. See the script's header for why it is sh.
"""

from __future__ import annotations

import pathlib
from importlib.resources import files

SCRIPT_NAME = "observer-hook"
DECIDE_NAME = "observer-decide"  # the PermissionRequest hook that can decide (remote approval)


def hook_script_path(name: str = SCRIPT_NAME) -> pathlib.Path:
    """Filesystem path of a shipped hook script."""
    resource = files(__package__ or __name__) / name
    if isinstance(resource, pathlib.Path):
        return resource
    return pathlib.Path(__file__).resolve().parent / name
