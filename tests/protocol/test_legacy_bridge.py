"""Mapping between 0.9 packets and the Socket.IO layer's, and the legacy wire format.

Legacy strings are the socket.io-spec README's forms (``5:::{"name":..,"args":[..]}``,
``6:::4+["A","B"]``, ``1::/chat``, ``7:::2``...) and Socket.IO v4 strings the socket.io-protocol
v4 forms (``2/chat,["x"]``, ``0/admin?token=1,``), written out by hand.
"""

from __future__ import annotations

import pytest

from gsocketio.protocol import socketio as sio
from gsocketio.protocol.legacy import decode_packet
from gsocketio.protocol.legacy_bridge import (
    LegacyText,
    LegacyWire,
    endpoint_of,
    is_namespace,
    namespace_of,
    to_socketio,
)

T = sio.PacketType


@pytest.mark.parametrize(
    ("endpoint", "namespace"),
    [("", "/"), ("/chat", "/chat"), ("chat", None), ("/a,b", None), ("/a?b", None)],
)
def test_endpoint_to_namespace(endpoint: str, namespace: str | None) -> None:
    assert is_namespace(endpoint) == (namespace is not None)
    if namespace is not None:
        assert namespace_of(endpoint) == namespace
        assert endpoint_of(namespace) == endpoint


@pytest.mark.parametrize(
    ("legacy_text", "server_text"),
    [
        ('5:::{"name":"chat","args":["hi",1]}', '2["chat","hi",1]'),
        ('5:4+:/chat:{"name":"chat"}', '2/chat,4["chat"]'),
        ("3:::hello", '2["message","hello"]'),
        ("3:2+::hello", '22["message","hello"]'),
        ('4:::{"a":"b"}', '2["message",{"a":"b"}]'),
        ('6:::4+["A","B"]', '34["A","B"]'),
        ("6::/chat:4", "3/chat,4[]"),
        ("1::/chat?x=y", "0/chat?x=y,"),
        ("1::/chat?a=b,c", "0/chat?a=b%2Cc,"),
        ("1::/chat", "0/chat,"),
        ("0::/chat", "1/chat,"),
    ],
)
def test_incoming_translation(legacy_text: str, server_text: str) -> None:
    packet = to_socketio(decode_packet(legacy_text))
    assert packet is not None
    assert sio.encode(packet) == [server_text]


def test_plain_id_is_not_forwarded() -> None:
    # The session acked it on receipt and cleared the id; an "id" without "+" never asks the
    # application for an ack.
    packet = decode_packet("3:7::hello")
    assert packet.ack == ""
    translated = to_socketio(packet)
    assert translated is not None and translated.id is None


@pytest.mark.parametrize(
    "legacy_text",
    [
        "1::",  # "/" is joined by the server itself
        "7:::2",  # clients report nothing to servers
        '5:::{"name":"disconnect"}',  # reserved on the Socket.IO side
        '5:::{"name":"connect"}',
        '5::chat:{"name":"x"}',  # not a namespace
    ],
)
def test_packets_without_counterpart(legacy_text: str) -> None:
    assert to_socketio(decode_packet(legacy_text)) is None


WIRE = LegacyWire()


@pytest.mark.parametrize(
    ("packet", "legacy_text"),
    [
        (sio.Packet(T.CONNECT, "/"), "1::"),
        (sio.Packet(T.CONNECT, "/chat"), "1::/chat"),
        (sio.Packet(T.DISCONNECT, "/"), "0::"),
        (sio.Packet(T.DISCONNECT, "/chat"), "0::/chat"),
        (sio.Packet(T.EVENT, "/", ["chat", "hi"]), '5:::{"name":"chat","args":["hi"]}'),
        (sio.Packet(T.EVENT, "/", ["ping"]), '5:::{"name":"ping"}'),
        (sio.Packet(T.EVENT, "/chat", ["q", 1], 4), '5:4+:/chat:{"name":"q","args":[1]}'),
        (sio.Packet(T.EVENT, "/", ["message", "hello"]), "3:::hello"),
        (sio.Packet(T.EVENT, "/", ["message", "hello"], 1), "3:1+::hello"),
        (sio.Packet(T.EVENT, "/", ["message", {"a": "b"}]), '4:::{"a":"b"}'),
        (sio.Packet(T.EVENT, "/", ["message", 1, 2]), '5:::{"name":"message","args":[1,2]}'),
        (sio.Packet(T.ACK, "/", ["A", "B"], 4), '6:::4+["A","B"]'),
        (sio.Packet(T.ACK, "/chat", [], 4), "6::/chat:4"),
        (sio.Packet(T.CONNECT_ERROR, "/chat", "Invalid namespace"), "7::/chat:2"),
        (
            sio.Packet(T.EVENT, "/", ["blob", b"\x01\x02"]),
            '5:::{"name":"blob","args":[{"type":"Buffer","data":[1,2]}]}',
        ),
    ],
)
def test_legacy_wire(packet: sio.Packet, legacy_text: str) -> None:
    (item,) = WIRE.encode(packet)
    assert item == legacy_text and type(item) is LegacyText


def test_wire_refuses_what_no_legacy_client_can_receive() -> None:
    with pytest.raises(ValueError):
        WIRE.encode(sio.Packet(T.EVENT, "/a:b", ["x"]))


def test_line_terminators_are_escaped_for_the_09_ack_parser() -> None:
    # The 0.9 client reads ack arguments with /^([0-9]+)(\+)?(.*)/: "." stops at U+2028.
    (item,) = WIRE.encode(sio.Packet(T.ACK, "/", ["a\u2028b\u2029c"], 3))
    assert item == '6:::3+["a\\u2028b\\u2029c"]'
