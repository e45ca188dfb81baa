"""The shared pieces the app wires together, below ingest, approvals and server: the hub's
fan-out to clients, the approval desk (decisions), the task supervisor, asyncio helpers, the
notification sender, and the JSON request-body reader the HTTP routes share.

May import: observer.core, observer.fsio, observer.settings, observer.store.
(tests/test_layers.py holds every package to its list.)
"""
