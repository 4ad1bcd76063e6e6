"""The engine's WebSocket I/O without sockets (FakeWebSocket): the reader's hot path and its
general path, the batched flush with frames shared per flush, the writer greenlet, and the
probe/upgrade driver."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

from gsocketio.engine.connection import EngineConnection
from gsocketio.engine.websocket import WebSocketIO
from gsocketio.exceptions import SessionError
from tests.helpers.fakes import FakeEngine, FakeWebSocket, wait_until


def websocket_session(
    incoming: list[str | bytes], eio: int = 4, b64: bool = False, **settings: Any
) -> tuple[FakeEngine, EngineConnection, FakeWebSocket, WebSocketIO]:
    engine = FakeEngine(**settings)
    conn = engine.connection(eio=eio, transport="websocket", b64=b64)
    ws = FakeWebSocket(incoming)
    io = conn.attach_websocket(ws)
    conn.connected()
    return engine, conn, ws, io


def test_reader_delivers_in_order_and_echoes_through_one_flush() -> None:
    engine, conn, ws, io = websocket_session(["4a", "4b", b"\x01\x02"])
    io.run()  # returns when the fake socket is exhausted (peer closed)
    assert [data for _sid, data in engine.handler.messages] == ["a", "b", b"\x01\x02"]
    assert str(ws.sent[0]).startswith("0{")  # the OPEN packet first
    assert ws.sent[1:] == ["4a", "4b", b"\x01\x02"]
    assert engine.handler.disconnects[conn.sid] == "transport close"


def test_a_frame_that_is_no_packet_closes_with_parse_error_and_close_packet() -> None:
    engine, conn, ws, io = websocket_session(["4ok", "x-not-a-packet", "4never"])
    io.run()
    assert [data for _sid, data in engine.handler.messages] == ["ok"]
    assert engine.handler.disconnects[conn.sid] == "parse error"
    assert ws.sent[-1] == "1"  # CLOSE, written before the socket closed


def test_v3_b64_clients_get_binary_as_base64_text() -> None:
    _engine, _conn, ws, io = websocket_session(["b4AQID", "2"], eio=3, b64=True)
    io.run()
    assert ws.sent[1:] == ["b4AQID", "3"]  # the echo, then PONG to the client's PING


def test_flushes_share_messages_between_connections() -> None:
    _e1, a, ws_a, _io_a = websocket_session([])
    _e2, b, ws_b, _io_b = websocket_session([])
    gevent.sleep(0)  # the OPEN packets go out
    text = "shared" * 10
    a.send(text)
    b.send(text)
    gevent.sleep(0)  # one hub callback flushes both
    assert ws_a.sent[-1] == ws_b.sent[-1] == "4" + text
    assert ws_a.sent[-1] is ws_b.sent[-1]  # one encoded message for both
    assert ws_a.caches[-1] is ws_b.caches[-1] is not None  # one frame cache for the flush


def test_a_full_socket_hands_over_to_a_writer_that_retires() -> None:
    _engine, conn, ws, io = websocket_session([])
    ws.full = True
    conn.send_many([f"m{i}" for i in range(3)])
    wait_until(lambda: ws.sent[1:] == ["4m0", "4m1", "4m2"], "the writer to drain")
    wait_until(lambda: not io.writing, "the writer to retire")


def test_a_failed_write_closes_the_session() -> None:
    engine, conn, ws, _io = websocket_session([])
    ws.fail = True
    conn.send("x")
    wait_until(lambda: conn.sid in engine.handler.disconnects, "the disconnect")
    assert engine.handler.disconnects[conn.sid] == "transport error"


def test_a_full_outgoing_buffer_aborts_the_socket() -> None:
    engine, conn, ws, _io = websocket_session([], max_buffered_packets=3)
    ws.full = True
    for i in range(5):
        conn.send(f"m{i}")
    wait_until(lambda: conn.sid in engine.handler.disconnects, "the disconnect")
    assert engine.handler.disconnects[conn.sid] == "outgoing buffer full"
    assert ws.aborted


def upgrade_session(
    probe_frames: list[str],
) -> tuple[FakeEngine, EngineConnection, FakeWebSocket, WebSocketIO]:
    engine = FakeEngine()
    conn = engine.connection(eio=4, transport="polling")
    conn.open_polling()
    conn.connected()
    ws = FakeWebSocket(probe_frames)
    probe = conn.start_upgrade(ws)
    return engine, conn, ws, probe


def test_probe_then_upgrade_moves_the_session() -> None:
    _engine, conn, ws, probe = upgrade_session(["2probe", "5"])
    assert probe.run_probe() is True
    assert ws.sent == ["3probe"]
    assert conn.transport == "websocket" and conn.io is probe
    with pytest.raises(SessionError):  # a second WebSocket cannot upgrade any more
        conn.start_upgrade(FakeWebSocket())


def test_a_bad_probe_leaves_the_session_on_polling() -> None:
    engine, conn, ws, probe = upgrade_session(["4too-early"])
    assert probe.run_probe() is False
    assert conn.transport == "polling" and not conn.closed
    wait_until(lambda: ws.closed, "the probe to be closed")
    assert engine.handler.disconnects == {}
    conn.start_upgrade(FakeWebSocket())  # may try again
