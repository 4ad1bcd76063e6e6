"""Hostile msgpack frames against a live ``Server(serializer="msgpack")``: each one closes
the attacker's connection (no traceback, no hang), and a well-behaved msgpack client connected
beside it keeps getting its acks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import socketio
import websocket

OVERSIZED = "over max_http_buffer_size"  # the engine refuses the frame (1009) before decoding
ATTACKS: dict[str, bytes] = {
    "array header announcing 2**32-1 items": b"\xdd\xff\xff\xff\xff",
    "map header announcing 2**32-1 pairs": b"\xdf\xff\xff\xff\xff",
    "string longer than the frame": b"\xdb\x7f\xff\xff\xff" + b"a" * 10,
    "nesting 10,000 deep": b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data" + b"\x91" * 10_000 + b"\x90",
    "reserved byte": b"\xc1",
    "unknown extension": b"\xd4\x07\x00",
    "invalid UTF-8": b"\x81\xa2\xff\xfe\x01",
    "trailing bytes": msgpack.packb({"type": 2, "nsp": "/", "data": ["echo"]}) + b"\x00",
    "ack id beyond 2**53": msgpack.packb({"type": 2, "nsp": "/", "data": ["echo"], "id": 2**63}),
    "reserved event name": msgpack.packb({"type": 2, "nsp": "/", "data": ["disconnect"]}),
    OVERSIZED: msgpack.packb({"type": 2, "nsp": "/", "data": ["echo", "x" * 200_000]}),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hostile_frame_closes_only_the_attacker(
    app: Callable[..., tuple[str, Any, Any]], attack: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, _sio, _rec = app(serializer="msgpack", max_http_buffer_size=100_000)
    good = socketio.Client(serializer="msgpack", reconnection=False)
    good.connect(url, transports=["websocket"], wait_timeout=5)
    ws = websocket.create_connection(
        url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket", timeout=5
    )
    try:
        assert str(ws.recv()).startswith("0{")  # Engine.IO open
        ws.send_binary(msgpack.packb({"type": 0, "nsp": "/"}))
        connected = msgpack.unpackb(ws.recv())
        assert connected["type"] == 0 and "sid" in connected["data"]
        with caplog.at_level(logging.WARNING, logger="gsocketio.server"):
            ws.send_binary(ATTACKS[attack])
            for _ in range(10):  # a pong or two may come first; then the close
                try:
                    frame = ws.recv()
                except websocket.WebSocketConnectionClosedException:
                    break
                if frame in ("", b""):
                    break
            else:
                raise AssertionError("the attacker's connection stayed open")
        if attack != OVERSIZED:
            assert any("bad packet" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert good.call("echo", ("still", b"\x01"), timeout=5) == ("still", b"\x01")
    finally:
        ws.close()
        good.disconnect()
