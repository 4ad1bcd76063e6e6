"""gsocketio: a Socket.IO server for gevent.

Serves socket.io-client 3/4 (Engine.IO 4), 1.x/2.x (Engine.IO 3) and the legacy 0.9 client
on one endpoint, with gevent-socketio's API (``socketio_manage``, ``BaseNamespace``) and a
modern decorator API (``Server``). The public names load on first use, so ``import gsocketio``
stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from gsocketio.exceptions import (
    CallTimeoutError,
    ClusterError,
    ClusterTimeoutError,
    ClusterUnavailableError,
    ConnectionRefusedError,
    GSocketIOError,
    ProtocolError,
)

if TYPE_CHECKING:
    from gsocketio.compat.virtsocket import socketio_manage
    from gsocketio.emitter import Emitter
    from gsocketio.namespace import Namespace
    from gsocketio.serve import SocketIOServer
    from gsocketio.socketio_server import Server
    from gsocketio.wsgi import WSGIApp

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
    "socketio_manage",
]

try:
    __version__: str = _metadata.version("gsocketio")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

_LAZY = {
    "Emitter": "gsocketio.emitter",  # needs redis-py (the ``redis`` extra): only when used
    "Namespace": "gsocketio.namespace",
    "Server": "gsocketio.socketio_server",
    "SocketIOServer": "gsocketio.serve",
    "WSGIApp": "gsocketio.wsgi",
    "socketio_manage": "gsocketio.compat.virtsocket",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
