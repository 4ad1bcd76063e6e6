"""WebSocket I/O of one Engine.IO connection: the reader loop, the probe/upgrade driver and the
one outbound path, ``take_outgoing()`` → :class:`~gsocketio.protocol.engineio.WsEncoder` →
:meth:`WebSocket.send_nowait`. Sends schedule a **flush**: one hub callback per loop iteration
(:class:`gsocketio.greenlets.FlushQueue`) writes every connection that got packets meanwhile,
without blocking, sharing the encoded message and frames of a broadcast across recipients
(no greenlet switch per ack, one ``send`` per socket per burst). Only when that cannot write
everything (a full socket buffer, a busy socket, TLS) or the session closed does a **writer
greenlet** (a recycled one) run: the only writer while it exists, it drains the socket's
backlog with blocking writes (packets queued meanwhile take the same outbound path into it)
and exits when both are empty.

**Handlers run inline on the reader** (:meth:`WebSocketIO.run_inline`, which the Socket.IO
layer's ``Client.spawn`` asks first): a handler that returns without blocking costs no greenlet
switch and no hub callback of its own. Should it block, the hub gets control, and a callback
queued before the call (one per loop iteration for every connection, :class:`_InlineRuns`)
makes a recycled greenlet the reader from then on, so the connection keeps being read
(pongs, acks the handler waits for, the next events) while the handler waits, exactly as if it
had been spawned. The greenlet it blocked on finishes the handler and leaves the reading to
its successor; the original reader (the request's greenlet) then waits for the connection to
end before it returns to the HTTP server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import gevent
from gevent.event import Event
from greenlet import getcurrent  # type: ignore[import-untyped]

from gsocketio._logging import get_logger
from gsocketio.exceptions import ProtocolError, SessionError, WebSocketError
from gsocketio.greenlets import POOL, FlushQueue
from gsocketio.protocol.engineio import WsEncoder
from gsocketio.protocol.engineio_session import ProbeReply, Upgraded, UpgradeFailed
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.websocket.framing import FrameCache
from gsocketio.websocket.parking import WOULD_BLOCK

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from gsocketio.engine.connection import EngineConnection
    from gsocketio.protocol.engineio_session import Session
    from gsocketio.websocket.parking import WouldBlock

__all__ = ["WebSocketIO", "WebSocketLike", "close_quietly"]


class WebSocketLike(Protocol):
    """What the engine uses of a :class:`gsocketio.websocket.WebSocket`. A protocol, not the
    class: code compiled by mypyc checks a concrete class at run time, and the engine's unit
    tests drive it with a scripted fake (tests/helpers/fakes.py)."""

    close_timeout: float
    linger: float

    @property
    def backlog(self) -> bool: ...
    @property
    def can_park(self) -> bool: ...
    @property
    def close_code(self) -> int | None: ...
    def receive(self) -> str | bytes | None: ...
    def receive_nowait(self) -> str | bytes | WouldBlock | None: ...
    def when_readable(self, callback: Callable[[], object]) -> None: ...
    def send_nowait(
        self, messages: Iterable[str | bytes], cache: FrameCache | None = None
    ) -> bool: ...
    def send(self, message: str | bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self, code: int = 1000, reason: str = "") -> None: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...
    def release(self) -> None: ...


log = get_logger("gsocketio.engine")

# WebSocket close codes that mean "the peer or the network ended it", not "it broke the rules".
_CLEAN_CLOSE_CODES = frozenset({1000, 1001, 1005, 1006})
# Seconds a detachable reader waits for the next bytes on its greenlet before it parks the
# connection without one: an active connection pays no spawn per message, an idle one no
# greenlet (issue #14, docs/benchmarks.md).
LINGER = 1.0


@dataclass(slots=True)
class _FlushShared:
    """What the connections flushed by one hub callback share: encoded messages (by the
    identity of their data) and their frames (by the identity of the message)."""

    messages: dict[int, tuple[str, str]] = field(default_factory=dict)
    frames: FrameCache = field(default_factory=FrameCache)


_FLUSHES = FlushQueue(_FlushShared)


class _Inline(Protocol):
    """What :class:`_InlineRuns` uses of a :class:`WebSocketIO` (a protocol: its test drives
    it with fakes, which a mypyc-compiled class would refuse)."""

    _in_handler: Any

    def _take_over(self, blocked: Any) -> None: ...


class _InlineRuns:
    """The handlers run inline on their readers in this loop iteration, and one hub callback
    per iteration (armed by the first run) that hands the reading of those still running,
    which blocked, to a new reader. A callback per run would make a gevent callback object
    per message that lives until the iteration ends: with thousands of connections per
    iteration they outlive young garbage collections and trigger full ones
    (docs/benchmarks.md, echo scaling). A run marks its connection (``_in_handler``, its
    greenlet) and clears the mark when it returns; the check always comes before a blocked
    run resumes (it was queued before the run started), so a mark it finds is a blocked run."""

    __slots__ = ("armed", "hub", "runs")

    def __init__(self) -> None:
        self.hub: Any = None  # the hub of the first run's thread
        self.armed = False
        self.runs: list[_Inline] = []  # since the last check, a connection once per run

    def enter(self, io: _Inline) -> bool:
        """Note a run starting on ``io``'s reader; False from another thread's hub (the
        caller arms a callback of its own). ``run_inline`` has the fast path inline."""
        hub = gevent.get_hub()
        if hub is not self.hub:
            if self.hub is not None:
                return False
            self.hub = hub
        if not self.armed:
            self.arm()
        self.runs.append(io)
        return True

    def arm(self) -> None:
        self.armed = True
        self.hub.loop.run_callback(self.check)

    def check(self) -> None:
        # From the hub: every connection still marked is blocked in a handler: taken over.
        self.armed = False
        runs, self.runs = self.runs, []
        for io in runs:
            blocked = io._in_handler
            if blocked is not None:
                io._in_handler = None
                io._take_over(blocked)


_INLINE = _InlineRuns()


class WebSocketIO:
    """The WebSocket transport (or upgrade probe) of one connection."""

    __slots__ = (
        "_conn",
        "_detached",
        "_encode",
        "_ended",
        "_flush_queued",
        "_flushed",
        "_in_handler",
        "_park",
        "_reader",
        "_session",
        "_writing",
        "ws",
    )

    def __init__(
        self, conn: EngineConnection, session: Session, ws: WebSocketLike, encode: WsEncoder
    ) -> None:
        self._conn = conn
        self._session = session
        self.ws = ws
        self._encode = encode
        self._writing = False  # a writer greenlet exists: only it writes to the WebSocket
        self._flush_queued = False  # flush() is scheduled (see wake)
        self._flushed: Event | None = None  # set when that writer ends (only while closing)
        self._reader: Any = None  # the greenlet reading now (see run_inline)
        self._in_handler: Any = None  # the reader, while it runs a handler inline
        self._ended: Event | None = None  # set once reading ended (a reader was taken over)
        self._park = False  # an idle connection waits with no greenlet (see run)
        self._detached = False  # the request's greenlet no longer reads: we close the socket

    @property
    def writing(self) -> bool:
        """True while a writer greenlet exists (tests watch it retire)."""
        return self._writing

    # --- TransportIO -----------------------------------------------------------------------

    def wake(self) -> None:
        if not self._writing and not self._flush_queued:
            self._flush_queued = True
            if not _FLUSHES.add(self):  # called from another thread's hub
                self.flush(_FlushShared())
        # else: a flush is due, or the writer takes the new packets after its current write

    def on_closed(self, reason: DisconnectReason) -> None:
        if reason is DisconnectReason.BUFFER_FULL:
            # The client stopped reading: nothing queued (not even CLOSE) reaches it in time,
            # and a writer blocked on its full socket would hold it for send_timeout.
            self.ws.abort()
        self.wake()  # a writer drains what is left and closes the socket

    def pending_delivery(self) -> bool:
        return False

    def abandon(self) -> None:
        gevent.spawn(close_quietly, self.ws)

    # --- writing ---------------------------------------------------------------------------

    def flush(self, shared: _FlushShared) -> None:
        """Write what the queue holds now, without blocking (from the hub); hand what is left
        (a full socket buffer, a busy socket, a closed session) to a writer greenlet."""
        self._flush_queued = False
        if self._writing:
            return
        try:
            done = self._send_queued(shared)
        except WebSocketError as exc:  # the socket is aborted; the reader sees it end too
            self._write_failed(exc, inline=False)
            return
        if done and not self._session.closed:
            return
        self._writing = True
        POOL.spawn(self._write_loop)

    def _send_queued(self, shared: _FlushShared | None) -> bool:
        """The one outbound path: ``take_outgoing`` → encode → ``send_nowait`` (never blocks).
        True when nothing is left to write; raises :class:`WebSocketError`."""
        packets = self._session.take_outgoing("websocket")
        if not packets:
            return not self.ws.backlog
        if shared is None:
            return self.ws.send_nowait(self._encode.many(packets))
        return self.ws.send_nowait(self._encode.many(packets, shared.messages), shared.frames)

    def _write_loop(self) -> None:
        """The only writer while ``_writing``: drain the backlog with blocking writes (and what
        is queued meanwhile) until both are empty; close the socket once the session is."""
        session, ws = self._session, self.ws
        try:
            while True:
                if ws.backlog:
                    ws.flush()  # blocks, bounded by the socket's send_timeout
                elif not session.has_outgoing("websocket") or self._send_queued(None):
                    break
        except WebSocketError as exc:
            self._write_failed(exc, inline=True)
        finally:
            self._writing = False
            if session.closed:
                close_quietly(ws)
            if self._flushed is not None:
                self._flushed.set()

    def _write_failed(self, exc: WebSocketError, inline: bool) -> None:
        log.debug("%s: websocket write failed: %s", self._conn.sid, exc)
        session = self._session
        if not session.closed:
            self._conn.process(session.close(DisconnectReason.TRANSPORT_ERROR, str(exc)), inline)

    def _stop_writer(self) -> None:
        """Let a running writer flush the last packets and close the socket (bounded wait)."""
        ws = self.ws
        if not self._writing:
            self._writing = True
            self._write_loop()  # nothing running: drain and close from here
            return
        flushed = self._flushed = Event()
        if not flushed.wait(ws.close_timeout):
            log.debug("%s: writer still blocked after %s s", self._conn.sid, ws.close_timeout)
            close_quietly(ws)

    # --- reading ---------------------------------------------------------------------------

    def run(self, detachable: bool = False) -> bool:
        """The reader: deliver every message in order until the WebSocket or session closes.

        ``detachable`` (the server lets the WebSocket outlive the request, and the socket is
        plain): once idle, the connection parks with no greenlet (its read watcher starts a
        recycled reader when bytes arrive), and this returns True at once: the WebSocket is
        detached from the request and closed by whichever reader ends it. Otherwise returns
        False once the connection ended, even when another greenlet took over the reading."""
        self._park = detachable and self.ws.can_park
        if self._park:
            self.ws.linger = LINGER
        if self._read() and not self._detached:
            return False
        if self._park:
            return True
        ended = self._ended
        if ended is not None:  # taken over (see run_inline): the last reader sets it
            ended.wait()
        return False

    def run_inline(self, fn: Callable[..., object], args: tuple[Any, ...]) -> bool:
        """Run ``fn(*args)`` here when called on the reader (False otherwise: spawn it). If it
        blocks, a new reader takes over from the hub (see the module docstring). It starts
        with an empty ``contextvars`` context, as a spawned handler does."""
        me = getcurrent()
        if me is not self._reader:
            return False
        takeover = None
        runs = _INLINE
        if runs.hub is gevent.get_hub():  # runs.enter(self), inline: the hot path
            if not runs.armed:
                runs.arm()
            runs.runs.append(self)
            self._in_handler = me
        elif runs.enter(self):  # the first run of all
            self._in_handler = me
        else:  # another thread's hub: a callback of its own
            takeover = gevent.get_hub().loop.run_callback(self._take_over, me)
        context, me.gr_context = me.gr_context, None
        try:
            fn(*args)
        finally:
            me.gr_context = context
            if takeover is not None:
                takeover.stop()
            elif self._in_handler is me:  # not taken over (a successor's mark stays)
                self._in_handler = None
        return True

    def _take_over(self, blocked: Any) -> None:
        # From the hub: the reader blocked in a handler; a fresh greenlet reads from now on.
        if self._reader is blocked:
            self._reader = None
            if self._park:
                self._detached = True
            elif self._ended is None:
                self._ended = Event()
            POOL.spawn(self._read)

    def _read(self) -> bool:
        """The read loop, on whichever greenlet is the reader; True when this greenlet read
        to the end (and closed) or parked the connection, False when a handler blocked it and
        a successor took over."""
        me = self._reader = getcurrent()
        conn, session, ws = self._conn, self._session, self.ws
        receive = ws.receive_nowait if self._park else ws.receive
        receive_frame = session.receive_frame
        engine_message = conn.handler.engine_message
        monotonic = time.monotonic
        try:
            while not session.closed:
                message = receive()
                if message is None:
                    break
                if message is WOULD_BLOCK:  # idle for LINGER: wait with no greenlet (see run)
                    self._reader = None
                    self._detached = True
                    ws.when_readable(self._readable)
                    return True
                try:
                    result = receive_frame(message, monotonic())  # type: ignore[arg-type]
                except ProtocolError as exc:
                    conn.fail(DisconnectReason.PARSE_ERROR, str(exc))
                    break
                if isinstance(result, str):  # the hot path: a text message, no event objects
                    try:
                        engine_message(conn, result)
                    except Exception:
                        log.exception("%s: engine_message failed", conn.sid)
                    if self._reader is not me:  # a handler blocked here: no longer the reader
                        return False
                else:
                    conn.process(result, inline=True)
                    conn.reschedule()  # a PONG may bring the next PING before the pong deadline
        finally:
            if self._reader is me:
                self._reader = None
                self._close_reading()
                if self._detached:  # the request is gone: this reader ends the socket
                    ws.finish()
                    ws.release()
        return True

    def _readable(self) -> None:
        # From the hub: a parked connection got bytes (or EOF): a recycled greenlet reads.
        POOL.spawn(self._read)

    def _close_reading(self) -> None:
        session, ws = self._session, self.ws
        try:
            if not session.closed:
                code = ws.close_code
                reason = (
                    DisconnectReason.TRANSPORT_CLOSE
                    if code is None or code in _CLEAN_CLOSE_CODES
                    else DisconnectReason.TRANSPORT_ERROR
                )
                self._conn.process(session.close(reason, f"websocket closed ({code})"), inline=True)
            self._stop_writer()
        finally:
            if self._ended is not None:
                self._ended.set()

    def run_probe(self) -> bool:
        """Drive the upgrade on this probe WebSocket; True once it became the transport."""
        conn, session, ws = self._conn, self._session, self.ws
        while True:
            message = ws.receive()
            if message is None or session.closed or not conn.is_probe(self):
                conn.end_probe(self, "probe transport closed")
                return False
            try:
                events = session.receive_probe(message, time.monotonic())
            except (ProtocolError, SessionError) as exc:
                log.debug("%s: bad probe: %s", conn.sid, exc)
                conn.end_probe(self, f"bad probe packet: {exc}")
                close_quietly(ws)
                return False
            for event in events:
                if type(event) is ProbeReply:
                    try:
                        ws.send(self._encode(event.packet))
                    except WebSocketError:
                        conn.end_probe(self, "probe write failed")
                        return False
                    _release_get(conn)  # a pending GET returns (NOOP) so the client pauses
                elif type(event) is Upgraded:
                    conn.attach(self)
                    _release_get(conn)  # a GET left on polling gets NOOP
                    return True
                elif type(event) is UpgradeFailed:
                    conn.end_probe(self, event.reason)
                    close_quietly(ws)
                    return False


def _release_get(conn: EngineConnection) -> None:
    if conn.polling is not None:
        conn.polling.wake()


def close_quietly(ws: WebSocketLike) -> None:
    """Start the closing handshake; a failure only means the peer is gone already."""
    try:
        ws.close()
    except WebSocketError as exc:
        log.debug("closing a websocket failed: %s", exc)
