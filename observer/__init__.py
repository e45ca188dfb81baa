"""observer: one truthful answer to "which agent session needs me now?"."""

from __future__ import annotations

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
