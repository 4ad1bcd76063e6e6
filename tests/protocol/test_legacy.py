"""The 0.9 (revision 1) codec: spec examples byte for byte, round trips, malformed input.

Expected strings come from the LearnBoost/socket.io-spec README, the 0.9 client's parser and
the 0.9 server's transports, written out by hand; the Node tests run the real 0.9.16 parser.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsocketio.exceptions import (
    InvalidJSONError,
    NestingTooDeepError,
    PacketFormatError,
    PacketTypeError,
    PayloadFormatError,
    PayloadTooLargeError,
    ProtocolError,
    TooManyPacketsError,
)
from gsocketio.protocol.legacy import (
    ERROR_ADVICE,
    ERROR_REASONS,
    MAX_ID,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_handshake,
    encode_packet,
    encode_payload,
    utf16_length,
)
from gsocketio.protocol.legacy_http import (
    HTMLFILE_PROLOGUE,
    decode_jsonp_body,
    encode_htmlfile_prologue,
    encode_htmlfile_script,
    encode_jsonp,
    encode_jsonp_error,
    js_string_literal,
)
from gsocketio.protocol.limits import Limits

T = PacketType
PROPERTY = settings(derandomize=True, deadline=None, max_examples=300)

# --- byte-exact examples -------------------------------------------------------------------

# (wire text, packet): decode gives the packet and encode gives the text back, byte for byte.
EXACT = [
    # spec README examples
    ("0::/test", Packet(T.DISCONNECT, endpoint="/test")),
    ("3:1::blabla", Packet(T.MESSAGE, id=1, data="blabla")),
    ('4:1::{"a":"b"}', Packet(T.JSON, id=1, data={"a": "b"})),
    ("6:::4", Packet(T.ACK, ack_id=4)),
    ('6:::4+["A","B"]', Packet(T.ACK, ack_id=4, args=["A", "B"])),
    # the fact sheet / 0.9 implementations
    ("0::", Packet(T.DISCONNECT)),
    ("1::", Packet(T.CONNECT)),
    ("1::/chat", Packet(T.CONNECT, endpoint="/chat")),
    # issue 15: a query is written after the endpoint's colon, as the seed and the 0.9 server do
    ("1::/test:?my=param", Packet(T.CONNECT, endpoint="/test", qs="my=param")),
    ("1:::?x=1", Packet(T.CONNECT, qs="x=1")),
    ("2::", Packet(T.HEARTBEAT)),
    ("3::", Packet(T.MESSAGE, data="")),
    ("3:::a:b", Packet(T.MESSAGE, data="a:b")),
    ('5:::{"name":"chat","args":["hi"]}', Packet(T.EVENT, name="chat", args=["hi"])),
    (
        '5:7+:/chat:{"name":"ping"}',
        Packet(T.EVENT, endpoint="/chat", id=7, ack="data", name="ping"),
    ),
    ('6::/chat:12+[{"ok":true}]', Packet(T.ACK, endpoint="/chat", ack_id=12, args=[{"ok": True}])),
    ("7:::1+0", Packet(T.ERROR, reason="client not handshaken", advice="reconnect")),
    ("7:::0", Packet(T.ERROR, reason="transport not supported")),
    ("7::/chat:2+0", Packet(T.ERROR, endpoint="/chat", reason="unauthorized", advice="reconnect")),
    ("7:::+0", Packet(T.ERROR, advice="reconnect")),
    ("7::", Packet(T.ERROR)),
    ("8::", Packet(T.NOOP)),
]


@pytest.mark.parametrize(("wire", "packet"), EXACT, ids=[w for w, _ in EXACT])
def test_exact_decode_and_encode(wire: str, packet: Packet) -> None:
    assert decode_packet(wire) == packet
    assert encode_packet(packet) == wire


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        ("0", Packet(T.DISCONNECT)),  # the spec's "disconnect the whole socket"
        ("1::/test?my=param", Packet(T.CONNECT, endpoint="/test", qs="my=param")),  # spec form
        ("1::/chat:?x=y", Packet(T.CONNECT, endpoint="/chat", qs="x=y")),  # 0.9 parser form
        ("1::/chat?a=b:c", Packet(T.CONNECT, endpoint="/chat", qs="a=b:c")),
        ("6:::4+", Packet(T.ACK, ack_id=4)),  # the 0.9 parsers accept an empty ack tail
        ('5:::{"name":"x","args":null}', Packet(T.EVENT, name="x")),
        ("3:007::x", Packet(T.MESSAGE, id=7, data="x")),
        ("2:::", Packet(T.HEARTBEAT)),
    ],
)
def test_decode_only_forms(wire: str, packet: Packet) -> None:
    assert decode_packet(wire) == packet


def test_all_nine_types_covered() -> None:
    assert {p.type for _, p in EXACT} == set(PacketType)


# --- the seed's dict form ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "seed"),
    [
        ("0::/chat", {"type": "disconnect", "endpoint": "/chat"}),
        ("1::/chat:?x=y", {"type": "connect", "endpoint": "/chat", "qs": "?x=y"}),
        ("1::/chat", {"type": "connect", "endpoint": "/chat", "qs": ""}),
        ("2::", {"type": "heartbeat", "endpoint": ""}),
        ("3:1::hi", {"type": "message", "endpoint": "", "id": 1, "ack": True, "data": "hi"}),
        ('4:::{"a":"b"}', {"type": "json", "endpoint": "", "data": {"a": "b"}}),
        (
            '5:2+:/chat:{"name":"chat","args":["hi"]}',
            {
                "type": "event",
                "endpoint": "/chat",
                "id": 2,
                "ack": "data",
                "name": "chat",
                "args": ["hi"],
            },
        ),
        ('6:::4+["A","B"]', {"type": "ack", "endpoint": "", "ackId": 4, "args": ["A", "B"]}),
        (
            "7:::2+0",
            {"type": "error", "endpoint": "", "reason": "unauthorized", "advice": "reconnect"},
        ),
        ("8::", {"type": "noop", "endpoint": ""}),
    ],
)
def test_seed_dict_both_ways(wire: str, seed: dict[str, Any]) -> None:
    assert decode_packet(wire).to_seed_dict() == seed
    assert encode_packet(Packet.from_seed_dict(seed)) == wire


def test_from_seed_dict_accepts_what_the_seed_built() -> None:
    # BaseNamespace.emit passed args as a tuple; early seeds kept ids as strings.
    emitted = {"type": "event", "name": "chat", "args": ("hi", 1), "endpoint": "/chat"}
    assert (
        encode_packet(Packet.from_seed_dict(emitted)) == '5::/chat:{"name":"chat","args":["hi",1]}'
    )
    acked: dict[str, Any] = {"type": "ack", "ackId": "4", "args": [], "endpoint": None}
    assert encode_packet(Packet.from_seed_dict(acked)) == "6:::4"
    connect = {"type": "connect", "endpoint": "/chat", "qs": "?x=y"}
    assert encode_packet(Packet.from_seed_dict(connect)) == "1::/chat:?x=y"


@pytest.mark.parametrize(
    "seed",
    [
        {"type": "bogus"},
        {},
        {"type": "event", "args": []},
        {"type": "event", "name": "x", "args": "notalist"},
        {"type": "ack", "args": []},
        {"type": "ack", "ackId": "x"},
        {"type": "message", "data": 3},
        {"type": "error", "reason": "nope"},
        {"type": "message", "data": "x", "id": -1},
        {"type": "message", "data": "x", "endpoint": "a:b"},
    ],
)
def test_from_seed_dict_refuses(seed: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Packet.from_seed_dict(seed)


@pytest.mark.parametrize(
    "packet",
    [
        Packet(T.MESSAGE, data="x", endpoint="/a:b"),
        Packet(T.MESSAGE, data="x", ack="data"),
        Packet(T.MESSAGE, data="x", id=-1),
        Packet(T.MESSAGE, data="x", id=MAX_ID + 1),
        Packet(T.MESSAGE, data="x", id=True),
        Packet(T.MESSAGE, data=None),
        Packet(T.CONNECT, endpoint="/chat?x=y"),
        Packet(T.ACK),
        Packet(T.EVENT, name=None),  # type: ignore[arg-type]
        Packet(T.ERROR, reason="parse"),
        Packet(T.ERROR, advice="retry"),
        Packet(T.JSON, data=float("nan")),
    ],
)
def test_encode_refuses_unencodable(packet: Packet) -> None:
    with pytest.raises(ValueError):
        encode_packet(packet)


# --- framing -------------------------------------------------------------------------------


def test_payload_framing_counts_utf16_units() -> None:
    # U+1F600 is one Python character but two JavaScript (UTF-16) units: "3:::😀" has length 6.
    packets = ["3:::a", "3:::\U0001f600", "3:::é"]
    wire = "\ufffd5\ufffd3:::a\ufffd6\ufffd3:::\U0001f600\ufffd5\ufffd3:::é"
    assert encode_payload(packets) == wire
    assert decode_payload(wire) == packets
    assert utf16_length("\U0001f600\U0001f600x") == 5


def test_payload_single_and_empty() -> None:
    assert encode_payload(["3:::x"]) == "3:::x"  # one packet goes unframed, as in 0.9
    assert decode_payload("3:::x") == ["3:::x"]
    assert encode_payload([]) == ""
    assert decode_payload("\ufffd3\ufffd2::\ufffd0\ufffd") == ["2::", ""]


def test_payload_with_marker_inside_a_packet() -> None:
    packets = ["3:::\ufffd5\ufffd", "8::"]
    assert encode_payload(packets) == "\ufffd7\ufffd3:::\ufffd5\ufffd\ufffd3\ufffd8::"
    assert decode_payload(encode_payload(packets)) == packets


# --- handshake, JSONP, htmlfile ------------------------------------------------------------


def test_handshake() -> None:
    transports = ["websocket", "xhr-polling"]
    assert encode_handshake("4d4f185e96a7b", 15, 10, transports) == (
        "4d4f185e96a7b:15:10:websocket,xhr-polling"
    )
    all_five = ["websocket", "flashsocket", "htmlfile", "xhr-polling", "jsonp-polling"]
    assert encode_handshake("4d4f185e96a7b", 60, 60, all_five) == (
        "4d4f185e96a7b:60:60:websocket,flashsocket,htmlfile,xhr-polling,jsonp-polling"
    )
    assert encode_handshake("abc", None, 60, ["websocket"]) == "abc::60:websocket"


@pytest.mark.parametrize(
    "args",
    [
        ("", 1, 1, ["x"]),
        ("a:b", 1, 1, ["x"]),
        ("a", -1, 1, ["x"]),
        ("a", 1, 1.5, ["x"]),
        ("a", 1, 1, ["a,b"]),
        ("a", True, 1, ["x"]),
        ("a", 1, 1, [""]),
    ],
)
def test_handshake_refuses(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        encode_handshake(*args)


def test_jsonp_wrappers() -> None:
    assert encode_jsonp("4d4f185e96a7b:60:60:websocket", 0) == (
        'io.j[0]("4d4f185e96a7b:60:60:websocket");'
    )
    # JSON.stringify escapes: \" \\ \n \t, other controls as lowercase \u00xx; '/' stays.
    assert encode_jsonp('3:::say "hi"\\ a/b\n\t\x01', 3) == (
        'io.j[3]("3:::say \\"hi\\"\\\\ a/b\\n\\t\\u0001");'
    )
    # Our additions: U+2028/9 and lone surrogates escaped; other non-ASCII stays raw.
    assert encode_jsonp("é\u2028\u2029\ud800\U0001f600", 1) == (
        'io.j[1]("é\\u2028\\u2029\\ud800\U0001f600");'
    )
    assert encode_jsonp_error("handshake unauthorized", 2) == (
        'io.j[2](new Error("handshake unauthorized"));'
    )
    for bad in (-1, True, "1"):
        with pytest.raises(ValueError):
            encode_jsonp("x", bad)  # type: ignore[arg-type]


def test_htmlfile() -> None:
    prologue = "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
    assert encode_htmlfile_prologue() == HTMLFILE_PROLOGUE == prologue + " " * 173
    assert encode_htmlfile_script("1::") == '<script>_("1::");</script>'
    assert encode_htmlfile_script("3:::a/b") == '<script>_("3:::a\\/b");</script>'
    assert encode_htmlfile_script("3:::</script><!--") == (
        '<script>_("3:::\\u003c\\/script>\\u003c!--");</script>'
    )
    # The client strips one backslash before each '/', so we send one more.
    assert encode_htmlfile_script("3:::\\/") == '<script>_("3:::\\\\\\\\\\/");</script>'


_HTML_BITS = st.sampled_from(["\\", "/", "\\/", "\\\\/", "</script>", "<!--", '"', "\u2028"])


def _client_htmlfile_receives(chunk: str) -> str:
    """What the 0.9.16 client's htmlfile ``_`` hands to onData for one chunk."""
    match = re.fullmatch(r"<script>_\((.*)\);</script>", chunk, re.DOTALL)
    assert match is not None
    assert "</" not in match[1] and "<!--" not in match[1]
    return re.sub(r"\\/", "/", json.loads(match[1]))  # the client's data.replace(/\\\//g, '/')


