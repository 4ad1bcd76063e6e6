"""One client connection: heads in, WSGI application, responses out, until it must close.

Requests are answered strictly in order, one at a time: the next head is parsed only after
the previous response was sent, so pipelined requests wait in the receive buffer (bounded by
one read past a head) and are never run concurrently. Between two requests already buffered the
greenlet yields to the hub, so one client pipelining thousands of requests (or sending a body
in 1-byte chunks) shares the process with everyone else. Deadlines: a whole head within
``head_timeout`` of the previous response (or of the accept), a whole body within
``body_timeout`` (see :mod:`gsocketio.http.body`), a whole response within ``send_timeout``.

WebSocket hand-over (the contract of :mod:`gsocketio.websocket.connection`): the environ
carries the raw socket and a reader whose ``read1`` returns the bytes already received past the
head; when the application accepted a WebSocket (the environ's ``gsocketio.websocket`` key),
no HTTP response is written, :meth:`WebSocket.finish` completes the closing handshake once the
application returned, and the connection closes.
"""

from __future__ import annotations

import io
import socket
import time
from typing import TYPE_CHECKING, Any

import gevent
import gevent.socket
from greenlet import getcurrent  # type: ignore[import-untyped]

from gsocketio._logging import get_logger
from gsocketio.exceptions import HTTPBodyError, HTTPRequestError
from gsocketio.http.body import RequestBody
from gsocketio.http.environ import build_environ, lean_environ, split_target
from gsocketio.http.parser import HeadParser, RequestHead
from gsocketio.http.response import Response, simple_response
from gsocketio.protocol._mypyc import mypyc_attr
from gsocketio.websocket.connection import (
    DETACH_KEY,
    RFILE_KEY,
    SOCKET_KEY,
    TAKEN_KEY,
    WEBSOCKET_KEY,
    WebSocket,
)

if TYPE_CHECKING:
    from gsocketio.http.server import WSGIServer

__all__ = ["HTTPConnection"]

logger = get_logger("gsocketio.http")

_RECV_SIZE = 65536
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_YIELD_EVERY = 8  # receives of one body between two yields to the hub
_LINGER_TIME = 1.0  # seconds, and bytes, a closing connection drains its unread input for
_LINGER_BYTES = 1 << 20
_DIRECT_METHODS = frozenset({"GET", "POST"})


@mypyc_attr(native_class=False)  # mypyc compiles no native subclass of OSError
class _ClientGone(OSError):
    """A write to the client failed (reset, broken pipe, send timeout); never leaves this
    module. Distinct from an ``OSError`` the application raises itself, which is its bug (500)."""


class _Buffered:
    """The ``read1`` the WebSocket hand-over drains: bytes received past the head."""

    __slots__ = ("_conn",)

    def __init__(self, conn: HTTPConnection) -> None:
        self._conn = conn

    def read1(self, size: int = -1) -> bytes:
        buf = self._conn.buf
        n = len(buf) if size < 0 else min(size, len(buf))
        data = bytes(buf[:n])
        del buf[:n]
        return data


