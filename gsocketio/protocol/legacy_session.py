"""One 0.9 (protocol revision 1) session as a state machine: sans-I/O, time passed in.

The 0.9 protocol has no Engine.IO layer: heartbeats, acks-on-receipt and the whole-socket
disconnect live in the same packet stream as the application's events. This module keeps those
protocol duties out of the I/O code (:mod:`gsocketio.legacy.connection`) and out of the
Socket.IO layer, which only ever sees the packets :meth:`LegacySession.receive` returns.

Life cycle (``state``)::

    HANDSHAKEN --open()--> OPEN --close()/tick()--> CLOSED
         \\--------------------tick(): close timeout----/

* HANDSHAKEN: the handshake answered a sid; no transport request came yet. It expires after
  ``close_timeout`` (the 0.9 server forgot unused handshakes the same way).
* OPEN: the server queues ``2::`` every ``heartbeat_interval``; a client from which nothing
  arrived for ``heartbeat_timeout`` is closed ("ping timeout"); while no transport is attached
  (between two polling requests) the session survives ``close_timeout`` ("transport close").
* CLOSED: exactly once, with :attr:`LegacySession.close_reason`. ``farewell`` packets given to
  :meth:`close` (a server-side ``0::``) stay queued for the transport to deliver.

What :meth:`LegacySession.receive` handles itself, as the 0.9 server did: heartbeats and noops
(consumed), an ``id`` without ``+`` on a message/json/event (acked on receipt with
``6::<endpoint>:<id>``, then delivered without the id), and ``0::`` (the whole socket: closes
with "client namespace disconnect"). Everything else is returned for the Socket.IO layer.

The outgoing queue is bounded (``max_buffered_packets``/``max_buffered_bytes``, counted in
characters): a client that does not read is closed with "outgoing buffer full".
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from gsocketio.protocol.legacy import Packet, PacketType, decode_packet, decode_payload
from gsocketio.protocol.legacy import encode_packet as encode_legacy
from gsocketio.protocol.limits import DEFAULT_LIMITS, Limits
from gsocketio.protocol.reasons import DisconnectReason

__all__ = [
    "HEARTBEAT",
    "LegacyConfig",
    "LegacySession",
    "State",
]


HEARTBEAT: Final = "2::"
"""The heartbeat packet, in both directions."""

_PEER_GONE: Final = frozenset(
    {
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.BUFFER_FULL,
        DisconnectReason.CLIENT_DISCONNECT,
    }
)
"""Close reasons after which nothing queued can (or need) reach the client."""
_AUTO_ACKED: Final = frozenset({PacketType.MESSAGE, PacketType.JSON, PacketType.EVENT})
_SILENT: Final = frozenset({PacketType.HEARTBEAT, PacketType.NOOP})


class State(IntEnum):
    HANDSHAKEN = 0
    OPEN = 1
    CLOSED = 2


@dataclass(frozen=True, slots=True)
class LegacyConfig:
    """Timing and bounds shared by every legacy session; defaults are the 0.9 server's.

    Times are seconds and may be fractional (tests use small values); the handshake advertises
    the timeouts rounded up to whole seconds.
    """

    heartbeat_interval: float = 25.0
    heartbeat_timeout: float = 60.0
    close_timeout: float = 60.0
    polling_duration: float = 20.0
    max_buffered_packets: int = 10_000
    max_buffered_bytes: int = 10_000_000
    limits: Limits = field(default=DEFAULT_LIMITS)

    def __post_init__(self) -> None:
        for name in (
            "heartbeat_interval",
            "heartbeat_timeout",
            "close_timeout",
            "polling_duration",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value < math.inf):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.heartbeat_interval >= self.heartbeat_timeout:
            # The client closes its side after heartbeat_timeout without a packet from us.
            raise ValueError("heartbeat_interval must be shorter than heartbeat_timeout")
        for name in ("max_buffered_packets", "max_buffered_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def advertised_heartbeat_timeout(self) -> int:
        """The handshake's heartbeat field (whole seconds, never below the real timeout)."""
        return math.ceil(self.heartbeat_timeout)

    @property
    def advertised_close_timeout(self) -> int:
        return math.ceil(self.close_timeout)


