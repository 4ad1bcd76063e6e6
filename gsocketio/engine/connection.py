"""One Engine.IO connection: the I/O around a :class:`gsocketio.protocol.engineio_session.Session`.

Who runs what (one writer at a time per connection, ``send`` never blocks the caller):

* ``send``/``send_many``/``close`` queue into the session and schedule a **flush**: one hub
  callback per loop iteration (:class:`gsocketio.greenlets.FlushQueue`) writes the queue of
  every connection that got packets meanwhile, with one non-blocking write each
  (:meth:`WebSocket.send_nowait`): an ack costs no greenlet switch, a burst of broadcasts one
  ``send`` per socket. Only when that cannot write everything (a full socket buffer, another
  greenlet holding the socket's write lock, a TLS socket) or the session closed does a
  **writer greenlet** run (a recycled one, :data:`gsocketio.greenlets.POOL`); while it exists it
  is the only writer: it flushes the socket's backlog, then drains the queue with blocking
  writes, and exits when both are empty. Profiled under the echo benchmark, waking a parked
  writer greenlet per message (an Event, two switches, a timer armed per write) cost ~18 us
  per ack; writing from the handler's greenlet instead cost one ``send`` per message, which
  halved broadcast throughput. On polling, the **pending GET** is woken and returns the queue
  as a payload.
* Incoming packets are handled by the **reader**: the WebSocket request greenlet, or the POST
  request greenlet; ``EngineHandler.engine_message`` is called there, in order. A text MESSAGE
  on a WebSocket skips the packet and event objects (``Session.receive_message``).
* Heartbeats: the shared :class:`~gsocketio.engine.reaper.Reaper` calls :meth:`tick` at the
  session's deadline; it queues PINGs and closes dead sessions without blocking.
* ``engine_disconnect`` runs exactly once: inline when the close happened in a request greenlet
  (reader, POST, GET), in a fresh greenlet when it came from ``close()``, a full buffer or the
  reaper, so application code never runs on the caller's or the timer's greenlet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import gevent
from gevent.event import Event

from gsocketio._logging import get_logger
from gsocketio.exceptions import (
    ProtocolError,
    SessionClosedError,
    SessionError,
    WebSocketError,
)
from gsocketio.greenlets import POOL, FlushQueue
from gsocketio.protocol.engineio import Packet, PacketType, decode_packet, encode_packet
from gsocketio.protocol.engineio_session import (
    Closed,
    MessageReceived,
    ProbeReply,
    Session,
    Upgraded,
    UpgradeFailed,
)
from gsocketio.protocol.engineio_session import (
    Event as SessionEvent,
)
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.websocket.framing import frame_message

if TYPE_CHECKING:
    from gsocketio.engine.server import EngineServer
    from gsocketio.websocket.connection import WebSocket

log = get_logger("gsocketio.engine")

_MESSAGE = PacketType.MESSAGE
_NOOP = Packet(PacketType.NOOP)
# WebSocket close codes that mean "the peer or the network ended it", not "it broke the rules".
_CLEAN_CLOSE_CODES = frozenset({1000, 1001, 1005, 1006})
_DRAIN_REASONS = frozenset({DisconnectReason.FORCED_CLOSE, DisconnectReason.BUFFER_FULL})
_FLUSHES = FlushQueue()  # WebSocket writes, batched per loop iteration (module docstring)


class EngineHandler(Protocol):
    """The Socket.IO side of the engine (implemented by :class:`gsocketio.Server`)."""

    def engine_connect(self, conn: EngineConnection) -> None: ...

    def engine_message(self, conn: EngineConnection, data: str | bytes) -> None: ...

    def engine_disconnect(self, conn: EngineConnection, reason: str) -> None: ...


class EngineConnection:
    """One Engine.IO session as the Socket.IO layer sees it (see docs/architecture.md)."""

    __slots__ = (
        "_disconnected",
        "_drain_deadline",
        "_encode",
        "_engine",
        "_flush_queued",
        "_flushed",
        "_get_active",
        "_handler",
        "_poll_wake",
        "_post_active",
        "_probe",
        "_session",
        "_writing",
        "_ws",
        "eio",
        "environ",
        "sid",
        "timer_at",
        "transport",
    )

    def __init__(
        self, engine: EngineServer, session: Session, environ: dict[str, Any], b64: bool
    ) -> None:
        self.sid: str = session.sid
        self.eio: int = session.eio
        self.environ = environ
        self.transport: str = str(session.transport)
        self.timer_at = math.inf  # owned by the reaper
        self._engine = engine
        self._handler = engine.handler
        self._session = session
        self._encode = _ws_encoder(session.eio, b64)
        self._ws: WebSocket | None = None
        self._writing = False  # a writer greenlet exists: only it writes to the WebSocket
        self._flush_queued = False  # flush() is scheduled (see _wake)
        self._flushed: Event | None = None  # set when that writer ends (only while closing)
        self._probe: WebSocket | None = None
        self._poll_wake = Event()
        self._get_active = False
        self._post_active = False
        self._disconnected = False
        self._drain_deadline = math.inf

    def __repr__(self) -> str:
        return f"<EngineConnection {self.sid} eio={self.eio} {self.transport}>"

    @property
    def closed(self) -> bool:
        """True once the session is closed (sends are then dropped)."""
        return self._session.closed

    @property
    def session(self) -> Session:
        return self._session

    # --- the Socket.IO layer's side ------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Queue one MESSAGE packet; never blocks. Dropped (debug log) once closed."""
        try:
            events = self._session.send_message(data)
        except SessionClosedError:
            log.debug("%s: message dropped, session closed", self.sid)
            return
        if events:
            self._process(events, inline=False)
        else:
            self._wake()

    def send_many(self, items: Sequence[str | bytes]) -> None:
        """Queue MESSAGE packets in order, never interleaved with other senders."""
        try:
            events = self._session.send_many(items)
        except SessionClosedError:
            log.debug("%s: %d messages dropped, session closed", self.sid, len(items))
            return
        if events:
            self._process(events, inline=False)
        else:
            self._wake()

    def close(self) -> None:
        """Server-side close: pending packets and a CLOSE packet are still delivered."""
        self._process(self._session.close(DisconnectReason.FORCED_CLOSE, "closed by server"), False)

    # --- events --------------------------------------------------------------------------------

    def _wake(self) -> None:
        ws = self._ws
        if ws is None:
            self._poll_wake.set()
        elif not self._writing and not self._flush_queued:
            self._flush_queued = True
            if not _FLUSHES.add(self):  # called from another thread's hub
                self.flush({})
        # else: a flush is due, or the writer takes the new packets after its current write

    def flush(self, frames: dict[int, tuple[str, list[bytes]]]) -> None:
        """Write what the queue holds now (from the hub, see :class:`FlushQueue`); ``frames``
        caches the frames of text messages by the identity of their data, for this flush."""
        self._flush_queued = False
        ws = self._ws
        if ws is not None and not self._writing:
            self._write_now(ws, frames)

    def _write_now(self, ws: WebSocket, frames: dict[int, tuple[str, list[bytes]]]) -> None:
        """Write the queue without blocking; hand what is left (a full socket buffer, a busy
        socket, a closed session) to a writer greenlet."""
        session = self._session
        packets = session.take_outgoing("websocket")
        if packets:
            try:
                if ws.compressed:
                    done = ws.send_nowait([self._encode(packet) for packet in packets])
                else:
                    done = ws.send_frames_nowait(self._frames(packets, frames))
            except WebSocketError as exc:  # the socket is aborted; the reader sees it end too
                log.debug("%s: websocket write failed: %s", self.sid, exc)
                if not session.closed:
                    self._process(session.close(DisconnectReason.TRANSPORT_ERROR, str(exc)), False)
                return
            if done and not session.closed:
                return
        elif not session.closed and not ws.backlog:
            return
        self._writing = True
        POOL.spawn(self._write_loop, ws)

    def _frames(
        self, packets: list[Packet], shared: dict[int, tuple[str, list[bytes]]]
    ) -> list[bytes]:
        """The WebSocket frames of ``packets``. A text MESSAGE's frame is the same for every
        client (v3 and v4 alike), so each broadcast message is framed once per flush."""
        out: list[bytes] = []
        for packet in packets:
            data = packet.data
            if type(data) is str and packet.type is _MESSAGE:
                hit = shared.get(id(data))
                if hit is None:  # the dict holds data, so no other object can take its id
                    chunks: list[bytes] = []
                    frame_message(chunks, "4" + data)
                    shared[id(data)] = (data, chunks)
                    out += chunks
                else:
                    out += hit[1]
            else:
                frame_message(out, self._encode(packet))
        return out

    def _process(self, events: Iterable[SessionEvent], inline: bool) -> None:
        """Act on session events. ``inline``: we are on a request greenlet, not the caller's."""
        for event in events:
            if type(event) is MessageReceived:
                self._deliver(event.data)
            elif type(event) is Closed:
                self._on_closed(event, inline)
            elif type(event) is UpgradeFailed:
                probe, self._probe = self._probe, None
                if probe is not None:
                    log.debug("%s: upgrade failed: %s", self.sid, event.reason)
                    gevent.spawn(_close_quietly, probe)
        if self._session.has_outgoing():
            self._wake()

    def _deliver(self, data: str | bytes) -> None:
        try:
            self._handler.engine_message(self, data)
        except Exception:
            log.exception("%s: engine_message failed", self.sid)

    def _on_closed(self, event: Closed, inline: bool) -> None:
        log.debug("%s: closed (%s) %s", self.sid, event.reason, event.detail)
        if event.reason is DisconnectReason.BUFFER_FULL and self._ws is not None:
            # The client stopped reading: nothing queued (not even CLOSE) reaches it in time,
            # and a writer blocked on its full socket would hold it for send_timeout.
            self._ws.abort()
        self._wake()  # the GET returns, or a WebSocket writer drains and closes the socket
        probe, self._probe = self._probe, None
        if probe is not None:
            gevent.spawn(_close_quietly, probe)
        if (
            event.reason in _DRAIN_REASONS
            and self._ws is None
            and not self._get_active
            and self._session.has_outgoing()
        ):
            # A server-side close on polling with the last packets (and CLOSE) undelivered:
            # keep the sid for the next GET, not forever. After a protocol error the sid is
            # dropped at once (the next request gets 400), as the reference server does.
            self._drain_deadline = time.monotonic() + self._engine.ping_timeout
            self._engine.reaper.schedule(self._drain_deadline, self)
        else:
            self._engine.forget(self)
            self._engine.reaper.cancel(self)  # release the heap's reference now
        if inline:
            self._notify_disconnect(str(event.reason))
        else:
            gevent.spawn(self._notify_disconnect, str(event.reason))

    def _notify_disconnect(self, reason: str) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        try:
            self._handler.engine_disconnect(self, reason)
        except Exception:
            log.exception("%s: engine_disconnect failed", self.sid)

    # --- timers --------------------------------------------------------------------------------

    def tick(self, now: float) -> float | None:
        """Called by the reaper at the session's deadline; returns the next one."""
        session = self._session
        if session.closed:
            if now >= self._drain_deadline:
                self._drain_deadline = math.inf
                self._engine.forget(self)
                return None
            return self._drain_deadline
        self._process(session.tick(now), inline=False)
        deadline = self._drain_deadline if session.closed else session.next_deadline()
        return deadline if deadline < math.inf else None

    def reschedule(self) -> None:
        """Make sure the reaper wakes us by the session's (possibly earlier) deadline."""
        deadline = self._session.next_deadline()
        if deadline < self.timer_at:
            self._engine.reaper.schedule(deadline, self)

    # --- polling -------------------------------------------------------------------------------

    def poll(self, timeout: float) -> list[Packet] | None:
        """Serve a GET: wait (bounded) for packets. None: a GET is already pending (overlap)."""
        if self._get_active:
            self._process(
                self._session.close(DisconnectReason.TRANSPORT_ERROR, "overlapping GET"), True
            )
            return None
        session = self._session
        self._get_active = True
        try:
            if not session.closed and not session.has_outgoing("polling"):
                self._poll_wake.clear()
                self._poll_wake.wait(timeout)
            packets = session.take_outgoing("polling")
        finally:
            self._get_active = False
        if session.closed and self._ws is None:
            self._engine.forget(self)
        return packets or [_NOOP]

    def begin_post(self) -> bool:
        """Mark a POST in progress; False (and the session closed) if one already is."""
        if self._post_active:
            self._process(
                self._session.close(DisconnectReason.TRANSPORT_ERROR, "overlapping POST"), True
            )
            return False
        self._post_active = True
        return True

    def end_post(self) -> None:
        self._post_active = False

    def receive_packets(self, packets: Iterable[Packet]) -> None:
        """Feed a POSTed payload to the session and the handler, in order."""
        session = self._session
        now = time.monotonic()
        for packet in packets:
            if session.closed:
                break
            self._process(session.receive(packet, now), inline=True)
        self.reschedule()

    def fail(self, reason: DisconnectReason, detail: str) -> None:
        """Close because the client broke the protocol (from a request greenlet)."""
        self._process(self._session.close(reason, detail), inline=True)

    def connected(self) -> None:
        """Tell the handler about the new connection (from the handshake request)."""
        try:
            self._handler.engine_connect(self)
        except Exception:
            log.exception("%s: engine_connect failed", self.sid)
            # engine_disconnect still follows, so whatever the handler set up is released.
            self._process(
                self._session.close(DisconnectReason.TRANSPORT_ERROR, "connect failed"), True
            )
            return
        self.reschedule()

    # --- WebSocket -----------------------------------------------------------------------------

    def attach_websocket(self, ws: WebSocket) -> None:
        """Make ``ws`` the session's transport and start its writer greenlet."""
        self._ws = ws
        self.transport = "websocket"
        if self._session.has_outgoing():
            self._wake()  # the OPEN packet, or what was queued during the upgrade

    def run_websocket(self, ws: WebSocket) -> None:
        """The reader: deliver every message in order until the WebSocket or session closes."""
        session = self._session
        eio = self.eio
        limits = self._engine.limits
        max_payload = limits.max_payload
        receive = ws.receive
        receive_message = session.receive_message
        engine_message = self._handler.engine_message
        monotonic = time.monotonic
        try:
            while not session.closed:
                message = receive()
                if message is None:
                    break
                if type(message) is str and message[:1] == "4" and len(message) <= max_payload:
                    # The hot path, a text MESSAGE: straight to the handler.
                    if receive_message(monotonic()):
                        try:
                            engine_message(self, message[1:])
                        except Exception:
                            log.exception("%s: engine_message failed", self.sid)
                    continue
                try:
                    packet = decode_packet(message, eio=eio, limits=limits)
                except ProtocolError as exc:
                    self.fail(DisconnectReason.PARSE_ERROR, str(exc))
                    break
                self._process(session.receive(packet, monotonic()), inline=True)
                self.reschedule()  # a PONG may bring the next PING before the pong deadline
        finally:
            if not session.closed:
                code = ws.close_code
                reason = (
                    DisconnectReason.TRANSPORT_CLOSE
                    if code is None or code in _CLEAN_CLOSE_CODES
                    else DisconnectReason.TRANSPORT_ERROR
                )
                self._process(session.close(reason, f"websocket closed ({code})"), inline=True)
            self._stop_writer(ws)

    def _write_loop(self, ws: WebSocket) -> None:
        """The only writer of ``ws`` while ``_writing``: flush the backlog and drain the queue
        with blocking writes until both are empty; close the socket once the session is."""
        session = self._session
        encode = self._encode
        try:
            while True:
                packets = session.take_outgoing("websocket")
                if packets:
                    ws.send_many([encode(packet) for packet in packets])
                elif ws.backlog:
                    ws.flush()
                else:
                    break
        except WebSocketError as exc:
            log.debug("%s: websocket write failed: %s", self.sid, exc)
            if not session.closed:
                self._process(session.close(DisconnectReason.TRANSPORT_ERROR, str(exc)), True)
        finally:
            self._writing = False
            if session.closed:
                _close_quietly(ws)
            if self._flushed is not None:
                self._flushed.set()

    def _stop_writer(self, ws: WebSocket) -> None:
        """Let a running writer flush the last packets and close ``ws`` (bounded wait)."""
        if not self._writing:
            self._writing = True
            self._write_loop(ws)  # nothing running: drain and close from here
            return
        flushed = self._flushed = Event()
        if not flushed.wait(ws.close_timeout):
            log.debug("%s: writer still blocked after %s s", self.sid, ws.close_timeout)
            _close_quietly(ws)

    def run_probe(self, ws: WebSocket) -> bool:
        """Drive the upgrade on a probe WebSocket; True once it became the transport."""
        session = self._session
        self._probe = ws
        self.reschedule()  # the upgrade deadline
        while True:
            message = ws.receive()
            if message is None or session.closed or self._probe is not ws:
                self._probe = None
                self._process(session.abort_upgrade("probe transport closed"), inline=True)
                return False
            try:
                packet = decode_packet(message, eio=self.eio, limits=self._engine.limits)
                events = session.receive_probe(packet, time.monotonic())
            except (ProtocolError, SessionError) as exc:
                log.debug("%s: bad probe: %s", self.sid, exc)
                self._probe = None
                self._process(session.abort_upgrade(f"bad probe packet: {exc}"), inline=True)
                _close_quietly(ws)
                return False
            for event in events:
                if type(event) is ProbeReply:
                    try:
                        ws.send(encode_packet(event.packet, eio=self.eio))
                    except WebSocketError:
                        self._probe = None
                        self._process(session.abort_upgrade("probe write failed"), True)
                        return False
                    self._poll_wake.set()  # a pending GET returns (NOOP) so the client pauses
                elif type(event) is Upgraded:
                    self._probe = None
                    self.attach_websocket(ws)
                    self._poll_wake.set()  # a GET left on polling gets NOOP
                    return True
                elif type(event) is UpgradeFailed:
                    self._probe = None
                    _close_quietly(ws)
                    return False


def _ws_encoder(eio: int, b64: bool) -> Callable[[Packet], str | bytes]:
    """How packets become WebSocket messages for this client."""
    if eio == 3 and b64:  # a v3 client without binary frames: base64 in text
        import base64

        def encode_b64(packet: Packet) -> str | bytes:
            if isinstance(packet.data, bytes):
                return "b4" + base64.b64encode(packet.data).decode("ascii")
            return encode_packet(packet, eio=3)

        return encode_b64
    return partial(encode_packet, eio=eio)


def _close_quietly(ws: WebSocket) -> None:
    try:
        ws.close()
    except WebSocketError as exc:
        log.debug("closing a websocket failed: %s", exc)
