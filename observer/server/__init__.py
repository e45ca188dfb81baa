"""The Quart app and how it runs under Hypercorn (run.py). app.py is the factory: it wires the
typed runtime the routes reach (context.py) and registers the Blueprints — the page and /health
(page.py), login (login.py), the sessions API (sessions_api.py), the WebSocket (ws.py: each frame
parsed once), remote approval (observer.approvals.hook_api) and forwarded ingest
(forward_api.py) — all behind the checks every request passes (access.py, auth.py). Every
client action goes through one dispatcher (actions.py). Also the WebSocket protocol's schemas
(protocol.py) and the pid file.

May import every package below it: core, settings, store, runtime, install, direct, ingest and
approvals. Never clients, ops or cli.
"""
