"""The broadcast operator: ``sio.to(room).except_(other).emit(...)`` and friends, as Node has it.

An operator is an immutable selection (namespace, rooms, except-rooms, flags, ack timeout);
each modifier returns a new one. Its actions go through the adapter, so the same call reaches
local sockets with the memory adapter and every node's sockets with the Redis adapter:
``emit``/``send``, ``call`` (broadcast with acks: every socket's reply, or
:class:`gsocketio.ClusterTimeoutError` carrying the replies that arrived), ``fetch_sockets``
(:class:`RemoteSocket` objects usable whichever node owns the socket), ``sockets_join``,
``sockets_leave`` and ``disconnect_sockets``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

import gevent
from gevent.event import Event

from gsocketio._logging import get_logger
from gsocketio.adapters.base import DEFAULT_FLAGS, BroadcastFlags, BroadcastOptions
from gsocketio.exceptions import ClusterTimeoutError
from gsocketio.protocol.socketio import RESERVED_EVENTS, Packet, PacketType

if TYPE_CHECKING:
    from gsocketio.adapters.base import Adapter

__all__ = ["DEFAULT_TIMEOUT", "BroadcastOperator", "RemoteSocket"]

log = get_logger("gsocketio.cluster")

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds a cluster request (and ``call`` without ``.timeout()``) waits: Node's 5000 ms."""

RoomsArg = str | Iterable[str]


def _rooms(args: tuple[RoomsArg, ...]) -> frozenset[str]:
    found: set[str] = set()
    for arg in args:
        if isinstance(arg, str):
            found.add(arg)
        else:
            found.update(arg)
    return frozenset(found)


class _AckCollector:
    """Counts servers and replies of one broadcast-with-ack (Node's completion rule)."""

    def __init__(self) -> None:
        self.servers: int | None = None
        self.counted = 0
        self.expected = 0
        self.replies: list[Any] = []
        self.done = Event()

    def on_count(self, count: int) -> None:
        self.counted += 1
        self.expected += count
        self._check()

    def on_ack(self, reply: Any) -> None:
        self.replies.append(reply)
        self._check()

    def _check(self) -> None:
        if (
            self.servers is not None
            and self.counted >= self.servers
            and len(self.replies) >= self.expected
        ):
            self.done.set()


