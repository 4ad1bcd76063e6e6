"""Room-change notifications from a :class:`MemoryAdapter`, for instrumentation (the Admin UI).

Node's adapters emit ``join-room``/``leave-room``; ours stay silent so that joins cost nothing
extra. :func:`watch_rooms` wraps one adapter instance's room methods, when asked, to report
each change: only that instance pays, and only from then on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gsocketio.adapters.base import BroadcastOptions
from gsocketio.adapters.memory import MemoryAdapter

__all__ = ["watch_rooms"]


def watch_rooms(local: MemoryAdapter, report: Callable[[str, str, str, bool], None]) -> None:
    """Wrap ``local``'s room methods (on the instance: nothing changes for other adapters)
    to call ``report(namespace, room, sid, joined)`` for each explicit room a socket joins or
    leaves; sid rooms are part of the socket's own listing. The Redis adapters apply every
    change, local or from another node, through their ``local`` MemoryAdapter."""
    enter, leave = local.enter_room, local.leave_room
    add_many, del_many = local.add_sockets, local.del_sockets
    remove, close = local.remove_socket, local.close_room

    def snapshot(namespace: str, sids: Iterable[str]) -> dict[str, set[str]]:
        found = {}
        for sid in sids:
            try:
                found[sid] = local.rooms_of(namespace, sid) - {sid}
            except KeyError:
                continue
        return found

    def diff(namespace: str, before: dict[str, set[str]]) -> None:
        after = snapshot(namespace, before)
        for sid, old in sorted(before.items()):
            new = after.get(sid, set())
            for room in sorted(new - old):
                report(namespace, room, sid, True)
            for room in sorted(old - new):
                report(namespace, room, sid, False)

    def enter_room(namespace: str, sid: str, room: str) -> None:
        before = snapshot(namespace, (sid,))
        enter(namespace, sid, room)
        diff(namespace, before)

    def leave_room(namespace: str, sid: str, room: str) -> None:
        before = snapshot(namespace, (sid,))
        leave(namespace, sid, room)
        diff(namespace, before)

    def add_sockets(namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        before = snapshot(namespace, local.sockets(namespace, opts))
        add_many(namespace, opts, rooms)
        diff(namespace, before)

    def del_sockets(namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        before = snapshot(namespace, local.sockets(namespace, opts))
        del_many(namespace, opts, rooms)
        diff(namespace, before)

    def remove_socket(namespace: str, sid: str) -> None:
        before = snapshot(namespace, (sid,))
        remove(namespace, sid)
        diff(namespace, before)

    def close_room(namespace: str, room: str) -> None:
        before = snapshot(namespace, local.sockets(namespace, BroadcastOptions(frozenset((room,)))))
        close(namespace, room)
        diff(namespace, before)

    local.enter_room = enter_room  # type: ignore[method-assign]
    local.leave_room = leave_room  # type: ignore[method-assign]
    local.add_sockets = add_sockets  # type: ignore[method-assign]
    local.del_sockets = del_sockets  # type: ignore[method-assign]
    local.remove_socket = remove_socket  # type: ignore[method-assign]
    local.close_room = close_room  # type: ignore[method-assign]
