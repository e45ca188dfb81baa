"""Claude Code: hook payloads (hooks.py), the live session registry (registry.py), transcript
files (transcript.py) and the stream-json of a session observer launches (stream.py).

Pure, like every connector: imports only connectors.* and observer.core.*.
"""

AGENT = "claude"
