"""gevent-socketio's server options in gsocketio's terms (what ``SocketIOServer`` maps)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["SEED_TRANSPORTS", "modern_transports"]

SEED_TRANSPORTS: Final = {
    "websocket": "websocket",
    "flashsocket": None,
    "htmlfile": "polling",
    "xhr-multipart": "polling",
    "xhr-polling": "polling",
    "jsonp-polling": "polling",
}
"""gevent-socketio's transport names and what today's clients use instead (None: none)."""


def modern_transports(transports: Iterable[str] | None) -> list[str] | None:
    """Map gevent-socketio's ``transports`` option to Engine.IO transport names (None: all)."""
    if transports is None:
        return None
    chosen: list[str] = []
    for name in transports:
        if name not in SEED_TRANSPORTS:
            raise ValueError(f"transports should be elements of: {sorted(SEED_TRANSPORTS)}")
        modern = SEED_TRANSPORTS[name]
        if modern is not None and modern not in chosen:
            chosen.append(modern)
    if not chosen:
        raise ValueError(f"no transport usable by today's clients in {list(transports)}")
    return chosen
