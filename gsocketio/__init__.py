"""gsocketio: a Socket.IO server for gevent.

Serves socket.io-client 3/4 (Engine.IO 4), 1.x/2.x (Engine.IO 3) and the legacy 0.9 client
on one endpoint, with gevent-socketio's API (``socketio_manage``, ``BaseNamespace``) and a
modern decorator API (``Server``).
"""

from gsocketio.exceptions import (
    CallTimeoutError,
    ConnectionRefusedError,
    GSocketIOError,
    ProtocolError,
)

__all__ = [
    "CallTimeoutError",
    "ConnectionRefusedError",
    "GSocketIOError",
    "ProtocolError",
]

__version__ = "0.1.0"
