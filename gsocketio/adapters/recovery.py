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
from gsocketio.protocol.socketio import Packet, PacketType

if TYPE_CHECKING:
    from gsocketio.adapters.base import Adapter, BroadcastOptions
    from gsocketio.socket import Socket

__all__ = [
    "PERSISTED_REASONS",
    "Recovery",
    "RecoveryOptions",
    "new_pid",
    "persist_socket",
    "replay",
    "restore_socket",
]

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


def restore_socket(adapter: Adapter, sock: Socket, live: Mapping[str, Socket]) -> Restored | None:
    """Give a CONNECTING v5 socket its old identity if its auth asks for a session the adapter
    still has (and the old socket is gone: ``live`` are the namespace's sockets); else a new
    pid. Call before registering the socket with the adapter."""
    restored = adapter.restore_session(sock.auth, sock.namespace)
    if restored is None or restored.session.sid in live:
        sock.pid = new_pid()
        return None
    session = restored.session
    sock.sid = session.sid
    sock.pid = session.pid
    sock.recovered = True
    sock.data = session.data
    sock.session = session.session
    return restored


def replay(adapter: Adapter, sock: Socket, restored: Restored) -> None:
    """Re-join the session's rooms and queue the missed packets (delivered after the CONNECT
    reply, before anything emitted later). Call right after registering the socket."""
    for room in restored.session.rooms:
        if room != sock.sid:
            adapter.enter_room(sock.namespace, sock.sid, room)
    for data in restored.missed:
        sock.send_packet(Packet(PacketType.EVENT, sock.namespace, data))


def persist_socket(adapter: Adapter, sock: Socket, reason: str) -> None:
    """Keep an accepted socket's session if it closed for a reason it may come back from;
    else make sure no (live) session of it survives."""
    if sock.pid is None:
        return
    if reason not in PERSISTED_REASONS:
        adapter.forget_session(sock.pid)
        return
    try:
        rooms = sorted(adapter.rooms_of(sock.namespace, sock.sid))
    except KeyError:
        return
    adapter.persist_session(
        Session(sock.sid, sock.pid, sock.namespace, rooms, sock.data, session=sock.session)
    )
