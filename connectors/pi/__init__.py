"""pi: session files (session.py), what observer's pi extension writes (extension.py) and the
RPC mode of a session observer launches (rpc.py).

Pure, like every connector: imports only connectors.* and observer.core.*.
"""

AGENT = "pi"
