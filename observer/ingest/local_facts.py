"""What this machine says about a session beside its agent: whether its process is alive, and
which git branch its directory has checked out. Syscalls and small reads, no parsing of agents'
files.
"""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # unknown: never declare a session dead on a guess
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True


def git_branch(cwd: Path) -> str | None:
    """The branch checked out at cwd, read from .git/HEAD (no git process)."""
    for directory in (cwd, *cwd.parents):
        dot_git = directory / ".git"
        try:
            if dot_git.is_file():  # a worktree: "gitdir: <path>"
                text = dot_git.read_text(encoding="utf-8").strip()
                if text.startswith("gitdir:"):
                    dot_git = (directory / text[7:].strip()).resolve()
            head = (dot_git / "HEAD").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if head.startswith("ref: refs/heads/"):
            return head[len("ref: refs/heads/") :]
        return head[:12] or None
    return None
