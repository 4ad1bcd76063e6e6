"""``SocketIOServer``: gevent's pywsgi server, fitted for Socket.IO.

Two things pywsgi lacks: it never sets ``TCP_NODELAY`` (a long-polling round trip then waits
~40 ms on Nagle + delayed ACK), and it has no way to hand an upgraded connection's raw socket
to a WebSocket implementation. :class:`SocketIOHandler` puts the socket and its buffered reader
in the environ (see :mod:`gsocketio.transports.websocket` for the keys); when the application
accepted a WebSocket, the handler writes no HTTP response of its own, finishes the closing
handshake (bounded) once the application returns, and closes the connection.

The seed's Socket.IO options (``transports``, ``policy_server``, ``policy_listener``,
``heartbeat_interval``, ``heartbeat_timeout``, ``close_timeout``) are accepted and kept in
:attr:`SocketIOServer.config`; the Flash policy server and the legacy session settings that use
them are wired by a later layer.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gevent import GreenletExit
from gevent.pywsgi import WSGIHandler, WSGIServer

from gsocketio.transports.websocket import RFILE_KEY, SOCKET_KEY, WEBSOCKET_KEY, WebSocket

__all__ = ["DEFAULT_POLICY_PORT", "SocketIOHandler", "SocketIOServer"]

logger = logging.getLogger("gsocketio.serve")

DEFAULT_POLICY_PORT = 10843

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def set_nodelay(sock: Any) -> None:
    """Disable Nagle's algorithm on a TCP socket (no-op for UNIX sockets)."""
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # the peer may already have reset the connection
        logger.debug("TCP_NODELAY not set: %s", exc)


class SocketIOHandler(WSGIHandler):  # type: ignore[misc]  # gevent is untyped
    """pywsgi handler that hands the raw socket to the WebSocket transport."""

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ[SOCKET_KEY] = self.socket
        environ[RFILE_KEY] = self.rfile
        return environ

    def run_application(self) -> None:
        # pywsgi's own version, except that an upgraded request gets no HTTP response.
        try:
            self.result = self.application(self.environ, self.start_response)
            if self._websocket() is None:
                self.process_result()
        finally:
            try:
                close = getattr(self.result, "close", None)
                self.result = None
                if close is not None:
                    close()
            finally:
                self._finish_websocket()

    def _websocket(self) -> WebSocket | None:
        environ = getattr(self, "environ", None)
        if environ is None:
            return None
        ws = environ.get(WEBSOCKET_KEY)
        return ws if isinstance(ws, WebSocket) else None

    def _finish_websocket(self) -> None:
        ws = self._websocket()
        if ws is None:
            return
        self.close_connection = True
        self.code = 101
        self._orig_status = self.status = "101 Switching Protocols"
        ws.finish()

    def handle_error(self, t: type[BaseException], v: BaseException, tb: Any) -> None:
        if self._websocket() is None:
            super().handle_error(t, v, tb)
            return
        # The connection speaks WebSocket now: an HTTP 500 would corrupt it.
        self.close_connection = True
        if issubclass(t, GreenletExit):  # the server is stopping
            logger.debug("WebSocket handler killed")
            return
        logger.error("application error on a WebSocket connection", exc_info=(t, v, tb))


class SocketIOServer(WSGIServer):  # type: ignore[misc]  # gevent is untyped
    """A ``gevent.pywsgi.WSGIServer`` that sets ``TCP_NODELAY`` and serves WebSocket upgrades.

    ``resource`` is the URL path segment Socket.IO lives under (``/socket.io/``). Other keyword
    arguments go to ``WSGIServer``; access and error logs default to the ``gsocketio.serve``
    logger instead of stderr.
    """

    handler_class = SocketIOHandler

    def __init__(
        self,
        listener: Any,
        application: WSGIApp | None = None,
        resource: str = "socket.io",
        *,
        transports: Sequence[str] | None = None,
        policy_server: bool = True,
        policy_listener: tuple[str, int] | None = None,
        heartbeat_interval: float = 25,
        heartbeat_timeout: float = 60,
        close_timeout: float = 60,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("log", logger)
        kwargs.setdefault("error_log", logger)
        super().__init__(listener, application, **kwargs)
        self.resource = resource.strip("/")
        if policy_listener is None:
            host = listener[0] if isinstance(listener, tuple) else "0.0.0.0"
            policy_listener = (host, DEFAULT_POLICY_PORT)
        self.config: dict[str, Any] = {
            "resource": self.resource,
            "transports": list(transports) if transports is not None else None,
            "policy_server": policy_server,
            "policy_listener": policy_listener,
            "heartbeat_interval": heartbeat_interval,
            "heartbeat_timeout": heartbeat_timeout,
            "close_timeout": close_timeout,
        }

    def handle(self, sock: Any, address: Any) -> None:
        set_nodelay(sock)
        super().handle(sock, address)
