"""EngineConnection without sockets: the session ↔ Socket.IO side (send, close, timers,
disconnect notification), driven through a FakeEngine (recording reaper) and polling I/O."""

from __future__ import annotations

import math

import gevent

from gsocketio.protocol.engineio import Packet, PacketType
from gsocketio.protocol.engineio_session import Closed
from gsocketio.protocol.reasons import DisconnectReason
from tests.helpers.fakes import EchoHandler, FakeEngine, wait_until


class FailingHandler(EchoHandler):
    def engine_connect(self, conn: object) -> None:
        raise RuntimeError("the application broke")


def test_sends_before_any_transport_are_queued_and_the_open_packet_comes_first() -> None:
    engine = FakeEngine()
    conn = engine.connection()
    conn.send("early")  # no transport yet: nothing to wake, nothing lost
    polling, packets = conn.open_polling()
    assert [p.type for p in packets] == [PacketType.OPEN, PacketType.MESSAGE]
    assert conn.transport == "polling" and conn.io is polling


def test_send_many_is_ordered_and_dropped_once_closed() -> None:
    engine = FakeEngine()
    conn = engine.connection()
    conn.open_polling()
    conn.send_many(["a", "b"])
    conn.send(b"\x01")
    assert conn._session.take_outgoing() == [
        Packet(PacketType.MESSAGE, "a"),
        Packet(PacketType.MESSAGE, "b"),
        Packet(PacketType.MESSAGE, b"\x01"),
    ]
    conn.fail(DisconnectReason.PARSE_ERROR, "bad")
    conn.send("late")
    conn.send_many(["later"])
    assert conn.closed
    assert conn._session.take_outgoing() == [Packet(PacketType.CLOSE)]


def test_disconnect_is_notified_once_inline_from_a_request() -> None:
    engine = FakeEngine()
    conn = engine.connection()
    conn.open_polling()
    conn.connected()
    conn.fail(DisconnectReason.PARSE_ERROR, "bad packet")
    assert engine.handler.disconnects == {conn.sid: "parse error"}  # inline: at once
    assert engine.forgotten == [conn.sid]  # a protocol error drops the sid at once
    conn.fail(DisconnectReason.PARSE_ERROR, "again")
    assert engine.handler.disconnects == {conn.sid: "parse error"}


def test_server_close_on_idle_polling_keeps_the_sid_for_the_last_get() -> None:
    engine = FakeEngine(ping_timeout=7)
    conn = engine.connection()
    conn.open_polling()
    conn.connected()
    conn.close()  # from the application's greenlet: the handler runs in a fresh greenlet
    assert engine.handler.disconnects == {}
    wait_until(lambda: conn.sid in engine.handler.disconnects, "the disconnect")
    assert engine.handler.disconnects[conn.sid] == "forced close"
    assert engine.forgotten == []  # CLOSE is still queued for the next GET
    deadline = engine.reaper.scheduled[id(conn)]
    assert conn.tick(deadline - 1) == deadline
    assert conn.tick(deadline) is None and engine.forgotten == [conn.sid]


def test_a_failing_connect_handler_closes_the_session() -> None:
    engine = FakeEngine(handler=FailingHandler())
    conn = engine.connection()
    conn.open_polling()
    conn.connected()
    assert conn.closed
    assert engine.handler.disconnects == {conn.sid: "transport error"}


def test_ticks_queue_pings_and_close_on_timeout() -> None:
    engine = FakeEngine(ping_interval=10, ping_timeout=5)
    conn = engine.connection()
    conn.open_polling()
    conn.connected()
    assert conn.timer_at == 10.0  # rescheduled at connect: the first ping
    assert conn.tick(10.0) == 15.0  # PING queued; the pong deadline next
    assert conn._session.take_outgoing() == [Packet(PacketType.PING)]
    assert conn.tick(15.0) is None
    gevent.sleep(0)  # the disconnect runs in its own greenlet (not the reaper's)
    wait_until(lambda: conn.sid in engine.handler.disconnects, "the disconnect")
    assert engine.handler.disconnects[conn.sid] == "ping timeout"
    assert conn.timer_at == math.inf  # cancelled: the heap holds no reference


def test_process_acts_on_closed_events_exactly_once() -> None:
    engine = FakeEngine()
    conn = engine.connection()
    conn.open_polling()
    events = conn._session.close(DisconnectReason.TRANSPORT_CLOSE, "client sent CLOSE")
    assert events == [Closed(DisconnectReason.TRANSPORT_CLOSE, "client sent CLOSE")]
    conn.process(events, inline=True)
    conn.process(events, inline=True)  # replayed: the handler is told once
    assert list(engine.handler.disconnects.values()) == ["transport close"]
