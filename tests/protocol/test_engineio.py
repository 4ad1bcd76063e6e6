"""Engine.IO packet and payload codecs, v4 and v3.

Byte-exact expectations come from the engine.io-protocol specs (the v4 document and the v3
branch README, including their sample sessions); where the v3 spec's example disagrees with the
reference parser, the test says so.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsocketio.exceptions import (
    PacketFormatError,
    PacketTypeError,
    PayloadFormatError,
    PayloadTooLargeError,
    ProtocolError,
    TooManyPacketsError,
)
from gsocketio.protocol.engineio import (
    Packet,
    PacketType,
    decode_jsonp_body,
    decode_packet,
    decode_payload_v3,
    decode_payload_v4,
    encode_jsonp,
    encode_packet,
    encode_payload_v3,
    encode_payload_v4,
)
from gsocketio.protocol.limits import Limits

T = PacketType
HANDSHAKE = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
    '"pingInterval":25000,"pingTimeout":5000}'
)

# (packet, text frame) pairs taken from the specs' packet sections and sample sessions; the
# text form of a packet is the same in v3 and v4.
SPEC_TEXT_PACKETS = [
    (Packet(T.OPEN, HANDSHAKE), "0" + HANDSHAKE),
    (Packet(T.CLOSE), "1"),
    (Packet(T.PING), "2"),
    (Packet(T.PING, "probe"), "2probe"),
    (Packet(T.PONG), "3"),
    (Packet(T.PONG, "probe"), "3probe"),
    (Packet(T.MESSAGE, "HelloWorld"), "4HelloWorld"),
    (Packet(T.MESSAGE, "hello"), "4hello"),
    (Packet(T.UPGRADE), "5"),
    (Packet(T.NOOP), "6"),
]


# --- packets, spec examples -------------------------------------------------------------------


@pytest.mark.parametrize("eio", [3, 4])
@pytest.mark.parametrize(("packet", "frame"), SPEC_TEXT_PACKETS)
def test_text_packet_spec_examples(packet: Packet, frame: str, eio: int) -> None:
    assert encode_packet(packet, eio=eio) == frame
    assert decode_packet(frame, eio=eio) == packet


def test_v4_binary_frame_is_the_raw_data() -> None:
    # v4: "Binary payloads are sent as is, without modification."
    packet = Packet(T.MESSAGE, b"\x01\x02\x03\x04")
    assert encode_packet(packet, eio=4) == b"\x01\x02\x03\x04"
    assert decode_packet(b"\x01\x02\x03\x04", eio=4) == packet


def test_v3_binary_frame_starts_with_the_type_byte() -> None:
    # v3: "4|0|1|2|3|4|5" is a message carrying the bytes 0..5.
    packet = Packet(T.MESSAGE, bytes([0, 1, 2, 3, 4, 5]))
    assert encode_packet(packet, eio=3) == bytes([4, 0, 1, 2, 3, 4, 5])
    assert decode_packet(bytes([4, 0, 1, 2, 3, 4, 5]), eio=3) == packet


def test_base64_text_frames() -> None:
    # "b" marks base64 binary in text: v4 "bAQIDBA==", v3 "b4AQIDBA==".
    packet = Packet(T.MESSAGE, b"\x01\x02\x03\x04")
    assert decode_packet("bAQIDBA==", eio=4) == packet
    assert decode_packet("b4AQIDBA==", eio=3) == packet


# --- payloads, spec examples ------------------------------------------------------------------

V4_PAYLOADS = [
    (
        "4hello\x1e2\x1e4world",
        [Packet(T.MESSAGE, "hello"), Packet(T.PING), Packet(T.MESSAGE, "world")],
    ),
    ("4hello\x1ebAQIDBA==", [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, b"\x01\x02\x03\x04")]),
    ("4hello\x1e4€", [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, "€")]),
    ("4€\x1ebAQIDBA==", [Packet(T.MESSAGE, "€"), Packet(T.MESSAGE, b"\x01\x02\x03\x04")]),
    ("4hello\x1e4world", [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, "world")]),
    ("0" + HANDSHAKE, [Packet(T.OPEN, HANDSHAKE)]),
    ("4hey", [Packet(T.MESSAGE, "hey")]),
]


@pytest.mark.parametrize(("body", "packets"), V4_PAYLOADS)
def test_v4_payload_spec_examples(body: str, packets: list[Packet]) -> None:
    assert encode_payload_v4(packets) == body
    assert decode_payload_v4(body) == packets
    assert decode_payload_v4(body.encode("utf-8")) == packets


V3_STRING_PAYLOADS = [
    ("96:0" + HANDSHAKE, [Packet(T.OPEN, HANDSHAKE)]),
    ("4:4hey", [Packet(T.MESSAGE, "hey")]),
    ("6:4hello6:4world", [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, "world")]),
    # "we are not counting bytes, but characters, hence 2 (1 + 1) instead of 4 (1 + 3)"
    ("6:4hello2:4€", [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, "€")]),
    ("2:4€10:b4AQIDBA==", [Packet(T.MESSAGE, "€"), Packet(T.MESSAGE, b"\x01\x02\x03\x04")]),
]


@pytest.mark.parametrize(("body", "packets"), V3_STRING_PAYLOADS)
def test_v3_string_payload_spec_examples(body: str, packets: list[Packet]) -> None:
    assert encode_payload_v3(packets, binary=False) == body
    assert decode_payload_v3(body) == packets
    assert decode_payload_v3(body.encode("utf-8"), binary=False) == packets


def test_v3_lengths_count_utf16_code_units() -> None:
    # JavaScript's String.length counts an astral character as two code units.
    packets = [Packet(T.MESSAGE, "a😀"), Packet(T.MESSAGE, "😀😀")]
    body = "4:4a😀5:4😀😀"
    assert encode_payload_v3(packets, binary=False) == body
    assert decode_payload_v3(body) == packets


def test_v3_binary_payload_example() -> None:
    # The v3 spec's example reads <00 04 ff 34 e2 82 ac 01 04 ff 01 02 03 04>, but its binary
    # entry omits the type byte that the format itself requires ("packet1 (first type, then
    # data)") and that engine.io-parser 2.x writes: the binary entry is 01 05 ff 04 01 02 03 04.
    packets = [Packet(T.MESSAGE, "€"), Packet(T.MESSAGE, b"\x01\x02\x03\x04")]
    body = bytes.fromhex("00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04")
    assert encode_payload_v3(packets, binary=True) == body
    assert decode_payload_v3(body) == packets
    # The string entry is exactly the spec's: marker 0, length 4 in bytes, 0xff, "4€" in UTF-8.
    assert body[:7] == bytes.fromhex("00 04 ff 34 e2 82 ac")


def test_v3_binary_payload_multi_digit_length() -> None:
    packet = Packet(T.MESSAGE, "x" * 11)  # 12 bytes with the type: digits 1, 2
    body = encode_payload_v3([packet], binary=True)
    assert body == b"\x00\x01\x02\xff4" + b"x" * 11
    assert decode_payload_v3(body) == [packet]


def test_v3_empty_string_payload() -> None:
    assert encode_payload_v3([], binary=False) == "0:"
    assert decode_payload_v3("0:") == []
    assert encode_payload_v3([], binary=True) == b""


# --- JSONP ------------------------------------------------------------------------------------


def test_jsonp_spec_example() -> None:
    assert encode_jsonp("packet data", 4) == '___eio[4]("packet data");'


def test_jsonp_escapes_like_a_json_encoder() -> None:
    assert encode_jsonp('4:4"\n', 0) == '___eio[0]("4:4\\"\\n");'
    assert encode_jsonp("3:4\u2028\u2029", 12) == '___eio[12]("3:4\\u2028\\u2029");'
    assert encode_jsonp("2:4€", 1) == '___eio[1]("2:4€");'


def client_escape(payload: str) -> str:
    """What the v3 JSONP client does before POSTing: ``\\n`` → ``\\\\n``, newline → ``\\n``."""
    return payload.replace("\\n", "\\\n").replace("\n", "\\n")


def test_jsonp_body_spec_format() -> None:
    assert decode_jsonp_body(b"d=4%3A4hey") == "4:4hey"
    assert decode_jsonp_body(b"d=" + quote("4:4a\\nb").encode()) == "4:4a\nb"
    assert decode_jsonp_body(b"d=" + quote("5:4a\\\\nb").encode()) == "5:4a\\nb"
    assert decode_jsonp_body(b"d=4%3A4a+b") == "4:4a b"  # form encoding: + is a space


# --- round trips ------------------------------------------------------------------------------

packet_types = st.sampled_from(list(PacketType))
text_packets = st.builds(Packet, packet_types, st.text(max_size=50))
binary_packets = st.builds(Packet, st.just(T.MESSAGE), st.binary(max_size=50))
any_packets = text_packets | binary_packets
v4_payload_packets = (
    st.builds(Packet, packet_types, st.text(max_size=30).filter(lambda s: "\x1e" not in s))
    | binary_packets
)


@given(any_packets, st.sampled_from([3, 4]))
def test_packet_round_trip(packet: Packet, eio: int) -> None:
    assert decode_packet(encode_packet(packet, eio=eio), eio=eio) == packet


@given(st.lists(v4_payload_packets, min_size=1, max_size=20))
def test_v4_payload_round_trip(packets: list[Packet]) -> None:
    assert decode_payload_v4(encode_payload_v4(packets)) == packets


@given(st.lists(any_packets, max_size=20))
def test_v3_string_payload_round_trip(packets: list[Packet]) -> None:
    assert decode_payload_v3(encode_payload_v3(packets, binary=False)) == packets


@given(st.lists(any_packets, min_size=1, max_size=20))
def test_v3_binary_payload_round_trip(packets: list[Packet]) -> None:
    assert decode_payload_v3(encode_payload_v3(packets, binary=True)) == packets


@given(st.text(max_size=60).filter(lambda s: "\\\n" not in s), st.integers(0, 10**6))
def test_jsonp_round_trip(payload: str, index: int) -> None:
    # A backslash followed by a real newline is the one thing the client's escaping loses.
    assert decode_jsonp_body(b"d=" + quote(client_escape(payload)).encode()) == payload
    wrapped = encode_jsonp(payload, index)
    prefix = f"___eio[{index}]("
    assert wrapped.startswith(prefix) and wrapped.endswith(");")
    assert json.loads(wrapped[len(prefix) : -2]) == payload


# --- malformed input --------------------------------------------------------------------------

SMALL = Limits(max_payload=100, max_packets=3)


@pytest.mark.parametrize(
    ("frame", "eio", "error"),
    [
        ("", 4, PacketTypeError),
        ("", 3, PacketTypeError),
        ("7", 4, PacketTypeError),
        ("x", 4, PacketTypeError),
        ("-1", 3, PacketTypeError),
        ("bAQ", 4, PacketFormatError),  # bad base64 padding
        ("b!!!!", 4, PacketFormatError),
        ("b€", 4, PacketFormatError),  # non-ASCII in base64
        ("bx", 3, PacketTypeError),  # v3 needs the type after "b"
        ("b", 3, PacketTypeError),
        ("b2AQID", 3, PacketFormatError),  # binary data on a PING
        ("b4AQ=", 3, PacketFormatError),
        (b"", 3, PacketTypeError),
        (b"\x09abc", 3, PacketTypeError),
        (b"\x02abc", 3, PacketFormatError),  # binary data on a PING
        ("4" + "x" * 100, 4, PayloadTooLargeError),
        (b"x" * 101, 4, PayloadTooLargeError),
    ],
)
def test_malformed_packets(frame: str | bytes, eio: int, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        decode_packet(frame, eio=eio, limits=SMALL)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", PayloadFormatError),
        (b"", PayloadFormatError),
        ("4a\x1e\x1e4b", PacketTypeError),
        ("4a\x1e", PacketTypeError),
        ("4a\x1e9", PacketTypeError),
        ("bA", PacketFormatError),
        (b"4\xff\xfe", PayloadFormatError),  # not UTF-8
        ("2\x1e2\x1e2\x1e2", TooManyPacketsError),
        ("4" + "x" * 100, PayloadTooLargeError),
    ],
)
def test_malformed_v4_payloads(body: str | bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        decode_payload_v4(body, limits=SMALL)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", PayloadFormatError),
        ("abc", PayloadFormatError),
        ("4", PayloadFormatError),
        (":4a", PayloadFormatError),
        ("x:4a", PayloadFormatError),
        ("-1:4", PayloadFormatError),
        ("+2:4a", PayloadFormatError),
        ("٣:4ab", PayloadFormatError),  # a Unicode digit is not a length
        ("5:4a", PayloadFormatError),  # truncated
        ("2:4a3", PayloadFormatError),  # trailing length without ':'
        ("2:4😀", PayloadFormatError),  # the length splits a surrogate pair
        ("101:4", PayloadTooLargeError),  # above max_payload, refused before slicing
        ("99999999999999999999:4", PayloadTooLargeError),
        ("1:7", PacketTypeError),
        ("1:x", PacketTypeError),
        ("3:b4!", PacketFormatError),
        ("3:b2AQ", PacketFormatError),
        ("1:21:21:21:2", TooManyPacketsError),
        ("0:0:0:0:", TooManyPacketsError),  # empty entries count too
        ("9:4" + "x" * 100, PayloadTooLargeError),
    ],
)
def test_malformed_v3_string_payloads(body: str, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        decode_payload_v3(body, limits=SMALL)


def test_malformed_v3_text_body_bytes() -> None:
    with pytest.raises(PayloadFormatError):
        decode_payload_v3(b"2:4\xff", binary=False)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", PayloadFormatError),
        (b"\x02\x01\xff4", PayloadFormatError),  # marker must be 0 or 1
        (b"\x00\x01", PayloadFormatError),  # no 0xff
        (b"\x00\x01\x02", PayloadFormatError),
        (b"\x00\xff4", PayloadFormatError),  # no length digits
        (b"\x00\x0a\xff4", PayloadFormatError),  # 10 is not a digit byte
        (b"\x00\x05\xff4a", PayloadFormatError),  # truncated
        (b"\x01\x09\xff\x04ab", PayloadFormatError),  # truncated binary
        (b"\x00\x01\x00\x01\xff4", PayloadTooLargeError),  # 101 > max_payload
        (b"\x00" + b"\x09" * 30 + b"\xff", PayloadTooLargeError),
        (b"\x00\x02\xff4\xff", PacketFormatError),  # string entry is not UTF-8
        (b"\x00\x00\xff", PacketTypeError),  # empty string entry
        (b"\x00\x01\xff9", PacketTypeError),
        (b"\x01\x00\xff", PacketTypeError),  # empty binary entry: no type byte
        (b"\x01\x02\xff\x02a", PacketFormatError),  # binary data on a PING
        (b"\x01\x02\xff\x08a", PacketTypeError),
        (b"\x00\x01\xff2" * 4, TooManyPacketsError),
    ],
)
def test_malformed_v3_binary_payloads(body: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        decode_payload_v3(body, limits=SMALL)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", PayloadFormatError),
        (b"x=1", PayloadFormatError),
        (b"d=1&d=2", PayloadFormatError),
        (b"d=%ff", PayloadFormatError),  # percent-escape that is not UTF-8
        (b"d=\xff", PayloadFormatError),
        (b"&" * 90, PayloadFormatError),  # too many fields
        (b"d=" + b"x" * 100, PayloadTooLargeError),
    ],
)
def test_malformed_jsonp_bodies(body: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        decode_jsonp_body(body, limits=SMALL)


@given(st.binary(max_size=200), st.sampled_from([3, 4]))
def test_fuzz_bytes_raise_only_protocol_errors(body: bytes, eio: int) -> None:
    decoders: list[Callable[[], object]] = [
        lambda: decode_packet(body, eio=eio, limits=SMALL),
        lambda: decode_payload_v4(body, limits=SMALL),
        lambda: decode_payload_v3(body, limits=SMALL),
        lambda: decode_payload_v3(body, limits=SMALL, binary=False),
        lambda: decode_jsonp_body(body, limits=SMALL),
    ]
    for decode in decoders:
        with contextlib.suppress(ProtocolError):  # anything else fails the test
            decode()


@given(st.text(max_size=200), st.sampled_from([3, 4]))
def test_fuzz_text_raises_only_protocol_errors(body: str, eio: int) -> None:
    decoders: list[Callable[[], object]] = [
        lambda: decode_packet(body, eio=eio, limits=SMALL),
        lambda: decode_payload_v4(body, limits=SMALL),
        lambda: decode_payload_v3(body, limits=SMALL),
    ]
    for decode in decoders:
        with contextlib.suppress(ProtocolError):  # anything else fails the test
            decode()


@given(st.from_regex(r"\A([0-9]{1,3}:[0-6b][0-9A-Za-z+/=😀]{0,5})+\Z"))
def test_fuzz_v3_shaped_payloads_raise_only_protocol_errors(body: str) -> None:
    with contextlib.suppress(ProtocolError):
        decode_payload_v3(body, limits=SMALL)


# --- encoder misuse ---------------------------------------------------------------------------


def test_encoders_refuse_unframeable_packets() -> None:
    with pytest.raises(ValueError):
        encode_packet(Packet(T.PING, b"x"))
    with pytest.raises(ValueError):
        encode_payload_v4([Packet(T.MESSAGE, "a\x1eb")])
    with pytest.raises(ValueError):
        encode_payload_v4([Packet(T.PONG, b"x")])
    with pytest.raises(ValueError):
        encode_payload_v3([Packet(T.PONG, b"x")], binary=False)
    with pytest.raises(ValueError):
        encode_payload_v3([Packet(T.PONG, b"x")], binary=True)
    with pytest.raises(ValueError):
        encode_jsonp("x", -1)
