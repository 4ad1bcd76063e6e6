"""Long-polling I/O of one Engine.IO connection: a GET waits (bounded) for packets, a POST is
read within ``max_http_buffer_size`` and fed to the session; the body codecs are
:func:`gsocketio.protocol.engineio.encode_poll` and the session's ``receive_post``. A second
concurrent GET or POST closes the session (400, empty body, as Node); a body over the limit
answers 413 and closes it; a malformed body answers 400 and closes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import gevent
from greenlet import getcurrent  # type: ignore[import-untyped]

from gsocketio._logging import get_logger
from gsocketio.engine.http import (
    BAD_REQUEST,
    choose_encoding,
    compress,
    respond,
    respond_error,
)
from gsocketio.exceptions import PayloadFormatError, ProtocolError
from gsocketio.protocol.engineio import Packet, PacketType, encode_poll
from gsocketio.protocol.engineio_session import Event, MessageReceived
from gsocketio.protocol.reasons import DisconnectReason

if TYPE_CHECKING:
    from gsocketio.engine.connection import EngineConnection
    from gsocketio.engine.server import Request
    from gsocketio.protocol.engineio_session import Session

__all__ = ["PollingIO", "one_text_message", "read_body"]

log = get_logger("gsocketio.engine")

_NOOP = Packet(PacketType.NOOP)
_READ_CHUNK = 65536


def one_text_message(
    body: bytes, eio: int, content_type: str, jsonp: bool, max_payload: int
) -> str | None:
    """The body as text when it is one v4 text MESSAGE packet (``4...`` in valid UTF-8, no
    ``\x1e``, a plain-text POST within ``max_payload`` bytes), which
    ``Session.receive_frame`` handles like ``receive_post`` would, without the payload
    decoder's Packet and generator; None for any other body (``receive_post`` decides).
    ``tests/protocol/test_fast_paths.py`` pins the two paths together."""
    if (
        eio != 4
        or jsonp
        or body[:1] != b"4"
        or len(body) < 2
        or len(body) > max_payload
        or content_type[:10] != "text/plain"
        or b"\x1e" in body
    ):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None  # refused by the general path, with its message


def read_body(environ: Mapping[str, Any], limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (nothing more is read)."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        if not (declared.isascii() and declared.isdigit()):  # int() takes "+5", " 5", "0_5"
            raise PayloadFormatError(f"bad Content-Length {declared!r}")
        length = int(declared)
        if length > limit:
            return None
        data: bytes = stream.read(length) if length > 0 else b""
        return data
    chunks: list[bytes] = []
    total = 0
    while True:  # chunked: bounded by limit + 1 bytes
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)


class PollingIO:
    """The long-polling transport of one connection (and, after an upgrade, the GET that may
    still be pending on it).

    A waiting GET parks its greenlet on the hub with one libev timer of its own (made once,
    restarted per wait) instead of a ``gevent.event.Event`` and the ``gevent.Timeout`` its
    timed wait creates each time (~10 Python calls). :meth:`wake` and the timer both reach the
    greenlet through a hub callback that checks it still waits here (``_waiter``), so a late
    wake-up can never switch into a greenlet that went on to wait for something else.
    """

    __slots__ = (
        "_conn",
        "_hub",
        "_session",
        "_timer",
        "_waiter",
        "_wake_pending",
        "get_active",
        "post_active",
    )

    def __init__(self, conn: EngineConnection, session: Session) -> None:
        self._conn = conn
        self._session = session
        self._hub: Any = gevent.get_hub()
        self._timer: Any = None  # the GET's deadline, made at the first wait
        self._waiter: Any = None  # the greenlet of the GET parked in _wait, if any
        self._wake_pending = False  # a _fire callback is scheduled
        self.get_active = False  # a GET is waiting for packets
        self.post_active = False

    # --- TransportIO -----------------------------------------------------------------------

    def wake(self) -> None:
        """Release a waiting GET (from any greenlet, or the hub); no-op when none waits (a GET
        looks at the queue before it waits)."""
        if self._waiter is not None and not self._wake_pending:
            self._wake_pending = True
            self._hub.loop.run_callback(self._fire)

    def on_closed(self, reason: DisconnectReason) -> None:
        self.wake()  # the pending GET returns what is left (CLOSE included)

    def _fire(self) -> None:  # in the hub
        self._wake_pending = False
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.switch(True)

    def _expire(self) -> None:  # in the hub: the timer
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.switch(False)

    def _wait(self, seconds: float) -> None:
        """Park this greenlet until :meth:`wake` or ``seconds`` passed."""
        timer = self._timer
        if timer is None:
            timer = self._timer = self._hub.loop.timer(seconds)
        self._waiter = getcurrent()
        timer.start(self._expire)
        try:
            self._hub.switch()
        finally:
            self._waiter = None
            timer.stop()

    def pending_delivery(self) -> bool:
        return not self.get_active and self._session.has_outgoing()

    def abandon(self) -> None:
        pass

    # --- requests --------------------------------------------------------------------------

    def get(self, req: Request) -> list[bytes]:
        """Serve a GET: wait (bounded by ``ping_interval + ping_timeout``) for packets."""
        session = self._session
        if self.get_active:
            self._conn.fail(DisconnectReason.TRANSPORT_ERROR, "overlapping GET")
            return respond(req.start_response, 400, req.headers)
        self.get_active = True
        try:
            if not session.closed and not session.has_outgoing("polling"):
                options = self._conn.options
                self._wait(options.ping_interval + options.ping_timeout)
            packets = session.take_outgoing("polling")
        finally:
            self.get_active = False
        if session.closed and self._conn.is_transport(self):
            self._conn.forget()
        return self.answer(req, packets or [_NOOP])

    def answer(self, req: Request, packets: Sequence[Packet]) -> list[bytes]:
        """The GET (or handshake) response carrying ``packets``."""
        conn = self._conn
        body, content_type, dropped = encode_poll(
            packets, eio=conn.eio, b64=conn.b64, jsonp_index=req.jsonp
        )
        if dropped:
            log.error("%s: dropped %d message(s) containing \\x1e (not sendable over v4 polling)",
                      conn.sid, dropped)  # fmt: skip
        headers = req.headers
        headers.append(("Content-Type", content_type))
        headers.append(("Cache-Control", "no-store"))
        options = conn.options
        if options.http_compression and len(body) >= options.compression_threshold:
            encoding = choose_encoding(req.environ.get("HTTP_ACCEPT_ENCODING"))
            if encoding is not None:
                body = compress(body, encoding)
                headers.append(("Content-Encoding", encoding))
                headers.append(("Vary", "Accept-Encoding"))
        return respond(req.start_response, 200, headers, body)

    def post(self, req: Request) -> list[bytes]:
        """Serve a POST: read the body (bounded) and feed its packets to the session, in order."""
        conn = self._conn
        if self.post_active:
            conn.fail(DisconnectReason.TRANSPORT_ERROR, "overlapping POST")
            return respond(req.start_response, 400, req.headers)
        self.post_active = True
        try:
            return self._post(conn, req)
        finally:
            self.post_active = False

    def _post(self, conn: EngineConnection, req: Request) -> list[bytes]:
        start_response, headers, environ = req.start_response, req.headers, req.environ
        limit = conn.options.max_http_buffer_size
        try:
            body = read_body(environ, limit)
        except ProtocolError as exc:
            conn.fail(DisconnectReason.TRANSPORT_ERROR, str(exc))
            return respond_error(start_response, BAD_REQUEST, headers)
        except OSError as exc:  # the client went away mid-body
            conn.fail(DisconnectReason.TRANSPORT_ERROR, f"POST body not received: {exc}")
            return respond(start_response, 400, headers)
        if body is None:
            conn.fail(DisconnectReason.TRANSPORT_ERROR, "POST body over max_http_buffer_size")
            headers.append(("Connection", "close"))
            return respond(start_response, 413, headers)
        session = self._session
        if not session.closed:
            try:
                content_type = environ.get("CONTENT_TYPE", "")
                jsonp = req.jsonp is not None
                text = one_text_message(body, conn.eio, content_type, jsonp, limit)
                if text is not None:  # the usual body: handled as a WebSocket text frame is
                    result = session.receive_frame(text, time.monotonic())
                    events: Iterable[Event] = (
                        [MessageReceived(result)] if isinstance(result, str) else result
                    )
                else:
                    events = session.receive_post(
                        body, content_type=content_type, jsonp=jsonp, now=time.monotonic()
                    )
            except ProtocolError as exc:
                log.info("%s: malformed payload: %s", conn.sid, exc)
                conn.fail(DisconnectReason.PARSE_ERROR, str(exc))
                return respond_error(start_response, BAD_REQUEST, headers)
            conn.process(events, inline=True)
            conn.reschedule()
        headers.append(("Content-Type", "text/html"))  # as upstream: no download dialog (GH-43)
        return respond(start_response, 200, headers, b"ok")
