"""Remote approval of observed sessions: the HTTP API the decide hooks wait on (hook_api.py)
and the attacher that answers a Codex daemon's approvals (codex_daemon.py). The desk they both
ask is observer.runtime.decisions.

May import: observer.agents, observer.core, observer.runtime, observer.settings, connectors.
(tests/test_layers.py holds every package to its list.)
"""
