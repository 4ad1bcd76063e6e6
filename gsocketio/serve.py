"""``SocketIOServer``: gevent's pywsgi server, fitted for Socket.IO.

Two things pywsgi lacks: it never sets ``TCP_NODELAY`` (a long-polling round trip then waits
~40 ms on Nagle + delayed ACK), and it has no way to hand an upgraded connection's raw socket
to a WebSocket implementation. :class:`SocketIOHandler` puts the socket and its buffered reader
in the environ (see :mod:`gsocketio.websocket.connection` for the keys); when the application
accepted a WebSocket, the handler writes no HTTP response of its own, finishes the closing
handshake (bounded) once the application returns, and closes the connection.

The seed's Socket.IO options (``transports``, ``policy_server``, ``policy_listener``,
``heartbeat_interval``, ``heartbeat_timeout``, ``close_timeout``) are accepted and kept in
:attr:`SocketIOServer.config`. Given a plain WSGI application (not a :class:`gsocketio.wsgi.WSGIApp`
already), the server runs it in *seed mode*, as gevent-socketio did: ``/<resource>/`` goes to a
:func:`gsocketio.compat.managed.managed_server` that runs the application once per Socket.IO
connection (its view calls ``socketio_manage``), everything else to the application. There
``heartbeat_interval``/``heartbeat_timeout`` become Engine.IO's ``ping_interval``/
``ping_timeout``, ``transports`` is mapped to Engine.IO's names, and the :class:`gsocketio.Server`
options in :data:`SERVER_OPTIONS` may be passed as keywords; 0.9 clients are served too
(``/<resource>/1/``, :mod:`gsocketio.legacy`, with the seed's heartbeat and close timeouts).
In seed mode the Flash policy server starts with the server, as in the seed, when
``policy_server`` is true and ``flashsocket`` is enabled (``policy_listener``, default
``(host, 10843)``); a port already taken is logged as a warning, not fatal.

Hostile HTTP, bounded (pywsgi alone waits and reads without limits):

* ``http_timeout`` (default 60 s) bounds every read and write of the HTTP phase: a client that
  connects and sends nothing, a request head or body that trickles in, an idle keep-alive
  connection, a response nobody reads. An accepted WebSocket clears it (the engine's ping/pong
  bounds it from then on).
* A request body the application did not read (a refused POST: unknown sid, 413) is discarded
  only up to :data:`MAX_DISCARD` bytes to keep the connection alive, and not at all when the
  response says ``Connection: close``; beyond that the connection is closed. pywsgi would
  otherwise read a declared terabyte, or a chunked body that never ends, to its end.
* A body whose end is ambiguous (differing ``Content-Length`` headers, a transfer coding other
  than ``chunked``) is refused with 400, as RFC 9112 asks: pywsgi would pick one reading and
  parse the rest as a next request.
* Requests pywsgi cannot parse (request line over 8 KiB: 414; over 100 header lines, a header
  line over 64 KiB, bad chunk framing: 400) are the client's fault: logged at INFO, not ERROR.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gevent import GreenletExit
from gevent.pywsgi import Input, WSGIHandler, WSGIServer

from gsocketio._logging import get_logger
from gsocketio.legacy.policy import DEFAULT_POLICY_PORT
from gsocketio.websocket.connection import RFILE_KEY, SOCKET_KEY, WEBSOCKET_KEY, WebSocket

__all__ = [
    "DEFAULT_HTTP_TIMEOUT",
    "DEFAULT_POLICY_PORT",
    "MAX_DISCARD",
    "SERVER_OPTIONS",
    "SocketIOHandler",
    "SocketIOServer",
    "make_server",
    "serve",
    "serve_paste",
]

logger = get_logger("gsocketio.serve")

DEFAULT_HTTP_TIMEOUT = 60.0
"""Seconds one read or write of an HTTP request or response may take (see the docstring)."""
MAX_DISCARD = 65536
"""Bytes of an unread request body skipped to keep a connection alive; more closes it."""
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 12\r\n\r\nBad Request\n"
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

SERVER_OPTIONS = frozenset(
    {
        "adapter",
        "allow_upgrades",
        "compression_threshold",
        "connect_timeout",
        "cookie",
        "cors_allowed_origins",
        "http_compression",
        "json",
        "manage_timeout",
        "max_http_buffer_size",
        "websocket_compression",
    }
)
"""Keywords of :class:`SocketIOServer` that configure the seed-mode Socket.IO server."""


def is_socketio_app(application: Any) -> bool:
    """Whether ``application`` already routes Socket.IO itself (no seed-mode wrapping)."""
    from gsocketio.wsgi import WSGIApp as SocketIOWSGIApp

    return isinstance(application, SocketIOWSGIApp) or bool(
        getattr(application, "gsocketio_app", False)
    )


def set_nodelay(sock: Any) -> None:
    """Disable Nagle's algorithm on a TCP socket (no-op for UNIX sockets)."""
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # the peer may already have reset the connection
        logger.debug("TCP_NODELAY not set: %s", exc)


