"""The in-memory adapter: rooms per namespace, selection, encode once per wire format."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gsocketio.adapters.base import BroadcastOptions
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.protocol.socketio import Packet, PacketType


class CountingWire:
    """A wire format that records every encode."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.encodes = 0

    def encode(self, packet: Packet) -> Sequence[str | bytes]:
        self.encodes += 1
        return [f"{self.tag}:{packet.data[0]}"]


class FakeRecipient:
    def __init__(self, wire: CountingWire) -> None:
        self.wire = wire
        self.received: list[str | bytes] = []

    def deliver(self, items: Sequence[str | bytes]) -> None:
        self.received.extend(items)


def opts(rooms: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> BroadcastOptions:
    return BroadcastOptions(rooms=frozenset(rooms), except_rooms=frozenset(skip))


def event(name: str, namespace: str = "/") -> Packet:
    return Packet(PacketType.EVENT, namespace, [name])


@pytest.fixture
def wire() -> CountingWire:
    return CountingWire("v5")


@pytest.fixture
def adapter_with_three(wire: CountingWire) -> tuple[MemoryAdapter, dict[str, FakeRecipient]]:
    adapter = MemoryAdapter()
    recipients = {sid: FakeRecipient(wire) for sid in ("a", "b", "c")}
    for sid, recipient in recipients.items():
        adapter.add_socket("/", sid, recipient)
    return adapter, recipients


def test_every_socket_is_in_its_own_room(
    adapter_with_three: tuple[MemoryAdapter, dict[str, FakeRecipient]],
) -> None:
    adapter, _ = adapter_with_three
    assert adapter.rooms_of("/", "a") == {"a"}
    assert adapter.sockets("/", opts(("b",))) == {"b"}
    assert adapter.all_rooms("/") == set()


def test_enter_leave_and_rooms_of(
    adapter_with_three: tuple[MemoryAdapter, dict[str, FakeRecipient]],
) -> None:
    adapter, _ = adapter_with_three
    adapter.enter_room("/", "a", "red")
    adapter.enter_room("/", "b", "red")
    adapter.enter_room("/", "a", "blue")
    assert adapter.rooms_of("/", "a") == {"a", "red", "blue"}
    assert adapter.sockets("/", opts(("red",))) == {"a", "b"}
    adapter.leave_room("/", "a", "red")
    adapter.leave_room("/", "a", "never-joined")  # no-op
    assert adapter.sockets("/", opts(("red",))) == {"b"}
    assert adapter.all_rooms("/") == {"red", "blue"}
    adapter.leave_room("/", "b", "red")
    assert adapter.all_rooms("/") == {"blue"}  # empty rooms disappear


def test_enter_room_of_unknown_sid_raises() -> None:
    adapter = MemoryAdapter()
    with pytest.raises(KeyError):
        adapter.enter_room("/", "ghost", "red")
    with pytest.raises(KeyError):
        adapter.rooms_of("/", "ghost")


def test_rooms_are_per_namespace(wire: CountingWire) -> None:
    adapter = MemoryAdapter()
    one, two = FakeRecipient(wire), FakeRecipient(wire)
    adapter.add_socket("/", "x", one)
    adapter.add_socket("/chat", "y", two)
    adapter.enter_room("/", "x", "room")
    adapter.enter_room("/chat", "y", "room")
    adapter.broadcast(event("hi", "/chat"), opts(("room",)))
    assert one.received == []
    assert two.received == ["v5:hi"]


def test_broadcast_to_all_rooms_and_except(
    adapter_with_three: tuple[MemoryAdapter, dict[str, FakeRecipient]], wire: CountingWire
) -> None:
    adapter, rec = adapter_with_three
    adapter.enter_room("/", "a", "red")
    adapter.enter_room("/", "b", "red")
    adapter.enter_room("/", "c", "blue")

    adapter.broadcast(event("all"))
    adapter.broadcast(event("red"), opts(("red",)))
    adapter.broadcast(event("red-not-a"), opts(("red",), ("a",)))
    adapter.broadcast(event("red+blue"), opts(("red", "blue")))
    adapter.broadcast(event("not-red"), opts((), ("red",)))
    adapter.broadcast(event("nobody"), opts(("empty",)))

    assert rec["a"].received == ["v5:all", "v5:red", "v5:red+blue"]
    assert rec["b"].received == ["v5:all", "v5:red", "v5:red-not-a", "v5:red+blue"]
    assert rec["c"].received == ["v5:all", "v5:red+blue", "v5:not-red"]
    assert wire.encodes == 5  # once per broadcast that had a recipient, never per recipient


def test_encodes_once_per_wire_format(wire: CountingWire) -> None:
    legacy = CountingWire("legacy")
    adapter = MemoryAdapter()
    recipients = [FakeRecipient(wire if i % 2 else legacy) for i in range(6)]
    for i, recipient in enumerate(recipients):
        adapter.add_socket("/", f"s{i}", recipient)
    adapter.broadcast(event("hey"))
    assert (wire.encodes, legacy.encodes) == (1, 1)
    assert [r.received for r in recipients] == [
        ["legacy:hey"] if i % 2 == 0 else ["v5:hey"] for i in range(6)
    ]


def test_remove_socket_leaves_rooms_and_forgets_namespace(wire: CountingWire) -> None:
    adapter = MemoryAdapter()
    adapter.add_socket("/dyn", "a", FakeRecipient(wire))
    adapter.enter_room("/dyn", "a", "red")
    adapter.remove_socket("/dyn", "a")
    adapter.remove_socket("/dyn", "a")  # idempotent
    assert adapter.sockets("/dyn") == set()
    assert adapter.all_rooms("/dyn") == set()
    assert adapter._nsps == {}  # a dynamic namespace leaves nothing behind


def test_close_room_and_bulk_join_leave(
    adapter_with_three: tuple[MemoryAdapter, dict[str, FakeRecipient]],
) -> None:
    adapter, _ = adapter_with_three
    adapter.add_sockets("/", opts(), ["everyone", "also"])
    assert adapter.sockets("/", opts(("everyone",))) == {"a", "b", "c"}
    adapter.del_sockets("/", opts(("a",)), ["everyone"])
    assert adapter.sockets("/", opts(("everyone",))) == {"b", "c"}
    adapter.close_room("/", "everyone")
    assert adapter.sockets("/", opts(("everyone",))) == set()
    assert adapter.rooms_of("/", "a") == {"a", "also"}


def test_delivery_that_removes_sockets_does_not_break_the_broadcast(wire: CountingWire) -> None:
    adapter = MemoryAdapter()

    class Leaver(FakeRecipient):
        def deliver(self, items: Sequence[str | bytes]) -> None:
            super().deliver(items)
            for sid in ("a", "b", "c"):
                adapter.remove_socket("/", sid)

    recipients = {sid: Leaver(wire) for sid in ("a", "b", "c")}
    for sid, recipient in recipients.items():
        adapter.add_socket("/", sid, recipient)
    adapter.broadcast(event("bye"))
    assert sum(len(r.received) for r in recipients.values()) == 1