def test_jsonp_post_body() -> None:
    assert decode_jsonp_body(b"d=%223%3A%3A%3Ahi%22") == "3:::hi"
    assert decode_jsonp_body(b"d=%223%3A%3A%3Ahi+there%22&t=1") == "3:::hi there"
    assert decode_jsonp_body("d=%22%C3%A9%5Cn%22") == "é\n"
    framed = "\ufffd3\ufffd2::\ufffd3\ufffd8::"
    body = "d=" + quote('"\ufffd3\ufffd2::\ufffd3\ufffd8::"')
    assert decode_jsonp_body(body.encode()) == framed


# --- property tests ------------------------------------------------------------------------

_text = st.text(max_size=20)
_endpoints = st.text(st.characters(codec="utf-8", exclude_characters=":"), max_size=10)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    kind = draw(st.sampled_from(PacketType))
    endpoint = draw(_endpoints)
    if kind is T.CONNECT:
        endpoint = endpoint.replace("?", "")
    msg_id = draw(st.none() | st.integers(0, MAX_ID))
    ack = draw(st.sampled_from(["", "data"])) if msg_id is not None else ""
    packet = Packet(kind, endpoint=endpoint, id=msg_id, ack=ack)  # type: ignore[arg-type]
    if kind is T.CONNECT:
        packet.qs = draw(_text.filter(lambda q: not q.startswith("?")))
    elif kind is T.MESSAGE:
        packet.data = draw(_text)
    elif kind is T.JSON:
        packet.data = draw(_json)
    elif kind is T.EVENT:
        packet.name, packet.args = draw(_text), draw(st.lists(_json, max_size=4))
    elif kind is T.ACK:
        packet.ack_id, packet.args = draw(st.integers(0, MAX_ID)), draw(st.lists(_json, max_size=4))
    elif kind is T.ERROR:
        packet.reason = draw(st.sampled_from(("", *ERROR_REASONS)))
        packet.advice = draw(st.sampled_from(("", *ERROR_ADVICE)))
    return packet


