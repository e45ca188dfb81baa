"""What talks to a running server: the one HTTP helper (local_http.py; `observer status`'s fast
path alone speaks its one GET on a plain socket, quick.py), the one WebSocket
feed (feed.py), status and `status --watch`, the menubar plugin, the usage report,
`launch`, and `replay` (which runs the state machine over files offline, like a client would see).

May import: observer.agents, observer.core, observer.fsio, observer.ingest, observer.running,
observer.settings, observer.store, connectors. (tests/test_layers.py holds every package to its
list.)
"""
