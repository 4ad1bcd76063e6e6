"""WebSocket (RFC 6455, RFC 7692) over the raw gevent socket of an upgraded WSGI request:
websockets' sans-I/O protocol frames (with :mod:`gsocketio.websocket.framing`'s fast paths for
plain data frames), this module moves bytes between it and the socket. The raw socket comes
from the environ (:data:`SOCKET_KEY` from :mod:`gsocketio.http`, its buffered reader under
:data:`RFILE_KEY`; :data:`GUNICORN_SOCKET_KEY` from gunicorn's gevent workers);
:func:`accept_websocket` sets :data:`WEBSOCKET_KEY`: the server writes no HTTP response and
calls :meth:`WebSocket.finish` once the application returns."""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Any, Final

import gevent
import gevent.lock
from gevent.hub import get_hub
from greenlet import getcurrent  # type: ignore[import-untyped]
from websockets.exceptions import ProtocolError as WSProtocolError
from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import CloseCode
from websockets.protocol import Protocol, Side, State
from websockets.server import ServerProtocol

from gsocketio._logging import get_logger
from gsocketio.exceptions import WebSocketClosedError, WebSocketError, WebSocketHandshakeError
from gsocketio.websocket import _gevent_io
from gsocketio.websocket.framing import SEEN, SHARE_FROM, FrameCache, FrameReader, frame_message
from gsocketio.websocket.handshake import (
    DETACH_KEY,
    GUNICORN_SOCKET_KEY,
    RFILE_KEY,
    SOCKET_KEY,
    TAKEN_KEY,
    WEBSOCKET_KEY,
    Environ,
    drain_buffered,
    is_websocket_request,
    request_from_environ,
)
from gsocketio.websocket.parking import WOULD_BLOCK, Parking, WouldBlock

__all__ = [
    "DETACH_KEY",
    "GUNICORN_SOCKET_KEY",
    "RFILE_KEY",
    "SOCKET_KEY",
    "TAKEN_KEY",
    "WEBSOCKET_KEY",
    "WOULD_BLOCK",
    "WebSocket",
    "WouldBlock",
    "accept_websocket",
    "is_websocket_request",
]


DEFAULT_CLOSE_TIMEOUT: Final = 5.0
DEFAULT_SEND_TIMEOUT: Final = 60.0
_RECV_SIZE: Final = 65536
# Fairness: a reader that keeps finding data yields to the hub after this many messages or
# bytes, so a few flooding peers cannot hold the loop (and every other client) for the flood.
MAX_BURST_MESSAGES: Final = 128
MAX_BURST_BYTES: Final = 256 * 1024
_LINGER_RESET: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets

logger = get_logger("gsocketio.websocket.connection")
_frames_logger = get_logger("gsocketio.websocket.connection.frames")


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
    response = handshake.accept(request_from_environ(environ))
    if response.status_code != 101:
        raise WebSocketHandshakeError(f"invalid WebSocket upgrade: {handshake.handshake_exc}")
    response.headers.update(environ.get("gsocketio.extra_headers", ()))  # engine/hooks.py

    # ServerProtocol's parser expects to read the HTTP request itself; ours was parsed by the
    # WSGI server, so frames go through a fresh OPEN protocol with the negotiated extensions.
    protocol = Protocol(
        Side.SERVER, state=State.OPEN, max_size=max_message_size, logger=_frames_logger
    )
    protocol.extensions = handshake.extensions
    pending = drain_buffered(environ.get(RFILE_KEY), sock, _RECV_SIZE)
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
        with ws._write_lock:
            ws._write(response.serialize(), block=True)
    except WebSocketError as exc:  # the peer left: the socket is aborted, receive() gives None
        logger.debug("101 response not sent: %s", exc)
    return ws


class _SendTimedOut(Exception):
    """Thrown into a writer by its send timer; never leaves this module."""


