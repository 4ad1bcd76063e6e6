"""The Engine.IO session state machine, driven with explicit time values (no clock, no sleeps)."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsocketio.exceptions import SessionClosedError, SessionError
from gsocketio.protocol.engineio import Packet, PacketType, encode_packet, encode_payload_v3
from gsocketio.protocol.engineio_session import (
    Closed,
    Event,
    MessageReceived,
    ProbeReply,
    Session,
    SessionConfig,
    SessionState,
    Transport,
    Upgraded,
    UpgradeFailed,
)
from gsocketio.protocol.reasons import DisconnectReason

T = PacketType
SID = "lv_VI97HAXpY6yYWAAAC"
PING, PONG, NOOP, CLOSE = Packet(T.PING), Packet(T.PONG), Packet(T.NOOP), Packet(T.CLOSE)


def opened(eio: int = 4, transport: str = "polling", **config: object) -> Session:
    """A session at t=0 whose OPEN packet was already written."""
    session = Session(SID, eio=eio, transport=transport, now=0.0, config=SessionConfig(**config))  # type: ignore[arg-type]
    assert session.take_outgoing()[0].type is T.OPEN
    return session


def state_of(session: Session) -> SessionState:
    """Read the state afresh (keeps mypy from carrying a narrowed value across calls)."""
    return session.state


# --- handshake --------------------------------------------------------------------------------


def test_v4_open_packet_matches_the_spec_example() -> None:
    session = Session(SID, eio=4, transport="polling", now=0.0)
    packet = session.open_packet()
    assert packet.type is T.OPEN
    assert json.loads(packet.data) == {
        "sid": "lv_VI97HAXpY6yYWAAAC",
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000000,
    }
    assert session.take_outgoing() == [packet]  # queued first by the constructor
    assert session.take_outgoing() == []


def test_v3_handshake_matches_the_spec_sample_session() -> None:
    session = Session(
        SID, eio=3, transport="polling", now=0.0, config=SessionConfig(ping_timeout=5)
    )
    body = encode_payload_v3(session.take_outgoing(), binary=False)
    assert body == (
        '96:0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
        '"pingInterval":25000,"pingTimeout":5000}'
    )


def test_websocket_session_offers_no_upgrade() -> None:
    session = Session(SID, eio=4, transport="websocket", now=0.0)
    assert json.loads(session.open_packet().data)["upgrades"] == []
    assert session.transport is Transport.WEBSOCKET
    with pytest.raises(SessionError):
        session.start_upgrade("websocket", 1.0)


def test_messages_queued_at_connect_follow_the_open_packet() -> None:
    session = Session(SID, eio=4, transport="polling", now=0.0)
    session.send(Packet(PacketType.MESSAGE, "40"))
    assert [encode_packet(p) for p in session.take_outgoing()][1:] == ["440"]


def test_invalid_construction() -> None:
    with pytest.raises(ValueError):
        Session(SID, eio=5, transport="polling", now=0.0)
    with pytest.raises(ValueError):
        Session(SID, eio=4, transport="carrier-pigeon", now=0.0)
    with pytest.raises(ValueError):
        SessionConfig(ping_interval=0)
    with pytest.raises(ValueError):
        SessionConfig(max_buffered_packets=0)


# --- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("eio", [3, 4])
def test_messages_received_in_order(eio: int) -> None:
    session = opened(eio)
    assert session.receive(Packet(T.MESSAGE, "hello"), 1.0) == [MessageReceived("hello")]
    assert session.receive(Packet(T.MESSAGE, b"\x01"), 1.0) == [MessageReceived(b"\x01")]
    assert session.receive(NOOP, 1.0) == []


@pytest.mark.parametrize("eio", [3, 4])
def test_outgoing_drains_in_order(eio: int) -> None:
    session = opened(eio)
    assert not session.has_outgoing()
    session.send(Packet(PacketType.MESSAGE, "a"))
    session.send_many(["b", b"c"])
    session.send(NOOP)
    assert session.has_outgoing()
    assert session.take_outgoing() == [
        Packet(T.MESSAGE, "a"),
        Packet(T.MESSAGE, "b"),
        Packet(T.MESSAGE, b"c"),
        NOOP,
    ]
    assert not session.has_outgoing()


# --- v4 heartbeat: the server pings -----------------------------------------------------------


def test_v4_server_pings_every_interval() -> None:
    session = opened(4)
    assert session.next_deadline() == 25.0
    assert session.tick(24.9) == [] and not session.has_outgoing()
    assert session.tick(25.0) == []
    assert session.take_outgoing() == [PING]
    assert encode_packet(PING) == "2"
    assert session.next_deadline() == 45.0  # pong expected within ping_timeout
    assert session.tick(30.0) == [] and not session.has_outgoing()  # no second ping meanwhile
    assert session.receive(PONG, 30.0) == []
    assert session.next_deadline() == 55.0  # next ping one interval after the pong
    session.tick(55.0)
    assert session.take_outgoing() == [PING]


def test_v4_missing_pong_closes_with_ping_timeout() -> None:
    session = opened(4)
    session.tick(25.0)
    session.take_outgoing()
    assert session.tick(44.9) == []
    assert session.tick(45.0) == [
        Closed(DisconnectReason.PING_TIMEOUT, "no PONG within ping_timeout")
    ]
    assert session.closed and session.close_reason is DisconnectReason.PING_TIMEOUT
    assert session.take_outgoing() == []  # the peer is unresponsive: no CLOSE packet
    assert session.next_deadline() == math.inf
    assert session.tick(100.0) == []


def test_v4_other_packets_extend_the_pong_wait_once() -> None:
    session = opened(4)
    session.tick(25.0)
    session.receive(Packet(T.MESSAGE, "busy"), 40.0)
    assert session.next_deadline() == 60.0
    session.receive(Packet(T.MESSAGE, "busy"), 50.0)
    assert session.next_deadline() == 60.0
    assert session.tick(60.0)[0] == Closed(
        DisconnectReason.PING_TIMEOUT, "no PONG within ping_timeout"
    )


def test_v4_client_ping_is_a_protocol_error() -> None:
    session = opened(4)
    events = session.receive(Packet(T.PING, "x"), 1.0)
    assert events == [Closed(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")]


# --- v3 heartbeat: the client pings -----------------------------------------------------------


def test_v3_server_answers_ping_with_same_data() -> None:
    session = opened(3)
    assert session.receive(Packet(T.PING, "probe"), 1.0) == []
    assert session.receive(PING, 2.0) == []
    assert [encode_packet(p, eio=3) for p in session.take_outgoing()] == ["3probe", "3"]


def test_v3_server_never_pings_and_closes_a_silent_client() -> None:
    session = opened(3)
    assert session.next_deadline() == 45.0  # ping_interval + ping_timeout
    session.receive(PING, 10.0)
    assert session.next_deadline() == 55.0
    session.receive(Packet(T.MESSAGE, "x"), 20.0)  # any packet counts as liveness
    assert session.next_deadline() == 65.0
    assert session.tick(64.9) == []
    assert session.take_outgoing() == [PONG]  # only the answer to the ping, never a PING
    events = session.tick(65.0)
    assert events == [
        Closed(DisconnectReason.PING_TIMEOUT, "no packet within ping_interval+timeout")
    ]


def test_v3_client_pong_is_a_protocol_error() -> None:
    session = opened(3)
    events = session.receive(PONG, 1.0)
    assert events == [Closed(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")]


# --- closing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("eio", [3, 4])
def test_client_close_packet(eio: int) -> None:
    session = opened(eio)
    session.send(Packet(PacketType.MESSAGE, "undeliverable"))
    assert session.receive(CLOSE, 1.0) == [
        Closed(DisconnectReason.TRANSPORT_CLOSE, "client sent CLOSE")
    ]
    assert session.take_outgoing() == []
    assert session.receive(Packet(T.MESSAGE, "late"), 2.0) == []  # in flight: ignored
    with pytest.raises(SessionClosedError):
        session.send(Packet(PacketType.MESSAGE, "x"))


def test_client_open_packet_closes() -> None:
    session = opened(4)
    assert session.receive(Packet(T.OPEN), 1.0)[0].reason is DisconnectReason.TRANSPORT_ERROR  # type: ignore[union-attr]


def test_server_close_is_idempotent_and_flushes_then_closes() -> None:
    session = opened(4)
    session.send(Packet(PacketType.MESSAGE, "bye"))
    assert session.close() == [Closed(DisconnectReason.FORCED_CLOSE)]
    assert session.close() == []
    assert session.close(DisconnectReason.PARSE_ERROR) == []
    assert session.state is SessionState.CLOSED
    assert session.close_reason is DisconnectReason.FORCED_CLOSE
    assert session.take_outgoing() == [Packet(T.MESSAGE, "bye"), CLOSE]
    assert encode_packet(CLOSE) == "1"
    with pytest.raises(SessionClosedError):
        session.send(PING)
    with pytest.raises(SessionClosedError):
        session.send_many(["x"])


# --- outgoing bound ---------------------------------------------------------------------------


def test_packet_bound_closes_instead_of_growing() -> None:
    session = opened(4, max_buffered_packets=3)
    assert session.send(Packet(PacketType.MESSAGE, "a")) == []
    assert session.send(Packet(PacketType.MESSAGE, "b")) == []
    assert session.send(Packet(PacketType.MESSAGE, "c")) == []
    events = session.send(Packet(PacketType.MESSAGE, "d"))
    assert len(events) == 1 and isinstance(events[0], Closed)
    assert events[0].reason is DisconnectReason.BUFFER_FULL
    assert session.take_outgoing() == [CLOSE]  # the backlog is dropped; the client is told


def test_byte_bound_closes_instead_of_growing() -> None:
    session = opened(4, max_buffered_bytes=100)
    assert session.send(Packet(PacketType.MESSAGE, b"x" * 90)) == []
    assert session.send(Packet(PacketType.MESSAGE, "y" * 20))[0] == Closed(
        DisconnectReason.BUFFER_FULL,
        "more than 10000 packets or 100 bytes waiting for the client",
    )


def test_draining_frees_the_bound() -> None:
    session = opened(4, max_buffered_packets=2)
    for _ in range(10):
        assert session.send_many(["a", "b"]) == []
        assert len(session.take_outgoing()) == 2


def test_send_many_is_all_or_nothing() -> None:
    session = opened(4, max_buffered_packets=3)
    session.send(Packet(PacketType.MESSAGE, "a"))
    assert session.send_many(["b", "c", "d"])[0].reason is DisconnectReason.BUFFER_FULL  # type: ignore[union-attr]
    assert session.take_outgoing() == [CLOSE]


def test_ping_overflow_closes_too() -> None:
    session = opened(4, max_buffered_packets=1)
    session.send(Packet(PacketType.MESSAGE, "stuck"))
    assert session.tick(25.0)[0].reason is DisconnectReason.BUFFER_FULL  # type: ignore[union-attr]


# --- upgrade ----------------------------------------------------------------------------------


@pytest.mark.parametrize("eio", [3, 4])
def test_upgrade_probe_sequence(eio: int) -> None:
    # Spec: client "2probe" -> server "3probe"; pending GET released with a noop; client "5".
    session = opened(eio)
    session.start_upgrade("websocket", 1.0)
    assert state_of(session) is SessionState.PROBING
    assert not session.has_outgoing("polling")  # nothing to release before the probe
    events = session.receive_probe(Packet(T.PING, "probe"), 1.1)
    assert events == [ProbeReply(Packet(T.PONG, "probe"))]
    assert encode_packet(events[0].packet, eio=eio) == "3probe"  # type: ignore[union-attr]
    assert state_of(session) is SessionState.UPGRADING
    # The pending GET must return so the client can pause polling.
    assert session.has_outgoing("polling")
    assert session.take_outgoing("polling") == [NOOP]
    assert encode_packet(NOOP) == "6"
    # The probe WebSocket gets nothing from the queue before the upgrade.
    session.send(Packet(PacketType.MESSAGE, "while upgrading"))
    assert session.take_outgoing("websocket") == []
    assert not session.has_outgoing("websocket")
    assert session.receive_probe(Packet(T.UPGRADE), 1.2) == [Upgraded(Transport.WEBSOCKET)]
    assert session.transport is Transport.WEBSOCKET and session.upgraded
    assert state_of(session) is SessionState.OPEN
    # Buffered packets flush to the new transport; a stale GET is released with a noop.
    assert session.take_outgoing() == [Packet(T.MESSAGE, "while upgrading")]
    assert session.take_outgoing("polling") == [NOOP]
    with pytest.raises(SessionError):
        session.start_upgrade("websocket", 2.0)


def test_packets_queued_during_probe_go_to_polling_if_it_polls() -> None:
    session = opened(4)
    session.start_upgrade("websocket", 1.0)
    session.receive_probe(Packet(T.PING, "probe"), 1.0)
    session.send(Packet(PacketType.MESSAGE, "m"))
    assert session.take_outgoing("polling") == [Packet(T.MESSAGE, "m")]


def test_v4_pings_continue_across_the_upgrade() -> None:
    session = opened(4)
    session.start_upgrade("websocket", 20.0)
    session.receive_probe(Packet(T.PING, "probe"), 20.0)
    session.tick(25.0)  # the ping is queued while the client has paused polling
    session.receive_probe(Packet(T.UPGRADE), 26.0)
    assert session.take_outgoing() == [PING]  # and written on the WebSocket
    session.receive(PONG, 27.0)
    assert session.next_deadline() == 52.0


def test_upgrade_timeout() -> None:
    session = opened(4, upgrade_timeout=10.0)
    session.start_upgrade("websocket", 5.0)
    assert session.next_deadline() == 15.0
    assert session.tick(15.0) == [UpgradeFailed("upgrade timeout")]
    assert session.state is SessionState.OPEN and session.transport is Transport.POLLING
    assert session.next_deadline() == 25.0
    session.start_upgrade("websocket", 16.0)  # a new attempt is allowed


def test_unexpected_packet_on_probe_transport_fails_the_upgrade() -> None:
    session = opened(4)
    session.start_upgrade("websocket", 1.0)
    events = session.receive_probe(Packet(T.MESSAGE, "too early"), 1.0)
    assert events == [UpgradeFailed("unexpected MESSAGE packet during upgrade")]
    assert session.state is SessionState.OPEN
    assert not session.has_outgoing("polling")


def test_abort_upgrade() -> None:
    session = opened(4)
    assert session.abort_upgrade() == []
    session.start_upgrade("websocket", 1.0)
    session.receive_probe(Packet(T.PING, "probe"), 1.0)
    assert session.abort_upgrade() == [UpgradeFailed("probe transport closed")]
    assert not session.has_outgoing("polling")  # polling works normally again


def test_upgrade_misuse() -> None:
    session = opened(4)
    with pytest.raises(SessionError):
        session.receive_probe(Packet(T.PING, "probe"), 1.0)
    with pytest.raises(SessionError):
        session.start_upgrade("polling", 1.0)
    session.start_upgrade("websocket", 1.0)
    with pytest.raises(SessionError):
        session.start_upgrade("websocket", 1.0)
    session.close()
    assert session.receive_probe(Packet(T.UPGRADE), 2.0) == []
    with pytest.raises(SessionClosedError):
        session.start_upgrade("websocket", 2.0)


def test_no_upgrades_offered() -> None:
    session = opened(4, upgrades=())
    assert json.loads(session.open_packet().data)["upgrades"] == []
    with pytest.raises(SessionError):
        session.start_upgrade("websocket", 1.0)


# --- invariants under arbitrary driving -------------------------------------------------------

packets = st.builds(Packet, st.sampled_from(list(PacketType)), st.sampled_from(["", "probe", "x"]))
operations = st.one_of(
    st.tuples(st.just("receive"), packets),
    st.tuples(st.just("probe"), packets),
    st.tuples(st.just("start_upgrade"), st.none()),
    st.tuples(st.just("send"), st.none()),
    st.tuples(st.just("take"), st.sampled_from([None, "polling", "websocket"])),
    st.tuples(st.just("tick"), st.none()),
    st.tuples(st.just("close"), st.none()),
    st.tuples(st.just("abort"), st.none()),
)


@given(
    st.sampled_from([3, 4]),
    st.sampled_from(["polling", "websocket"]),
    st.lists(st.tuples(operations, st.floats(0, 30)), max_size=40),
)
def test_any_driving_keeps_invariants(
    eio: int, transport: str, steps: list[tuple[tuple[str, object], float]]
) -> None:
    """Only documented exceptions, one Closed at most, a bounded queue, timers handled."""
    config = SessionConfig(max_buffered_packets=5)
    session = Session(SID, eio=eio, transport=transport, now=0.0, config=config)
    now = 0.0
    events: list[Event] = []
    for (op, arg), dt in steps:
        now += dt
        if op == "receive":
            assert isinstance(arg, Packet)
            events += session.receive(arg, now)
        elif op == "probe":
            assert isinstance(arg, Packet)
            try:
                events += session.receive_probe(arg, now)
            except SessionError:
                assert session.state is SessionState.OPEN
        elif op == "start_upgrade":
            with contextlib.suppress(SessionError):
                session.start_upgrade("websocket", now)
        elif op == "send":
            try:
                events += session.send(Packet(PacketType.MESSAGE, "m"))
            except SessionClosedError:
                assert session.closed
        elif op == "take":
            assert isinstance(arg, str | None)
            assert len(session.take_outgoing(arg)) <= config.max_buffered_packets + 1
        elif op == "tick":
            events += session.tick(now)
            assert session.next_deadline() > now  # every due timer was handled
        elif op == "close":
            events += session.close()
        else:
            events += session.abort_upgrade()
    assert sum(isinstance(e, Closed) for e in events) == (1 if session.closed else 0)