@PROPERTY
@given(packets())
def test_packet_round_trip(packet: Packet) -> None:
    assert decode_packet(encode_packet(packet)) == packet


@PROPERTY
@given(packets())
def test_seed_dict_round_trip(packet: Packet) -> None:
    assert Packet.from_seed_dict(packet.to_seed_dict()) == packet


@PROPERTY
@given(st.lists(packets().map(encode_packet), min_size=1, max_size=6))
def test_payload_round_trip_of_packets(encoded: list[str]) -> None:
    assert decode_payload(encode_payload(encoded)) == encoded


@PROPERTY
@given(st.lists(st.text(max_size=12), min_size=2, max_size=6))
def test_payload_round_trip_of_any_text(items: list[str]) -> None:
    assert decode_payload(encode_payload(items)) == items


@PROPERTY
@given(st.text(st.characters(exclude_categories=())))
def test_js_literal_evaluates_back(text: str) -> None:
    assert json.loads(js_string_literal(text)) == text
    assert json.loads(encode_jsonp(text, 5)[len("io.j[5](") : -2]) == text


@PROPERTY
@given(st.lists(_HTML_BITS | st.characters(codec="utf-8"), max_size=12).map("".join))
def test_htmlfile_chunk_reaches_the_client_intact(text: str) -> None:
    assert _client_htmlfile_receives(encode_htmlfile_script(text)) == text


