"""The sans-I/O 0.9 session: heartbeats, timeouts, acks on receipt, disconnects, bounds.

Wire strings are the socket.io-spec README's forms written out by hand (``2::`` heartbeat,
``3:1::hello`` message asking for an ack on receipt, ``6:::1`` that ack, ``0::`` disconnect).
"""

from __future__ import annotations

from typing import Any

import pytest

from gsocketio.exceptions import PacketFormatError, PacketTypeError, ProtocolError
from gsocketio.protocol.legacy import PacketType
from gsocketio.protocol.legacy_session import LegacyConfig, LegacySession, State
from gsocketio.protocol.limits import Limits
from gsocketio.protocol.reasons import DisconnectReason

CONFIG = LegacyConfig(heartbeat_interval=10, heartbeat_timeout=30, close_timeout=20)
F = "\ufffd"


def opened(config: LegacyConfig = CONFIG, now: float = 100.0) -> LegacySession:
    session = LegacySession("abc", config, now)
    assert session.open(now)
    session.attach(now)
    return session


def test_defaults_are_the_09_servers() -> None:
    config = LegacyConfig()
    assert (config.heartbeat_interval, config.heartbeat_timeout) == (25, 60)
    assert (config.close_timeout, config.polling_duration) == (60, 20)
    assert config.advertised_heartbeat_timeout == 60
    assert (
        LegacyConfig(heartbeat_interval=0.2, heartbeat_timeout=0.5).advertised_heartbeat_timeout
        == 1
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"heartbeat_interval": 0},
        {"close_timeout": -1},
        {"polling_duration": float("inf")},
        {"heartbeat_interval": 60, "heartbeat_timeout": 60},
        {"max_buffered_packets": 0},
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LegacyConfig(**kwargs)


def test_unused_handshake_expires_after_close_timeout() -> None:
    session = LegacySession("abc", CONFIG, 100.0)
    assert session.state is State.HANDSHAKEN
    assert session.next_deadline() == 120.0
    session.tick(119.9)
    assert not session.closed
    session.tick(120.0)
    assert session.closed and session.close_reason == DisconnectReason.TRANSPORT_CLOSE
    assert not session.open(121.0)


def test_heartbeat_every_interval() -> None:
    session = opened()
    assert session.next_deadline() == 110.0
    assert not session.tick(109.0)
    assert session.tick(110.0)
    assert session.take() == ["2::"]
    session.receive("2::", 111.0)  # the client's answer: consumed, nothing delivered
    assert not session.has_outgoing()
    assert session.next_deadline() == 120.0


def test_silent_client_times_out() -> None:
    session = opened()
    for now in (110.0, 120.0):
        session.tick(now)
    session.tick(129.9)
    assert not session.closed
    session.tick(130.0)
    assert session.closed and session.close_reason == DisconnectReason.PING_TIMEOUT


def test_any_packet_counts_as_a_sign_of_life() -> None:
    session = opened()
    session.receive("8::", 125.0)  # a noop is consumed too
    session.tick(130.0)
    assert not session.closed
    assert session.next_deadline() <= 155.0


def test_close_timeout_runs_only_without_a_transport() -> None:
    session = opened()
    session.receive("2::", 100.0)
    session.detach(101.0)  # the GET returned; no new one
    session.receive("2::", 115.0)
    assert session.next_deadline() <= 121.0
    session.tick(121.0)
    assert session.closed and session.close_reason == DisconnectReason.TRANSPORT_CLOSE


def test_attached_transport_stops_the_close_timeout() -> None:
    session = opened()
    session.detach(101.0)
    session.attach(105.0)
    session.receive("2::", 119.0)
    session.tick(121.5)
    assert not session.closed


def test_message_with_plain_id_is_acked_on_receipt() -> None:
    session = opened()
    packets = session.receive("3:1::hello", 101.0)
    assert [(p.type, p.data, p.id) for p in packets] == [(PacketType.MESSAGE, "hello", None)]
    assert session.take() == ["6:::1"]


