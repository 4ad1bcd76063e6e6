"""gevent-socketio's namespace mixins: rooms and broadcasts, over the server's adapter.

The seed looped over every socket of the process (``server.sockets``); here a room is a room of
the server's adapter (named ``<ns_name>_<room>`` in the namespace, as the seed named them) and a
broadcast is one adapter broadcast: the packet is encoded once per wire format, and an adapter
spanning processes (Redis) reaches clients of every process. ``session['rooms']`` still lists
this socket's rooms as the seed kept them.

Unlike the seed, ``broadcast_event`` reaches the sockets connected to *this namespace* (the
seed sent to every socket of the server, whose clients ignored packets for namespaces they had
not joined).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gsocketio._logging import get_logger
from gsocketio.adapters.base import EVERYONE, BroadcastOptions
from gsocketio.protocol.legacy_bridge import namespace_of
from gsocketio.protocol.socketio import Packet, PacketType

if TYPE_CHECKING:
    from gsocketio.adapters.base import Adapter
    from gsocketio.compat.virtsocket import VirtualSocket

__all__ = ["BroadcastMixin", "RoomsMixin"]

log = get_logger("gsocketio.compat")


class _SeedNamespace:
    """What the mixins use of :class:`gsocketio.namespace.BaseNamespace` (for typing)."""

    socket: VirtualSocket
    ns_name: str
    session: dict[str, Any]

    def _adapter(self) -> Adapter:
        adapter: Adapter = self.socket.server.adapter
        return adapter

    def _broadcast(self, event: str, args: tuple[Any, ...], opts: BroadcastOptions) -> None:
        packet = Packet(PacketType.EVENT, namespace_of(self.ns_name), [event, *args])
        self._adapter().broadcast(packet, opts)


class RoomsMixin(_SeedNamespace):
    """``join``/``leave`` rooms of this namespace and ``emit_to_room`` (the sender excluded)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "rooms" not in self.session:
            self.session["rooms"] = set()  # this socket's rooms, "<ns_name>_<room>"

    def join(self, room: str) -> None:
        """Put this socket in ``room`` of this namespace."""
        name = self._get_room_name(room)
        self.session["rooms"].add(name)
        sid = self.socket._room_sid(self.ns_name)
        if sid is None:
            log.debug(
                "join(%r): %s is not registered in %r", room, self.socket.sessid, self.ns_name
            )
            return
        self._adapter().enter_room(namespace_of(self.ns_name), sid, name)

    def leave(self, room: str) -> None:
        """Take this socket out of ``room``; ``KeyError`` if it is not in it (as the seed)."""
        name = self._get_room_name(room)
        self.session["rooms"].remove(name)
        sid = self.socket._room_sid(self.ns_name)
        if sid is not None:
            self._adapter().leave_room(namespace_of(self.ns_name), sid, name)

    def _get_room_name(self, room: str) -> str:
        return self.ns_name + "_" + room

    def emit_to_room(self, room: str, event: str, *args: Any) -> None:
        """Emit to every socket in ``room`` of this namespace, except this one."""
        sid = self.socket._room_sid(self.ns_name)
        opts = BroadcastOptions(
            rooms=frozenset((self._get_room_name(room),)),
            except_rooms=frozenset((sid,)) if sid is not None else frozenset(),
        )
        self._broadcast(event, args, opts)


class BroadcastMixin(_SeedNamespace):
    """Emit to every socket connected to this namespace.

    ::

        class MyNamespace(BaseNamespace, BroadcastMixin):
            def on_chatmsg(self, event):
                self.broadcast_event('chatmsg', event)
    """

    def broadcast_event(self, event: str, *args: Any) -> None:
        """Emit to every socket of this namespace, this one included."""
        self._broadcast(event, args, EVERYONE)

    def broadcast_event_not_me(self, event: str, *args: Any) -> None:
        """Emit to every socket of this namespace except this one."""
        sid = self.socket._room_sid(self.ns_name)
        opts = BroadcastOptions(except_rooms=frozenset((sid,))) if sid is not None else EVERYONE
        self._broadcast(event, args, opts)
