"""gevent-socketio packet dicts ⇄ Socket.IO packets (compat/packets.py), pure."""

from __future__ import annotations

from typing import Any

import pytest

from gsocketio.compat.packets import event_dict, packet_of
from gsocketio.protocol.socketio import Packet, PacketType

T = PacketType


@pytest.mark.parametrize(
    ("data", "ack_id", "on_message", "expected"),
    [
        (
            ["chat", 1],
            None,
            False,
            {"type": "event", "name": "chat", "args": [1], "endpoint": "/c"},
        ),
        (["message", "hi"], None, False, {"type": "message", "data": "hi", "endpoint": "/c"}),
        (
            ["message", {"a": 1}],
            3,
            False,
            {"type": "json", "data": {"a": 1}, "endpoint": "/c", "id": 3, "ack": "data"},
        ),
        (
            ["message", "hi"],
            None,
            True,
            {"type": "event", "name": "message", "args": ["hi"], "endpoint": "/c"},
        ),
        (
            ["message", 1, 2],
            None,
            False,
            {"type": "event", "name": "message", "args": [1, 2], "endpoint": "/c"},
        ),
    ],
)
def test_event_dict(
    data: list[Any], ack_id: int | None, on_message: bool, expected: dict[str, Any]
) -> None:
    assert event_dict("/c", data, ack_id, on_message=on_message) == expected


def test_packet_of() -> None:
    event = {"type": "event", "name": "n", "args": (1, 2), "endpoint": ""}
    assert packet_of(event, "/", 7) == Packet(T.EVENT, "/", ["n", 1, 2], 7)
    assert packet_of({"type": "json", "data": [1]}, "/", None) == Packet(
        T.EVENT, "/", ["message", [1]]
    )
    assert packet_of({"type": "ack", "ackId": "4", "args": ["x"]}, "/a", None) == Packet(
        T.ACK, "/a", ["x"], 4
    )
    for kind in ("connect", "disconnect", "error", "heartbeat", "noop"):
        assert packet_of({"type": kind}, "/", None) is None
    with pytest.raises(ValueError):
        packet_of({"type": "bogus"}, "/", None)
