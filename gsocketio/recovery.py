"""Connection state recovery on one server: the options, and the adapter-side hook that stamps
offsets on stored packets and persists/restores sessions through the sans-I/O
:class:`~gsocketio.protocol.recovery.RecoveryStore` (its clock is ``time.monotonic``).

Which packets are stored mirrors Node (socket.io ≥ 4.6): EVENTs without an ack id that are
not volatile, binary ones included; which disconnects persist a session too (transport loss,
ping timeout, server closes), not an explicit disconnect of either side. docs/recovery.md.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.recovery import (
    DEFAULT_MAX_DISCONNECTION,
    DEFAULT_MAX_MISSED,
    DEFAULT_MAX_PACKETS,
    DEFAULT_MAX_SESSIONS,
    RecoveryStore,
    Restored,
    Session,
)
from gsocketio.protocol.socketio import PacketType

if TYPE_CHECKING:
    from gsocketio.adapters.base import BroadcastOptions
    from gsocketio.protocol.socketio import Packet

__all__ = ["PERSISTED_REASONS", "Recovery", "RecoveryOptions", "new_pid"]

PERSISTED_REASONS: Final = frozenset(
    {
        DisconnectReason.TRANSPORT_ERROR,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.FORCED_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.SERVER_SHUTTING_DOWN,
        DisconnectReason.FORCED_SERVER_CLOSE,
    }
)
"""Disconnect reasons after which the client may come back (Node's list)."""

_STORED_TYPES: Final = frozenset({PacketType.EVENT, PacketType.BINARY_EVENT})

SWEEP_INTERVAL: Final = 60.0
"""Seconds between sweeps of expired sessions and packets (done lazily, on activity)."""


def new_pid() -> str:
    """A fresh private session id (20 url-safe characters, like Node's base64id)."""
    return base64.urlsafe_b64encode(os.urandom(15)).decode("ascii")


@dataclass(frozen=True, slots=True)
class RecoveryOptions:
    """``connection_state_recovery`` of :class:`gsocketio.Server` (Node's option, snake case),
    plus the bounds Node does not have."""

    max_disconnection_duration: float = DEFAULT_MAX_DISCONNECTION
    skip_middlewares: bool = True
    max_packets: int = DEFAULT_MAX_PACKETS
    max_missed: int = DEFAULT_MAX_MISSED
    max_sessions: int = DEFAULT_MAX_SESSIONS

    @classmethod
    def parse(
        cls, value: bool | Mapping[str, Any] | RecoveryOptions | None
    ) -> RecoveryOptions | None:
        """``None``/``False``: off; ``True``: the defaults; a mapping: those fields."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, RecoveryOptions):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown connection_state_recovery options: {sorted(unknown)}")
        return cls(**value)


class Recovery:
    """The packet log and sessions of a memory adapter with recovery on."""

    def __init__(
        self, options: RecoveryOptions, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.options = options
        self._clock = clock
        self.store = RecoveryStore(
            new_pid().replace("-", "_"),
            max_disconnection=options.max_disconnection_duration,
            max_packets=options.max_packets,
            max_missed=options.max_missed,
            max_sessions=options.max_sessions,
        )
        self._next_sweep = clock() + SWEEP_INTERVAL

    def stamp(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Store ``packet`` if it is recoverable and append its offset as the last argument."""
        if packet.type not in _STORED_TYPES or packet.id is not None or opts.flags.volatile:
            return
        now = self._tick()
        data = list(packet.data)
        offset = self.store.record(now, packet.namespace, data, opts.rooms, opts.except_rooms)
        packet.data = [*data, offset]

    def persist(self, session: Session) -> None:
        self.store.persist(self._tick(), session)

    def restore(self, auth: Any, namespace: str) -> Restored | None:
        """The session a CONNECT's ``{pid, offset}`` asks for, or ``None`` for a fresh one."""
        if not isinstance(auth, dict):
            return None
        return self.store.restore(self._tick(), auth.get("pid"), auth.get("offset"), namespace)

    def _tick(self) -> float:
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self.store.sweep(now)
        return now
