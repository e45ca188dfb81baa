"""Remote approval of observed sessions: the HTTP API the decide hooks wait on (hook_api.py)
and the attacher that answers a Codex daemon's approvals (codex_daemon.py). The desk they both
ask is observer.runtime.decisions.

May import observer.core, observer.settings, observer.runtime, observer.direct.base and
connectors. Never server, clients, ops or cli.
"""
