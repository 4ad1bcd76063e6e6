"""The memory adapter's recovery hook without sockets: what is stored and the options."""

from __future__ import annotations

import pytest

from gsocketio.adapters.base import BroadcastFlags, BroadcastOptions
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.adapters.recovery import Recovery, RecoveryOptions
from gsocketio.protocol.socketio import Packet, PacketType


def test_only_plain_events_are_stamped() -> None:
    recovery = Recovery(RecoveryOptions(), clock=lambda: 0.0)
    plain = Packet(PacketType.EVENT, "/", ["ev", b"\x00"])
    recovery.stamp(plain, BroadcastOptions())
    assert plain.data[:2] == ["ev", b"\x00"] and isinstance(plain.data[2], str)
    acked = Packet(PacketType.EVENT, "/", ["ev"], 7)
    recovery.stamp(acked, BroadcastOptions())
    volatile = Packet(PacketType.EVENT, "/", ["ev"])
    recovery.stamp(volatile, BroadcastOptions(flags=BroadcastFlags(volatile=True)))
    ack = Packet(PacketType.ACK, "/", [1], 3)
    recovery.stamp(ack, BroadcastOptions())
    assert acked.data == ["ev"] and volatile.data == ["ev"] and ack.data == [1]
    assert len(recovery.store) == 1


def test_options() -> None:
    assert RecoveryOptions.parse(None) is None and RecoveryOptions.parse(False) is None
    assert RecoveryOptions.parse(True) == RecoveryOptions()
    parsed = RecoveryOptions.parse({"max_disconnection_duration": 5, "skip_middlewares": False})
    assert parsed == RecoveryOptions(max_disconnection_duration=5, skip_middlewares=False)
    with pytest.raises(ValueError):
        RecoveryOptions.parse({"maxDisconnectionDuration": 5})


def test_memory_adapter_stores_without_recipients() -> None:
    adapter = MemoryAdapter()
    adapter.enable_recovery(RecoveryOptions())
    packet = Packet(PacketType.EVENT, "/nobody", ["ev"])
    adapter.broadcast(packet, BroadcastOptions(rooms=frozenset({"r"})))
    assert len(packet.data) == 2
