"""The msgpack codec and socket.io-msgpack-parser packets, without sockets."""

from __future__ import annotations

import contextlib
import struct
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsocketio.exceptions import (
    InvalidMsgpackError,
    NestingTooDeepError,
    PacketFormatError,
    PacketTypeError,
    PayloadTooLargeError,
    ProtocolError,
)
from gsocketio.protocol.limits import Limits
from gsocketio.protocol.msgpack_codec import UNDEFINED, packb, unpackb
from gsocketio.protocol.msgpack_parser import MsgpackDecoder, MsgpackWire, decode, encode
from gsocketio.protocol.socketio import MAX_ACK_ID, Packet, PacketType

# --- the codec -------------------------------------------------------------------------------

SAMPLES: list[Any] = [
    None,
    True,
    False,
    *[0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1],
    *[-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)],
    1.5,
    -0.0,
    float("inf"),
    *["", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "é" * 40000, "\U0001f600"],
    *[b"", b"x" * 255, b"y" * 256, b"z" * 70000],
    *[[], [1] * 15, [1] * 16, [1] * 70000],
    *[{}, {str(i): i for i in range(15)}, {str(i): i for i in range(16)}],
    {"a": [{"b": None}], "c": True, "d": [1.25, "x", b"\x00"]},
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_codec_round_trips_and_matches_msgpack_python(value: Any) -> None:
    encoded = packb(value)
    assert encoded == msgpack.packb(value, use_bin_type=True)  # the same smallest forms
    assert unpackb(encoded) == value
    assert unpackb(msgpack.packb(value, use_bin_type=True)) == value


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(json_like)
def test_codec_round_trips_anything(value: Any) -> None:
    assert unpackb(packb(value)) == value
    assert msgpack.unpackb(packb(value), raw=False) == value


def test_codec_extensions_of_notepack() -> None:
    assert unpackb(b"\xd4\x00\x00") is None  # undefined
    assert unpackb(b"\x81\xa1k\xd4\x00\x00", top_undefined=UNDEFINED) == {"k": UNDEFINED}
    assert unpackb(b"\x91\xd4\x00\x00", top_undefined=UNDEFINED) == [None]  # not top-level map
    moment = datetime(2026, 12, 1, 9, 30, 15, 250000, tzinfo=UTC)
    millis = int(moment.timestamp() * 1000)
    date = b"\xd7\x00" + struct.pack(">q", millis)
    assert unpackb(date) == moment and packb(moment) == date
    assert packb(moment.replace(tzinfo=None)) == date  # naive: taken as UTC
    assert unpackb(b"\xc7\x03\x00abc") == b"abc"  # a typed array from Node
    assert unpackb(b"\xca" + struct.pack(">f", 0.5)) == 0.5


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # reserved
        b"\x92\x01",  # array of 2, one item
        b"\xdd\xff\xff\xff\xff",  # 2**32 - 1 items announced in 5 bytes
        b"\xdf\xff\xff\xff\xff",
        b"\xdb\xff\xff\xff\xffab",  # string longer than the input
        b"\xc6\x00\x01\x00\x00",
        b"\xa2\xff\xfe",  # not UTF-8
        b"\x81\x01\x02",  # integer map key
        b"\xd4\x05\x00",  # extension type 5
        b"\xd5\x00\x00\x00",  # fixext 2 of type 0: no notepack value
        b"\xd7\x00\x7f\xff\xff\xff\xff\xff\xff\xff",  # Date out of range
        b"\x01\x02",  # trailing bytes
        b"\xcb\x00",
    ],
)
def test_codec_refuses_malformed_input(raw: bytes) -> None:
    with pytest.raises(InvalidMsgpackError):
        unpackb(raw)


def test_codec_bounds_nesting() -> None:
    assert unpackb(b"\x91" * 100 + b"\x90", max_depth=101) is not None
    with pytest.raises(NestingTooDeepError):
        unpackb(b"\x91" * 101 + b"\x90", max_depth=101)
    with pytest.raises(NestingTooDeepError):
        unpackb(b"\x81\xa1k" * 5000 + b"\x80", max_depth=100)


