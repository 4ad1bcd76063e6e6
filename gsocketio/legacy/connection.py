"""One 0.9 client as the Socket.IO layer sees it: an ``EngineConnection`` look-alike.

:class:`LegacyConnection` has the attributes and methods of the ``EngineConnection`` contract
(docs/architecture.md: ``sid``, ``eio``, ``environ``, ``transport``, ``send``, ``send_many``,
``close``) and drives a :class:`~gsocketio.protocol.legacy_session.LegacySession` with gevent:

* **Receivers.** One transport at a time carries packets to the client: a polling GET, an
  htmlfile stream or a WebSocket writer. :meth:`attach` makes a new one current (the one it
  replaces returns, as in 0.9 where a new request discarded the old transport); it waits with
  :meth:`wait` on an event of its own, so no wake-up is ever lost or stolen.
* **Readers.** POST bodies and WebSocket frames go through :meth:`receive_payload` /
  :meth:`receive_text`, serialised by a lock; the decoded packets reach the Socket.IO layer,
  mapped by :mod:`gsocketio.protocol.legacy_bridge`, through ``engine_packet``, in order.
* **Writers.** Everything sent is already 0.9 text (the connection's :attr:`wire`); that the
  server left or refused ``/`` arrives as :meth:`close_namespace` / :meth:`refuse`, after
  which a 0.9 client is done as a whole.
* **Time.** The engine's shared :class:`~gsocketio.engine.reaper.Reaper` calls :meth:`tick`.
* **Closing.** ``engine_disconnect`` runs once, and only if ``engine_connect`` did: inline from
  a request greenlet, in a fresh greenlet from ``close()``, sends and the reaper. A closed
  session with packets still queued (a farewell ``0::``) stays reachable for its next GET until
  ``close_timeout``.

``eio`` is 3 so the Socket.IO layer applies protocol v4 semantics, which are the 0.9 ones
(implicit ``/``, CONNECT query as auth, socket ids derived from the session id).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import gevent
import gevent.lock
from gevent.event import Event

from gsocketio._logging import get_logger
from gsocketio.exceptions import ProtocolError
from gsocketio.protocol.legacy import Packet, PacketType, encode_packet
from gsocketio.protocol.legacy_bridge import LegacyWire, to_socketio
from gsocketio.protocol.legacy_session import LegacySession
from gsocketio.protocol.reasons import DisconnectReason

if TYPE_CHECKING:
    from gsocketio.legacy.endpoint import LegacyServer

__all__ = ["LegacyConnection", "Receiver"]

log = get_logger("gsocketio.legacy")

FAREWELL: Final = ("0::",)
"""The whole-socket disconnect: a 0.9 client treats it as being booted (no reconnect)."""


class Receiver(Event):  # type: ignore[misc]  # gevent is untyped
    """The token of an attached transport: set when it has something to do (or lost).

    ``abort``: how to drop the transport at once (a WebSocket's ``abort``), for a client whose
    outgoing buffer overflowed: its writer may be blocked on a socket the client never reads.
    """

    abort: Callable[[], None] | None = None


class LegacyConnection:
    """A 0.9 session bound to the Socket.IO layer; see the module docstring."""

    __slots__ = (
        "_count_in",
        "_current",
        "_drain_deadline",
        "_handled_close",
        "_notified",
        "_opened",
        "_owner",
        "_read_lock",
        "_session",
        "environ",
        "sid",
        "timer_at",
        "transport",
    )

    eio: Final = 3

    def __init__(
        self, owner: LegacyServer, session: LegacySession, environ: dict[str, Any]
    ) -> None:
        self.sid = session.sid
        self.environ = environ
        self.transport = ""
        self.timer_at = math.inf  # owned by the reaper
        self._owner = owner
        self._session = session
        self._current: Receiver | None = None
        self._read_lock = gevent.lock.Semaphore()
        self._opened = False
        self._notified = False
        self._handled_close = False
        self._drain_deadline = math.inf
        self._count_in: Callable[[str, str], None] | None = None  # metrics, from open()

    def __repr__(self) -> str:
        return f"<LegacyConnection {self.sid} {self.transport or 'handshaken'}>"

    @property
    def session(self) -> LegacySession:
        return self._session

    @property
    def closed(self) -> bool:
        return self._session.closed

    @property
    def opened(self) -> bool:
        """True once a transport request connected it to the Socket.IO layer."""
        return self._opened

    @property
    def congested(self) -> bool:
        """Whether to drop a volatile packet (``Socket.deliver_volatile`` asks): the engine's
        ``slow_consumer="drop_volatile"`` and half of either of this endpoint's outgoing
        bounds queued, as for Engine.IO clients."""
        if self._owner.options.slow_consumer != "drop_volatile":
            return False
        packets, size = self._session.backlog
        config = self._session.config
        return 2 * packets >= config.max_buffered_packets or 2 * size >= config.max_buffered_bytes

    @property
    def wire(self) -> LegacyWire:
        """The wire format of this connection's sockets (for a Socket.IO layer that asks)."""
        return self._owner.wire

    # --- the Socket.IO layer's side -------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        self.send_many((data,))

    def send_many(self, items: Sequence[str | bytes]) -> None:
        """Queue messages (0.9 text from :attr:`wire`); never blocks."""
        session = self._session
        if session.closed:
            log.debug("%s: %d message(s) dropped, session closed", self.sid, len(items))
            return
        texts = [item for item in items if isinstance(item, str)]
        if len(texts) != len(items):  # the 0.9 wire never makes bytes: a bug, not input
            log.error("%s: binary message for a 0.9 client dropped", self.sid)
        if not texts:
            return
        if not session.push(texts):
            log.warning("%s: closing, %s", self.sid, session.close_reason)
            self._after_close(inline=False)
            return
        self._notify()

    def close_namespace(self, namespace: str) -> None:
        """The server disconnected the client from ``namespace`` (its DISCONNECT is queued):
        leaving ``/`` boots a 0.9 client as a whole."""
        if namespace == "/" and self._session.close(DisconnectReason.SERVER_DISCONNECT):
            self._after_close(inline=False)

    def refuse(self, namespace: str) -> None:
        """The server refused ``namespace`` (its error packet is queued): for ``/`` the client
        got "connect_failed"; end the socket it cannot use."""
        if namespace == "/" and self._session.close(DisconnectReason.FORCED_CLOSE, FAREWELL):
            self._after_close(inline=False)

    def close(self) -> None:
        """Server-side close: what is queued, then ``0::``, still reach the client."""
        if self._session.close(DisconnectReason.FORCED_CLOSE, FAREWELL):
            self._after_close(inline=False)

    # --- transports' side -----------------------------------------------------------------------

    def open(self, transport: str) -> None:
        """A transport request arrived: the first one connects the client to the server."""
        self.transport = transport
        if self._opened or not self._session.open(time.monotonic()):
            return
        self._opened = True
        self._owner.opened(self)
        handler = self._owner.handler
        # The server's counters while it is instrumented (Server.metrics), else None: then a
        # received payload costs one ``is None`` test, as for the Socket.IO layer's counters.
        self._count_in = getattr(getattr(handler, "metrics", None), "received", None)
        try:
            handler.engine_connect(self)
        except Exception:
            log.exception("%s: engine_connect failed", self.sid)
            self._notified = True  # the handler never accepted it
            self.fail(DisconnectReason.FORCED_CLOSE, "connect failed")
            return
        self.reschedule()

    def attach(self) -> Receiver:
        """Make a new receiver current; the one it replaces is woken and sees it lost."""
        receiver = Receiver()
        previous, self._current = self._current, receiver
        if previous is not None:
            previous.set()
            self._session.detach(time.monotonic())
        self._session.attach(time.monotonic())
        return receiver

    def detach(self, receiver: Receiver, *, transport_gone: bool = False) -> None:
        """The receiver stopped. ``transport_gone``: the client's transport closed for good (a
        WebSocket), so the session ends; otherwise the close timeout starts."""
        if self._current is not receiver:
            return
        self._current = None
        self._session.detach(time.monotonic())
        if transport_gone and self._session.close(DisconnectReason.TRANSPORT_CLOSE):
            self._after_close(inline=True)
        else:
            self.reschedule()

    def is_current(self, receiver: Receiver) -> bool:
        return self._current is receiver

    def wait(self, receiver: Receiver, timeout: float | None) -> list[str]:
        """Wait (bounded by ``timeout``) for packets; ``[]`` on timeout, close or replacement."""
        session = self._session
        if self._current is receiver and not session.has_outgoing() and not session.closed:
            receiver.clear()
            receiver.wait(timeout)
        if self._current is not receiver:
            return []
        items = session.take()
        if session.closed:
            self._owner.forget(self)
        return items

    def receive_payload(self, body: str) -> bool:
        """A POSTed payload; False (and the session closed) when it was malformed."""
        if (count := self._count_in) is not None:
            count(self.transport, body)
        with self._read_lock:
            try:
                packets = self._session.receive_payload(body, time.monotonic())
            except ProtocolError as exc:
                self.fail(DisconnectReason.PARSE_ERROR, str(exc))
                return False
            self._deliver(packets)
        return True

    def receive_text(self, text: str) -> bool:
        """One WebSocket frame; False (and the session closed) when it was malformed."""
        if (count := self._count_in) is not None:
            count(self.transport, text)
        with self._read_lock:
            try:
                packets = self._session.receive(text, time.monotonic())
            except ProtocolError as exc:
                self.fail(DisconnectReason.PARSE_ERROR, str(exc))
                return False
            self._deliver(packets)
        return True

    def client_disconnect(self) -> None:
        """The client asked to end the session (``?disconnect`` URL) outside the stream."""
        if self._session.close(DisconnectReason.CLIENT_DISCONNECT):
            self._after_close(inline=True)

    def fail(self, reason: str, detail: str) -> None:
        """Close because the client broke the protocol (from a request greenlet); ``0::``
        tells it not to reconnect into the same mistake."""
        log.warning("%s: closing (%s): %s", self.sid, reason, detail)
        if self._session.close(reason, FAREWELL):
            self._after_close(inline=True)

    def _deliver(self, packets: list[Packet]) -> None:
        """Hand decoded packets to the Socket.IO layer, in order (caller holds the lock)."""
        handler = self._owner.handler
        for packet in packets:
            if self._handled_close:  # closed while delivering (e.g. the server kicked it)
                break
            translated = to_socketio(packet)
            if translated is None:
                self._refuse(packet)
                continue
            try:
                handler.engine_packet(self, translated)
            except Exception:
                log.exception("%s: engine_packet failed", self.sid)
        if self._session.closed:  # a client "0::", or a full buffer
            self._after_close(inline=True)
            return
        if self._session.has_outgoing():
            self._notify()  # acks on receipt, error packets
        self.reschedule()

    def _refuse(self, packet: Packet) -> None:
        """A packet with no Socket.IO counterpart: say so (log, or an error packet)."""
        kind = packet.type
        if kind is PacketType.CONNECT and packet.endpoint:
            log.info("%s: refusing endpoint %r (not a namespace)", self.sid, packet.endpoint)
            error = Packet(PacketType.ERROR, packet.endpoint, reason="unauthorized")
            self._session.push((encode_packet(error),))
        elif kind is PacketType.EVENT:
            log.warning("%s: ignoring reserved or misplaced event %r", self.sid, packet.name)
        else:
            log.info("%s: ignoring %s packet for %r", self.sid, kind.name, packet.endpoint)

    # --- waking, closing, time ------------------------------------------------------------------

    def _notify(self) -> None:
        receiver = self._current
        if receiver is not None:
            receiver.set()

    def _after_close(self, inline: bool) -> None:
        """Once per session: keep it for a last GET if packets wait, tell the handler."""
        if self._handled_close:
            return
        self._handled_close = True
        session = self._session
        receiver = self._current
        if (
            session.close_reason == DisconnectReason.BUFFER_FULL
            and receiver is not None
            and receiver.abort
        ):
            receiver.abort()  # the client does not read: nothing more can reach it in time
        if session.has_outgoing() and self._current is None:
            self._drain_deadline = time.monotonic() + session.config.close_timeout
            self._owner.reaper.schedule(self._drain_deadline, self)
        elif not session.has_outgoing():
            self._owner.forget(self)
        self._notify()  # an attached receiver drains what is left, then forgets us
        if not self._opened or self._notified:
            return
        self._notified = True
        reason = session.close_reason or DisconnectReason.TRANSPORT_CLOSE
        if inline:
            self._notify_disconnect(reason)
        else:
            gevent.spawn(self._notify_disconnect, reason)

    def _notify_disconnect(self, reason: str) -> None:
        try:
            self._owner.handler.engine_disconnect(self, reason)
        except Exception:
            log.exception("%s: engine_disconnect failed", self.sid)

    def reschedule(self) -> None:
        """Make the reaper wake us by the session's (possibly earlier) deadline."""
        deadline = self._session.next_deadline()
        if deadline < self.timer_at:
            self._owner.reaper.schedule(deadline, self)

    def tick(self, now: float) -> float | None:
        """Called by the reaper (must not block): heartbeats, timeouts, draining."""
        session = self._session
        if session.closed:
            if now >= self._drain_deadline:
                self._drain_deadline = math.inf
                session.discard_outgoing()
                self._owner.forget(self)
                return None
            return self._drain_deadline if self._drain_deadline < math.inf else None
        if session.tick(now):
            self._notify()
        if session.closed:
            log.info("%s: closing, %s", self.sid, session.close_reason)
            self._after_close(inline=False)
            return self._drain_deadline if self._drain_deadline < math.inf else None
        deadline = session.next_deadline()
        return deadline if deadline < math.inf else None