class _BoundedInput(Input):  # type: ignore[misc]  # gevent is untyped
    """pywsgi's request body, whose unread rest is skipped only when that is cheap."""

    __slots__ = ("_handler",)

    def _discard(self) -> None:
        handler = self._handler
        if handler.close_connection:
            return  # the connection closes after this response: nothing needs skipping
        if self.socket is not None:
            # "Expect: 100-continue" never answered: the client may still be waiting to send.
            handler.close_connection = True
            return
        skipped = 0
        while skipped < MAX_DISCARD:
            data = self.read(min(16384, MAX_DISCARD - skipped))
            if not data:
                return
            skipped += len(data)
        logger.info("%s: request body not read by the application; closing", handler.client_address)
        handler.close_connection = True


class SocketIOHandler(WSGIHandler):  # type: ignore[misc]  # gevent is untyped
    """pywsgi handler that hands the raw socket to the WebSocket transport."""

    wsgi_input: Any  # set by pywsgi's get_environ

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ[SOCKET_KEY] = self.socket
        environ[RFILE_KEY] = self.rfile
        unbounded = self.wsgi_input
        if type(unbounded) is Input:
            bounded = _BoundedInput(
                unbounded.rfile,
                unbounded.content_length,
                socket=unbounded.socket,
                chunked_input=unbounded.chunked_input,
            )
            bounded._handler = self
            self.wsgi_input = bounded
            if environ.get("wsgi.input") is unbounded:
                environ["wsgi.input"] = bounded
        return environ

    def read_request(self, raw_requestline: str) -> bool:
        # RFC 9112 6.3: differing Content-Length values, or a transfer coding other than
        # chunked, leave the body's end unknown (pywsgi would use the first length, or read
        # no body at all, and parse the rest as the next request): refuse and close.
        ok: bool = super().read_request(raw_requestline)
        headers = self.headers
        lengths = {value.strip() for value in headers.get_all("content-length") or ()}
        if len(lengths) > 1:
            raise ValueError(f"conflicting Content-Length headers {sorted(lengths)}")
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            raise ValueError(f"unsupported Transfer-Encoding {coding!r}")
        return ok

    def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes]:
        # pywsgi logs these at ERROR (and prints a traceback for some): bad requests are
        # the client's fault, and a hostile client must not be able to flood the error log.
        logger.info("invalid request from %s: %s", self.client_address, ex)
        return ("400", _BAD_REQUEST)

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
        if t is TimeoutError:  # http_timeout: a socket timeout (not CallTimeoutError & co.)
            logger.info("%s: HTTP response not sent within the timeout", self.client_address)
            self.close_connection = True
            return
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

    ``resource`` is the URL path segment Socket.IO lives under (``/socket.io/``). A plain WSGI
    ``application`` is served in seed mode (see the module docstring; :attr:`seed_server` is
    then the :func:`gsocketio.compat.managed.managed_server`). Keywords in :data:`SERVER_OPTIONS`
    configure that server; other keyword arguments go to ``WSGIServer``. Access and error logs
    default to the ``gsocketio.serve`` logger instead of stderr. ``http_timeout`` (seconds,
    None: none)
    bounds each read and write of the HTTP phase of a connection (see the module docstring).
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
        http_timeout: float | None = DEFAULT_HTTP_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("log", logger)
        kwargs.setdefault("error_log", logger)
        self.http_timeout = http_timeout
        options = {key: kwargs.pop(key) for key in SERVER_OPTIONS if key in kwargs}
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
        self.seed_server: Any = None
        self.legacy_server: Any = None
        self.policy_server: Any = None  # the running Flash policy server, if any
        if application is not None and not is_socketio_app(application):
            application = self._seed_mode(application, options)
        elif options:
            raise TypeError(
                f"{sorted(options)} configure the seed-mode server; this application already "
                "routes Socket.IO (configure its gsocketio.Server instead)"
            )
        super().__init__(listener, application, **kwargs)

    def _seed_mode(self, application: WSGIApp, options: dict[str, Any]) -> Any:
        from gsocketio.compat.managed import managed_server
        from gsocketio.compat.options import modern_transports

        options.setdefault("ping_interval", self.config["heartbeat_interval"])
        options.setdefault("ping_timeout", self.config["heartbeat_timeout"])
        transports = modern_transports(self.config["transports"])
        if transports is not None:
            options["transports"] = transports
        self.seed_server = managed_server(
            application, resource=self.resource, config=self.config, **options
        )
        self.legacy_server = self._legacy_endpoint(self.seed_server)
        return self.seed_server.wsgi_app(application, self.resource, legacy_app=self.legacy_server)

    def _legacy_endpoint(self, handler: Any) -> Any:
        """The 0.9 endpoint (``/<resource>/1/``) over the seed-mode server, when the legacy
        layer is installed; the seed's heartbeat and close timeouts configure it."""
        from gsocketio.legacy.endpoint import LegacyServer
        from gsocketio.legacy.transports import ALL_TRANSPORTS

        transports = self.config["transports"]
        if transports is not None:
            transports = [name for name in transports if name in ALL_TRANSPORTS]
        return LegacyServer(
            handler,
            resource=self.resource,
            transports=transports,
            heartbeat_interval=self.config["heartbeat_interval"],
            heartbeat_timeout=self.config["heartbeat_timeout"],
            close_timeout=self.config["close_timeout"],
        )

    def start_accepting(self) -> None:
        super().start_accepting()
        if self.policy_server is None and self._wants_policy_server():
            self._start_policy_server()

    def _wants_policy_server(self) -> bool:
        """As the seed: with ``policy_server=True`` (default), whenever 0.9 clients may use
        ``flashsocket`` — i.e. in seed mode with that transport enabled."""
        if not self.config["policy_server"] or self.legacy_server is None:
            return False
        transports = self.config["transports"]
        return transports is None or "flashsocket" in transports

    def _start_policy_server(self) -> None:
        listener = self.config["policy_listener"]
        server = self.legacy_server.policy_server(listener, ports=[self.server_port])
        try:
            server.start()
        except OSError as exc:
            # Another process (often a second app on the same host) has the port: the app
            # still serves everything but Flash clients, so say so instead of failing.
            logger.warning("Flash policy server not started on %s:%s: %s", *listener, exc)
            return
        self.policy_server = server
        logger.info("Flash policy server on %s:%s", *server.address[:2])

    def stop(self, timeout: float | None = None) -> None:
        if self.policy_server is not None:
            self.policy_server.stop()
            self.policy_server = None
        super().stop(timeout)

    def handle(self, sock: Any, address: Any) -> None:
        set_nodelay(sock)
        sock.settimeout(self.http_timeout)  # cleared by an accepted WebSocket
        super().handle(sock, address)