def test_codec_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(TypeError):
        packb({1: "int key"})
    with pytest.raises(TypeError):
        packb(object())
    with pytest.raises(OverflowError):
        packb(2**64)
    with pytest.raises(OverflowError):
        packb(-(2**63) - 1)


# --- packets ---------------------------------------------------------------------------------


def test_packets_have_the_npm_parser_shape() -> None:
    event = Packet(PacketType.EVENT, "/chat", ["hi", b"\x01", {"n": 1}], 7)
    (raw,) = encode(event)
    assert isinstance(raw, bytes)
    assert msgpack.unpackb(raw) == {
        "type": 2,
        "nsp": "/chat",
        "data": ["hi", b"\x01", {"n": 1}],
        "id": 7,
    }
    assert decode(raw) == event
    # BINARY_* come out as EVENT/ACK: bytes ride inline, there are no attachments
    (raw,) = encode(Packet(PacketType.BINARY_ACK, "/", [b"x"], 3))
    assert msgpack.unpackb(raw) == {"type": 3, "nsp": "/", "data": [b"x"], "id": 3}
    # no data key for DISCONNECT (the npm decoder requires it absent), nor id without an ack
    (raw,) = encode(Packet(PacketType.DISCONNECT, "/"))
    assert msgpack.unpackb(raw) == {"type": 1, "nsp": "/"}
    (raw,) = encode(Packet(PacketType.CONNECT, "/", {"sid": "abc"}))
    assert msgpack.unpackb(raw) == {"type": 0, "nsp": "/", "data": {"sid": "abc"}}
    (raw,) = encode(Packet(PacketType.CONNECT_ERROR, "/x", {"message": "no"}))
    assert decode(raw) == Packet(PacketType.CONNECT_ERROR, "/x", {"message": "no"})
    assert MsgpackWire().encode(event) == encode(event)


def test_decoder_takes_what_the_client_sends() -> None:
    decoder = MsgpackDecoder()
    sent = {"type": 2, "data": ["ev", 1], "options": {"compress": True}, "nsp": "/", "id": 4}
    assert decoder.feed(msgpack.packb(sent)) == Packet(PacketType.EVENT, "/", ["ev", 1], 4)
    # CONNECT without auth: no data key, or one holding undefined (notepack's fixext)
    connect = b"\x82\xa4type\x00\xa3nsp\xa1/"
    assert decoder.feed(connect) == Packet(PacketType.CONNECT, "/")
    undefined_auth = b"\x83\xa4type\x00\xa4data\xd4\x00\x00\xa3nsp\xa2/a"
    assert decoder.feed(undefined_auth) == Packet(PacketType.CONNECT, "/a")
    ack = msgpack.packb({"type": 3, "nsp": "/", "data": [None, b"\x00"], "id": 0})
    from_bytearray = decoder.feed(bytearray(ack))
    assert from_bytearray == Packet(PacketType.ACK, "/", [None, b"\x00"], 0)
    assert not decoder.pending


