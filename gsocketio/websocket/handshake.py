"""The opening handshake's pieces that need no connection: the environ keys of the hand-over
between the HTTP server and :mod:`gsocketio.websocket.connection` (the raw socket, its
buffered reader, the accepted WebSocket), the upgrade test, the request websockets'
handshake validates, and the bytes buffered past the request head."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Final

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeaderValue
from websockets.http11 import Request

from gsocketio._logging import get_logger
from gsocketio.exceptions import WebSocketHandshakeError

__all__ = [
    "DETACH_KEY",
    "GUNICORN_SOCKET_KEY",
    "RFILE_KEY",
    "SOCKET_KEY",
    "TAKEN_KEY",
    "WEBSOCKET_KEY",
    "Environ",
    "drain_buffered",
    "is_websocket_request",
    "request_from_environ",
]

SOCKET_KEY: Final = "gsocketio.socket"
RFILE_KEY: Final = "gsocketio.rfile"
GUNICORN_SOCKET_KEY: Final = "gunicorn.socket"
WEBSOCKET_KEY: Final = "gsocketio.websocket"
TAKEN_KEY: Final = "gsocketio.taken"  # the app took the socket over (a piped upgrade)
# Set to False by a server that lets a WebSocket outlive its request; the application sets it
# True when the WebSocket goes on without the request's greenlet: the server then neither
# finishes it nor closes the socket (the WebSocket's owner does, with WebSocket.release()).
DETACH_KEY: Final = "gsocketio.detach"

# Only the headers the opening handshake reads are copied, so an odd unrelated header (a cookie
# with bytes websockets' header validator refuses) cannot fail the upgrade.
_HANDSHAKE_HEADERS: Final = (
    ("HTTP_HOST", "Host"),
    ("HTTP_CONNECTION", "Connection"),
    ("HTTP_UPGRADE", "Upgrade"),
    ("HTTP_SEC_WEBSOCKET_KEY", "Sec-WebSocket-Key"),
    ("HTTP_SEC_WEBSOCKET_VERSION", "Sec-WebSocket-Version"),
    ("HTTP_SEC_WEBSOCKET_EXTENSIONS", "Sec-WebSocket-Extensions"),
    ("HTTP_SEC_WEBSOCKET_PROTOCOL", "Sec-WebSocket-Protocol"),
    ("HTTP_ORIGIN", "Origin"),
)

logger = get_logger("gsocketio.websocket.connection")

Environ = MutableMapping[str, Any]


def is_websocket_request(environ: Environ) -> bool:
    """True when the client asks for a WebSocket upgrade (``Upgrade: websocket``); only the
    intent: :func:`~gsocketio.websocket.connection.accept_websocket` validates the rest (a
    broken upgrade gets a 400)."""
    upgrade = environ.get("HTTP_UPGRADE")
    if not isinstance(upgrade, str):
        return False
    return any(token.strip().lower() == "websocket" for token in upgrade.split(","))


def request_from_environ(environ: Environ) -> Request:
    """The handshake's request: the environ's request line and handshake headers."""
    headers = Headers()
    try:
        for key, name in _HANDSHAKE_HEADERS:
            value = environ.get(key)
            if isinstance(value, str):
                headers[name] = value
    except InvalidHeaderValue as exc:
        raise WebSocketHandshakeError(f"invalid WebSocket upgrade: {exc}") from exc
    path = environ.get("PATH_INFO") or "/"
    query = environ.get("QUERY_STRING")
    if query:
        path = f"{path}?{query}"
    return Request(
        path=path,
        headers=headers,
        method=str(environ.get("REQUEST_METHOD", "GET")),
        protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
    )


def drain_buffered(rfile: Any, sock: Any, size: int) -> bytes:
    """Return bytes the server's reader holds past the request head, without blocking.

    ``read1`` returns buffered bytes if there are any, else does one raw read, which a zero
    socket timeout turns into "nothing available" instead of a wait.
    """
    if rfile is None or not hasattr(rfile, "read1"):
        return b""
    previous = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        data = rfile.read1(size)
    except (BlockingIOError, InterruptedError):
        data = b""
    except OSError as exc:  # peer already gone: the first receive() sees EOF
        logger.debug("reading buffered bytes after the upgrade failed: %s", exc)
        data = b""
    finally:
        sock.settimeout(previous)
    return bytes(data) if data else b""