@dataclass(frozen=True, slots=True)
class BroadcastOperator:
    """A selection of sockets to act on; modifiers return new operators."""

    adapter: Adapter
    namespace: str = "/"
    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    flags: BroadcastFlags = DEFAULT_FLAGS
    ack_timeout: float | None = field(default=None)
    outgoing: Callable[[str, BroadcastOptions, list[Any]], None] | None = field(default=None)
    """Set by the server while it has ``on_any_outgoing`` listeners."""

    # --- modifiers ---------------------------------------------------------------------------

    def to(self, *rooms: RoomsArg) -> BroadcastOperator:
        """Target members of these rooms (or sids), added to the rooms already targeted."""
        return replace(self, rooms=self.rooms | _rooms(rooms))

    in_ = to

    def except_(self, *rooms: RoomsArg) -> BroadcastOperator:
        """Leave out members of these rooms (or these sids)."""
        return replace(self, except_rooms=self.except_rooms | _rooms(rooms))

    def of(self, namespace: str) -> BroadcastOperator:
        return replace(self, namespace=namespace if namespace.startswith("/") else "/" + namespace)

    @property
    def volatile(self) -> BroadcastOperator:
        """May be dropped for a client that is not ready (carried to Node peers)."""
        return replace(self, flags=replace(self.flags, volatile=True))

    @property
    def local(self) -> BroadcastOperator:
        """This server's sockets only: nothing is sent to the other nodes."""
        return replace(self, flags=replace(self.flags, local=True))

    def compress(self, flag: bool = True) -> BroadcastOperator:
        return replace(self, flags=replace(self.flags, compress=flag))

    def timeout(self, seconds: float) -> BroadcastOperator:
        """How long :meth:`call` (and cluster requests) wait for replies."""
        return replace(self, ack_timeout=seconds)

    @property
    def options(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_rooms, self.flags)

    @property
    def _wait(self) -> float:
        return self.ack_timeout if self.ack_timeout is not None else DEFAULT_TIMEOUT

    # --- actions -----------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        callback: Callable[[Exception | None, list[Any]], Any] | None = None,
    ) -> None:
        """Send ``event`` to every selected socket. With ``callback``, ask for acks in the
        background and call ``callback(error_or_None, replies)`` when done (Node's form)."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        if callback is not None:
            gevent.spawn(self._call_back, callback, event, args)
            return
        packet = Packet(PacketType.EVENT, self.namespace, [event, *args])
        if self.outgoing is not None:
            self.outgoing(self.namespace, self.options, packet.data)
        self.adapter.broadcast(packet, self.options)

    def send(self, data: Any) -> None:
        self.emit("message", data)

    def _call_back(
        self,
        callback: Callable[[Exception | None, list[Any]], Any],
        event: str,
        args: tuple[Any, ...],
    ) -> None:
        try:
            replies = self.call(event, *args)
        except ClusterTimeoutError as exc:
            error: Exception | None = exc
            replies = exc.replies
        else:
            error = None
        try:
            callback(error, replies)
        except Exception:
            log.exception("error in broadcast ack callback for %r", event)

    def call(self, event: str, *args: Any) -> list[Any]:
        """Emit asking every selected socket (on every node) for an ack; returns the replies
        (each socket's first ack argument). Raises :class:`gsocketio.ClusterTimeoutError`
        with the replies that did arrive when ``timeout`` passes first."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        wait = self._wait
        collector = _AckCollector()
        packet = Packet(PacketType.EVENT, self.namespace, [event, *args])
        if self.outgoing is not None:
            self.outgoing(self.namespace, self.options, packet.data)
        collector.servers = self.adapter.broadcast_with_ack(
            packet, self.options, wait, collector.on_count, collector.on_ack
        )
        collector._check()
        if not collector.done.wait(wait):
            replies = list(collector.replies)
            raise ClusterTimeoutError(
                f"operation has timed out: {len(replies)} of {collector.expected} replies from "
                f"{collector.counted} of {collector.servers} servers",
                replies,
            )
        return list(collector.replies)

    def fetch_sockets(self) -> list[RemoteSocket]:
        """The selected sockets of every node (raises ClusterTimeoutError if a node is mute)."""
        found = self.adapter.fetch_sockets(self.namespace, self.options, self._wait)
        return [RemoteSocket.from_description(self.adapter, self.namespace, d) for d in found]

    def sockets_join(self, *rooms: RoomsArg) -> None:
        self.adapter.add_sockets(self.namespace, self.options, _rooms(rooms))

    def sockets_leave(self, *rooms: RoomsArg) -> None:
        self.adapter.del_sockets(self.namespace, self.options, _rooms(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets; ``close`` also closes their connections."""
        self.adapter.disconnect_sockets(self.namespace, self.options, close)


@dataclass(slots=True)
class RemoteSocket:
    """A socket as ``fetch_sockets`` describes it; its actions work on whichever node owns it."""

    adapter: Adapter
    namespace: str
    id: str
    handshake: dict[str, Any]
    rooms: set[str]
    data: Any

    @classmethod
    def from_description(cls, adapter: Adapter, namespace: str, d: dict[str, Any]) -> RemoteSocket:
        rooms = d.get("rooms")
        handshake = d.get("handshake")
        return cls(
            adapter,
            namespace,
            str(d.get("id")),
            handshake if isinstance(handshake, dict) else {},
            {str(r) for r in rooms} if isinstance(rooms, list) else set(),
            d.get("data", {}),
        )

    @property
    def sid(self) -> str:
        return self.id

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.adapter, self.namespace, frozenset((self.id,)))

    def emit(self, event: str, *args: Any) -> None:
        self._operator().emit(event, *args)

    def join(self, *rooms: RoomsArg) -> None:
        self._operator().sockets_join(*rooms)

    def leave(self, *rooms: RoomsArg) -> None:
        self._operator().sockets_leave(*rooms)

    def disconnect(self, close: bool = False) -> None:
        self._operator().disconnect_sockets(close)