class LegacySession:
    """The protocol state of one 0.9 client; see the module docstring."""

    __slots__ = (
        "_attached",
        "_config",
        "_detached_at",
        "_last_received",
        "_next_heartbeat",
        "_queue",
        "_queued_chars",
        "close_reason",
        "created",
        "sid",
        "state",
    )

    def __init__(self, sid: str, config: LegacyConfig, now: float) -> None:
        self.sid = sid
        self.state = State.HANDSHAKEN
        self.created = now
        self.close_reason: str | None = None
        self._config = config
        self._queue: deque[str] = deque()
        self._queued_chars = 0
        self._attached = 0
        self._detached_at = now
        self._last_received = now
        self._next_heartbeat = math.inf

    def __repr__(self) -> str:
        return f"<LegacySession {self.sid} {self.state.name}>"

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def config(self) -> LegacyConfig:
        return self._config

    # --- life cycle -----------------------------------------------------------------------------

    def open(self, now: float) -> bool:
        """The first transport request arrived; True when this call opened the session."""
        if self.state is not State.HANDSHAKEN:
            return False
        self.state = State.OPEN
        self._last_received = now
        self._detached_at = now
        self._next_heartbeat = now + self._config.heartbeat_interval
        return True

    def attach(self, now: float) -> None:
        """A transport is ready to carry packets to the client (a GET, a stream, a WebSocket)."""
        self._attached += 1

    def detach(self, now: float) -> None:
        """That transport is gone; with none left, the close timeout runs from ``now``."""
        if self._attached > 0:
            self._attached -= 1
            if not self._attached:
                self._detached_at = now

    @property
    def attached(self) -> bool:
        return self._attached > 0

    def close(self, reason: str, farewell: Sequence[str] = ()) -> bool:
        """Close (idempotent); True when this call closed it.

        ``farewell`` is queued after what is pending (a server-side ``0::``), bounds ignored.
        The pending packets are kept for a transport still to deliver them, unless the reason
        says the client is gone or unresponsive (timeouts, full buffer, its own disconnect).
        """
        if self.state is State.CLOSED:
            return False
        self.state = State.CLOSED
        self.close_reason = reason
        self._next_heartbeat = math.inf
        if reason in _PEER_GONE:
            self.discard_outgoing()
        for item in farewell:
            self._queue.append(item)
            self._queued_chars += len(item)
        return True

    # --- incoming -------------------------------------------------------------------------------

    def receive_payload(self, body: str, now: float) -> list[Packet]:
        """A polling body (one packet or a ``\\ufffd``-framed payload); see :meth:`receive`.

        Every packet is decoded before any is acted on: a malformed one anywhere raises a
        :class:`gsocketio.ProtocolError` subclass and nothing of the body is delivered.
        """
        limits = self._config.limits
        texts = decode_payload(body, limits=limits)
        return self._handle([decode_packet(text, limits=limits) for text in texts], now)

    def receive(self, text: str, now: float) -> list[Packet]:
        """One packet (a WebSocket frame): the packets the Socket.IO layer must see, in order.

        Raises a :class:`gsocketio.ProtocolError` subclass for malformed input; the caller
        decides how to end the session. Packets arriving after the close are ignored.
        """
        return self._handle([decode_packet(text, limits=self._config.limits)], now)

    def _handle(self, packets: Iterable[Packet], now: float) -> list[Packet]:
        if self.state is State.CLOSED:
            return []
        self._last_received = now
        delivered: list[Packet] = []
        for packet in packets:
            kind = packet.type
            if kind in _SILENT:
                continue
            if kind is PacketType.DISCONNECT and not packet.endpoint:
                self.close(DisconnectReason.CLIENT_DISCONNECT)
                break
            if packet.id is not None and packet.ack != "data" and kind in _AUTO_ACKED:
                ack = Packet(PacketType.ACK, endpoint=packet.endpoint, ack_id=packet.id)
                if not self.push((encode_legacy(ack),)):
                    break  # a client that sends but never reads: closed, buffer full
                packet.id = None
            delivered.append(packet)
        return delivered

    # --- outgoing -------------------------------------------------------------------------------

    def push(self, items: Sequence[str]) -> bool:
        """Queue encoded packets; False when they were refused (closed, or the bound was hit —
        the session is then closed with "outgoing buffer full" and its queue dropped)."""
        if self.state is State.CLOSED:
            return False
        config = self._config
        size = sum(len(item) for item in items)
        if (
            len(self._queue) + len(items) > config.max_buffered_packets
            or self._queued_chars + size > config.max_buffered_bytes
        ):
            self._queue.clear()
            self._queued_chars = 0
            self.close(DisconnectReason.BUFFER_FULL)
            return False
        self._queue.extend(items)
        self._queued_chars += size
        return True

    def has_outgoing(self) -> bool:
        return bool(self._queue)

    @property
    def backlog(self) -> tuple[int, int]:
        """Packets and characters queued for the client (what the bound counts)."""
        return len(self._queue), self._queued_chars

    def take(self) -> list[str]:
        """Everything queued, in order; the queue is empty afterwards."""
        items = list(self._queue)
        self._queue.clear()
        self._queued_chars = 0
        return items

    def discard_outgoing(self) -> None:
        self._queue.clear()
        self._queued_chars = 0

    # --- time -----------------------------------------------------------------------------------

    def tick(self, now: float) -> bool:
        """Act on deadlines that passed; True when a heartbeat was queued (wake the writer).

        Check :attr:`closed` afterwards: the session may have expired.
        """
        config = self._config
        if self.state is State.HANDSHAKEN:
            if now >= self.created + config.close_timeout:
                self.close(DisconnectReason.TRANSPORT_CLOSE)
            return False
        if self.state is State.CLOSED:
            return False
        if not self._attached and now >= self._detached_at + config.close_timeout:
            self.close(DisconnectReason.TRANSPORT_CLOSE)
            return False
        if now >= self._last_received + config.heartbeat_timeout:
            self.close(DisconnectReason.PING_TIMEOUT)
            return False
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + config.heartbeat_interval
            return self.push((HEARTBEAT,))
        return False

    def next_deadline(self) -> float:
        """When :meth:`tick` must run next (``math.inf`` once closed)."""
        config = self._config
        if self.state is State.HANDSHAKEN:
            return self.created + config.close_timeout
        if self.state is State.CLOSED:
            return math.inf
        deadline = min(self._next_heartbeat, self._last_received + config.heartbeat_timeout)
        if not self._attached:
            deadline = min(deadline, self._detached_at + config.close_timeout)
        return deadline
