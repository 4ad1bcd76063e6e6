"""``WSGIServer``: a strict HTTP/1.1 WSGI server over gevent's ``StreamServer``.

It takes the keywords of gevent's ``pywsgi.WSGIServer`` that deployments pass (``log``,
``error_log``, ``spawn``, ``backlog``, ``environ``, the TLS ones: ``keyfile``, ``certfile``,
``ssl_context``...), so it drops in where pywsgi was, and serves each connection with
:class:`gsocketio.http.connection.HTTPConnection`. Every accepted TCP socket gets
``TCP_NODELAY`` (a long-polling round trip otherwise waits ~40 ms on Nagle + delayed ACK), and
the listen backlog is 511 like Node's (gevent's 128 let a burst of connects keep a legitimate
client out for a second). A TLS handshake is bounded by ``head_timeout`` too.
"""

from __future__ import annotations

import datetime
import logging
import socket
import sys
import traceback
import types
from collections.abc import Callable, Iterable
from typing import Any

from gevent.server import StreamServer

from gsocketio._logging import escape_control_chars, get_logger
from gsocketio.http.connection import HTTPConnection
from gsocketio.http.environ import base_environ, lean_base
from gsocketio.http.limits import DEFAULT_HTTP_LIMITS, HTTPLimits
from gsocketio.http.parser import RequestHead
from gsocketio.http.response import keepalive_hint

__all__ = ["DEFAULT_BACKLOG", "WSGIServer", "set_nodelay"]

logger = get_logger("gsocketio.http")

DEFAULT_BACKLOG = 511
SOFTWARE = "gsocketio"

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def set_nodelay(sock: Any) -> None:
    """Disable Nagle's algorithm on a TCP socket (no-op for UNIX sockets)."""
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # the peer may already have reset the connection
        logger.debug("TCP_NODELAY not set: %s", exc)


def direct_call(application: Any) -> Any:
    """What to call to run ``application``: an instance of a class with a Python
    ``__call__`` is called through that function bound to it, which CPython runs in the
    caller's C frame, instead of through the type's call slot, a C-level recursion. Every
    C frame between a connection greenlet's start and its wait is saved (copied) while it
    is parked: a WebSocket reader parks for the whole connection (docs/benchmarks.md, #14)."""
    call = next(
        (c.__dict__["__call__"] for c in type(application).__mro__ if "__call__" in c.__dict__),
        None,
    )
    if isinstance(call, types.FunctionType):
        return types.MethodType(call, application)
    return application


def _log_target(target: Any) -> Any:
    """pywsgi's conventions: 'default' is stderr, None nothing, a Logger or a ``write``r."""
    if target == "default":
        return sys.stderr
    return target


