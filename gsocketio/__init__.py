"""gsocketio: a Socket.IO server for gevent.

Serves socket.io-client 3/4 (Engine.IO 4), 1.x/2.x (Engine.IO 3) and the legacy 0.9 client
on one endpoint, with gevent-socketio's API (``socketio_manage``, ``BaseNamespace``) and a
modern decorator API (``Server``).
"""

from gsocketio.compat.virtsocket import socketio_manage
from gsocketio.exceptions import (
    CallTimeoutError,
    ConnectionRefusedError,
    GSocketIOError,
    ProtocolError,
)
from gsocketio.namespace import Namespace
from gsocketio.serve import SocketIOServer
from gsocketio.server import Server
from gsocketio.wsgi import WSGIApp

__all__ = [
    "CallTimeoutError",
    "ConnectionRefusedError",
    "GSocketIOError",
    "Namespace",
    "ProtocolError",
    "Server",
    "SocketIOServer",
    "WSGIApp",
    "socketio_manage",
]

__version__ = "0.1.0"
