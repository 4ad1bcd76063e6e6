"""The Engine.IO session state machine: handshake, heartbeats, upgrade and the bounded outgoing
queue of one sid (sans-I/O: no sockets, no gevent, no clock; the engine passes ``now`` in and
acts on the events that come back; see :class:`Session` for the API and the engine's duties).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from itertools import chain, repeat

from gsocketio.exceptions import SessionClosedError, SessionError
from gsocketio.protocol.engineio import Packet, PacketType, decode_packet, decode_post
from gsocketio.protocol.limits import Limits
from gsocketio.protocol.reasons import DisconnectReason

__all__ = [
    "Closed",
    "Event",
    "MessageReceived",
    "ProbeReply",
    "Session",
    "SessionConfig",
    "SessionState",
    "Transport",
    "UpgradeFailed",
    "Upgraded",
]


class Transport(StrEnum):
    """Transport names as they appear in the ``transport`` query parameter."""

    POLLING = "polling"
    WEBSOCKET = "websocket"


class SessionState(Enum):
    """OPEN → (PROBING → UPGRADING → OPEN on websocket) → CLOSED."""

    OPEN = "open"
    PROBING = "probing"  # a WebSocket is attached, waiting for "2probe"
    UPGRADING = "upgrading"  # "3probe" sent; releasing polling, waiting for "5"
    CLOSED = "closed"


# Reasons where the peer is gone or unresponsive: a CLOSE packet could not reach it.
_NO_CLOSE_PACKET = frozenset({DisconnectReason.TRANSPORT_CLOSE, DisconnectReason.PING_TIMEOUT})


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-server settings shared by every session; defaults are the reference server's."""

    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000  # announced to v4 clients as maxPayload
    upgrades: tuple[str, ...] = (Transport.WEBSOCKET,)  # offered to polling sessions
    upgrade_timeout: float = 10.0
    max_buffered_packets: int = 10_000
    max_buffered_bytes: int = 10_000_000
    limits: Limits = field(init=False, repr=False, compare=False)  # from max_payload

    def __post_init__(self) -> None:
        for name in ("ping_interval", "ping_timeout", "upgrade_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_payload", "max_buffered_packets", "max_buffered_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        object.__setattr__(self, "limits", Limits(max_payload=self.max_payload))


DEFAULT_SESSION_CONFIG = SessionConfig()


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """The client sent a MESSAGE: hand ``data`` to the Socket.IO layer, in order."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is closed (emitted exactly once)."""

    reason: DisconnectReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProbeReply:
    """Write ``packet`` on the probe transport (not through the session's queue)."""

    packet: Packet


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The probe transport is now the session's transport; drain the queue to it."""

    transport: Transport


@dataclass(frozen=True, slots=True)
class UpgradeFailed:
    """Close the probe transport; the session continues on its current transport."""

    reason: str


Event = MessageReceived | Closed | ProbeReply | Upgraded | UpgradeFailed

_MESSAGE = PacketType.MESSAGE
_NOOP = Packet(PacketType.NOOP)
_PING = Packet(PacketType.PING)
_PROBE_REPLY = ProbeReply(Packet(PacketType.PONG, "probe"))


class Session:
    """State of one Engine.IO session.

    Drive it with ``receive_frame``/``receive_post`` (or ``receive`` for a decoded packet),
    ``tick(now)`` at ``next_deadline()``, ``send*`` and ``take_outgoing``, and for an upgrade
    ``start_upgrade``/``receive_probe``/``abort_upgrade``; ``close`` is idempotent. Times are
    seconds on any monotonic clock.

    Events: :class:`MessageReceived`, :class:`Closed` (exactly once), :class:`ProbeReply`,
    :class:`Upgraded`, :class:`UpgradeFailed` (each says what the engine does).

    The engine's duties:

    * After any call, if ``has_outgoing()`` wake the writer of the current transport, which writes
      ``take_outgoing()``. The constructor queues the OPEN packet, so the first drain starts with
      it (the handshake response); packets the Socket.IO layer queues at connect come after it.
    * Run ``tick(now)`` when ``next_deadline()`` passes; re-read it after every call (it can move
      *earlier*: ``start_upgrade`` arms the upgrade timeout, a v4 PONG schedules the next ping).
      v4: PING every ``ping_interval``, "ping timeout" without a PONG within ``ping_timeout``
      (another packet meanwhile extends the wait once, as upstream). v3: the client pings, we
      answer PONG; "ping timeout" after ``ping_interval + ping_timeout`` of silence. A ping in
      the wrong direction closes with "transport error".
    * Upgrade: on a WebSocket carrying an existing sid, call ``start_upgrade``; feed its
      messages to ``receive_probe`` until :class:`Upgraded` or :class:`UpgradeFailed`. After the
      client's ``2probe`` (answered by a ``ProbeReply`` of ``3probe``), ``has_outgoing("polling")``
      is true and ``take_outgoing("polling")`` returns the queued packets or ``[NOOP]``: answer
      a pending GET right away so the client can pause polling and send UPGRADE. On
      :class:`Upgraded`, drain the same queue to the WebSocket; a GET still pending on polling
      gets ``[NOOP]``. The upgrade must finish within ``upgrade_timeout``.
    * On :class:`Closed`, write what ``take_outgoing()`` still returns (server-side closes queue a
      CLOSE packet after the pending packets), then close the transport(s). Packets received after
      the close are ignored (they were in flight); ``send*`` raise :class:`SessionClosedError`.
    * The outgoing queue is bounded (``max_buffered_packets`` / ``max_buffered_bytes``): a client
      that does not read is closed with "outgoing buffer full" instead of growing memory.
    """

    __slots__ = (
        "_closed_reason",
        "_config",
        "_eio",
        "_next_ping",
        "_open_packet",
        "_pong_deadline",
        "_pong_extended",
        "_queue",
        "_queued_bytes",
        "_sid",
        "_silence_deadline",
        "_state",
        "_transport",
        "_upgrade_deadline",
        "_upgraded",
        "closed",
    )

    def __init__(
        self,
        sid: str,
        *,
        eio: int,
        transport: str,
        now: float,
        config: SessionConfig = DEFAULT_SESSION_CONFIG,
    ) -> None:
        if eio not in (3, 4):
            raise ValueError(f"unsupported Engine.IO version {eio}")
        self._sid = sid
        self._eio = eio
        self._transport = Transport(transport)
        self._config = config
        self._state = SessionState.OPEN
        self.closed = False  # a plain attribute (read per message), True once CLOSED
        self._closed_reason: DisconnectReason | None = None
        self._upgraded = False
        self._upgrade_deadline = math.inf
        # A list, not a deque: it is only appended to and taken whole, and an empty list
        # costs 56 bytes where an empty deque costs 760 (per idle connection, #14).
        self._queue: list[Packet] = []
        self._queued_bytes = 0
        # v4: the server pings; v3: the client pings and the server watches for silence.
        self._next_ping = now + config.ping_interval if eio == 4 else math.inf
        self._pong_deadline = math.inf
        self._pong_extended = False
        self._silence_deadline = (
            now + config.ping_interval + config.ping_timeout if eio == 3 else math.inf
        )
        handshake: dict[str, object] = {
            "sid": sid,
            "upgrades": list(config.upgrades) if self._transport is Transport.POLLING else [],
            "pingInterval": round(config.ping_interval * 1000),
            "pingTimeout": round(config.ping_timeout * 1000),
        }
        if eio == 4:
            handshake["maxPayload"] = config.max_payload
        self._open_packet = Packet(PacketType.OPEN, json.dumps(handshake, separators=(",", ":")))
        self._queue.append(self._open_packet)
        self._queued_bytes = len(self._open_packet.data) + 1

    @property
    def sid(self) -> str:
        return self._sid

    @property
    def eio(self) -> int:
        return self._eio

    @property
    def transport(self) -> Transport:
        """The transport that carries the session now (changes on upgrade)."""
        return self._transport

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def close_reason(self) -> DisconnectReason | None:
        return self._closed_reason

    @property
    def upgraded(self) -> bool:
        return self._upgraded

    @property
    def config(self) -> SessionConfig:
        return self._config

    @property
    def backlog(self) -> tuple[int, int]:
        return len(self._queue), self._queued_bytes  # packets and bytes waiting to be written

    def open_packet(self) -> Packet:
        """The OPEN packet: ``{sid, upgrades, pingInterval, pingTimeout[, maxPayload]}`` in ms."""
        return self._open_packet

    # --- incoming --------------------------------------------------------------------------

    def receive(self, packet: Packet, now: float) -> list[Event]:
        """Handle a packet the client sent on the session's transport."""
        if self._state is SessionState.CLOSED:
            return []
        packet_type = packet.type
        if self._eio == 3:
            self._silence_deadline = now + self._config.ping_interval + self._config.ping_timeout
        elif packet_type is not PacketType.PONG:
            self._extend_pong_wait(now)
        if packet_type is PacketType.MESSAGE:
            return [MessageReceived(packet.data)]
        if packet_type is PacketType.PONG:
            if self._eio == 3:
                return self.close(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")
            self._pong_deadline = math.inf
            self._next_ping = now + self._config.ping_interval
            return []
        if packet_type is PacketType.PING:
            if self._eio == 4:
                return self.close(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")
            return self._enqueue(Packet(PacketType.PONG, packet.data))
        if packet_type is PacketType.CLOSE:
            return self.close(DisconnectReason.TRANSPORT_CLOSE, "client sent CLOSE")
        if packet_type is PacketType.OPEN:
            return self.close(DisconnectReason.TRANSPORT_ERROR, "client sent OPEN")
        return []  # NOOP, or a stray UPGRADE on the current transport: nothing to do

    def receive_frame(self, frame: str | bytes, now: float) -> str | list[Event]:
        """Handle one WebSocket message. A text MESSAGE (nearly every message) returns its
        data as a ``str``, allocating no event (hand it to the Socket.IO layer as a
        :class:`MessageReceived`'s); anything else returns events. Raises a
        :class:`gsocketio.ProtocolError` subclass when the frame is no packet (close with
        "parse error")."""
        config = self._config
        # The hot path, no Packet made: a text MESSAGE within the payload bound.
        if type(frame) is not str or frame[:1] != "4" or len(frame) > config.max_payload:
            return self.receive(decode_packet(frame, eio=self._eio, limits=config.limits), now)
        data = frame[1:]
        if self._state is SessionState.CLOSED:
            return []
        if self._eio == 3:  # what receive() does for a MESSAGE
            self._silence_deadline = now + config.ping_interval + config.ping_timeout
        elif self._pong_deadline != math.inf:
            self._extend_pong_wait(now)
        return data

    def receive_post(
        self, body: bytes, *, content_type: str, jsonp: bool, now: float
    ) -> Iterator[Event]:
        """Handle a POSTed polling body. A malformed one raises a :class:`gsocketio.ProtocolError`
        subclass before any packet is handled; then each packet is handled as the events of
        the ones before it are consumed (a close they cause drops the rest, as in flight)."""
        packets = decode_post(
            body, eio=self._eio, content_type=content_type, jsonp=jsonp, limits=self._config.limits
        )
        # lazy iterators, no generator expression: mypyc would compile one as an eager list
        return chain.from_iterable(map(self.receive, packets, repeat(now)))

    def _extend_pong_wait(self, now: float) -> None:
        """Another packet while waiting for a PONG extends that wait once (as upstream)."""
        if self._pong_deadline != math.inf and not self._pong_extended:
            self._pong_deadline = now + self._config.ping_timeout
            self._pong_extended = True

    def next_deadline(self) -> float:
        """The earliest time at which ``tick`` has work to do (``math.inf``: none)."""
        if self._state is SessionState.CLOSED:
            return math.inf
        return min(
            self._next_ping, self._pong_deadline, self._silence_deadline, self._upgrade_deadline
        )

    def tick(self, now: float) -> list[Event]:
        """Fire due timers: ping timeouts close, a due v4 ping is queued, upgrades expire."""
        if self._state is SessionState.CLOSED:
            return []
        if now >= self._pong_deadline:
            return self.close(DisconnectReason.PING_TIMEOUT, "no PONG within ping_timeout")
        if now >= self._silence_deadline:
            return self.close(
                DisconnectReason.PING_TIMEOUT, "no packet within ping_interval+timeout"
            )
        events: list[Event] = []
        if now >= self._upgrade_deadline:
            events += self.abort_upgrade("upgrade timeout")
        if now >= self._next_ping:
            self._next_ping = math.inf
            self._pong_deadline = now + self._config.ping_timeout
            self._pong_extended = False
            events += self._enqueue(_PING)
        return events

    # --- outgoing --------------------------------------------------------------------------

    def send(self, packet: Packet) -> list[Event]:
        """Queue any packet for the current transport."""
        if self.closed:
            self._check_open()  # raises
        return self._enqueue(packet)

    def send_many(self, items: Sequence[str | bytes]) -> list[Event]:
        """Queue MESSAGE packets in order, all or none (the bound is checked for the batch)."""
        self._check_open()
        if len(items) == 1:  # the usual encoded packet: one text message
            return self._enqueue(Packet(_MESSAGE, items[0]))
        size = sum(len(item) + 1 for item in items)
        if self._over_bound(len(items), size):
            return self._overflow()
        self._queue.extend(Packet(PacketType.MESSAGE, item) for item in items)
        self._queued_bytes += size
        return []

    def has_outgoing(self, transport: str | None = None) -> bool:
        """Whether ``take_outgoing(transport)`` would return packets right now."""
        if transport is None or transport == self._transport:
            return bool(self._queue) or self._state is SessionState.UPGRADING
        return self._upgraded and transport == Transport.POLLING

    def take_outgoing(self, transport: str | None = None) -> list[Packet]:
        """Drain the packets for ``transport`` (default: the current one), oldest first.

        While an upgrade is past its probe, polling gets ``[NOOP]`` when nothing is queued, so
        a pending GET returns; after the upgrade, a GET left on the old polling transport gets
        ``[NOOP]`` too. A transport that is not (yet) the session's gets nothing.
        """
        if transport is None or transport == self._transport:
            queue = self._queue
            if queue:
                packets = queue.copy()  # a new queue would outlive young GCs (benchmarks.md)
                queue.clear()
                self._queued_bytes = 0
                return packets
            return [_NOOP] if self._state is SessionState.UPGRADING else []
        if self._upgraded and transport == Transport.POLLING:
            return [_NOOP]
        return []

    def _check_open(self) -> None:
        if self._state is SessionState.CLOSED:
            raise SessionClosedError(f"session {self._sid} is closed ({self._closed_reason})")

    def _over_bound(self, count: int, size: int) -> bool:
        config = self._config
        return (
            len(self._queue) + count > config.max_buffered_packets
            or self._queued_bytes + size > config.max_buffered_bytes
        )

    def _enqueue(self, packet: Packet) -> list[Event]:
        size = len(packet.data) + 1
        queue, config = self._queue, self._config  # _over_bound(1, size) inline: the hot path
        if len(queue) >= config.max_buffered_packets or (
            self._queued_bytes + size > config.max_buffered_bytes
        ):
            return self._overflow()
        queue.append(packet)
        self._queued_bytes += size
        return []

    def _overflow(self) -> list[Event]:
        self._queue.clear()  # undeliverable in time; only the CLOSE packet is kept
        self._queued_bytes = 0
        config = self._config
        detail = (
            f"more than {config.max_buffered_packets} packets or "
            f"{config.max_buffered_bytes} bytes waiting for the client"
        )
        return self.close(DisconnectReason.BUFFER_FULL, detail)

    # --- upgrade ---------------------------------------------------------------------------

    def start_upgrade(self, transport: str, now: float) -> None:
        """A new transport (a WebSocket) claims this sid: start the probe sequence."""
        if self._state is SessionState.CLOSED:
            raise SessionClosedError(f"session {self._sid} is closed")
        if self._state is not SessionState.OPEN:
            raise SessionError("an upgrade is already in progress")
        if self._upgraded or self._transport is not Transport.POLLING:
            raise SessionError(f"session already uses {self._transport}; cannot upgrade")
        if transport not in self._config.upgrades:
            raise SessionError(f"upgrade to {transport!r} is not offered")
        self._state = SessionState.PROBING
        self._upgrade_deadline = now + self._config.upgrade_timeout

    def receive_probe(self, frame: Packet | str | bytes, now: float) -> list[Event]:
        """Handle a message (or decoded packet) on the probe transport, before the upgrade
        completes; raises :class:`SessionError` without an upgrade in progress, a
        :class:`gsocketio.ProtocolError` subclass for a frame that is not a packet."""
        state = self._state
        if state is SessionState.CLOSED:
            return []
        if state is SessionState.OPEN:
            raise SessionError("no upgrade in progress")
        packet = (
            frame
            if isinstance(frame, Packet)
            else decode_packet(frame, eio=self._eio, limits=self._config.limits)
        )
        if packet.type is PacketType.PING and packet.data == "probe":
            self._state = SessionState.UPGRADING
            return [_PROBE_REPLY]
        if packet.type is PacketType.UPGRADE:
            self._state = SessionState.OPEN
            self._transport = Transport.WEBSOCKET
            self._upgraded = True
            self._upgrade_deadline = math.inf
            return [Upgraded(self._transport)]
        return self.abort_upgrade(f"unexpected {packet.type.name} packet during upgrade")

    def abort_upgrade(self, reason: str = "probe transport closed") -> list[Event]:
        """Give up an upgrade in progress (no-op otherwise); the session stays on polling."""
        if self._state not in (SessionState.PROBING, SessionState.UPGRADING):
            return []
        self._state = SessionState.OPEN
        self._upgrade_deadline = math.inf
        return [UpgradeFailed(reason)]

    def close(
        self, reason: DisconnectReason = DisconnectReason.FORCED_CLOSE, detail: str = ""
    ) -> list[Event]:
        """Close the session (idempotent: only the first call returns :class:`Closed`).

        Unless the peer is gone (``TRANSPORT_CLOSE``, ``PING_TIMEOUT``), a CLOSE packet is
        queued after the pending packets so the client learns of it; otherwise the queue is
        dropped.
        """
        if self._state is SessionState.CLOSED:
            return []
        self._state = SessionState.CLOSED
        self.closed = True
        self._closed_reason = reason
        self._upgrade_deadline = self._next_ping = math.inf
        self._pong_deadline = self._silence_deadline = math.inf
        if reason in _NO_CLOSE_PACKET:
            self._queue.clear()
            self._queued_bytes = 0
        else:
            self._queue.append(Packet(PacketType.CLOSE))
            self._queued_bytes += 1
        return [Closed(reason, detail)]