def test_ack_on_receipt_keeps_the_endpoint() -> None:
    session = opened()
    session.receive('5:7:/chat:{"name":"x"}', 101.0)
    assert session.take() == ["6::/chat:7"]


def test_data_ack_is_left_to_the_application() -> None:
    session = opened()
    (packet,) = session.receive('5:1+::{"name":"echo","args":["a"]}', 101.0)
    assert (packet.name, packet.args, packet.id, packet.ack) == ("echo", ["a"], 1, "data")
    assert not session.has_outgoing()


def test_whole_socket_disconnect_closes_after_earlier_packets() -> None:
    session = opened()
    body = f"{F}10{F}3:::before{F}3{F}0::{F}9{F}3:::after"
    packets = session.receive_payload(body, 101.0)
    assert [p.data for p in packets] == ["before"]
    assert session.closed and session.close_reason == DisconnectReason.CLIENT_DISCONNECT
    assert session.receive("3:::late", 102.0) == []


def test_bare_zero_is_the_whole_socket_too() -> None:
    session = opened()
    assert session.receive("0", 101.0) == []
    assert session.closed


def test_endpoint_disconnect_is_delivered() -> None:
    session = opened()
    (packet,) = session.receive("0::/chat", 101.0)
    assert packet.type is PacketType.DISCONNECT and packet.endpoint == "/chat"
    assert not session.closed


@pytest.mark.parametrize(
    ("text", "error"),
    [("9::", PacketTypeError), ("5:::{not json", ProtocolError), ("3", PacketFormatError)],
)
def test_malformed_packet_raises_and_changes_nothing(text: str, error: type[Exception]) -> None:
    session = opened()
    with pytest.raises(error):
        session.receive(text, 105.0)
    assert not session.closed
    session.tick(130.0)  # the bad packet did not count as a sign of life
    assert session.closed


def test_payload_is_all_or_nothing() -> None:
    session = opened()
    body = f"{F}9{F}3:1::good{F}3{F}9::"
    with pytest.raises(ProtocolError):
        session.receive_payload(body, 101.0)
    assert not session.has_outgoing()  # no ack for the good one either


def test_payload_limits_apply() -> None:
    config = LegacyConfig(limits=Limits(max_payload=16))
    session = opened(config)
    with pytest.raises(ProtocolError):
        session.receive_payload("3:::" + "x" * 20, 101.0)


def test_outgoing_queue_is_bounded() -> None:
    config = LegacyConfig(max_buffered_packets=3, max_buffered_bytes=100)
    session = opened(config)
    assert session.push(["3:::a", "3:::b"])
    assert session.push(["3:::c"])
    assert not session.push(["3:::d"])
    assert session.closed and session.close_reason == DisconnectReason.BUFFER_FULL
    assert not session.has_outgoing()
    bytes_bound = opened(LegacyConfig(max_buffered_bytes=10))
    assert not bytes_bound.push(["3:::" + "x" * 7])


def test_close_keeps_a_farewell_and_is_idempotent() -> None:
    session = opened()
    session.push(["3:::last"])
    assert session.close(DisconnectReason.FORCED_CLOSE, ["0::"])
    assert not session.close(DisconnectReason.PING_TIMEOUT, ["0::"])
    assert session.close_reason == DisconnectReason.FORCED_CLOSE
    assert session.take() == ["3:::last", "0::"]
    assert not session.push(["3:::dropped"])
    assert session.next_deadline() == float("inf")


@pytest.mark.parametrize(
    "reason",
    [
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.BUFFER_FULL,
        DisconnectReason.CLIENT_DISCONNECT,
    ],
)
def test_nothing_is_kept_for_a_client_that_is_gone(reason: str) -> None:
    session = opened()
    session.push(["2::", "3:::unread"])
    session.close(reason)
    assert not session.has_outgoing()