# --- the seed's runner entry points (``serve``; ``serve_paste`` for paste.deploy ini files) ---

_TRUE = frozenset({"true", "enable", "yes", "on", "1"})
_FLOAT_OPTIONS = ("heartbeat_interval", "heartbeat_timeout", "close_timeout", "http_timeout")


def make_server(app: WSGIApp, **kw: Any) -> SocketIOServer:
    """The :class:`SocketIOServer` that :func:`serve` runs, from keyword options that may all be
    strings (as a paste ``[server:main]`` section gives them): ``host`` (127.0.0.1), ``port``
    (6543), ``resource``, ``transports`` ("websocket, xhr-polling"), ``policy_server``
    (off unless true/yes/on/1), ``policy_listener_host``/``policy_listener_port`` (10843), the
    seed's timeouts; the rest go to :class:`SocketIOServer` unchanged."""
    host = str(kw.pop("host", "127.0.0.1"))
    port = int(kw.pop("port", 6543))
    transports = kw.pop("transports", None)
    if isinstance(transports, str):
        transports = [name.strip() for name in transports.split(",") if name.strip()]
    policy = kw.pop("policy_server", False)
    policy_server = policy is True or str(policy).strip().lower() in _TRUE
    policy_host = str(kw.pop("policy_listener_host", host))
    policy_port = int(kw.pop("policy_listener_port", DEFAULT_POLICY_PORT))
    for name in _FLOAT_OPTIONS:
        if name in kw:
            kw[name] = float(kw[name])
    return SocketIOServer(
        (host, port),
        app,
        resource=str(kw.pop("resource", "socket.io")),
        transports=transports,
        policy_server=policy_server,
        policy_listener=(policy_host, policy_port),
        **kw,
    )


def serve(app: WSGIApp, **kw: Any) -> None:
    """Serve ``app`` until interrupted, as the seed's ``socketio.server.serve`` did; options as
    :func:`make_server` (``_quiet=True`` leaves logging alone)."""
    if not kw.pop("_quiet", False):
        logging.basicConfig()  # a no-op when the app configured logging already
    server = make_server(app, **kw)
    server.init_socket()
    logger.info("serving on http://%s:%s", server.server_host, server.server_port)
    server.serve_forever()


def serve_paste(app: WSGIApp, global_conf: dict[str, Any], **kw: Any) -> int:
    """paste.deploy server runner (``use = egg:gsocketio#paster`` in ``[server:main]``)."""
    serve(app, **kw)
    return 0
