"""One Engine.IO connection as the Socket.IO layer sees it: ``send``/``send_many``/``close``
queue into the sans-I/O session and wake the current transport's I/O (long-polling in
:mod:`~gsocketio.engine.polling`, WebSocket in :mod:`~gsocketio.engine.websocket`); session
events are acted on here, heartbeats come from the shared reaper (:meth:`tick`), and
``engine_disconnect`` runs exactly once: inline on a request greenlet, in a fresh greenlet when
the close came from ``close()``, a full buffer or the reaper (application code never runs on
the caller's or the timer's greenlet).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import gevent

from gsocketio._logging import get_logger
from gsocketio.engine.polling import PollingIO
from gsocketio.engine.websocket import WebSocketIO, WebSocketLike
from gsocketio.exceptions import SessionClosedError
from gsocketio.protocol.engineio import Packet, PacketType, ws_encoder
from gsocketio.protocol.engineio_session import (
    Closed,
    MessageReceived,
    Session,
    UpgradeFailed,
)
from gsocketio.protocol.engineio_session import (
    Event as SessionEvent,
)
from gsocketio.protocol.reasons import DisconnectReason

if TYPE_CHECKING:
    from gsocketio.engine.options import EngineOptions
    from gsocketio.engine.reaper import Tickable

__all__ = ["EngineConnection", "EngineHandler", "TransportIO"]

log = get_logger("gsocketio.engine")

_DRAIN_REASONS = frozenset({DisconnectReason.FORCED_CLOSE, DisconnectReason.BUFFER_FULL})
_MESSAGE = PacketType.MESSAGE
_last_message = Packet(_MESSAGE)


def _message(data: str | bytes) -> Packet:
    """A MESSAGE packet for ``data``: the last one made when it carries the very same object.
    A broadcast queues one encoded message to every recipient in turn, and they then share one
    (immutable) packet instead of allocating one each. Racing hub threads cost at worst an
    extra packet (the check is on the identity of the data)."""
    global _last_message
    last = _last_message
    if last.data is data:
        return last
    packet = _last_message = Packet(_MESSAGE, data)
    return packet


class EngineHandler(Protocol):
    """The Socket.IO side of the engine (implemented by :class:`gsocketio.Server`)."""

    def engine_connect(self, conn: EngineConnection) -> None: ...

    def engine_message(self, conn: EngineConnection, data: str | bytes) -> None: ...

    def engine_disconnect(self, conn: EngineConnection, reason: str) -> None: ...


class Timers(Protocol):
    """The shared deadline heap (:class:`gsocketio.engine.reaper.Reaper`)."""

    def schedule(self, deadline: float, session: Tickable) -> None: ...

    def cancel(self, session: Tickable) -> None: ...


class Engine(Protocol):
    """What a connection needs of its server (:class:`gsocketio.engine.EngineServer`)."""

    @property
    def handler(self) -> EngineHandler: ...

    @property
    def options(self) -> EngineOptions: ...

    @property
    def reaper(self) -> Timers: ...

    def forget(self, conn: EngineConnection) -> None: ...


class TransportIO(Protocol):
    """The I/O of the transport that carries a session now (or of a probe)."""

    def wake(self) -> None:
        """Packets were queued (or the session closed): write them, or release a GET."""

    def on_closed(self, reason: DisconnectReason) -> None:
        """The session closed: deliver what is left (CLOSE included), then end."""

    def pending_delivery(self) -> bool:
        """True when queued packets can only leave with a later request (idle polling)."""

    def abandon(self) -> None:
        """A probe that did not become the transport: close it (never blocks)."""


class EngineConnection:
    """One Engine.IO session: the contract of docs/architecture.md (``sid``, ``eio``,
    ``environ``, ``transport``, ``send``, ``send_many``, ``close``), plus what the server and
    the transports drive it with."""

    __slots__ = (
        "_disconnected",
        "_drain_deadline",
        "_engine",
        "_io",
        "_probe",
        "_session",
        "b64",
        "eio",
        "environ",
        "handler",
        "options",
        "polling",
        "run_inline",
        "sid",
        "timer_at",
        "transport",
    )

    def __init__(
        self, engine: Engine, session: Session, environ: dict[str, Any], b64: bool
    ) -> None:
        self.sid: str = session.sid
        self.eio: int = session.eio
        self.environ = environ
        self.transport: str = str(session.transport)
        self.b64 = b64  # EIO3 b64=1 at the handshake: no binary, for the session's life
        self.options = engine.options
        self.timer_at = math.inf  # owned by the reaper
        self.polling: PollingIO | None = None  # the long-polling I/O, while it exists
        self._engine = engine
        self.handler = engine.handler
        self._session = session
        self._io: TransportIO = _NO_IO
        # run_inline(fn, args): run a handler on this greenlet when it is the WebSocket
        # reader, which then stays responsive should it block (WebSocketIO.run_inline);
        # False (any other transport, or greenlet): the caller spawns it.
        self.run_inline: Callable[[Callable[..., object], tuple[Any, ...]], bool] = _not_inline
        self._probe: TransportIO | None = None
        self._disconnected = False
        self._drain_deadline = math.inf

    def __repr__(self) -> str:
        return f"<EngineConnection {self.sid} eio={self.eio} {self.transport}>"

    @property
    def closed(self) -> bool:
        """True once the session is closed (sends are then dropped)."""
        return self._session.closed

    @property
    def congested(self) -> bool:
        """Whether to drop a volatile packet: ``slow_consumer="drop_volatile"`` and half of
        either outgoing bound reached (``Socket.deliver_volatile`` asks)."""
        if self.options.slow_consumer != "drop_volatile":
            return False
        packets, size = self._session.backlog
        config = self._session.config
        return 2 * packets >= config.max_buffered_packets or 2 * size >= config.max_buffered_bytes

    # --- the Socket.IO layer's side ------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Queue one MESSAGE packet; never blocks. Dropped (debug log) once closed."""
        try:
            events = self._session.send(_message(data))
        except SessionClosedError:
            log.debug("%s: message dropped, session closed", self.sid)
            return
        if events:
            self.process(events, inline=False)
        else:
            self._io.wake()

    def send_many(self, items: Sequence[str | bytes]) -> None:
        """Queue MESSAGE packets in order, never interleaved with other senders."""
        try:
            if len(items) == 1:  # the usual encoded packet: one text message
                events = self._session.send(_message(items[0]))
            else:
                events = self._session.send_many(items)
        except SessionClosedError:
            log.debug("%s: %d messages dropped, session closed", self.sid, len(items))
            return
        if events:
            self.process(events, inline=False)
        else:
            self._io.wake()

    def close(self) -> None:
        """Server-side close: pending packets and a CLOSE packet are still delivered."""
        self.process(self._session.close(DisconnectReason.FORCED_CLOSE, "closed by server"), False)

    # --- transports ----------------------------------------------------------------------------

    def open_polling(self) -> tuple[PollingIO, list[Packet]]:
        """Make long-polling the transport; returns it and the OPEN packet for the handshake
        answer (what is sent later goes to the next GET)."""
        polling = self.polling = PollingIO(self, self._session)
        self._io = polling
        return polling, self._session.take_outgoing()

    def attach_websocket(self, ws: WebSocketLike) -> WebSocketIO:
        """Make ``ws`` the transport of a new WebSocket session (run its reader next)."""
        io = WebSocketIO(self, self._session, ws, ws_encoder(self.eio, self.b64))
        self.attach(io)
        return io

    def start_upgrade(self, ws: WebSocketLike) -> WebSocketIO:
        """A WebSocket claims this polling session: its probe I/O (``run_probe`` drives it).
        Raises :class:`gsocketio.SessionError` when no upgrade is possible (already upgraded
        or upgrading, or not offered)."""
        self._session.start_upgrade("websocket", time.monotonic())
        probe = self._probe = WebSocketIO(self, self._session, ws, ws_encoder(self.eio, self.b64))
        self.reschedule()  # the upgrade deadline
        return probe

    def attach(self, io: TransportIO) -> None:
        """``io`` carries the session from now on (a new session, or a finished upgrade)."""
        if self._probe is io:
            self._probe = None
        self._io = io
        if isinstance(io, WebSocketIO):
            self.transport = "websocket"
            self.run_inline = io.run_inline
        else:
            self.transport = "polling"
            self.run_inline = _not_inline
        if self._session.has_outgoing():
            io.wake()  # the OPEN packet, or what was queued during the upgrade

    def end_probe(self, probe: TransportIO, reason: str) -> None:
        """The probe went away (or broke the protocol) before the upgrade finished."""
        if self._probe is probe:
            self._probe = None
        self.process(self._session.abort_upgrade(reason), inline=True)

    @property
    def io(self) -> TransportIO:
        """The I/O of the transport that carries the session now."""
        return self._io

    def is_probe(self, probe: TransportIO) -> bool:
        return self._probe is probe

    def is_transport(self, io: TransportIO) -> bool:
        return self._io is io

    # --- events --------------------------------------------------------------------------------

    def process(self, events: Iterable[SessionEvent], inline: bool) -> None:
        """Act on session events. ``inline``: we are on a request greenlet, not the caller's."""
        for event in events:
            if type(event) is MessageReceived:
                self.deliver(event.data)
            elif type(event) is Closed:
                self._on_closed(event, inline)
            elif type(event) is UpgradeFailed:
                probe, self._probe = self._probe, None
                if probe is not None:
                    log.debug("%s: upgrade failed: %s", self.sid, event.reason)
                    probe.abandon()
        if self._session.has_outgoing():
            self._io.wake()

    def deliver(self, data: str | bytes) -> None:
        """Hand one message to the Socket.IO layer (on the reader's greenlet, in order)."""
        try:
            self.handler.engine_message(self, data)
        except Exception:
            log.exception("%s: engine_message failed", self.sid)

    def fail(self, reason: DisconnectReason, detail: str) -> None:
        """Close because the client broke the protocol (from a request greenlet)."""
        self.process(self._session.close(reason, detail), inline=True)

    def _on_closed(self, event: Closed, inline: bool) -> None:
        log.debug("%s: closed (%s) %s", self.sid, event.reason, event.detail)
        self._io.on_closed(event.reason)
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.abandon()
        if event.reason in _DRAIN_REASONS and self._io.pending_delivery():
            # A server-side close on polling with the last packets (and CLOSE) undelivered:
            # keep the sid for the next GET, not forever. After a protocol error the sid is
            # dropped at once (the next request gets 400), as the reference server does.
            self._drain_deadline = time.monotonic() + self.options.ping_timeout
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
            self.handler.engine_disconnect(self, reason)
        except Exception:
            log.exception("%s: engine_disconnect failed", self.sid)

    def connected(self) -> None:
        """Tell the handler about the new connection (from the handshake request)."""
        try:
            self.handler.engine_connect(self)
        except Exception:
            log.exception("%s: engine_connect failed", self.sid)
            # engine_disconnect still follows, so whatever the handler set up is released.
            self.fail(DisconnectReason.TRANSPORT_ERROR, "connect failed")
            return
        self.reschedule()

    def forget(self) -> None:
        """Drop the sid now (a closed session whose last request was answered)."""
        self._engine.forget(self)

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
        self.process(session.tick(now), inline=False)
        deadline = self._drain_deadline if session.closed else session.next_deadline()
        return deadline if deadline < math.inf else None

    def reschedule(self) -> None:
        """Make sure the reaper wakes us by the session's (possibly earlier) deadline."""
        deadline = self._session.next_deadline()
        if deadline < self.timer_at:
            self._engine.reaper.schedule(deadline, self)


class _NoIO:
    """The transport of a connection not attached yet: nothing to wake."""

    def wake(self) -> None:
        pass

    def on_closed(self, reason: DisconnectReason) -> None:
        pass

    def pending_delivery(self) -> bool:
        return False

    def abandon(self) -> None:
        pass


_NO_IO = _NoIO()


def _not_inline(fn: Callable[..., object], args: tuple[Any, ...]) -> bool:
    return False