class HTTPConnection:
    """Serves the requests of one accepted socket (:meth:`run`, in its own greenlet)."""

    __slots__ = (
        "_buffered",
        "_detached",
        "_fills",
        "_hub",
        "_parser",
        "_raw",
        "address",
        "buf",
        "server",
        "sock",
    )

    def __init__(self, server: WSGIServer, sock: Any, address: Any) -> None:
        self.server = server
        self.sock = sock
        self.address = address
        self.buf = bytearray()
        self._parser = HeadParser(server.limits)
        self._fills = 0
        self._buffered = _Buffered(self)
        self._detached = False  # a WebSocket went on without this connection (DETACH_KEY)
        # gevent's plain TCP socket wraps a non-blocking one: a response that fits the socket
        # buffer (nearly all) is written with one send(), without sendall's timeout machinery.
        # Not for TLS (gevent's SSLSocket), whose wrapped socket carries ciphertext.
        self._raw = sock._sock if type(sock) is gevent.socket.socket else None
        self._hub: Any = sock.hub if self._raw is not None else None

    # --- the I/O a body and a response need -------------------------------------------------

    def fill(self, deadline: float | None) -> bool:
        """Receive into :attr:`buf`; False on EOF; ``TimeoutError`` once ``deadline`` passed."""
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError("deadline passed")
        raw = self._raw
        if raw is None:  # TLS: gevent's socket does the waiting
            sock = self.sock
            sock.settimeout(None if deadline is None else deadline - time.monotonic())
            data = sock.recv(_RECV_SIZE)
        else:
            while True:
                try:
                    data = raw.recv(_RECV_SIZE)
                    break
                except BlockingIOError:
                    self._wait_readable(deadline)
        if not data:
            return False
        self.buf += data
        self._fills += 1
        if self._fills % _YIELD_EVERY == 0:
            gevent.sleep(0)  # a client streaming as fast as it can shares the hub
        return True

    def _wait_readable(self, deadline: float | None) -> None:
        """Park until the plain socket is readable; ``TimeoutError`` once ``deadline`` passed.

        gevent's own ``recv`` with a timeout makes a ``gevent.Timeout`` per wait (~10 Python
        calls); this waits on the socket's read watcher (so a close by another greenlet still
        throws into it, as gevent's ``cancel_wait`` expects) and a bare libev timer."""
        sock = self.sock
        event = sock._read_event
        if event is None:  # closed by another greenlet
            raise ConnectionAbortedError("socket closed")
        if event.callback is not None:  # another greenlet reads: gevent raises its error
            sock._wait(event)
        switch = getcurrent().switch
        timer = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed")
            timer = self._hub.loop.timer(left)
            timer.start(switch, False)
        event.start(switch, True)
        try:
            came = self._hub.switch()
        finally:
            event.stop()
            if timer is not None:
                timer.close()
        if came is False:
            raise TimeoutError("deadline passed")

    def send(self, data: bytes) -> None:
        try:
            raw = self._raw
            if raw is not None:
                try:
                    sent = raw.send(data)
                except BlockingIOError:
                    sent = 0
                if sent == len(data):
                    return
                data = memoryview(data)[sent:]  # type: ignore[assignment]
            self.sock.settimeout(self.server.limits.send_timeout)
            self.sock.sendall(data)
        except OSError as exc:
            raise _ClientGone(f"send failed: {exc}") from exc

    def send_continue(self) -> None:
        self.send(_CONTINUE)

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> bool:
        """Serve until the connection closes; True when a WebSocket went on without it (the
        socket is then the WebSocket's to close)."""
        try:
            pipelined = 0
            while True:
                head = self._read_head()
                if head is None:
                    return False
                if not self._serve(head, pipelined >= self.server.limits.max_pipelined):
                    return self._detached
                if self.buf:  # the client sent the next request before this response
                    pipelined += 1
                    gevent.sleep(0)
                else:
                    pipelined = 0
        except OSError as exc:  # reset, broken pipe, send timeout: the client is gone
            logger.debug("%s: connection ended: %s", self.address, exc)
            return False
        finally:
            if not self._detached:
                self._close()

    def _read_head(self) -> RequestHead | None:
        """The next request head; None when the connection should just close."""
        limits = self.server.limits
        timeout = limits.head_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        parser = self._parser
        waiting = self.server.waiting
        try:
            while True:
                if self.buf:
                    head = parser.parse(self.buf)
                    if head is not None:
                        return head
                elif self.server.stopping:
                    return None  # stopping: no new request on this connection
                waiting.add(self)
                try:
                    if not self.fill(deadline):
                        return None  # EOF: idle close, or a client that gave up mid-head
                finally:
                    waiting.discard(self)
        except HTTPRequestError as exc:
            logger.info("%s: refused request: %s", self.address, exc)
            self._answer(exc.status)
            return None
        except TimeoutError:
            if parser.started or self.buf:
                logger.info("%s: request head not received within %s s", self.address, timeout)
                self._answer(408)
            return None

    def interrupt_idle(self) -> None:
        """The server is stopping: end this connection if no request has begun on it."""
        if not self.buf and not self._parser.started:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                logger.debug("%s: shutdown: %s", self.address, exc)

    def _answer(self, status: int) -> None:
        try:
            self.send(simple_response(status))
        except OSError as exc:
            logger.debug("%s: %d not sent: %s", self.address, status, exc)
        self.server.log_request(self.address, None, status, 0, 0.0)

    def _serve(self, head: RequestHead, last: bool) -> bool:
        """Run the application for ``head``; True when the connection stays open."""
        server = self.server
        limits = server.limits
        started = time.monotonic() if server.log is not None else 0.0  # for the access log
        body = RequestBody(self, limits, head.content_length, head.chunked, head.expect_continue)
        environ = None
        application = server.call_application
        route = server.direct_route
        if route is not None and head.method in _DIRECT_METHODS and not head.upgrade:
            path, query = split_target(head.target)
            direct = route(path, query)
            if direct is not None:
                environ = lean_environ(server.lean_environ, head, path, query, body)
                application = direct
        if environ is None:
            environ = build_environ(server.environ, head, self.address, body)
            head.headers.clear()  # in the environ now, else held as long as a WebSocket
            environ[SOCKET_KEY] = self.sock
            environ[RFILE_KEY] = self._buffered
            environ[DETACH_KEY] = False  # a WebSocket may outlive this request
            application = server.call_application
        close = last or not head.keep_alive or server.stopping
        response = Response(self, head.version, head.method, close, server.keepalive_hint)
        result: Any = None
        try:
            general = application is server.call_application
            # the direct route: an answer of the engine's, and never an upgrade
            start = response.start_response if general else response.start_trusted
            result = application(environ, start)
            ws = environ.get(WEBSOCKET_KEY) if general else None
            if isinstance(ws, WebSocket):
                self._close_result(result)
                result = None
                if environ.get(DETACH_KEY):  # its reader finishes it and closes the socket
                    self._detached = True
                    # The environ outlives the request: it must not keep this connection.
                    environ[RFILE_KEY] = None
                    environ["wsgi.input"] = io.BytesIO()
                else:
                    ws.finish()
                server.log_request(self.address, head, 101, 0, time.monotonic() - started)
                return False
            if environ.get(TAKEN_KEY):  # piped to another process, which answered
                self._close_result(result)
                result = None
                server.log_request(self.address, head, 101, 0, time.monotonic() - started)
                return False
            if not body.done and not response.headers_sent:
                # Decide before the head goes out, so that it can say Connection: close.
                unread = body.unread
                if (
                    body.failed
                    or body.continue_pending
                    or unread is None
                    or unread > limits.max_discard
                ):
                    response.close = True
            response.send_result(result)
        except HTTPBodyError as exc:
            logger.info("%s: %s", self.address, exc)
            if not response.headers_sent:
                self._answer(400)
            return False
        except _ClientGone:
            raise  # nothing can be answered
        except Exception:  # noqa: BLE001  # the application failed: a 500, never a traceback
            server.log_error(self.address, head)
            ws = environ.get(WEBSOCKET_KEY)
            if isinstance(ws, WebSocket):  # the connection speaks WebSocket: no HTTP 500
                ws.finish()
            elif not response.headers_sent:
                self.send(simple_response(500))
                server.log_request(self.address, head, 500, 0, time.monotonic() - started)
            return False
        finally:
            if result is not None and type(result) is not list:  # a list has no close()
                self._close_result(result)
        if server.log is not None:  # the access log is off in most deployments behind a proxy
            server.log_request(
                self.address, head, response.code, response.sent, time.monotonic() - started
            )
        if response.close:
            return False
        return body.done or body.discard(limits.max_discard)

    @staticmethod
    def _close_result(result: Any) -> None:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # an application's close() must not kill us
                logger.exception("the application's result.close() failed")

    def _close(self) -> None:
        """Half-close, then drain briefly before closing: closing a socket that still holds
        unread input makes the kernel reset the connection, and a reset can destroy the last
        response (a 400, a 413) before the client read it."""
        sock = self.sock
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _LINGER_TIME
            drained = 0
            while drained < _LINGER_BYTES:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                data = sock.recv(_RECV_SIZE)
                if not data:
                    break
                drained += len(data)
        except OSError as exc:  # already reset or shut down (a finished WebSocket)
            logger.debug("%s: shutdown: %s", self.address, exc)
        finally:
            sock.close()
