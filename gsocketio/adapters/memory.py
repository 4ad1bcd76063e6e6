"""The in-process adapter: rooms in dicts, broadcasts delivered straight to local sockets.

Memory is per socket, not per room membership only: a socket that joined no room costs one
dict entry (its sid room is implicit), which matters with tens of thousands of idle sockets.
Namespaces whose last socket left are forgotten, so dynamic namespaces do not accumulate.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from gsocketio.adapters.base import (
    EVERYONE,
    Adapter,
    BroadcastOptions,
    Encoded,
    Recipient,
    WireFormat,
)
from gsocketio.adapters.recovery import Recovery

if TYPE_CHECKING:
    from gsocketio.adapters.recovery import RecoveryOptions
    from gsocketio.protocol.recovery import Restored, Session
    from gsocketio.protocol.socketio import Packet

__all__ = ["MemoryAdapter"]


class _Namespace:
    """Room state of one namespace."""

    __slots__ = ("joined", "recipients", "rooms")

    def __init__(self) -> None:
        self.recipients: dict[str, Recipient] = {}
        self.rooms: dict[str, set[str]] = {}  # explicit room -> sids
        self.joined: dict[str, set[str]] = {}  # sid -> explicit rooms (only sids that joined)

    def members(self, room: str) -> Collection[str]:
        members = self.rooms.get(room)
        if room in self.recipients:  # the implicit sid room
            return members | {room} if members else (room,)
        return members if members is not None else ()

    def select(self, opts: BroadcastOptions) -> list[str]:
        """A snapshot of the selected sids, so delivery may safely change the rooms."""
        rooms = opts.rooms
        if not rooms:
            base: Collection[str] = self.recipients
        elif len(rooms) == 1:
            base = self.members(next(iter(rooms)))
        else:
            union: set[str] = set()
            for room in rooms:
                union.update(self.members(room))
            base = union
        if not opts.except_rooms:
            return list(base)
        excluded: set[str] = set()
        for room in opts.except_rooms:
            excluded.update(self.members(room))
        return [sid for sid in base if sid not in excluded]

    def join(self, sid: str, room: str) -> None:
        if room == sid:
            return
        joined = self.joined.get(sid)
        if joined is None:
            joined = self.joined[sid] = set()
        joined.add(room)
        members = self.rooms.get(room)
        if members is None:
            members = self.rooms[room] = set()
        members.add(sid)

    def leave(self, sid: str, room: str) -> None:
        joined = self.joined.get(sid)
        if joined is None or room not in joined:
            return
        joined.discard(room)
        if not joined:
            del self.joined[sid]
        members = self.rooms[room]
        members.discard(sid)
        if not members:
            del self.rooms[room]


class MemoryAdapter(Adapter):
    """The default adapter: one process, no I/O."""

    def __init__(self) -> None:
        self._nsps: dict[str, _Namespace] = {}

    def add_socket(self, namespace: str, sid: str, recipient: Recipient) -> None:
        ns = self._nsps.get(namespace)
        if ns is None:
            ns = self._nsps[namespace] = _Namespace()
        ns.recipients[sid] = recipient

    def remove_socket(self, namespace: str, sid: str) -> None:
        ns = self._nsps.get(namespace)
        if ns is None or ns.recipients.pop(sid, None) is None:
            return
        for room in list(ns.joined.get(sid, ())):
            ns.leave(sid, room)
        if not ns.recipients:
            del self._nsps[namespace]

    def _known(self, namespace: str, sid: str) -> _Namespace:
        ns = self._nsps.get(namespace)
        if ns is None or sid not in ns.recipients:
            raise KeyError(f"no socket {sid!r} in namespace {namespace!r}")
        return ns

    def enter_room(self, namespace: str, sid: str, room: str) -> None:
        self._known(namespace, sid).join(sid, room)

    def leave_room(self, namespace: str, sid: str, room: str) -> None:
        ns = self._nsps.get(namespace)
        if ns is not None:
            ns.leave(sid, room)

    def rooms_of(self, namespace: str, sid: str) -> set[str]:
        ns = self._known(namespace, sid)
        rooms = {sid}
        rooms.update(ns.joined.get(sid, ()))
        return rooms

    def sockets(self, namespace: str, opts: BroadcastOptions = EVERYONE) -> set[str]:
        ns = self._nsps.get(namespace)
        return set(ns.select(opts)) if ns is not None else set()

    def has_members(self, namespace: str, room: str) -> bool:
        """Is any local socket in ``room`` (or is it a local sid)? Cheap: no set is built."""
        ns = self._nsps.get(namespace)
        return ns is not None and (room in ns.rooms or room in ns.recipients)

    def room_exists(self, namespace: str, room: str) -> bool:
        """Has any local socket explicitly joined ``room``?"""
        ns = self._nsps.get(namespace)
        return ns is not None and room in ns.rooms

    def all_rooms(self, namespace: str) -> set[str]:
        ns = self._nsps.get(namespace)
        return set(ns.rooms) if ns is not None else set()

    _recovery: Recovery | None = None

    def enable_recovery(self, options: RecoveryOptions) -> None:
        self._recovery = Recovery(options)
        self.recovers = True

    def persist_session(self, session: Session) -> None:
        if self._recovery is not None:
            self._recovery.persist(session)

    def forget_session(self, pid: str) -> None:
        if self._recovery is not None:
            self._recovery.store.discard(pid)

    def restore_session(self, auth: Any, namespace: str) -> Restored | None:
        if self._recovery is None:
            return None
        return self._recovery.restore(auth, namespace)

    def broadcast(self, packet: Packet, opts: BroadcastOptions = EVERYONE) -> None:
        recovery = self._recovery
        if recovery is not None:  # stored (and stamped) even if no recipient is connected now
            recovery.stamp(packet, opts)
        ns = self._nsps.get(packet.namespace)
        if ns is None:
            return
        recipients = ns.recipients
        # Encode lazily, once per wire format: the common case (one format) needs no dict.
        first_wire: WireFormat | None = None
        first_items: Encoded = ()
        others: dict[WireFormat, Encoded] | None = None
        volatile = opts.flags.volatile
        for sid in ns.select(opts):
            recipient = recipients.get(sid)
            if recipient is None:  # left while an earlier delivery ran
                continue
            wire = recipient.wire
            if wire is first_wire:
                items = first_items
            elif first_wire is None:
                first_wire = wire
                items = first_items = wire.encode(packet)
            else:
                if others is None:
                    others = {}
                found = others.get(wire)
                if found is None:
                    found = others[wire] = wire.encode(packet)
                items = found
            if volatile:  # a slow client may drop it (Server(slow_consumer="drop_volatile"))
                getattr(recipient, "deliver_volatile", recipient.deliver)(items)
            else:
                recipient.deliver(items)

    def add_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        ns = self._nsps.get(namespace)
        if ns is None:
            return
        rooms = tuple(rooms)
        for sid in ns.select(opts):
            for room in rooms:
                ns.join(sid, room)

    def del_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        ns = self._nsps.get(namespace)
        if ns is None:
            return
        rooms = tuple(rooms)
        for sid in ns.select(opts):
            for room in rooms:
                ns.leave(sid, room)

    def close_room(self, namespace: str, room: str) -> None:
        ns = self._nsps.get(namespace)
        if ns is None:
            return
        for sid in list(ns.rooms.get(room, ())):
            ns.leave(sid, room)
