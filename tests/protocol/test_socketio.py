"""Socket.IO packet codec: spec examples byte for byte, round-trip properties, malformed input.

Byte-exact strings come from the socket.io-protocol documents (v5 README, its earlier v5
revision, the v4 branch), with the Engine.IO ``4`` prefix of their sample sessions removed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsocketio.exceptions import (
    AttachmentError,
    InvalidJSONError,
    NestingTooDeepError,
    PacketFormatError,
    PacketTypeError,
    PayloadTooLargeError,
    ProtocolError,
    TooManyAttachmentsError,
)
from gsocketio.protocol import socketio
from gsocketio.protocol.limits import Limits
from gsocketio.protocol.socketio import (
    MAX_ACK_ID,
    RESERVED_EVENTS,
    Decoder,
    Packet,
    PacketType,
    encode,
    json_dumps,
)

T = PacketType
BUF = b"\x01\x02\x03\x04"
SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)


def feed_all(decoder: Decoder, parts: Sequence[str | bytes]) -> Packet | None:
    """Feed every part; all but the last must leave the packet pending."""
    for part in parts[:-1]:
        assert decoder.feed(part) is None
    return decoder.feed(parts[-1])


def decode(parts: Sequence[str | bytes], **kwargs: Any) -> Packet | None:
    return feed_all(Decoder(**kwargs), parts)


# --- spec examples ---------------------------------------------------------------------------

# (packet given to encode, exact wire form, packet the decoder yields)
SPEC_EXAMPLES: list[tuple[Packet, list[str | bytes], Packet]] = []


def example(packet: Packet, wire: list[str | bytes], decoded: Packet | None = None) -> None:
    SPEC_EXAMPLES.append((packet, wire, decoded if decoded is not None else packet))


# v5 README, "Packet encoding" tables
example(Packet(T.CONNECT), ["0"])
example(
    Packet(T.CONNECT, data={"sid": "wZX3oN0bSVIhsaknAAAI"}), ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}']
)
example(Packet(T.CONNECT, "/admin"), ["0/admin,"])
example(
    Packet(T.CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}),
    ['0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'],
)
example(
    Packet(T.CONNECT_ERROR, data={"message": "Not authorized"}), ['4{"message":"Not authorized"}']
)
example(Packet(T.EVENT, data=["foo"]), ['2["foo"]'])
example(Packet(T.EVENT, "/admin", ["bar"]), ['2/admin,["bar"]'])
example(
    Packet(T.BINARY_EVENT, data=["baz", BUF]),
    ['51-["baz",{"_placeholder":true,"num":0}]', BUF],
    Packet(T.EVENT, data=["baz", BUF]),
)
example(
    Packet(T.BINARY_EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
    [
        '52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02",
        b"\x03\x04",
    ],
    Packet(T.EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
)
example(Packet(T.EVENT, data=["foo"], id=12), ['212["foo"]'])
example(Packet(T.ACK, data=[], id=12), ["312[]"])
example(Packet(T.EVENT, "/admin", ["foo"], 13), ['2/admin,13["foo"]'])
example(Packet(T.ACK, "/admin", ["bar"], 13), ['3/admin,13["bar"]'])
example(
    Packet(T.BINARY_EVENT, data=["foo", BUF], id=14),
    ['51-14["foo",{"_placeholder":true,"num":0}]', BUF],
    Packet(T.EVENT, data=["foo", BUF], id=14),
)
example(Packet(T.ACK, data=["bar"], id=14), ['314["bar"]'])
example(Packet(T.EVENT, data=["foo"], id=15), ['215["foo"]'])
example(
    Packet(T.BINARY_ACK, data=["bar", BUF], id=15),
    ['61-15["bar",{"_placeholder":true,"num":0}]', BUF],
    Packet(T.ACK, data=["bar", BUF], id=15),
)
example(Packet(T.DISCONNECT), ["1"])
example(Packet(T.DISCONNECT, "/admin"), ["1/admin,"])
# v5 README, sample session
example(
    Packet(T.CONNECT, "/admin", {"sid": "-G5j-67EZFp-q59rADQM"}),
    ['0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}'],
)
example(Packet(T.EVENT, "/admin", ["tellme"], 1), ['2/admin,1["tellme"]'])
example(
    Packet(T.ACK, "/admin", [b"\xff\x00"], 1),
    ['61-/admin,1[{"_placeholder":true,"num":0}]', b"\xff\x00"],
)
example(Packet(T.EVENT, data=["hey", "Jude"]), ['2["hey","Jude"]'])
example(Packet(T.EVENT, data=["hello"]), ['2["hello"]'])
# earlier v5 README revision, "Examples"
example(Packet(T.CONNECT, data={"token": "123"}), ['0{"token":"123"}'])
example(Packet(T.CONNECT, "/admin", {"token": "123"}), ['0/admin,{"token":"123"}'])
example(Packet(T.EVENT, data=["hello", 1]), ['2["hello",1]'])
example(
    Packet(T.EVENT, "/admin", ["project:delete", 123], 456),
    ['2/admin,456["project:delete",123]'],
)
example(Packet(T.ACK, "/admin", [], 456), ["3/admin,456[]"])
example(
    Packet(T.CONNECT_ERROR, "/admin", {"message": "Not authorized"}),
    ['4/admin,{"message":"Not authorized"}'],
)
example(
    Packet(T.EVENT, data=["hello", b"\x01\x02\x03"]),
    ['51-["hello",{"_placeholder":true,"num":0}]', b"\x01\x02\x03"],
)
example(
    Packet(T.EVENT, "/admin", ["project:delete", b"\x01\x02\x03"], 456),
    ['51-/admin,456["project:delete",{"_placeholder":true,"num":0}]', b"\x01\x02\x03"],
)
example(
    Packet(T.ACK, "/admin", [b"\x03\x02\x01"], 456),
    ['61-/admin,456[{"_placeholder":true,"num":0}]', b"\x03\x02\x01"],
)
# v4 branch: ERROR carries a plain string
example(Packet(T.CONNECT_ERROR, "/admin", "Not authorized"), ['4/admin,"Not authorized"'])


@pytest.mark.parametrize(("packet", "wire", "decoded"), SPEC_EXAMPLES)
def test_spec_example_encodes_byte_exact(
    packet: Packet, wire: list[str | bytes], decoded: Packet
) -> None:
    assert encode(packet) == wire


@pytest.mark.parametrize(("packet", "wire", "decoded"), SPEC_EXAMPLES)
def test_spec_example_decodes(packet: Packet, wire: list[str | bytes], decoded: Packet) -> None:
    assert decode(wire) == decoded


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # v4 branch writes the namespace of CONNECT/DISCONNECT without the trailing comma
        ("0/admin", Packet(T.CONNECT, "/admin")),
        ("1/admin", Packet(T.DISCONNECT, "/admin")),
        # v4 branch: "nsp": "/admin?token=1234&uid=abcd" in a CONNECT packet
        ("0/admin?token=1234&uid=abcd", Packet(T.CONNECT, "/admin", query="token=1234&uid=abcd")),
        # socket.io-parser 3.x (v4) always writes "," after a namespace other than "/"
        ("0/admin?token=1234&uid=abcd,", Packet(T.CONNECT, "/admin", query="token=1234&uid=abcd")),
        ("0/admin?token=abc,", Packet(T.CONNECT, "/admin", query="token=abc")),
        ("0/admin?,", Packet(T.CONNECT, "/admin", query="")),
        # earlier v5 revision: CONNECT_ERROR "message" plus an optional "data"
        (
            '4/admin,{"message":"Not authorized",'
            '"data":{"code":"E001","label":"Invalid credentials"}}',
            Packet(
                T.CONNECT_ERROR,
                "/admin",
                {
                    "message": "Not authorized",
                    "data": {"code": "E001", "label": "Invalid credentials"},
                },
            ),
        ),
        ("4", Packet(T.CONNECT_ERROR)),
        # JSON may start with whitespace, as JSON.parse allows
        ('2 ["a"]', Packet(T.EVENT, data=["a"])),
        # a "?" outside CONNECT stays in the namespace, as in the reference parser
        ('2/a?b,["x"]', Packet(T.EVENT, "/a?b", ["x"])),
    ],
)
def test_decode_v4_and_edge_forms(wire: str, expected: Packet) -> None:
    assert decode([wire]) == expected


def test_v4_connect_query_encodes_with_the_parser_3_comma() -> None:
    packet = Packet(T.CONNECT, "/admin", query="token=1234&uid=abcd")
    assert encode(packet) == ["0/admin?token=1234&uid=abcd,"]
    assert decode(encode(packet)) == packet


def test_non_ascii_is_written_raw_like_json_stringify() -> None:
    assert encode(Packet(T.EVENT, data=["é", "日本"])) == ['2["é","日本"]']


# --- binary ----------------------------------------------------------------------------------


def test_nested_and_multiple_attachments_in_document_order() -> None:
    data = ["up", {"a": [b"0", {"b": bytearray(b"1")}], "c": (memoryview(b"2"), 3)}, b"3"]
    parts = encode(Packet(T.EVENT, "/x", data, 7))
    assert parts == [
        '54-/x,7["up",{"a":[{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}],'
        '"c":[{"_placeholder":true,"num":2},3]},{"_placeholder":true,"num":3}]',
        b"0",
        b"1",
        b"2",
        b"3",
    ]
    assert all(type(part) is bytes for part in parts[1:])
    packet = decode(parts)
    assert packet == Packet(
        T.EVENT, "/x", ["up", {"a": [b"0", {"b": b"1"}], "c": [b"2", 3]}, b"3"], 7
    )


def test_attachments_may_arrive_as_bytearray_or_memoryview() -> None:
    decoder = Decoder()
    assert (
        decoder.feed('52-["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]') is None
    )
    assert decoder.pending
    # the transport may hand over any bytes-like object
    assert decoder.feed(cast(bytes, bytearray(b"first"))) is None
    packet = decoder.feed(cast(bytes, memoryview(b"second")))
    assert packet == Packet(T.EVENT, data=["a", b"second", b"first"])
    assert type(packet.data[1]) is bytes
    assert not decoder.pending


def test_placeholder_may_be_referenced_twice_and_attachment_left_unused() -> None:
    # socket.io-parser only checks that each num is in range
    wire = '52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]'
    assert decode([wire, b"x", b"y"]) == Packet(T.EVENT, data=["a", b"x", b"x"])


def test_placeholder_shaped_dict_in_text_packet_stays_data() -> None:
    wire = '2["a",{"_placeholder":true,"num":0}]'
    assert decode([wire]) == Packet(T.EVENT, data=["a", {"_placeholder": True, "num": 0}])


def test_binary_type_without_binary_encodes_as_plain() -> None:
    assert encode(Packet(T.BINARY_EVENT, data=["a"])) == ['2["a"]']
    assert encode(Packet(T.BINARY_ACK, data=[], id=3)) == ["33[]"]


@pytest.mark.parametrize("ptype", [T.CONNECT, T.CONNECT_ERROR])
@pytest.mark.parametrize("dumps", [json_dumps, json.dumps])
def test_binary_outside_event_and_ack_is_refused(ptype: PacketType, dumps: Any) -> None:
    with pytest.raises(TypeError):
        encode(Packet(ptype, data={"key": b"x"}), dumps=dumps)


def test_decoder_is_reusable_after_binary_packet() -> None:
    decoder = Decoder()
    assert feed_all(decoder, ['61-9[{"_placeholder":true,"num":0}]', b"z"]) == Packet(
        T.ACK, data=[b"z"], id=9
    )
    assert decoder.feed('2["next"]') == Packet(T.EVENT, data=["next"])


def test_reset_drops_pending_packet() -> None:
    decoder = Decoder()
    decoder.feed('52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    decoder.feed(b"one")
    decoder.reset()
    assert not decoder.pending
    with pytest.raises(AttachmentError):
        decoder.feed(b"two")


# --- pluggable JSON --------------------------------------------------------------------------


def test_custom_dumps_is_used_and_binary_still_extracted() -> None:
    calls: list[Any] = []

    def dumps(obj: Any) -> str:
        calls.append(obj)
        # would happily serialize bytes itself: encode must still pull them out first
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=lambda b: b.hex())

    assert encode(Packet(T.EVENT, data=["e", {"b": 1, "a": 2}]), dumps=dumps) == [
        '2["e",{"a":2,"b":1}]'
    ]
    assert encode(Packet(T.EVENT, data=["e", b"\x00"]), dumps=dumps) == [
        '51-["e",{"_placeholder":true,"num":0}]',
        b"\x00",
    ]
    assert len(calls) == 2


def test_custom_loads_is_used_and_its_value_error_becomes_invalid_json() -> None:
    seen: list[str] = []

    def loads(text: str) -> Any:
        seen.append(text)
        if text == "[0]":
            raise ValueError("refused")
        return json.loads(text)

    decoder = Decoder(loads=loads)
    assert decoder.feed('2/a,["x"]') == Packet(T.EVENT, "/a", ["x"])
    with pytest.raises(InvalidJSONError):
        decoder.feed("31[0]")
    assert seen == ['["x"]', "[0]"]


def test_text_event_without_binary_is_serialized_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forbidden(*args: Any) -> Any:
        raise AssertionError("the binary walk ran for a packet without binary")

    monkeypatch.setattr(socketio, "_has_binary", forbidden)
    monkeypatch.setattr(socketio, "_deconstruct", forbidden)
    assert encode(Packet(T.EVENT, data=["a", {"b": [1, 2.5, None, True]}])) == [
        '2["a",{"b":[1,2.5,null,true]}]'
    ]


# --- encoder misuse (our own bugs, not peer input) --------------------------------------------


@pytest.mark.parametrize(
    ("packet", "exc"),
    [
        (Packet(T.EVENT, data=["a"], id=-1), ValueError),
        (Packet(T.EVENT, data=["a"], id=MAX_ACK_ID + 1), ValueError),
        (Packet(T.EVENT, data=["a"], id=True), ValueError),
        (Packet(T.EVENT, "admin", ["a"]), ValueError),
        (Packet(T.EVENT, "/a,b", ["a"]), ValueError),
        (Packet(T.CONNECT, "/a?b"), ValueError),
        (Packet(T.EVENT, data=["a"], query="x=1"), ValueError),
        (Packet(T.CONNECT, query="a,b"), ValueError),
        (Packet(T.EVENT, data=["a", float("nan")]), ValueError),
        (Packet(T.EVENT, data=["a", {1, 2}]), TypeError),
    ],
)
def test_encode_refuses_invalid_packets(packet: Packet, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        encode(packet)


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("leaf", ["text", b"bin"])
def test_data_nested_beyond_the_recursion_limit_raises_recursion_error(leaf: Any) -> None:
    # Application data (never peer input, which is depth-checked first) walked recursively:
    # a RecursionError, pure or compiled by mypyc (there, without the walkers' depth budget,
    # the C stack would overflow: SIGSEGV). ``str`` as dumps: the custom-serializer path.
    deep = Packet(T.EVENT, data=["a", _nested(100_000, leaf)])
    with pytest.raises(RecursionError):
        encode(deep, dumps=str)
    with pytest.raises(RecursionError):
        encode(deep)
    # well inside the limit the same walkers still encode it
    shallow = Packet(T.EVENT, data=["a", _nested(200, leaf)])
    text = encode(shallow, dumps=json.dumps)[0]
    assert isinstance(text, str) and text.endswith("]" * 201)


def test_feed_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        Decoder().feed(42)  # type: ignore[arg-type]


# --- malformed input -------------------------------------------------------------------------


def _nest_without_runs(levels: int) -> str:
    """An array nested ``levels`` deep where no two "[" are adjacent after the first."""
    text = "[]"
    for _ in range(levels - 1):
        text = f"[[],{text}]"
    return text


PLACEHOLDER = '{"_placeholder":true,"num":0}'

MALFORMED: list[tuple[list[str | bytes], type[ProtocolError]]] = [
    ([""], PacketTypeError),
    (["7"], PacketTypeError),
    (["x"], PacketTypeError),
    (["-1"], PacketTypeError),
    ([' 2["a"]'], PacketTypeError),
    (['\u0662["a"]'], PacketTypeError),  # Arabic-Indic digit two
    (["2"], PacketFormatError),
    (["2/admin"], PacketFormatError),
    (["2/admin,"], PacketFormatError),
    (['2/admin["a"]'], PacketFormatError),  # namespace runs to the end: no data
    (["21"], PacketFormatError),
    (["2[]"], InvalidJSONError),
    (["2[1]"], InvalidJSONError),
    (['2[["a"]]'], InvalidJSONError),
    (["2{}"], InvalidJSONError),
    (['2"a"'], InvalidJSONError),
    (["2null"], InvalidJSONError),
    (['2["a"'], InvalidJSONError),
    (['2["a"]x'], InvalidJSONError),
    (['2["a",NaN]'], InvalidJSONError),
    (['2["a",-Infinity]'], InvalidJSONError),
    (['2["a",' + "9" * 5000 + "]"], InvalidJSONError),
    (["2abc"], InvalidJSONError),
    (['2,["a"]'], InvalidJSONError),
    (['2\u0661["a"]'], InvalidJSONError),  # a non-ASCII digit is no ack id
    (['2["\\ud800\\u"]'], InvalidJSONError),
    (['2["connect"]'], PacketFormatError),
    (['2["disconnect",1]'], PacketFormatError),
    (['2/admin,1["disconnecting"]'], PacketFormatError),
    ([f'51-["newListener",{PLACEHOLDER}]'], PacketFormatError),
    (["2" + "1" * 16 + '["a"]'], PacketFormatError),
    (["2" + "1" * 100_000 + '["a"]'], PacketFormatError),
    (["3"], PacketFormatError),
    (["3[]"], PacketFormatError),  # ACK without ack id
    (["31"], PacketFormatError),
    (["31{}"], InvalidJSONError),
    (['31"a"'], InvalidJSONError),
    (["0[]"], InvalidJSONError),
    (['0"a"'], InvalidJSONError),
    (["0null"], InvalidJSONError),
    (["0{"], InvalidJSONError),
    (["01"], PacketFormatError),
    (["0/admin,1"], PacketFormatError),
    (["1{}"], PacketFormatError),
    (["1/admin,[]"], PacketFormatError),
    (["11"], PacketFormatError),
    (["4[]"], InvalidJSONError),
    (["4null"], InvalidJSONError),
    (["4 1"], InvalidJSONError),
    (["41{}"], PacketFormatError),
    # nesting bombs and deep documents
    (["2" + "[" * 100_000], NestingTooDeepError),
    (["2" + "[{" * 50_000], NestingTooDeepError),
    (['2["a",' + "[" * 150 + "]" * 150 + "]"], NestingTooDeepError),
    (['2["a",' + '{"k":' * 120 + "1" + "}" * 120 + "]"], NestingTooDeepError),
    (['2["a",' + _nest_without_runs(100) + "]"], NestingTooDeepError),
    (['2["' + "x" * 5000 + '",' + _nest_without_runs(100) + "]"], NestingTooDeepError),
    (["2" + "[[]" * 200], NestingTooDeepError),  # unbalanced, no long run of "["
    (['2["a"]' + "][" * 120], InvalidJSONError),  # many brackets, shallow, then garbage
    # attachments
    (['5-["a"]'], AttachmentError),
    (['5a-["a"]'], AttachmentError),
    (['51["a"]'], AttachmentError),
    (["5"], AttachmentError),
    (['50-["a"]'], AttachmentError),
    (['5000-["a"]'], AttachmentError),
    (['5257-["a"]'], TooManyAttachmentsError),
    (["5" + "9" * 100_000 + '-["a"]'], TooManyAttachmentsError),
    (["5999-not json at all"], TooManyAttachmentsError),
    ([b"\x01"], AttachmentError),
    ([f'51-["a",{PLACEHOLDER}]', '2["b"]'], AttachmentError),
    ([f'51-["a",{PLACEHOLDER}]', f'51-["b",{PLACEHOLDER}]'], AttachmentError),
    (['51-["a",{"_placeholder":true,"num":1}]', b"x"], AttachmentError),
    (['51-["a",{"_placeholder":true,"num":-1}]', b"x"], AttachmentError),
    (['51-["a",{"_placeholder":true,"num":"0"}]', b"x"], AttachmentError),
    (['51-["a",{"_placeholder":true,"num":true}]', b"x"], AttachmentError),
    (['51-["a",{"_placeholder":true,"num":0.0}]', b"x"], AttachmentError),
    (['51-["a",{"_placeholder":true}]', b"x"], AttachmentError),
    (['51-["a",{"k":[{"_placeholder":true,"num":3}]}]', b"x"], AttachmentError),
    ([f"51-[{PLACEHOLDER}]"], InvalidJSONError),
    ([f"61-[{PLACEHOLDER}]"], PacketFormatError),  # BINARY_ACK without ack id
    ([f"61-1{PLACEHOLDER}"], InvalidJSONError),
]


@pytest.mark.parametrize(("messages", "exc"), MALFORMED)
def test_malformed_input_raises_specific_error(
    messages: list[str | bytes], exc: type[ProtocolError]
) -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError) as info:
        feed_all(decoder, messages)
    assert type(info.value) is exc, info.value
    # nothing half-decoded survives an error
    assert not decoder.pending
    assert decoder.feed('2["ok"]') == Packet(T.EVENT, data=["ok"])


def test_recursion_in_a_custom_loads_or_in_reassembly_is_a_nesting_error() -> None:
    def exploding(text: str) -> Any:
        raise RecursionError

    with pytest.raises(NestingTooDeepError):
        Decoder(loads=exploding).feed('2["a"]')

    def too_deep(text: str) -> Any:  # a parser that ignores the text-level bound
        value: Any = [{"_placeholder": True, "num": 0}]
        for _ in range(100_000):
            value = [value]
        return ["a", value]

    decoder = Decoder(loads=too_deep)
    assert decoder.feed('51-["a"]') is None
    with pytest.raises(NestingTooDeepError):
        decoder.feed(b"x")
    assert not decoder.pending


def test_attachment_count_is_checked_before_json_is_parsed() -> None:
    seen: list[str] = []

    def loads(text: str) -> Any:
        seen.append(text)
        return json.loads(text)

    decoder = Decoder(loads=loads, limits=Limits(max_attachments=2))
    with pytest.raises(TooManyAttachmentsError):
        decoder.feed('53-["a",1]')
    assert seen == []
    assert decoder.feed('52-["a",1]') is None


@pytest.mark.parametrize(
    "messages",
    [
        ['2["' + "a" * 60 + '"]'],
        ['2/a,["' + "a" * 60 + '"]'],
        [f'51-["a",{PLACEHOLDER}]', b"x" * 64],
    ],
)
def test_payload_limit(messages: list[str | bytes]) -> None:
    decoder = Decoder(limits=Limits(max_payload=50))
    with pytest.raises(PayloadTooLargeError):
        feed_all(decoder, messages)


def test_depth_limit_is_exact_at_the_boundary() -> None:
    decoder = Decoder(limits=Limits(max_depth=5))
    assert decoder.feed('2["a",[[[[1]]]]]') is not None  # depth 5
    with pytest.raises(NestingTooDeepError):
        decoder.feed('2["a",[[[[[1]]]]]]')  # depth 6
    # brackets and escaped quotes inside strings are not nesting
    assert decoder.feed('2["[[[[[[[[", "\\"[[[[[[", "\\\\", {"{{{{{{": "]]]]"}]') is not None


# --- properties ------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
KEYS = st.text(max_size=8).filter(lambda key: key != "_placeholder")


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4)
        ),
        max_leaves=16,
    )


PLAIN = json_values(SCALARS)
WITH_BINARY = json_values(SCALARS | st.binary(max_size=12))
NAMESPACES = st.just("/") | st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=",?"), max_size=10
).map(lambda name: "/" + name)
EVENT_NAMES = st.text(max_size=10).filter(lambda name: name not in RESERVED_EVENTS)
ACK_IDS = st.integers(min_value=0, max_value=MAX_ACK_ID)
QUERIES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=","), max_size=12)


def events_and_acks(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Packet]:
    args = st.lists(values, max_size=4)
    return st.builds(
        Packet,
        st.just(T.EVENT),
        NAMESPACES,
        st.tuples(EVENT_NAMES, args).map(lambda pair: [pair[0], *pair[1]]),
        st.none() | ACK_IDS,
    ) | st.builds(Packet, st.just(T.ACK), NAMESPACES, args, ACK_IDS)


ALL_TEXT_PACKETS = st.one_of(
    st.builds(
        Packet,
        st.just(T.CONNECT),
        NAMESPACES,
        st.none() | st.dictionaries(KEYS, PLAIN, max_size=4),
        query=st.none() | QUERIES,
    ),
    st.builds(Packet, st.just(T.DISCONNECT), NAMESPACES),
    events_and_acks(PLAIN),
    st.builds(
        Packet,
        st.just(T.CONNECT_ERROR),
        NAMESPACES,
        st.none() | st.text(max_size=12) | st.dictionaries(KEYS, PLAIN, max_size=4),
    ),
)
BINARY_PACKETS = events_and_acks(WITH_BINARY)


def count_binary(value: Any) -> int:
    if isinstance(value, bytes):
        return 1
    if isinstance(value, list):
        return sum(count_binary(item) for item in value)
    if isinstance(value, dict):
        return sum(count_binary(item) for item in value.values())
    return 0


@SETTINGS
@given(ALL_TEXT_PACKETS)
def test_round_trip_text_packets(packet: Packet) -> None:
    parts = encode(packet)
    assert len(parts) == 1 and isinstance(parts[0], str)
    assert decode(parts) == packet


@SETTINGS
@given(BINARY_PACKETS)
def test_round_trip_with_binary_anywhere(packet: Packet) -> None:
    parts = encode(packet)
    attachments = count_binary(packet.data)
    assert len(parts) == 1 + attachments
    text = parts[0]
    assert isinstance(text, str)
    if attachments:
        binary_type = "5" if packet.type is T.EVENT else "6"
        assert text.startswith(f"{binary_type}{attachments}-")
    assert decode(parts) == packet


@SETTINGS
@given(BINARY_PACKETS)
def test_custom_json_round_trip_matches_default(packet: Packet) -> None:
    def dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    assert encode(packet, dumps=dumps) == encode(packet)
    assert decode(encode(packet, dumps=dumps), loads=json.loads) == packet


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    return 0


TRICKY_TEXT = st.text(alphabet='[]{}"\\ab\u00e9\n', max_size=8)
DEEP = st.recursive(
    st.integers(0, 9) | TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(TRICKY_TEXT, children, max_size=3)
    ),
    max_leaves=40,
)


@SETTINGS
@given(DEEP, st.integers(min_value=1, max_value=12), st.booleans())
def test_depth_scan_is_exact_on_valid_json(value: Any, max_depth: int, pad: bool) -> None:
    args = ["x" * 3000, value] if pad else [value]  # pad: take the long-text path
    text = "2" + json.dumps(["e", *args], ensure_ascii=False)
    decoder = Decoder(limits=Limits(max_depth=max_depth))
    if 1 + depth(value) > max_depth:
        with pytest.raises(NestingTooDeepError):
            decoder.feed(text)
    else:
        assert decoder.feed(text) == Packet(T.EVENT, data=["e", *args])


STRUCTURAL = st.text(alphabet='0123456-/,?[]{}":a\\ ntrue', max_size=40)
MESSAGES = st.lists(
    st.one_of(
        STRUCTURAL,
        st.sampled_from(["2", "3", "51-", "52-/a,", "61-1", "0/a?", "4"]).flatmap(
            lambda prefix: STRUCTURAL.map(lambda rest: prefix + rest)
        ),
        st.text(max_size=20),
        st.binary(max_size=4),
    ),
    max_size=6,
)


@SETTINGS
@given(MESSAGES)
def test_decoder_only_ever_raises_protocol_errors(messages: list[str | bytes]) -> None:
    decoder = Decoder(limits=Limits(max_depth=4, max_attachments=3))
    for message in messages:
        try:
            result = decoder.feed(message)
        except ProtocolError:
            assert not decoder.pending
            continue
        assert result is None or isinstance(result, Packet)


def test_total_attachment_bytes_are_bounded() -> None:
    from gsocketio.exceptions import PayloadTooLargeError
    from gsocketio.protocol.limits import Limits
    from gsocketio.protocol.socketio import Decoder

    decoder = Decoder(limits=Limits(max_payload=100, max_attachment_bytes=150))
    header = (
        '53-["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},'
        '{"_placeholder":true,"num":2}]'
    )
    assert decoder.feed(header) is None
    assert decoder.feed(b"x" * 100) is None
    with pytest.raises(PayloadTooLargeError):
        decoder.feed(b"y" * 60)
    assert not decoder.pending
