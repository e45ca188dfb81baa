"""The Quart app and how it runs under Hypercorn (run.py; SIGHUP re-reads the config: reload.py).
app.py is the factory: it wires the typed runtime the routes reach (context.py) and registers
the Blueprints — the page and /health (page.py), login (login.py), the sessions API
(sessions_api.py), the timeline and search (timeline_api.py), the history of ended sessions
(history_api.py), the WebSocket (ws.py: each frame parsed once), remote approval
(observer.approvals.hook_api), forwarded ingest (forward_api.py) and Prometheus's /metrics
(metrics.py, metrics_usage.py) — all behind the checks every request passes (access.py,
auth.py). Every client action goes through one dispatcher (actions.py). Also the WebSocket
protocol's schemas (protocol.py) and the pid file.

May import: observer.agents, observer.approvals, observer.core, observer.direct, observer.fsio,
observer.ingest, observer.running, observer.runtime, observer.settings, observer.store.
(tests/test_layers.py holds every package to its list.)
"""
