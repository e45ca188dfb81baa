"""Every agent observer knows, one frozen row each: the only place an agent is listed.

A row says where the agent's events come from (its hook/spool parser, the trees of files it
writes on its own, any source of its own such as Claude's live registry), how to replay its
recorded files, how observer launches it (driver, binary), what its sessions can do, and whether
its hooks ask observer for decisions. Ingest, the approval routes, the launcher, doctor and replay
look agents up here; none of them names one.

A new agent is a connector (connectors/<agent>/) and a row: `register(Agent(...))` before the
server is built. The tests register a made-up fourth agent that way (tests/test_agents.py).

Layering: this module sits just above connectors/ and observer/core (it imports nothing else at
import time), so every package may use it. What lives higher up (a driver class, Claude's
ingest sources) is reached through a factory that imports it when called.

May import: observer.core, observer.settings, connectors. Inside factories, when called:
observer.direct, observer.ingest, observer.install. (tests/test_layers.py holds every package to
its list.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors import Parser
from connectors.claude import AGENT as CLAUDE
from connectors.claude import hooks as claude_hooks
from connectors.claude import transcript as claude_transcript
from connectors.codex import AGENT as CODEX
from connectors.codex import hooks as codex_hooks
from connectors.codex import rollout as codex_rollout
from connectors.files import FileFormat
from connectors.pi import AGENT as PI
from connectors.pi import extension as pi_extension
from connectors.pi import session as pi_session
from observer.core import capabilities

if TYPE_CHECKING:
    from observer.direct.base import Driver
    from observer.install.setup import AgentSetup
    from observer.settings import Settings


@dataclass(frozen=True, slots=True)
class FileTree:
    """A directory of append-only JSON-lines files the agent writes on its own, tailed by one
    watcher (observer/ingest/watch_files.py)."""

    name: str  # its counters' prefix in /health's stats (`<name>_files`, …)
    task: str  # the watcher's task name in /health's sources
    format: FileFormat
    directory: Callable[[Settings], Path]  # which setting names the tree
    owns: Callable[[Path], Callable[[Path], bool]]  # the tree's directory -> is this file ours
    # End the session of a file already quiet when first read: it is history, not waiting.
    history_ends: bool = True


@dataclass(frozen=True, slots=True)
class Agent:
    name: str  # as in the spool file's name (`ev.<agent>.…`) and every event's `agent`
    hook_parser: Parser  # a hook payload, as spooled or asked (POST /api/hook/permission)
    file_parser: Callable[[str], Parser]  # a recorded file's lines (observer replay)
    binary: str = ""  # its executable on PATH: launched sessions, doctor's version check
    binary_env: str = ""  # the OBSERVER_*_BIN variable that overrides it
    file_trees: tuple[FileTree, ...] = ()
    # Sources of its own beyond spool and file trees, built by the ingestor (Claude's registry
    # and the transcripts its hooks name); a factory, as they live in observer/ingest.
    sources: Callable[[Any], tuple[Any, ...]] | None = None
    # Trees read for usage alone, every file in them, hooks or not (Claude's transcripts: its
    # tailer reads only those a hook named). observer/ingest/usage_history.py.
    usage_trees: Callable[[Settings], tuple[FileTree, ...]] | None = None
    driver: Callable[[], type[Driver]] | None = None  # launching: the driver class, imported late
    # `observer install-hooks` and doctor's check of the agent's own configuration, imported late
    setup: Callable[[], AgentSetup] | None = None
    direct_actions: tuple[str, ...] = ()  # what a launched session can do
    observed_actions: tuple[str, ...] = ()  # what an observed one can do
    observed_by_reach: tuple[str, ...] = ()  # of those, the ones that need a line to it
    decides: bool = False  # its hooks ask observer to decide a tool call (away mode)
    question_parser: Parser | None = None  # that question, when it is not a hook payload


_AGENTS: dict[str, Agent] = {}


def register(agent: Agent) -> Agent:
    """Make an agent known (a new name, or a row replacing the one of that name)."""
    capabilities.declare(
        agent.name, agent.direct_actions, agent.observed_actions, agent.observed_by_reach
    )
    _AGENTS[agent.name] = agent
    return agent


def unregister(name: str) -> None:
    _AGENTS.pop(name, None)
    capabilities.forget(name)


@contextmanager
def registered(agent: Agent) -> Iterator[Agent]:
    """An agent known for the duration of a `with` block (tests, plugins)."""
    before = _AGENTS.get(agent.name)
    register(agent)
    try:
        yield agent
    finally:
        unregister(agent.name)
        if before is not None:
            register(before)


def get(name: str) -> Agent | None:
    return _AGENTS.get(name)


def names() -> tuple[str, ...]:
    return tuple(_AGENTS)


def all_agents() -> tuple[Agent, ...]:
    return tuple(_AGENTS.values())


def hook_parser(name: str) -> Parser | None:
    agent = _AGENTS.get(name)
    return agent.hook_parser if agent is not None else None


# -- the agents observer ships with ------------------------------------------------------------


def _stateless(parser: Parser) -> Callable[[str], Parser]:
    return lambda _path: parser


def _rollout_files(_directory: Path) -> Callable[[Path], bool]:
    return lambda path: path.name.startswith("rollout-") and path.suffix == ".jsonl"


def _pi_session_files(sessions_dir: Path) -> Callable[[Path], bool]:
    """pi keeps one level of per-cwd directories: `<sessions>/--<cwd>--/<time>_<uuid>.jsonl`."""
    return lambda path: path.suffix == ".jsonl" and path.parent.parent == sessions_dir


def claude_config_dirs(settings: Settings) -> list[Path]:
    """Where Claude Code keeps its projects: the setting, else `CLAUDE_CONFIG_DIR` (a comma
    separates several), else both the old and the XDG default."""
    if settings.claude_dir is not None:
        return [settings.claude_dir]
    return claude_dirs_in(os.environ)


def claude_dirs_in(env: Mapping[str, str]) -> list[Path]:
    """Where a Claude Code run with this environment keeps its projects."""
    named = env.get("CLAUDE_CONFIG_DIR", "")
    if named.strip():
        return [Path(part.strip()).expanduser() for part in named.split(",") if part.strip()]
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return [home / ".claude", home / ".config" / "claude"]


def _claude_transcript_files(projects: Path) -> Callable[[Path], bool]:
    """`<projects>/<cwd>/<session>.jsonl` and `<projects>/<cwd>/<session>/subagents/*.jsonl`."""

    def owns(path: Path) -> bool:
        if path.suffix != ".jsonl":
            return False
        parent = path.parent
        return parent.parent == projects or (
            parent.name == "subagents" and parent.parent.parent.parent == projects
        )

    return owns


def _fixed(directory: Path) -> Callable[[Settings], Path]:
    return lambda _settings: directory


def _claude_usage_trees(settings: Settings) -> tuple[FileTree, ...]:
    fmt = claude_transcript.transcripts_format(lambda _path: None)  # sessions by file name
    return tuple(
        FileTree(
            "claude-history",
            "claude-history",
            fmt,
            _fixed(base / "projects"),
            _claude_transcript_files,
            history_ends=False,
        )
        for base in claude_config_dirs(settings)
    )


def _claude_sources(ingestor: Any) -> tuple[Any, ...]:
    from observer.ingest.claude import claude_sources

    return claude_sources(ingestor)


def _claude_driver() -> type[Driver]:
    from observer.direct.claude import ClaudeDriver

    return ClaudeDriver


def _codex_driver() -> type[Driver]:
    from observer.direct.codex import CodexDriver

    return CodexDriver


def _pi_driver() -> type[Driver]:
    from observer.direct.pi import PiDriver

    return PiDriver


def _claude_setup() -> AgentSetup:
    from observer.install.setups import ClaudeSetup

    return ClaudeSetup()


def _codex_setup() -> AgentSetup:
    from observer.install.setups import CodexSetup

    return CodexSetup()


def _pi_setup() -> AgentSetup:
    from observer.install.setups import PiSetup

    return PiSetup()


register(
    Agent(
        name=CLAUDE,
        hook_parser=claude_hooks.parse_hook_payload,
        file_parser=_stateless(claude_hooks.parse_hook_payload),
        binary="claude",
        binary_env="OBSERVER_CLAUDE_BIN",
        sources=_claude_sources,
        usage_trees=_claude_usage_trees,
        driver=_claude_driver,
        setup=_claude_setup,
        # stream-json has no "steer"
        direct_actions=(
            "send_message",
            "interrupt_session",
            "approve_tool",
            "answer_question",
            "end_session",
            "resume_session",
        ),
        # Through its hooks (observer/runtime/relay.py): a message while observer holds its
        # Stop hook in away mode, a stop at the next tool boundary.
        observed_actions=("approve_tool", "send_message", "interrupt_session"),
        decides=True,
    )
)
register(
    Agent(
        name=CODEX,
        hook_parser=codex_hooks.parse_hook_payload,  # hook payloads, and notify's JSON
        file_parser=codex_rollout.file_parser,
        binary="codex",
        binary_env="OBSERVER_CODEX_BIN",
        file_trees=(
            FileTree(
                "rollout",
                "codex-rollouts",
                codex_rollout.FORMAT,
                lambda settings: settings.codex_sessions_dir,
                _rollout_files,
            ),
        ),
        driver=_codex_driver,
        setup=_codex_setup,
        direct_actions=(
            "send_message",
            "steer_turn",
            "interrupt_session",
            "approve_tool",
            "end_session",
            "resume_session",
        ),
        # A TUI session, through Codex's daemon while observer follows its thread
        # (observer/approvals/codex_daemon.py): a message starts a turn, a stop interrupts one.
        observed_actions=("approve_tool", "send_message", "interrupt_session"),
        observed_by_reach=("send_message", "interrupt_session"),
        decides=True,
    )
)
register(
    Agent(
        name=PI,
        hook_parser=pi_extension.parse_extension_event,  # what observer's extension spools
        file_parser=pi_extension.file_parser,
        binary="pi",
        binary_env="OBSERVER_PI_BIN",
        file_trees=(
            FileTree(
                "pi",
                "pi-sessions",
                pi_session.FORMAT,
                lambda settings: settings.pi_sessions_dir,
                _pi_session_files,
            ),
        ),
        driver=_pi_driver,
        setup=_pi_setup,
        direct_actions=(
            "send_message",
            "steer_turn",
            "interrupt_session",
            "approve_tool",
            "answer_question",
            "end_session",
            "resume_session",
        ),
        # pi has no approval prompt of its own: observer's extension asks the hook route. It
        # also asks for a message once a run ended in away mode, and for a stop at each tool
        # call (observer/runtime/relay.py).
        observed_actions=("approve_tool", "send_message", "interrupt_session"),
        decides=True,
        question_parser=pi_extension.parse_permission_request,
    )
)
