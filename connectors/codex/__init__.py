"""Codex CLI: hook and `notify` payloads (hooks.py), rollout files (rollout.py), the app-server
protocol of a session observer launches (appserver.py) and of a shared daemon (daemon.py).

Pure, like every connector: imports only connectors.* and observer.core.*.
"""

AGENT = "codex"