def _pk(**fields: Any) -> bytes:
    return bytes(msgpack.packb(fields, use_bin_type=True))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (_pk(type=5, nsp="/", data=["x"]), PacketTypeError),  # no BINARY_* in this parser
        (_pk(type=True, nsp="/", data=["x"]), PacketTypeError),
        (_pk(nsp="/", data=["x"]), PacketTypeError),
        (_pk(type=2, data=["x"]), PacketFormatError),  # no namespace
        (_pk(type=2, nsp="chat", data=["x"]), PacketFormatError),
        (_pk(type=2, nsp="/", data="x"), PacketFormatError),
        (_pk(type=2, nsp="/", data=[]), PacketFormatError),
        (_pk(type=2, nsp="/", data=[1]), PacketFormatError),
        (_pk(type=2, nsp="/", data=["connect"]), PacketFormatError),  # reserved
        (_pk(type=2, nsp="/", data=["x"], id=None), PacketFormatError),  # null id
        (_pk(type=2, nsp="/", data=["x"], id=-1), PacketFormatError),
        (_pk(type=2, nsp="/", data=["x"], id=1.5), PacketFormatError),
        (_pk(type=2, nsp="/", data=["x"], id=MAX_ACK_ID + 1), PacketFormatError),
        (_pk(type=3, nsp="/", data=["x"]), PacketFormatError),  # ACK without id
        (_pk(type=3, nsp="/", data={}, id=1), PacketFormatError),
        (_pk(type=0, nsp="/", data=None), PacketFormatError),  # null is not undefined
        (_pk(type=0, nsp="/", data=[1]), PacketFormatError),
        (_pk(type=0, nsp="/", id=1), PacketFormatError),
        (_pk(type=1, nsp="/", data=None), PacketFormatError),
        (_pk(type=4, nsp="/", data=3), PacketFormatError),
        (msgpack.packb([2, "/", ["x"]]), InvalidMsgpackError),  # not a map
        (b"\x83\xa4type", InvalidMsgpackError),  # truncated
        (b"\x91" * 200 + b"\x90", NestingTooDeepError),
    ],
)
def test_decoder_refuses_bad_packets(raw: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        MsgpackDecoder().feed(raw)


def test_decoder_limits_and_text() -> None:
    decoder = MsgpackDecoder(limits=Limits(max_payload=100))
    with pytest.raises(PayloadTooLargeError):
        decoder.feed(_pk(type=2, nsp="/", data=["x", "y" * 200]))
    with pytest.raises(InvalidMsgpackError):
        decoder.feed('2["x"]')  # a JSON client on a msgpack server
    with pytest.raises(TypeError):
        decoder.feed(42)  # type: ignore[arg-type]
    # JSON's nesting bound applies to the data (the packet map is one level more)
    nested: Any = "leaf"
    for _ in range(99):
        nested = [nested]
    assert MsgpackDecoder().feed(_pk(type=2, nsp="/", data=["x", nested])) is not None
    with pytest.raises(NestingTooDeepError):
        MsgpackDecoder().feed(_pk(type=2, nsp="/", data=["x", [nested]]))


def test_encode_refuses_our_own_mistakes() -> None:
    with pytest.raises(ValueError):
        encode(Packet(PacketType.EVENT, "chat", ["x"]))
    with pytest.raises(ValueError):
        encode(Packet(PacketType.EVENT, "/", ["x"], -1))
    with pytest.raises(TypeError):
        encode(Packet(PacketType.EVENT, "/", ["x", object()]))


@given(json_like, st.data())
def test_corrupted_packets_decode_or_raise_a_protocol_error(
    value: Any, data: st.DataObject
) -> None:
    raw = bytearray(packb({"type": 2, "nsp": "/", "data": ["x", value], "id": 1}))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ProtocolError):
        MsgpackDecoder().feed(bytes(raw))


@given(json_like)
def test_truncated_or_extended_values_raise_protocol_errors(value: Any) -> None:
    raw = packb({"type": 2, "nsp": "/", "data": ["x", value]})
    for cut in range(len(raw) - 1, max(-1, len(raw) - 40), -1):
        with pytest.raises(ProtocolError):
            MsgpackDecoder().feed(raw[:cut])
    with pytest.raises(InvalidMsgpackError):
        MsgpackDecoder().feed(raw + b"\xc0")


def test_packing_data_nested_beyond_the_recursion_limit_raises_recursion_error() -> None:
    # application data: a RecursionError, pure or compiled by mypyc (no C stack overflow)
    deep: Any = 1
    for _ in range(100_000):
        deep = {"k": [deep]}
    with pytest.raises(RecursionError):
        packb(deep)
    with pytest.raises(RecursionError):
        encode(Packet(PacketType.EVENT, "/", ["a", deep]))
    shallow: Any = 1
    for _ in range(200):
        shallow = [shallow]
    assert unpackb(packb(shallow), max_depth=300) == shallow
