"""The Quart app (app.py) and how it runs under Hypercorn (run.py): auth, the WebSocket
protocol's schemas (protocol.py), the forwarded-ingest API (forward_api.py) and the pid file.

May import every package below it: core, settings, store, runtime, install, direct, ingest and
approvals. Never clients, ops or cli.
"""
