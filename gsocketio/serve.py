"""``gsocketio.serve``: where the seed's and the README's imports find the server.

:class:`SocketIOServer` and the runners live in :mod:`gsocketio.compat.runner`, the strict
HTTP/1.1 server under it in :mod:`gsocketio.http`; this module keeps the import path
(``from gsocketio.serve import SocketIOServer``) and the paste entry point working.
"""

from __future__ import annotations

from gsocketio.compat.runner import (
    DEFAULT_HTTP_TIMEOUT,
    MODES,
    SERVER_OPTIONS,
    SocketIOServer,
    find_socketio_app,
    make_server,
    serve,
    serve_paste,
)
from gsocketio.http import set_nodelay
from gsocketio.legacy.policy import DEFAULT_POLICY_PORT

__all__ = [
    "DEFAULT_HTTP_TIMEOUT",
    "DEFAULT_POLICY_PORT",
    "MODES",
    "SERVER_OPTIONS",
    "SocketIOServer",
    "find_socketio_app",
    "make_server",
    "serve",
    "serve_paste",
    "set_nodelay",
]