class WebSocket(Parking):
    """One accepted WebSocket connection: read from one greenlet, write from any number.

    ``receive()`` returns ``None`` as soon as the connection leaves the OPEN state (peer close,
    protocol error, EOF, socket error, our own ``close()``). ``close()`` never waits for the
    peer: it sends the close frame and shuts the socket down after ``close_timeout`` unless the
    closing handshake completed first. Every blocking write finishes within ``send_timeout`` or
    the connection is aborted. ``send_nowait`` writes from the caller's greenlet when the socket
    has room and nobody holds the write lock; what it could not write waits, in order, in a
    backlog that the next blocking write (``flush``, ``close``) sends first. ``close_code`` is
    ``None`` while open; then the code of whoever closed first (the peer's, 1005 if its close
    frame had none; ours; 1002/1007/1009/1011 when we failed the connection), or 1006.
    """

    __slots__ = (
        "_aborted",
        "_close_timer",
        "_messages",
        "_out",
        "_protocol",
        "_read_lock",
        "_reader",
        "_send_timer",
        "_taken",
        "_write_lock",
        "close_timeout",
        "linger",
        "send_timeout",
    )

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
        self._taken = 0  # messages[:_taken] were returned by receive()
        self._wake: Callable[[], object] | None = None  # see when_readable
        self.linger = 0.0  # see receive_nowait
        self._aborted = False
        self._close_timer: gevent.Greenlet | None = None
        self._out: list[bytes | memoryview] = []  # framed, not yet written (the backlog)
        self._plain_io = _gevent_io.PlainIO(sock) if _gevent_io.is_plain(sock) else None
        self._drained = False  # the last read found the socket's buffer empty
        self._burst_messages = 0  # messages and bytes since the reader last waited or yielded
        self._burst_bytes = 0
        # Reads may idle as long as the engine's ping/pong allows, so the socket has no timeout
        # (a server-set one would drop idle connections). One reusable timer bounds each write
        # that has to wait (a socket timeout would also arm a timer on every idle read); most
        # connections never wait, so it is made on the first write that does.
        sock.settimeout(None)
        self._send_timer: Any = None  # a bare libev timer, made by the first write that waits

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the connection failed."""
        return self._aborted or self._protocol._state is not State.OPEN

    @property
    def close_code(self) -> int | None:
        info = self._close_info()
        return None if info is None else info[0]

    @property
    def close_reason(self) -> str | None:
        info = self._close_info()
        return None if info is None else info[1]

    def _close_info(self) -> tuple[int, str] | None:
        if not self.closed:
            return None
        p = self._protocol
        if p.close_sent is not None and not p.close_rcvd_then_sent:
            return int(p.close_sent.code), p.close_sent.reason
        if p.close_rcvd is not None:
            return int(p.close_rcvd.code), p.close_rcvd.reason
        return int(CloseCode.ABNORMAL_CLOSURE), ""

    @property
    def compressed(self) -> bool:
        """True when permessage-deflate was negotiated."""
        return bool(self._protocol.extensions)

    @property
    def backlog(self) -> bool:
        """True while framed messages wait to be written (see :meth:`send_nowait`)."""
        return bool(self._out)

    def receive(self) -> str | bytes | None:
        """Next complete message (``str`` for text, ``bytes`` for binary); ``None`` once closed.

        A reader that keeps finding data yields to the hub every :data:`MAX_BURST_MESSAGES`
        messages or :data:`MAX_BURST_BYTES` bytes (fairness; no switch otherwise)."""
        lock = self._read_lock  # not `with`: its bound __exit__ would live through the wait
        lock.acquire()
        try:
            return self._next(True)  # type: ignore[return-value]  # blocking: never WOULD_BLOCK
        finally:
            lock.release()

    def receive_nowait(self) -> str | bytes | WouldBlock | None:
        """As :meth:`receive`, but :data:`WOULD_BLOCK` once no bytes came for :attr:`linger`
        seconds (0: at once); then :meth:`when_readable` parks the connection without a
        greenlet (needs :attr:`can_park`)."""
        lock = self._read_lock  # as in receive (see docs/benchmarks.md, GC and scaling)
        lock.acquire()
        try:
            return self._next(False)
        finally:
            lock.release()

    def _next(self, block: bool) -> str | bytes | WouldBlock | None:
        messages = self._messages
        taken = self._taken
        while taken == len(messages):  # all taken (cleared below): read more
            if self._aborted or self._protocol._state is not State.OPEN:
                return None
            data = self._read() if block else self._read_nowait()
            if data is None:
                if self.linger and self.wait_readable(self.linger):
                    continue  # bytes came while this greenlet waited
                return WOULD_BLOCK
            self._process(data)
        message = messages[taken]
        if taken + 1 == len(messages):  # the last one: an idle connection holds none
            messages.clear()
            self._taken = 0
        else:
            self._taken = taken + 1
        self._burst_messages += 1
        if self._burst_messages >= MAX_BURST_MESSAGES or self._burst_bytes >= MAX_BURST_BYTES:
            self._burst_messages = self._burst_bytes = 0
            gevent.sleep(0)
        return message

    def _read(self) -> bytes:
        """Next bytes from the peer; ``b""`` on EOF or a socket error (both end the connection)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            return pending
        try:
            if (plain := self._plain_io) is not None:
                if self._drained:  # the reader waits (and lets others run): a new burst
                    self._burst_messages = self._burst_bytes = 0
                data = plain.recv(_RECV_SIZE, self._drained)
            else:
                data = self._sock.recv(_RECV_SIZE)
        except OSError as exc:
            logger.debug("WebSocket read failed: %s", exc)
            return b""
        self._drained = len(data) < _RECV_SIZE
        self._burst_bytes += len(data)
        return data

    def _process(self, data: bytes) -> None:
        """Feed bytes (``b""`` = EOF); queue complete messages; send control replies."""
        self._reader.feed(data)
        if self._protocol._state is State.CLOSED:
            self._cancel_close_timer()
        if self._protocol.writes:  # pongs, close replies: a failed write just ends it
            with self._write_lock:
                try:
                    self._send_pending()
                except WebSocketError as exc:
                    logger.debug("WebSocket control frame not sent: %s", exc)

    def send_nowait(self, messages: Iterable[str | bytes], cache: FrameCache | None = None) -> bool:
        """Frame ``messages`` (``str``: text, ``bytes``: binary) and write them without blocking.

        ``cache`` (one per flush, shared by connections) frames a text message object once.
        True: everything, the backlog included, was written. False: some of it waits in the
        backlog (a full socket buffer, another greenlet writing, a TLS socket): call
        :meth:`flush` from a greenlet that may block. Raises :class:`WebSocketClosedError`
        once closed, :class:`WebSocketError` when the socket failed (it is then aborted).
        """
        p = self._protocol
        if self._aborted or p._state is not State.OPEN:  # _state: no property call
            raise WebSocketClosedError("the WebSocket is closed")
        out = self._out
        if p.extensions:  # an extension (deflate) transforms frames: the protocol frames
            for data in messages:
                if isinstance(data, str):
                    p.send_text(data.encode())
                else:
                    p.send_binary(data)
            out.extend(p.data_to_send())
        elif cache is not None:  # inline: this loop runs once per message and recipient
            cached = cache.get
            for data in messages:
                if type(data) is not str:
                    frame_message(out, data)
                elif (hit := cached(id(data))) is not None and hit[1]:  # not SEEN
                    out += hit[1]
                elif hit is None and len(data) >= SHARE_FROM:  # see FrameCache
                    cache[id(data)] = SEEN
                    frame_message(out, data)
                else:
                    chunks: list[bytes] = []
                    frame_message(chunks, data)
                    cache[id(data)] = (data, chunks)  # holds data: its id stays unique
                    out += chunks
        else:
            for data in messages:
                frame_message(out, data)
        if self._plain_io is None or self._write_lock.locked():
            return False
        data_ = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return self._write(data_, block=False)

    def send(self, message: str | bytes) -> None:
        """Send one message, blocking within ``send_timeout``; errors as :meth:`send_nowait`."""
        if not self.send_nowait((message,)):
            self.flush()

    def flush(self) -> None:
        """Write the backlog, blocking within ``send_timeout``; errors as :meth:`send_nowait`."""
        with self._write_lock:
            self._send_pending()

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
            self._write(data, block=True)
        if eof:
            self._shutdown(socket.SHUT_WR)

    def _write(self, data: bytes | memoryview, *, block: bool) -> bool:
        """Write ``data``: all of it within ``send_timeout`` (``block``; the caller holds the
        write lock), or what the socket takes now, the rest going to the backlog. Any failure
        aborts the connection and raises :class:`WebSocketError`."""
        if self._aborted:
            raise WebSocketClosedError("the WebSocket connection was aborted")
        timer = None
        try:
            # Usually the socket buffer takes it all at once: no timer, no wait.
            sent = plain.send_some(data) if (plain := self._plain_io) is not None else 0
            if sent == len(data):
                return True
            if not block:
                self._out.append(memoryview(data)[sent:])
                return False
            timer = self._send_timer
            if timer is None and self.send_timeout is not None:
                timer = self._send_timer = _gevent_io.repeating_timer(get_hub(), self.send_timeout)
            if timer is not None:  # each wait gets all of send_timeout (see restart)
                _gevent_io.restart(timer, getcurrent().throw, _SendTimedOut)
            self._sock.sendall(memoryview(data)[sent:])
            return True
        # a name of its own: compiled by mypyc, a name bound by `except <native class>` keeps
        # that type, and the OSError below would fail its check
        except _SendTimedOut as timed_out:
            logger.info("WebSocket send timed out after %s s; aborting", self.send_timeout)
            self._abort()
            raise WebSocketError("send timed out") from timed_out
        except OSError as exc:
            logger.debug("WebSocket write failed: %s", exc)
            self._abort()
            raise WebSocketError(f"send failed: {exc}") from exc
        finally:
            if timer is not None:
                timer.stop()

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
                        self._taken = 0
            finally:
                self._read_lock.release()
        self._abort()

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
