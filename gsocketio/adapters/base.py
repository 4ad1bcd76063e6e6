"""The adapter interface: where rooms live and how a broadcast reaches its recipients.

The server registers every connected socket with its adapter (:meth:`Adapter.add_socket`),
joins and leaves rooms through it and hands it every emit addressed to rooms. An adapter
selects recipients by :class:`BroadcastOptions` (rooms, except-rooms, flags — the same three
fields as Node's ``BroadcastOptions``, so a Redis adapter can ship them to
``@socket.io/redis-adapter`` peers unchanged) and delivers the packet.

Encoding is the adapter's job, done once per broadcast **per wire format**: each recipient
names its :class:`WireFormat` (Socket.IO v4/v5 share one; the legacy 0.9 protocol will bring
another), the adapter encodes the packet the first time it meets a format and hands the same
encoded items to every recipient of that format. Nothing is encoded per recipient.

Every socket is in a room named after its own sid; adapters keep that room implicit (no set
per socket) but report it from :meth:`Adapter.rooms_of` and select it in broadcasts.

Cluster operations (``fetch_sockets``, ``disconnect_sockets``, ``server_side_emit``,
``broadcast_with_ack``, ``cluster_rooms``) have local implementations here that act through
the server's :class:`AdapterHost`; a multi-node adapter extends them with requests to the
other nodes (docs/cluster.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gsocketio.adapters.recovery import RecoveryOptions
    from gsocketio.protocol.recovery import Restored, Session
    from gsocketio.protocol.socketio import Packet

Encoded = Sequence[str | bytes]
"""One encoded packet: the Engine.IO messages to send, in order (text, then attachments)."""


class WireFormat(Protocol):
    """Encodes a Socket.IO packet for one family of clients; compared by identity."""

    def encode(self, packet: Packet) -> Encoded: ...


class Recipient(Protocol):
    """What an adapter needs from a local socket: its wire format and a way to deliver."""

    @property
    def wire(self) -> WireFormat: ...

    def deliver(self, items: Encoded) -> None:
        """Queue already-encoded items for the client; must never block."""


class AdapterHost(Protocol):
    """What the server offers an adapter to act on its local sockets for cluster operations."""

    def disconnect_local(self, namespace: str, sids: Iterable[str], close: bool) -> None:
        """Disconnect these local sockets (``close``: their whole connection)."""

    def describe_local(self, namespace: str, sids: Iterable[str]) -> list[dict[str, Any]]:
        """``{id, handshake, rooms, data}`` of these local sockets (Node's fetchSockets shape)."""

    def emit_with_ack_local(
        self, packet: Packet, sids: Iterable[str], on_ack: Callable[[Any], None]
    ) -> int:
        """Send ``packet`` to each socket with its own ack id; ``on_ack(first ack arg)`` per
        reply. Returns how many sockets it was sent to."""

    def server_side_event(
        self, namespace: str, data: list[Any], reply: Callable[[Any], None] | None
    ) -> None:
        """Run the server-side handler of ``data[0]``; ``reply(result)`` if an ack is wanted."""


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    """Modifiers of a broadcast, mirroring Node's ``BroadcastFlags``.

    ``local``: do not forward to other servers (multi-node adapters). ``volatile``: a
    recipient with a ``deliver_volatile`` method gets it that way (and may drop it when its
    client is slow); ``compress`` is carried for wire compatibility only.
    """

    local: bool = False
    volatile: bool = False
    compress: bool = True


DEFAULT_FLAGS = BroadcastFlags()


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Who receives a broadcast: members of any of ``rooms`` (everyone in the namespace when
    empty), minus members of any of ``except_rooms``."""

    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    flags: BroadcastFlags = DEFAULT_FLAGS


EVERYONE = BroadcastOptions()


class Adapter(ABC):
    """Rooms and broadcasts for every namespace of one server.

    Methods with ``namespace`` act on that namespace only. The single-socket methods
    (:meth:`add_socket` … :meth:`rooms_of`) act on local sockets; the selection methods
    (:meth:`broadcast`, :meth:`add_sockets`, :meth:`del_sockets`, :meth:`close_room`) are the
    ones a multi-node adapter extends to reach the other nodes.
    """

    clustered: bool = False
    """Whether other nodes' sockets are reachable: the server then addresses a sid it does not
    own through the selection methods (``sio.call(to=sid)`` on another node's socket)."""

    @abstractmethod
    def add_socket(self, namespace: str, sid: str, recipient: Recipient) -> None:
        """Register a connected socket (it joins its own sid room)."""

    @abstractmethod
    def remove_socket(self, namespace: str, sid: str) -> None:
        """Forget a socket and take it out of every room; unknown sids are ignored."""

    @abstractmethod
    def enter_room(self, namespace: str, sid: str, room: str) -> None:
        """Put a registered socket in ``room``; raises ``KeyError`` for an unknown sid."""

    @abstractmethod
    def leave_room(self, namespace: str, sid: str, room: str) -> None:
        """Take a socket out of ``room``; leaving a room one is not in is a no-op."""

    @abstractmethod
    def rooms_of(self, namespace: str, sid: str) -> set[str]:
        """The rooms of a socket, its own sid room included; raises ``KeyError`` if unknown."""

    @abstractmethod
    def sockets(self, namespace: str, opts: BroadcastOptions = EVERYONE) -> set[str]:
        """The sids of the local sockets ``opts`` selects."""

    @abstractmethod
    def broadcast(self, packet: Packet, opts: BroadcastOptions = EVERYONE) -> None:
        """Deliver ``packet`` (to its namespace) to every socket ``opts`` selects."""

    @abstractmethod
    def add_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make every socket ``opts`` selects join ``rooms`` (Node's ``socketsJoin``)."""

    @abstractmethod
    def del_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make every socket ``opts`` selects leave ``rooms`` (Node's ``socketsLeave``)."""

    def close_room(self, namespace: str, room: str) -> None:
        """Empty ``room``: every member leaves it."""
        self.del_sockets(namespace, BroadcastOptions(rooms=frozenset((room,))), (room,))

    @abstractmethod
    def all_rooms(self, namespace: str) -> set[str]:
        """Every explicitly joined room of the namespace (sid rooms excluded)."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources (connections, subscriptions) when the server stops."""

    # --- connection state recovery (docs/recovery.md) ------------------------------------------

    recovers: bool = False
    """Whether :meth:`enable_recovery` was called: emits then go through :meth:`broadcast`."""

    def enable_recovery(self, options: RecoveryOptions) -> None:
        """Store recoverable packets with offsets and keep sessions; adapters that cannot
        refuse (Node's classic Redis adapter cannot either)."""
        raise ValueError(f"{type(self).__name__} does not support connection state recovery")

    def persist_session(self, session: Session) -> None:  # noqa: B027 - optional hook
        """Keep a disconnected socket's session for a reconnect (Node's ``persistSession``)."""

    def forget_session(self, pid: str) -> None:  # noqa: B027 - optional hook
        """The socket left for good (an explicit disconnect): its session must not restore."""

    def touch_session(self, namespace: str, sid: str) -> None:  # noqa: B027 - optional hook
        """The socket's ``data`` may have changed (adapters keeping live sessions rewrite it)."""

    def restore_session(self, auth: Any, namespace: str) -> Restored | None:
        """The session and missed packets a CONNECT's auth ``{pid, offset}`` asks for."""
        return None

    # --- cluster operations (local answers; multi-node adapters add the other nodes) -----------

    _host: AdapterHost | None = None

    def bind(self, host: AdapterHost) -> None:
        """Called once by the server that owns this adapter."""
        self._host = host

    @property
    def host(self) -> AdapterHost:
        if self._host is None:
            raise RuntimeError("adapter is not bound to a server (pass it to gsocketio.Server)")
        return self._host

    def server_count(self, namespace: str) -> int:
        """How many servers share this namespace (this one included)."""
        return 1

    def disconnect_sockets(self, namespace: str, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect every socket ``opts`` selects (Node's ``disconnectSockets``)."""
        self.host.disconnect_local(namespace, self.sockets(namespace, opts), close)

    def fetch_sockets(
        self, namespace: str, opts: BroadcastOptions, timeout: float
    ) -> list[dict[str, Any]]:
        """Descriptions of every socket ``opts`` selects, on every server."""
        return self.host.describe_local(namespace, self.sockets(namespace, opts))

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: float,
        on_count: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> int:
        """Emit asking every selected socket for an ack. Each server calls ``on_count`` once
        with its number of recipients, then ``on_ack`` per reply; returns the server count."""
        on_count(
            self.host.emit_with_ack_local(packet, self.sockets(packet.namespace, opts), on_ack)
        )
        return 1

    def server_side_emit(
        self, namespace: str, data: list[Any], *, ack: bool, timeout: float
    ) -> list[Any]:
        """Run the other servers' server-side handler of ``data[0]`` (never this server's, as
        in Node); with ``ack``, their replies. One server: nobody to ask."""
        return []

    def cluster_rooms(self, namespace: str, timeout: float) -> set[str]:
        """Every room of the namespace on every server, sid rooms included (Node's
        ``allRooms`` answers so; a peer's sid rooms cannot be told apart)."""
        return self.all_rooms(namespace) | self.sockets(namespace)
