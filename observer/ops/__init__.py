"""Acting on the machine around a server: installing the per-user service (service.py; the
files themselves are rendered by the pure top-level `service` package), `doctor`, and `forward`
(send this machine's spool to a remote server).

May import: observer.agents, observer.clients, observer.core, observer.fsio, observer.ingest,
observer.install, observer.running, observer.server, observer.settings, service.
(tests/test_layers.py holds every package to its list.)
"""