@PROPERTY
@given(st.text(st.characters(codec="utf-8")))
def test_jsonp_body_round_trip(payload: str) -> None:
    # What the client's form submits: d=JSON.stringify(payload), form-encoded.
    body = "t=1&d=" + quote_plus(json.dumps(payload, ensure_ascii=False))
    assert decode_jsonp_body(body.encode()) == payload


_FRAGMENTS = st.sampled_from(
    [
        "0",
        "1",
        "3",
        "5",
        "6",
        "7",
        "9",
        ":",
        "::",
        "+",
        "?",
        "/chat",
        "{",
        "}",
        "[",
        "]",
        '"',
        '"name"',
        '"args"',
        "\\",
        "\ufffd",
        "12",
        "-",
        "\U0001f600",
        "NaN",
        ",",
        "x",
    ]
)
_FUZZ = st.lists(_FRAGMENTS, max_size=24).map("".join) | st.text(max_size=40)


@PROPERTY
@given(_FUZZ)
def test_decoders_raise_only_protocol_errors(text: str) -> None:
    for decode in (decode_packet, decode_payload):
        with contextlib.suppress(ProtocolError):
            decode(text)


@PROPERTY
@given(st.binary(max_size=60) | _FUZZ.map(lambda s: ("d=" + quote(s)).encode()))
def test_jsonp_body_raises_only_protocol_errors(body: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_jsonp_body(body)


# --- malformed input -----------------------------------------------------------------------

DEEP = "[" * 101 + "]" * 101
MALFORMED_PACKETS: list[tuple[str, type[Exception]]] = [
    ("", PacketTypeError),
    (":::", PacketTypeError),
    ("9::", PacketTypeError),
    ("x::", PacketTypeError),
    ("10::", PacketTypeError),
    ("\u0663::", PacketTypeError),  # ARABIC-INDIC DIGIT THREE
    ("3", PacketFormatError),
    ("8", PacketFormatError),
    ("3:1", PacketFormatError),
    ("3:a::x", PacketFormatError),
    ("3:+::x", PacketFormatError),
    ("3:1++::x", PacketFormatError),
    ("3:-1::x", PacketFormatError),
    ("3:\u0661::x", PacketFormatError),
    ("3:9007199254740992::x", PacketFormatError),  # 2**53
    ("3:" + "9" * 5000 + "::x", PacketFormatError),
    ("0::/a:x", PacketFormatError),
    ("2:::x", PacketFormatError),
    ("8:::x", PacketFormatError),
    ("4:::", InvalidJSONError),
    ("4:::{", InvalidJSONError),
    ("4:::NaN", InvalidJSONError),
    ("4:::-Infinity", InvalidJSONError),
    ("4:::{'a':1}", InvalidJSONError),
    ("4:::1" + "0" * 5000, InvalidJSONError),  # Python's int digit limit is a ValueError
    ("5:::", InvalidJSONError),
    ("5:::[]", InvalidJSONError),
    ('5:::"chat"', InvalidJSONError),
    ('5:::{"args":[]}', InvalidJSONError),
    ('5:::{"name":1}', InvalidJSONError),
    ('5:::{"name":"a","args":{}}', InvalidJSONError),
    ("6:::", PacketFormatError),
    ("6:::x", PacketFormatError),
    ("6:::4x", PacketFormatError),
    ("6:::+[]", PacketFormatError),
    ("6:::99999999999999999", PacketFormatError),
    ("6:::4+{}", InvalidJSONError),
    ("6:::4+[", InvalidJSONError),
    ("7:::3", PacketFormatError),
    ("7:::0+1", PacketFormatError),
    ("7:::-1+0", PacketFormatError),
    ("7:::a", PacketFormatError),
    ("7:::1+0+0", PacketFormatError),
    ("4:::" + DEEP, NestingTooDeepError),
    ('5:::{"name":"x","args":' + DEEP + "}", NestingTooDeepError),
    ("6:::1+" + "[" * 200, NestingTooDeepError),
    ("4:::" + "[" * 150 + '"unterminated', NestingTooDeepError),
]


@pytest.mark.parametrize(
    ("wire", "error"), MALFORMED_PACKETS, ids=[repr(w[:24]) for w, _ in MALFORMED_PACKETS]
)
def test_malformed_packet(wire: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_packet(wire)


def test_brackets_inside_json_strings_do_not_count_as_depth() -> None:
    text = '4:::["' + "[{" * 500 + '", "\\"' + "[" * 500 + '"]'
    assert decode_packet(text).data == ["[{" * 500, '"' + "[" * 500]


def test_parser_recursion_is_refused_even_with_a_lax_limit() -> None:
    with pytest.raises(NestingTooDeepError):
        decode_packet("4:::" + "[" * 100_000, limits=Limits(max_depth=10**6))


def test_packet_size_limit() -> None:
    with pytest.raises(PayloadTooLargeError):
        decode_packet("3:::" + "a" * 100, limits=Limits(max_payload=50))


MALFORMED_PAYLOADS: list[tuple[str, type[Exception], Limits]] = [
    ("", PayloadFormatError, Limits()),
    ("\ufffd", PayloadFormatError, Limits()),
    ("\ufffd\ufffd", PayloadFormatError, Limits()),
    ("\ufffd5", PayloadFormatError, Limits()),
    ("\ufffdx\ufffd3:::a", PayloadFormatError, Limits()),
    ("\ufffd-1\ufffd", PayloadFormatError, Limits()),
    ("\ufffd\u0665\ufffd3:::a", PayloadFormatError, Limits()),  # ARABIC-INDIC DIGIT FIVE
    ("\ufffd10\ufffd3:::a", PayloadFormatError, Limits()),
    ("\ufffd5\ufffd3:::ab", PayloadFormatError, Limits()),
    ("\ufffd5\ufffd3:::\U0001f600", PayloadFormatError, Limits()),  # splits the pair
    ("\ufffd1000001\ufffd3:::a", PayloadTooLargeError, Limits()),  # refused before slicing
    ("\ufffd" + "9" * 50 + "\ufffd3", PayloadTooLargeError, Limits()),
    ("\ufffd" + "9" * 5000, PayloadTooLargeError, Limits()),
    ("3:::" + "a" * 20, PayloadTooLargeError, Limits(max_payload=10)),
    ("\ufffd3\ufffd2::\ufffd3\ufffd2::\ufffd9\ufffd", TooManyPacketsError, Limits(max_packets=2)),
]


@pytest.mark.parametrize(
    ("body", "error", "limits"),
    MALFORMED_PAYLOADS,
    ids=[repr(b[:16]) for b, _, _ in MALFORMED_PAYLOADS],
)
def test_malformed_payload(body: str, error: type[Exception], limits: Limits) -> None:
    with pytest.raises(error):
        decode_payload(body, limits=limits)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", PayloadFormatError),
        (b"x=1", PayloadFormatError),
        (b"d=%221%22&d=%222%22", PayloadFormatError),
        (b"d=%223%3A%3A%3A", PayloadFormatError),  # unterminated JSON string
        (b"d=3%3A%3A%3Ahi", PayloadFormatError),  # not JSON-encoded
        (b"d=%22a%22%22", PayloadFormatError),  # trailing data
        (b"d=%22%FF%22", PayloadFormatError),  # bad UTF-8 behind a percent escape
        (b"d=\xff", PayloadFormatError),
        (b"d=" + b"%5B" * 10_000, PayloadFormatError),  # nesting never reaches the parser
        (b"d=%22a%22" + b"&x=1" * 100, PayloadFormatError),
    ],
)
def test_malformed_jsonp_body(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_jsonp_body(body)


def test_jsonp_body_size_limit() -> None:
    with pytest.raises(PayloadTooLargeError):
        decode_jsonp_body(b"d=%22" + b"a" * 100 + b"%22", limits=Limits(max_payload=100))


# --- against the real 0.9.16 client parser (Node) ------------------------------------------

_NODE_PARSER = """
global.io = {JSON: JSON, util: {indexOf: (a, v) => a.indexOf(v)}};
require("socket.io-client-legacy/lib/parser.js");
const p = io.parser, vm = require("vm");
const evalWith = (src, ctx) => {
  let got;
  vm.runInNewContext(src, ctx((m) => { got = m; }));
  return got;
};
const htmlfileUnescape = (m) => m.replace(/\\\\\\//g, "/");  // the client's HTMLFile#_
const b64 = (o) => ({b64: Buffer.from(JSON.stringify(o)).toString("base64")});
out(b64({
  decoded: ARGS.ours.map((s) => p.decodePacket(s)),
  payload: p.decodePayload(ARGS.payload).map((q) => q.data),
  encoded: ARGS.theirs.map((o) => p.encodePacket(o)),
  theirPayload: p.encodePayload(ARGS.payloadItems),
  jsonp: ARGS.jsonp.map((src) => evalWith(src, (f) => ({io: {j: [f]}}))),
  htmlfile: ARGS.htmlfile.map((src) => evalWith(src, (f) => ({_: (m) => f(htmlfileUnescape(m))}))),
}));
done();
"""

NASTY = [
    '3:::say "hi"\\',
    "a/b\\/c\\\\/d",
    "</script><!--<script>",
    "\n\r\t\x00\x1f\x7f",
    "é\u2028\u2029\U0001f600\ufffd",
    "\\u0041",
]


@pytest.mark.service
def test_the_09_client_parser_agrees() -> None:
    from tests.helpers.node import run_node

    ours = [
        Packet(T.EVENT, endpoint="/chat", id=1, ack="data", name="chat", args=["hi", {"a": 1}]),
        Packet(T.ACK, ack_id=4, args=["A", "B"]),
        Packet(T.ERROR, endpoint="/chat", reason="unauthorized", advice="reconnect"),
        Packet(T.MESSAGE, id=2, data="a:b"),
        Packet(T.JSON, data={"x": [1, None]}),
        Packet(T.CONNECT, endpoint="/chat"),
    ]
    theirs = [
        {"type": "event", "name": "chat", "args": ["hi"], "id": 1, "ack": "data", "endpoint": "/c"},
        {"type": "connect", "endpoint": "/chat", "qs": "?x=y"},
        {"type": "error", "reason": "client not handshaken", "advice": "reconnect"},
        {"type": "ack", "ackId": 4, "args": ["A"]},
        {"type": "message", "data": "a:b", "id": 3},
        {"type": "json", "data": {"a": [1]}},
        {"type": "disconnect", "endpoint": "/chat"},
        {"type": "heartbeat"},
        {"type": "noop"},
    ]
    items = ["3:::" + s for s in NASTY]
    ((encoded_record,),) = [
        r.values()
        for r in run_node(
            _NODE_PARSER,
            "",
            args={
                "ours": [encode_packet(p) for p in ours],
                "theirs": theirs,
                "payload": encode_payload(items),
                "payloadItems": items,
                "jsonp": [encode_jsonp(s, 0) for s in NASTY],
                "htmlfile": [
                    encode_htmlfile_script(s)[len("<script>") : -len("</script>")] for s in NASTY
                ],
            },
        )
    ]
    # base64 because the helper splits stdout with str.splitlines(), which breaks at U+2028
    record = json.loads(base64.b64decode(encoded_record))
    assert record["decoded"] == [
        {
            "type": "event",
            "endpoint": "/chat",
            "id": "1",
            "ack": "data",
            "name": "chat",
            "args": ["hi", {"a": 1}],
        },
        {"type": "ack", "endpoint": "", "ackId": "4", "args": ["A", "B"]},
        {"type": "error", "endpoint": "/chat", "reason": "unauthorized", "advice": "reconnect"},
        {"type": "message", "endpoint": "", "id": "2", "ack": True, "data": "a:b"},
        {"type": "json", "endpoint": "", "data": {"x": [1, None]}},
        {"type": "connect", "endpoint": "/chat", "qs": ""},
    ]
    assert [decode_packet(s) for s in record["encoded"]] == [
        Packet(T.EVENT, endpoint="/c", id=1, ack="data", name="chat", args=["hi"]),
        Packet(T.CONNECT, endpoint="/chat", qs="x=y"),
        Packet(T.ERROR, reason="client not handshaken", advice="reconnect"),
        Packet(T.ACK, ack_id=4, args=["A"]),
        Packet(T.MESSAGE, id=3, data="a:b"),
        Packet(T.JSON, data={"a": [1]}),
        Packet(T.DISCONNECT, endpoint="/chat"),
        Packet(T.HEARTBEAT),
        Packet(T.NOOP),
    ]
    assert record["payload"] == NASTY
    assert decode_payload(record["theirPayload"]) == items
    assert record["jsonp"] == NASTY
    assert record["htmlfile"] == NASTY
