"""Acting on the machine around a server: installing the per-user service (service.py; the
files themselves are rendered by the pure top-level `service` package), `doctor`, and `forward`
(send this machine's spool to a remote server).

May import everything below cli: core, settings, store, runtime, install, ingest, server,
clients, and the `service` package.
"""
