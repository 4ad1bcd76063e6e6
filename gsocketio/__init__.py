"""gsocketio: a Socket.IO server for gevent.

Serves socket.io-client 3/4 (Engine.IO 4), 1.x/2.x (Engine.IO 3) and the legacy 0.9 client
on one endpoint, with gevent-socketio's API (``socketio_manage``, ``BaseNamespace``) and a
modern decorator API (``Server``).
"""

from typing import TYPE_CHECKING, Any

from gsocketio.blocking import monitor_blocking
from gsocketio.compat.virtsocket import socketio_manage
from gsocketio.exceptions import (
    CallTimeoutError,
    ClusterError,
    ClusterTimeoutError,
    ClusterUnavailableError,
    ConnectionRefusedError,
    GSocketIOError,
    ProtocolError,
)
from gsocketio.namespace import Namespace
from gsocketio.serve import SocketIOServer
from gsocketio.server import Server
from gsocketio.wsgi import WSGIApp

if TYPE_CHECKING:
    from gsocketio.emitter import Emitter

__all__ = [
    "CallTimeoutError",
    "ClusterError",
    "ClusterTimeoutError",
    "ClusterUnavailableError",
    "ConnectionRefusedError",
    "Emitter",
    "GSocketIOError",
    "Namespace",
    "ProtocolError",
    "Server",
    "SocketIOServer",
    "WSGIApp",
    "monitor_blocking",
    "socketio_manage",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``gsocketio.Emitter``, imported on first use: it needs redis-py (the ``redis`` extra),
    which servers without the Redis adapter do not install or pay for."""
    if name == "Emitter":
        from gsocketio.emitter import Emitter

        return Emitter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
