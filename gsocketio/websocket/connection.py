"""WebSocket (RFC 6455, RFC 7692) over the raw gevent socket of an upgraded WSGI request.

Framing is done by the sans-I/O protocol of the ``websockets`` library (its C speedups mask and
unmask payloads), with fast paths for plain data frames (below); this module moves bytes between
them and the socket.
``bench/ws_framing.py`` measured both under gevent (100 clients, 32-byte echo, server and load
generator on separate cores): websockets' protocol echoed ~1.6x as many messages/s as wsproto,
so wsproto is not used.

Where the raw socket comes from (keys of the WSGI environ):

``gsocketio.socket``
    Set by :class:`gsocketio.serve.SocketIOHandler`: the connection's gevent socket.
``gsocketio.rfile``
    Set by the same handler: its buffered reader. Bytes it read past the request head (a client
    that pipelines its first frames behind the handshake) are drained from it once, without
    blocking, and fed to the parser before the socket is read.
``gunicorn.socket``
    Set by gunicorn's gevent workers; used when ``gsocketio.socket`` is missing.
``gsocketio.websocket``
    Set by :func:`accept_websocket` to the :class:`WebSocket` once the 101 response is written:
    it tells the server not to write an HTTP response and to call :meth:`WebSocket.finish` and
    close the connection once the application returns.

Close semantics: ``receive()`` returns ``None`` as soon as the connection leaves the OPEN state
(peer close, protocol error, EOF, socket error, or our own ``close()``); ``close()`` never waits
for the peer: it sends the close frame and arms a timer that shuts the socket down after
``close_timeout`` seconds unless the closing handshake completed first. Every write must finish
within ``send_timeout`` or the connection is aborted, so a peer that stops reading cannot block a
sender (or ``close()``) forever. Incoming data is bounded by ``max_message_size`` plus one read.

Fast paths (profiled under the echo benchmark): frames are cut, decoded and built by
:mod:`gsocketio.websocket.framing` where websockets' protocol is not needed. ``send_nowait``
writes from the caller's greenlet when the socket buffer has room and nobody holds the write
lock; what it could not write stays, in order, in a backlog that the next blocking write
(``flush``, ``send``, ``close``) sends first. On gevent's plain TCP socket (not its TLS
``SSLSocket``, whose wrapped socket carries ciphertext) the wrapped non-blocking socket is used
directly, and after a short read the next read waits for readability first instead of failing
with ``EAGAIN`` (a syscall and an exception per message). Elsewhere ``send_nowait`` only frames,
and a writer greenlet does the (blocking) write.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Final

import gevent
import gevent.lock
import gevent.socket
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeaderValue
from websockets.exceptions import ProtocolError as WSProtocolError
from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import CloseCode
from websockets.http11 import Request
from websockets.protocol import Protocol, Side, State
from websockets.server import ServerProtocol

from gsocketio._logging import get_logger
from gsocketio.exceptions import WebSocketClosedError, WebSocketError, WebSocketHandshakeError
from gsocketio.websocket.framing import FrameReader, frame_message

__all__ = [
    "EXTRA_HEADERS_KEY",
    "GUNICORN_SOCKET_KEY",
    "RFILE_KEY",
    "SOCKET_KEY",
    "WEBSOCKET_KEY",
    "WebSocket",
    "accept_websocket",
    "is_websocket_request",
]

SOCKET_KEY: Final = "gsocketio.socket"
RFILE_KEY: Final = "gsocketio.rfile"
GUNICORN_SOCKET_KEY: Final = "gunicorn.socket"
WEBSOCKET_KEY: Final = "gsocketio.websocket"
EXTRA_HEADERS_KEY: Final = "gsocketio.extra_headers"
"""Environ key: ``(name, value)`` pairs :func:`accept_websocket` adds to its 101 response
(it writes the response on the raw socket, not through ``start_response``)."""

DEFAULT_CLOSE_TIMEOUT: Final = 5.0
DEFAULT_SEND_TIMEOUT: Final = 60.0
_RECV_SIZE: Final = 65536
_LINGER_RESET: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets

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
_frames_logger = get_logger("gsocketio.websocket.connection.frames")

Environ = MutableMapping[str, Any]


def is_websocket_request(environ: Environ) -> bool:
    """True when the client asks for a WebSocket upgrade (``Upgrade: websocket``).

    Only the intent is checked; :func:`accept_websocket` validates the rest, so a broken upgrade
    gets a 400 instead of being served as plain HTTP.
    """
    upgrade = environ.get("HTTP_UPGRADE")
    if not isinstance(upgrade, str):
        return False
    return any(token.strip().lower() == "websocket" for token in upgrade.split(","))


def accept_websocket(
    environ: Environ,
    *,
    max_message_size: int = 1_000_000,
    compression: bool = False,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
) -> WebSocket:
    """Validate the upgrade request, write the 101 response on the raw socket, return the socket.

    ``compression`` accepts permessage-deflate when the client offers it. Raises
    :class:`WebSocketHandshakeError` (answer HTTP 400) when the request is not a valid upgrade
    or no raw socket is available; nothing has been written to the client in that case.
    """
    if not is_websocket_request(environ):
        raise WebSocketHandshakeError("not a WebSocket upgrade request (no 'Upgrade: websocket')")
    if environ.get(WEBSOCKET_KEY) is not None:
        raise WebSocketHandshakeError("this request was already upgraded")
    sock = environ.get(SOCKET_KEY) or environ.get(GUNICORN_SOCKET_KEY)
    if sock is None:
        raise WebSocketHandshakeError(
            "no raw socket in the WSGI environ: serve with gsocketio.serve.SocketIOServer "
            "or a gunicorn gevent worker"
        )
    if environ.get("CONTENT_LENGTH", "0") not in ("", "0") or environ.get("HTTP_TRANSFER_ENCODING"):
        # A body would sit between the request head and the first frame.
        raise WebSocketHandshakeError("a WebSocket upgrade request must not carry a body")

    extensions: list[ServerExtensionFactory] | None = None
    if compression:
        extensions = list(enable_server_permessage_deflate(None))
    handshake = ServerProtocol(extensions=extensions, max_size=max_message_size, logger=logger)
    response = handshake.accept(_request_from_environ(environ))
    if response.status_code != 101:
        raise WebSocketHandshakeError(f"invalid WebSocket upgrade: {handshake.handshake_exc}")
    for name, value in environ.get(EXTRA_HEADERS_KEY, ()):  # sio.on_engine("headers", ...)
        response.headers[name] = value

    # ServerProtocol's parser expects to read the HTTP request itself; ours was parsed by the
    # WSGI server, so frames go through a fresh OPEN protocol with the negotiated extensions.
    protocol = Protocol(
        Side.SERVER, state=State.OPEN, max_size=max_message_size, logger=_frames_logger
    )
    protocol.extensions = handshake.extensions
    pending = _drain_buffered(environ.get(RFILE_KEY), sock)
    ws = WebSocket(
        sock,
        protocol,
        max_message_size=max_message_size,
        pending=pending,
        close_timeout=close_timeout,
        send_timeout=send_timeout,
    )
    environ[WEBSOCKET_KEY] = ws
    try:
        ws._write_raw(response.serialize())
    except WebSocketError as exc:  # the peer left: the socket is aborted, receive() gives None
        logger.debug("101 response not sent: %s", exc)
    return ws


def _request_from_environ(environ: Environ) -> Request:
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


def _drain_buffered(rfile: Any, sock: Any) -> bytes:
    """Return bytes the server's reader holds past the request head, without blocking.

    ``read1`` returns buffered bytes if there are any, else does one raw read, which a zero
    socket timeout turns into "nothing available" instead of a wait.
    """
    if rfile is None or not hasattr(rfile, "read1"):
        return b""
    previous = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        data = rfile.read1(_RECV_SIZE)
    except (BlockingIOError, InterruptedError):
        data = b""
    except OSError as exc:  # peer already gone: the first receive() sees EOF
        logger.debug("reading buffered bytes after the upgrade failed: %s", exc)
        data = b""
    finally:
        sock.settimeout(previous)
    return bytes(data) if data else b""


class _SendTimedOut(Exception):
    """Thrown into a writer by its send timer; never leaves this module."""


class WebSocket:
    """One accepted WebSocket connection: read from one greenlet, write from any number.

    ``close_code`` is ``None`` while open; afterwards the code of whoever closed first: the
    peer's code (1005 if its close frame had none), ours (``close()``, or 1002/1007/1009/1011 when
    we failed the connection on bad input), or 1006 when the TCP connection ended without any.
    """

    def __init__(
        self,
        sock: Any,
        protocol: Protocol,
        *,
        max_message_size: int | None = None,
        pending: bytes = b"",
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
    ) -> None:
        self._sock = sock
        self._protocol = protocol
        self._pending = pending
        self.close_timeout = close_timeout
        self.send_timeout = send_timeout
        self._write_lock = gevent.lock.Semaphore()
        self._read_lock = gevent.lock.Semaphore()
        # max_message_size must be the protocol's own limit (which still enforces it).
        limit = sys.maxsize if max_message_size is None else max_message_size
        self._reader = FrameReader(protocol, limit)
        self._messages = self._reader.messages
        self._aborted = False
        self._close_timer: gevent.Greenlet | None = None
        self._out: list[bytes | memoryview] = []  # framed, not yet written (the backlog)
        # Exactly gevent's plain socket: a subclass may wrap the stream (TLS: gevent's
        # SSLSocket), and then the wrapped socket carries ciphertext.
        self._gevent = type(sock) is gevent.socket.socket
        self._drained = False  # the last read found the socket's buffer empty
        # Reads may idle as long as the engine's ping/pong allows, so the socket has no timeout
        # (a server-set one would drop idle connections). One reusable timer bounds each write
        # that has to wait: a socket timeout would also arm a timer on every idle read.
        sock.settimeout(None)
        self._send_timer = (
            gevent.Timeout(send_timeout, _SendTimedOut) if send_timeout is not None else None
        )

    # --- state ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the connection failed."""
        return self._aborted or self._protocol.state is not State.OPEN

    @property
    def close_code(self) -> int | None:
        if not self.closed:
            return None
        p = self._protocol
        if p.close_sent is not None and not p.close_rcvd_then_sent:
            return int(p.close_sent.code)
        if p.close_rcvd is not None:
            return int(p.close_rcvd.code)
        return int(CloseCode.ABNORMAL_CLOSURE)

    @property
    def close_reason(self) -> str | None:
        if not self.closed:
            return None
        p = self._protocol
        if p.close_sent is not None and not p.close_rcvd_then_sent:
            return p.close_sent.reason
        if p.close_rcvd is not None:
            return p.close_rcvd.reason
        return ""

    @property
    def compressed(self) -> bool:
        """True when permessage-deflate was negotiated."""
        return bool(self._protocol.extensions)

    @property
    def backlog(self) -> bool:
        """True while framed messages wait to be written (see :meth:`send_nowait`)."""
        return bool(self._out)

    # --- reading -------------------------------------------------------------------------------

    def receive(self) -> str | bytes | None:
        """Next complete message (``str`` for text, ``bytes`` for binary); ``None`` once closed."""
        with self._read_lock:
            messages = self._messages
            while not messages:
                if self._aborted or self._protocol.state is not State.OPEN:
                    return None
                self._process(self._read())
            return messages.popleft()

    def _read(self) -> bytes:
        """Next bytes from the peer; ``b""`` on EOF or a socket error (both end the connection)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            return pending
        sock = self._sock
        try:
            if not self._gevent:
                data: bytes = sock.recv(_RECV_SIZE)
                return data
            # After a short read the buffer was empty: wait for more before asking, instead of
            # a read failing with EAGAIN (a syscall and an exception per message).
            if self._drained:
                event = sock._read_event
                if event is None:  # closed by another greenlet
                    return b""
                sock._wait(event)
            while True:
                try:
                    data = sock._sock.recv(_RECV_SIZE)
                    break
                except BlockingIOError:
                    event = sock._read_event
                    if event is None:
                        return b""
                    sock._wait(event)
        except OSError as exc:
            logger.debug("WebSocket read failed: %s", exc)
            return b""
        self._drained = len(data) < _RECV_SIZE
        return data

    def _process(self, data: bytes) -> None:
        """Feed bytes (``b""`` = EOF); queue complete messages; send control replies."""
        self._reader.feed(data)
        if self._protocol.state is State.CLOSED:
            self._cancel_close_timer()
        self._flush_quietly()

    # --- writing -------------------------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send one message: a text frame for ``str``, a binary frame for ``bytes``.

        Raises :class:`WebSocketClosedError` once closed, :class:`WebSocketError` when the
        write fails or times out (the connection is then aborted).
        """
        with self._write_lock:
            self._frame(data)
            self._send_pending()

    def send_many(self, items: Iterable[str | bytes]) -> None:
        """Send several messages with one write, never interleaved with other senders."""
        with self._write_lock:
            for data in items:
                self._frame(data)
            self._send_pending()

    def send_nowait(self, items: Iterable[str | bytes]) -> bool:
        """Frame ``items`` and write them without ever blocking the caller.

        True: everything (the backlog included) was written. False: some of it waits in the
        backlog (the socket buffer is full, another greenlet is writing, or the socket is not
        gevent's plain TCP socket); call :meth:`flush` from a greenlet that may block. Raises
        :class:`WebSocketClosedError` once closed, :class:`WebSocketError` when the socket
        failed (the connection is then aborted).
        """
        for data in items:
            self._frame(data)
        return self._write_nowait()

    def send_frames_nowait(self, frames: Iterable[bytes]) -> bool:
        """:meth:`send_nowait` for messages already framed with
        :func:`gsocketio.websocket.framing.frame_message` (shared by several connections).
        Only valid while :attr:`compressed` is False (``ValueError`` otherwise): extensions
        transform each frame."""
        p = self._protocol
        if self._aborted or p.state is not State.OPEN:
            raise WebSocketClosedError("the WebSocket is closed")
        if p.extensions:
            raise ValueError("pre-framed messages cannot go through an extension")
        self._out.extend(frames)
        return self._write_nowait()

    def _write_nowait(self) -> bool:
        if not self._gevent or self._write_lock.locked():
            return False
        out = self._out
        data_ = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        try:
            sent: int = self._sock._sock.send(data_)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            logger.debug("WebSocket write failed: %s", exc)
            self._abort()
            raise WebSocketError(f"send failed: {exc}") from exc
        if sent < len(data_):
            out.append(memoryview(data_)[sent:])
            return False
        return True

    def flush(self) -> None:
        """Write the backlog, blocking within ``send_timeout``; errors as :meth:`send`."""
        with self._write_lock:
            self._send_pending()

    def _frame(self, data: str | bytes) -> None:
        """Append one message frame to the backlog; raises once closed."""
        p = self._protocol
        if self._aborted or p.state is not State.OPEN:
            raise WebSocketClosedError("the WebSocket is closed")
        if not p.extensions:
            frame_message(self._out, data)
            return
        if isinstance(data, str):  # an extension (deflate) transforms frames: the protocol frames
            p.send_text(data.encode())
        else:
            p.send_binary(data)
        self._out.extend(p.data_to_send())

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; idempotent, never waits for the peer.

        The socket is shut down when the peer answers (seen by the reader) or after
        ``close_timeout`` seconds, whichever comes first.
        """
        with self._write_lock:
            if self.closed:
                return
            try:
                self._protocol.send_close(code, reason)
            except WSProtocolError as exc:
                raise WebSocketError(f"invalid close code {code}: {exc}") from exc
            try:
                self._send_pending()
            except WebSocketError:
                return  # the connection is gone already; nothing left to close
        if self._close_timer is None:
            self._close_timer = gevent.spawn_later(self.close_timeout, self._close_expired)

    def finish(self) -> None:
        """Complete the closing handshake (bounded by ``close_timeout``) and release the socket.

        Called by the server once the application returned; the caller closes the socket.
        """
        if not self.closed:
            try:
                self.close(CloseCode.NORMAL_CLOSURE)
            except WebSocketError as exc:
                logger.debug("closing the WebSocket failed: %s", exc)
        if self._read_lock.acquire(timeout=self.close_timeout):
            try:
                with gevent.Timeout(self.close_timeout, False):
                    while not self._aborted and self._protocol.state is not State.CLOSED:
                        self._process(self._read())
                        self._messages.clear()  # nobody reads them any more
            finally:
                self._read_lock.release()
        self._abort()

    def _send_pending(self) -> None:
        """Write the backlog, then what the protocol produced; caller holds the write lock."""
        out = self._out
        chunks: list[bytes | memoryview] = [*out, *self._protocol.data_to_send()]
        out.clear()
        if not chunks:
            return
        eof = not chunks[-1]
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if data:
            self._write_raw(data)
        if eof:
            self._shutdown(socket.SHUT_WR)

    def _write_raw(self, data: bytes | memoryview) -> None:
        """Write all of ``data`` within ``send_timeout``; caller holds the write lock."""
        if self._aborted:
            raise WebSocketClosedError("the WebSocket connection was aborted")
        sock = self._sock
        try:
            # Usually the socket buffer takes it all at once: no timer, no wait.
            sent = sock._sock.send(data) if self._gevent else 0
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            logger.debug("WebSocket write failed: %s", exc)
            self._abort()
            raise WebSocketError(f"send failed: {exc}") from exc
        if sent == len(data):
            return
        timer = self._send_timer
        if timer is not None:
            timer.start()
        try:
            sock.sendall(memoryview(data)[sent:])
        except _SendTimedOut as exc:
            logger.info("WebSocket send timed out after %s s; aborting", self.send_timeout)
            self._abort()
            raise WebSocketError("send timed out") from exc
        except OSError as exc:
            logger.debug("WebSocket write failed: %s", exc)
            self._abort()
            raise WebSocketError(f"send failed: {exc}") from exc
        finally:
            if timer is not None:
                timer.cancel()

    def _flush_quietly(self) -> None:
        """Send pongs/close replies from the reader; a failed write just ends the connection."""
        if not self._protocol.writes:
            return
        with self._write_lock:
            try:
                self._send_pending()
            except WebSocketError as exc:
                logger.debug("WebSocket control frame not sent: %s", exc)

    # --- teardown ------------------------------------------------------------------------------

    def _close_expired(self) -> None:
        self._close_timer = None
        if self._protocol.state is not State.CLOSED and not self._aborted:
            logger.debug("no closing handshake within %s s; shutting down", self.close_timeout)
            self._abort()

    def _cancel_close_timer(self) -> None:
        timer, self._close_timer = self._close_timer, None
        if timer is not None and timer is not gevent.getcurrent():
            timer.kill(block=False)

    def abort(self) -> None:
        """Drop the connection now, without a closing handshake: for a peer that stopped
        reading, whose socket a pending write (or a close frame) would wait on for
        ``send_timeout``. A blocked writer fails with :class:`WebSocketError`, the reader
        sees EOF; ``close_code`` is then 1006. The socket resets when closed (``SO_LINGER``
        0), so the kernel does not keep sending what the peer's full buffers hold."""
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError as exc:  # already closed, or not a TCP socket
            logger.debug("SO_LINGER not set: %s", exc)
        self._abort()

    def _abort(self) -> None:
        """Stop all I/O; wakes a blocked reader (it sees EOF)."""
        self._cancel_close_timer()
        if not self._aborted:
            self._aborted = True
            self._out.clear()
            self._shutdown(socket.SHUT_RDWR)

    def _shutdown(self, how: int) -> None:
        try:
            self._sock.shutdown(how)
        except OSError as exc:  # ENOTCONN: the peer is gone already
            logger.debug("WebSocket shutdown: %s", exc)
