"""RFC 6455 WebSocket over a gevent socket: websockets' sans-I/O framing, gevent I/O."""

from gsocketio.websocket.connection import (
    GUNICORN_SOCKET_KEY,
    RFILE_KEY,
    SOCKET_KEY,
    WEBSOCKET_KEY,
    WebSocket,
    accept_websocket,
    is_websocket_request,
)

__all__ = [
    "GUNICORN_SOCKET_KEY",
    "RFILE_KEY",
    "SOCKET_KEY",
    "WEBSOCKET_KEY",
    "WebSocket",
    "accept_websocket",
    "is_websocket_request",
]