class WSGIServer(StreamServer):  # type: ignore[misc]  # gevent is untyped
    """Serve a WSGI ``application`` on ``listener`` (an address or a listening socket).

    ``limits`` bounds what clients may send and how long they may take (see
    :class:`gsocketio.http.limits.HTTPLimits`). ``direct`` (default on) lets an application
    with a ``direct_route(path, query)`` method (gsocketio's ``WSGIApp``, when it is the
    application itself and not wrapped) answer the requests it names from a lean environ
    (:func:`gsocketio.http.environ.lean_environ`); off, every request takes the general WSGI
    call. ``log`` receives one access line per request
    (a ``logging.Logger``: at INFO; a file-like object: written; None: off), ``error_log``
    application errors with their traceback.
    """

    backlog = DEFAULT_BACKLOG

    def __init__(
        self,
        listener: Any,
        application: WSGIApplication | None = None,
        backlog: int | None = None,
        spawn: Any = "default",
        log: Any = "default",
        error_log: Any = "default",
        environ: dict[str, Any] | None = None,
        *,
        limits: HTTPLimits = DEFAULT_HTTP_LIMITS,
        direct: bool = True,
        **ssl_args: Any,
    ) -> None:
        super().__init__(listener, backlog=backlog, spawn=spawn, **ssl_args)
        self.application = application
        self.direct = direct
        self.limits = limits
        self.keepalive_hint = keepalive_hint(limits.head_timeout)
        self.log = _log_target(log)
        self.error_log = _log_target(error_log)
        self._environ_extra = dict(environ or {})
        self.waiting: set[HTTPConnection] = set()  # connections between two requests
        # close() was called: what connections check per request (gevent's ``closed`` is a
        # property with a hasattr() behind it; it is also true before the socket exists)
        self.stopping = False
        self.environ: dict[str, Any] = {}
        self.lean_environ: dict[str, Any] = {}
        self._update_environ()

    @property
    def application(self) -> Any:
        """The WSGI application (assignable, as on gevent's ``pywsgi.WSGIServer``)."""
        return self._application

    @application.setter
    def application(self, application: Any) -> None:
        self._application = application
        self.call_application = direct_call(application)

    # --- set-up --------------------------------------------------------------------------------

    def init_socket(self) -> None:
        super().init_socket()
        self._update_environ()

    def _update_environ(self) -> None:
        address = getattr(self, "address", None)
        if isinstance(address, tuple):
            name, port = str(address[0]), address[1]
            socket_ = getattr(self, "socket", None)
            if socket_ is not None:
                name, port = str(self.server_host), self.server_port
        else:
            name, port = "", ""
        environ = base_environ(name, port, https=self.ssl_enabled, software=SOFTWARE)
        if self.error_log is not None and hasattr(self.error_log, "write"):
            environ["wsgi.errors"] = self.error_log
        environ.update(self._environ_extra)
        self.environ = environ
        self.lean_environ = lean_base(environ, self._environ_extra)

    @property
    def direct_route(self) -> Callable[[str, str], WSGIApplication | None] | None:
        """The application's ``direct_route``, looked up per request (an application may be
        replaced after start-up); None when ``direct`` is off or the application has none."""
        if not self.direct:
            return None
        app = self._application
        # Looked up on the class: a wrapper that delegates attributes to the app it wraps
        # (``__getattr__``, as the metrics wrapper does) must see every request itself.
        if getattr(type(app), "direct_route", None) is None:
            return None
        route: Callable[[str, str], WSGIApplication | None] = app.direct_route
        return route

    # --- connections ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting, and end the keep-alive connections that wait for a next request
        (those in a request finish it with ``Connection: close``): a graceful stop does not
        have to wait out their idle deadline."""
        self.stopping = True
        super().close()
        for conn in list(self.waiting):
            conn.interrupt_idle()

    def wrap_socket_and_handle(self, client_socket: Any, address: Any) -> Any:
        set_nodelay(client_socket)
        client_socket.settimeout(self.limits.head_timeout)  # bounds the TLS handshake
        try:
            return super().wrap_socket_and_handle(client_socket, address)
        except OSError as exc:  # a failed or timed-out handshake (ssl.SSLError included)
            logger.info("%s: TLS handshake failed: %s", address, exc)
            client_socket.close()
            return None

    def do_handle(self, sock: Any, address: Any) -> None:
        """gevent's, minus its ``handle(*args)`` (a C-level call): fewer C frames to save
        under each parked connection greenlet (see :func:`direct_call`)."""
        spawn = self._spawn
        try:
            if spawn is None:
                self._handle_and_close(sock, address)
            else:
                spawn(self._handle_and_close, sock, address)
        except BaseException:
            self.do_close(sock, address)
            raise

    def _handle_and_close(self, sock: Any, address: Any) -> None:
        detached = False
        try:
            detached = self._handle(sock, address) is True
        finally:
            if not detached:  # else a WebSocket outlives the request and closes it
                self.do_close(sock, address)

    def handle(self, sock: Any, address: Any) -> bool:
        """Serve one connection; True when a WebSocket outlives it (the socket stays open)."""
        if not self.ssl_enabled:
            set_nodelay(sock)
        return HTTPConnection(self, sock, address).run()

    # --- logging -------------------------------------------------------------------------------

    def log_request(
        self, address: Any, head: RequestHead | None, status: int, length: int, duration: float
    ) -> None:
        """One access line, pywsgi's format (``ip - - [date] "request line" status len s``)."""
        target = self.log
        if target is None:
            return
        if isinstance(target, logging.Logger) and not target.isEnabledFor(logging.INFO):
            return
        client = address[0] if isinstance(address, tuple) else address
        line = f"{head.method} {head.target} {head.protocol}" if head is not None else ""
        now = datetime.datetime.now().replace(microsecond=0)
        text = (
            f'{client or "-"} - - [{now}] "{_printable(line)}" {status} {length or "-"} '
            f"{duration:.6f}"
        )
        if isinstance(target, logging.Logger):
            target.info(text)
        elif hasattr(target, "write"):
            target.write(text + "\n")
        elif hasattr(target, "log"):
            target.log(logging.INFO, text)

    def log_error(self, address: Any, head: RequestHead | None) -> None:
        """The application raised: its traceback goes to ``error_log`` (never to the client)."""
        target = self.error_log
        what = f"{head.method} {_printable(head.target)}" if head is not None else "request"
        if target is None:
            return
        if isinstance(target, logging.Logger) or (
            not hasattr(target, "write") and hasattr(target, "log")
        ):
            target.log(
                logging.ERROR, "application error on %s from %s", what, address, exc_info=True
            )
        elif hasattr(target, "write"):
            target.write(f"application error on {what} from {address}\n")
            target.write(traceback.format_exc())


def _printable(text: str) -> str:
    """Client-chosen text for a log line (written to a file, not through a logger filter):
    control characters escaped, so a newline cannot forge a line."""
    return escape_control_chars(text)
