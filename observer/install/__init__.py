"""Editing the agents' own configuration: the hook installer for Claude Code and its shared file
helpers (hooks.py), Codex (codex.py, codex_config.py, and codex_trust.py, the small app-server
client that records hook trust), and the pi extension (pi.py).

May import: observer.core, observer.fsio, observer.settings. (tests/test_layers.py holds every
package to its list.)
"""
