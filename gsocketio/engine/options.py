"""EngineOptions: every Engine.IO server setting in one frozen object, built once by
``gsocketio.Server`` (or ``EngineServer``) and shared with the 0.9 endpoint (``legacy/``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from gsocketio.engine.http import CookieSpec, OriginSpec

__all__ = ["TRANSPORTS", "EngineOptions"]

TRANSPORTS = ("polling", "websocket")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """Engine.IO settings; times in seconds, sizes in bytes, defaults as the Node server's.

    ``cors_allowed_origins``: see :mod:`gsocketio.engine.http` (default: same origin only).
    ``cookie``: None/False sets none; a name or a mapping of attributes sets the sid cookie on
    the handshake. ``allow_request(environ) -> bool`` may refuse a handshake (403; Node's
    ``allowRequest``). ``websocket_compression`` is off by default, as in Node:
    deflate contexts cost memory on every socket. ``jsonp`` (Node's option, default off)
    enables JSONP polling (EIO3 ``j=``, the 0.9 ``jsonp-polling`` transport); a JSONP request
    whose ``Origin``/``Referer`` the CORS policy refuses then gets 403. ``max_buffered_*``
    bound what may wait for one client (beyond: the session closes, "outgoing buffer full").
    """

    ping_interval: float = 25
    ping_timeout: float = 20
    max_http_buffer_size: int = 1_000_000
    cors_allowed_origins: OriginSpec = None
    cors_credentials: bool = True
    cookie: CookieSpec = None
    transports: Iterable[str] = TRANSPORTS
    allow_upgrades: bool = True
    websocket_compression: bool = False
    http_compression: bool = True
    compression_threshold: int = 1024
    path: str = "/socket.io/"
    upgrade_timeout: float = 10
    allow_eio3: bool = True
    allow_request: Callable[[Mapping[str, Any]], bool] | None = None
    max_buffered_packets: int = 10_000
    max_buffered_bytes: int = 10_000_000
    jsonp: bool = False

    def __post_init__(self) -> None:
        chosen = tuple(self.transports) if self.transports is not None else TRANSPORTS
        if not chosen or set(chosen) - set(TRANSPORTS):
            raise ValueError(f"transports must be a non-empty subset of {TRANSPORTS}")
        object.__setattr__(self, "transports", chosen)
        object.__setattr__(self, "path", "/" + self.path.strip("/") + "/")
        object.__setattr__(self, "ping_interval", float(self.ping_interval))
        object.__setattr__(self, "ping_timeout", float(self.ping_timeout))

    @classmethod
    def names(cls) -> frozenset[str]:
        """The keyword names (for callers that split engine options from their own)."""
        return frozenset(f.name for f in fields(cls))
