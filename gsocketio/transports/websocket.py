"""WebSocket (RFC 6455, RFC 7692) over the raw gevent socket of an upgraded WSGI request.

Framing is done by the sans-I/O protocol of the ``websockets`` library (its C speedups mask and
unmask payloads); this module only moves bytes between that state machine and the socket.
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
"""

from __future__ import annotations

import codecs
import logging
import socket
from collections import deque
from collections.abc import Iterable, MutableMapping
from typing import Any, Final

import gevent
import gevent.lock
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeaderValue
from websockets.exceptions import ProtocolError as WSProtocolError
from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol, Side, State
from websockets.server import ServerProtocol

from gsocketio.exceptions import WebSocketClosedError, WebSocketError, WebSocketHandshakeError

__all__ = [
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

DEFAULT_CLOSE_TIMEOUT: Final = 5.0
DEFAULT_SEND_TIMEOUT: Final = 60.0
_RECV_SIZE: Final = 65536

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

logger = logging.getLogger("gsocketio.transports.websocket")
_frames_logger = logging.getLogger("gsocketio.transports.websocket.frames")
_utf8_decoder = codecs.getincrementaldecoder("utf-8")

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
        self._messages: deque[str | bytes] = deque()
        self._text_parts: list[str] = []
        self._binary_parts: list[bytes] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        self._aborted = False
        self._close_timer: gevent.Greenlet | None = None
        # Reads may idle as long as the engine's ping/pong allows, so the socket has no timeout
        # (a server-set one would drop idle connections). One reusable timer bounds each write:
        # a socket timeout would also arm a timer on every idle read, measurably slower.
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
        try:
            data: bytes = self._sock.recv(_RECV_SIZE)
        except OSError as exc:
            logger.debug("WebSocket read failed: %s", exc)
            return b""
        return data

    def _process(self, data: bytes) -> None:
        """Feed bytes (``b""`` = EOF) to the protocol; queue complete messages; send replies."""
        p = self._protocol
        if data:
            p.receive_data(data)
        else:
            p.receive_eof()
        for frame in p.events_received():
            if not isinstance(frame, Frame):  # a base Protocol only yields frames
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT:
                if frame.fin:  # the common case: one frame, one message
                    try:
                        self._messages.append(bytes(frame.data).decode())
                    except UnicodeDecodeError as exc:
                        self._fail_invalid_utf8(exc)
                        break
                    continue
                self._decoder = _utf8_decoder()
                self._text_parts = []
            elif opcode is Opcode.BINARY:
                if frame.fin:
                    self._messages.append(bytes(frame.data))
                    continue
                self._decoder = None
                self._binary_parts = []
            elif opcode is not Opcode.CONT:
                continue  # PING (the protocol queued the PONG), PONG, CLOSE
            if self._decoder is not None:
                # Decode fragment by fragment so invalid UTF-8 fails before the message ends.
                try:
                    self._text_parts.append(self._decoder.decode(bytes(frame.data), frame.fin))
                except UnicodeDecodeError as exc:
                    self._fail_invalid_utf8(exc)
                    break
                if frame.fin:
                    self._messages.append("".join(self._text_parts))
                    self._text_parts = []
                    self._decoder = None
            else:
                self._binary_parts.append(bytes(frame.data))
                if frame.fin:
                    self._messages.append(b"".join(self._binary_parts))
                    self._binary_parts = []
        if p.state is State.CLOSED:
            self._cancel_close_timer()
        self._flush_quietly()

    def _fail_invalid_utf8(self, exc: UnicodeDecodeError) -> None:
        self._text_parts = []
        self._decoder = None
        self._protocol.fail(CloseCode.INVALID_DATA, f"invalid UTF-8 at position {exc.start}")

    # --- writing -------------------------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send one message: a text frame for ``str``, a binary frame for ``bytes``.

        Raises :class:`WebSocketClosedError` once closed, :class:`WebSocketError` when the
        write fails or times out (the connection is then aborted).
        """
        with self._write_lock:
            p = self._protocol
            if self._aborted or p.state is not State.OPEN:
                raise WebSocketClosedError("the WebSocket is closed")
            if isinstance(data, str):
                p.send_text(data.encode())
            else:
                p.send_binary(data)
            self._send_pending()

    def send_many(self, items: Iterable[str | bytes]) -> None:
        """Send several messages with one write, never interleaved with other senders."""
        with self._write_lock:
            for data in items:
                self._queue_message(data)
            self._send_pending()

    def _queue_message(self, data: str | bytes) -> None:
        p = self._protocol
        if self._aborted or p.state is not State.OPEN:
            raise WebSocketClosedError("the WebSocket is closed")
        if isinstance(data, str):
            p.send_text(data.encode())
        else:
            p.send_binary(data)

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
        """Write what the protocol produced; caller holds the write lock."""
        chunks = self._protocol.data_to_send()
        if not chunks:
            return
        eof = not chunks[-1]
        data = b"".join(chunks)
        if data:
            self._write_raw(data)
        if eof:
            self._shutdown(socket.SHUT_WR)

    def _write_raw(self, data: bytes) -> None:
        """Write all of ``data`` within ``send_timeout``; caller holds the write lock."""
        if self._aborted:
            raise WebSocketClosedError("the WebSocket connection was aborted")
        timer = self._send_timer
        if timer is not None:
            timer.start()
        try:
            # One send() nearly always takes a whole frame and skips sendall()'s bookkeeping.
            sent = self._sock.send(data)
            if sent < len(data):
                self._sock.sendall(memoryview(data)[sent:])
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

    def _abort(self) -> None:
        """Stop all I/O; wakes a blocked reader (it sees EOF)."""
        self._cancel_close_timer()
        if not self._aborted:
            self._aborted = True
            self._shutdown(socket.SHUT_RDWR)

    def _shutdown(self, how: int) -> None:
        try:
            self._sock.shutdown(how)
        except OSError as exc:  # ENOTCONN: the peer is gone already
            logger.debug("WebSocket shutdown: %s", exc)
