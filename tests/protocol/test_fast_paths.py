"""Per-message fast paths give exactly what the general code gives.

Each shortcut (the JSON codec without its Python layers, the EVENT-with-ack decoder path,
the text-MESSAGE path of ``Session.receive_frame``, the shared messages of
``WsEncoder.many``, the query-string split) is compared with the general path it bypasses, over
generated input; the expected values come from the standard library or from the general path,
never from the shortcut itself.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gsocketio.engine.polling import one_text_message
from gsocketio.engine.server import _parse_query
from gsocketio.exceptions import ProtocolError
from gsocketio.protocol.engineio import SHARE_FROM, decode_packet, encode_packet, ws_encoder
from gsocketio.protocol.engineio import Packet as EioPacket
from gsocketio.protocol.engineio import PacketType as EioType
from gsocketio.protocol.engineio_session import MessageReceived, Session, SessionConfig
from gsocketio.protocol.limits import Limits
from gsocketio.protocol.socketio import Decoder, json_dumps, json_loads

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
REFERENCE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@settings(max_examples=300)
@given(json_values)
def test_json_dumps_is_the_stdlib_encoder(value: Any) -> None:
    assert json_dumps(value) == REFERENCE.encode(value)


@pytest.mark.parametrize("bad", [math.nan, [math.inf], {"x": object()}])
def test_json_dumps_refuses_what_the_stdlib_refuses(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        REFERENCE.encode(bad)
    with pytest.raises((ValueError, TypeError)):
        json_dumps(bad)


def test_json_dumps_detects_cycles_like_the_stdlib() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="Circular reference"):
        json_dumps(cyclic)


@settings(max_examples=300)
@given(json_values, st.sampled_from(["", " ", "\n", " \t"]), st.sampled_from(["", " ", "\r\n"]))
def test_json_loads_is_the_stdlib_decoder(value: Any, before: str, after: str) -> None:
    text = before + json.dumps(value) + after
    assert json_loads(text) == json.loads(text)


@pytest.mark.parametrize("bad", ["", "[1,", "[1] x", "NaN", "[Infinity]", '{"a":1}}', " "])
def test_json_loads_refuses_what_json_parse_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        json_loads(bad)


def general(message: str) -> Any:
    """The general decoding path (what feed() used for every EVENT with an ack id)."""
    try:
        packet, _count = Decoder()._decode_text(message)
    except ProtocolError as exc:
        return type(exc)
    return (packet.type, packet.namespace, packet.data, packet.id, packet.query)


def fast(message: str) -> Any:
    try:
        packet = Decoder().feed(message)
    except ProtocolError as exc:
        return type(exc)
    assert packet is not None
    return (packet.type, packet.namespace, packet.data, packet.id, packet.query)


heads = st.sampled_from(["2", "20", "2007", "2" + "9" * 15, "2" + "1" * 16, "2x", "2٣", "2/a,1"])
bodies = st.sampled_from(
    ['["echo","x"]', '["echo",{"a":[1]}]', "[]", "[1]", '"s"', "[", '["connect"]']
)


@settings(max_examples=200)
@given(heads, bodies)
def test_event_fast_path_matches_the_general_decoder(head: str, body: str) -> None:
    assert fast(head + body) == general(head + body)


def test_event_with_ack_id_takes_the_fast_path() -> None:
    assert fast('212["echo","x"]') == (2, "/", ["echo", "x"], 12, None)


def new_session(eio: int) -> Session:
    config = SessionConfig(ping_interval=10, ping_timeout=5)
    session = Session("sid", eio=eio, transport="websocket", now=0.0, config=config)
    session.take_outgoing()
    return session


@pytest.mark.parametrize("eio", [3, 4])
def test_receive_frame_text_path_keeps_the_deadlines_of_receive(eio: int) -> None:
    a, b = new_session(eio), new_session(eio)
    for now in (1.0, 11.0, 12.0, 13.5):  # a v4 ping is due at 10: the pong wait gets extended
        a.tick(now)
        b.tick(now)
        assert a.receive(EioPacket(EioType.MESSAGE, "x"), now) == [MessageReceived("x")]
        assert b.receive_frame("4x", now) == "x"  # the text path: the data, no event
        assert a.next_deadline() == b.next_deadline()
    a.close()
    b.close()
    assert a.receive(EioPacket(EioType.MESSAGE, "x"), 14.0) == []
    assert b.receive_frame("4x", 14.0) == []


frames = st.one_of(
    st.text(max_size=12),
    st.text(max_size=12).map(lambda text: "4" + text),
    st.binary(max_size=12),
    st.sampled_from(["4", "", "b4AQID", "bAQID", "6", "2probe"]),
)


def general_frame(frame: str | bytes, eio: int, limits: Limits) -> Any:
    """What decode_packet makes of a frame (the general path)."""
    try:
        packet = decode_packet(frame, eio=eio, limits=limits)
    except ProtocolError as exc:
        return type(exc)
    return (packet.type, packet.data)


@settings(max_examples=300)
@given(frames, st.sampled_from([3, 4]), st.sampled_from([5, 1_000_000]))
def test_receive_frame_text_path_is_decode_packet_for_text_messages(
    frame: str | bytes, eio: int, max_payload: int
) -> None:
    limits = Limits(max_payload=max_payload)
    config = SessionConfig(ping_interval=10, ping_timeout=5, max_payload=max_payload)
    session = Session("sid", eio=eio, transport="websocket", now=0.0, config=config)
    session.take_outgoing()
    expected = general_frame(frame, eio, limits)
    if isinstance(expected, type):
        with pytest.raises(expected):
            session.receive_frame(frame, 1.0)
        return
    data = session.receive_frame(frame, 1.0)
    if isinstance(data, str):  # the shortcut only answers what the general path decodes so
        assert expected == (EioType.MESSAGE, data)
    elif isinstance(frame, str) and frame[:1] == "4":
        assert len(frame) > max_payload  # too long: left to the general path, which refuses


@settings(max_examples=200)
@given(frames, st.sampled_from([3, 4]))
def test_receive_frame_matches_decode_then_receive(frame: str | bytes, eio: int) -> None:
    a, b = new_session(eio), new_session(eio)
    expected = general_frame(frame, eio, Limits())
    if isinstance(expected, type):
        with pytest.raises(expected):
            b.receive_frame(frame, 1.0)
        return
    packet = decode_packet(frame, eio=eio)
    result = b.receive_frame(frame, 1.0)
    events = [MessageReceived(result)] if isinstance(result, str) else result
    assert events == a.receive(packet, 1.0)
    assert (a.closed, a.next_deadline(), a.take_outgoing()) == (
        b.closed,
        b.next_deadline(),
        b.take_outgoing(),
    )


LARGE_TEXT = "é" + "x" * SHARE_FROM


packets = st.lists(
    st.one_of(
        st.text(max_size=8).map(lambda text: EioPacket(EioType.MESSAGE, text)),
        # at and past SHARE_FROM: memoized from the second sighting on
        st.sampled_from([LARGE_TEXT, LARGE_TEXT[1:]]).map(lambda t: EioPacket(EioType.MESSAGE, t)),
        st.binary(max_size=8).map(lambda blob: EioPacket(EioType.MESSAGE, blob)),
        st.sampled_from(
            [EioPacket(EioType.PING), EioPacket(EioType.CLOSE, ""), EioPacket(EioType.NOOP)]
        ),
    ),
    max_size=6,
)


@settings(max_examples=200)
@given(packets, st.sampled_from([(4, False), (3, False), (3, True)]))
def test_ws_encoder_many_is_encode_packet(
    items: list[EioPacket], version: tuple[int, bool]
) -> None:
    eio, b64 = version
    encode = ws_encoder(eio, b64)
    expected = [encode(packet) for packet in items]
    assert encode.many(items) == expected
    shared: dict[int, tuple[str, str]] = {}
    assert encode.many(items, shared) == expected
    again = encode.many(items, shared)  # another recipient of the same packets, same flush
    assert again == expected
    for second, packet in zip(again, items, strict=True):
        if isinstance(packet.data, str) and packet.type is EioType.MESSAGE:
            assert second is encode.many([packet], shared)[0]  # one shared message object
    if not b64:
        assert expected == [encode_packet(packet, eio=eio) for packet in items]


def test_ws_encoder_many_shares_a_large_message_from_its_second_sighting() -> None:
    """A large text is not kept by the memo the first time (an echo's one message), is from the
    second (a broadcast's recipients), and a marker left by another object of the same id
    (ids are reused once an object is freed) gives a correct message, never a stale one."""
    encode = ws_encoder(4)
    shared: dict[int, tuple[str, str]] = {}
    big = EioPacket(EioType.MESSAGE, LARGE_TEXT)
    small = EioPacket(EioType.MESSAGE, "hi")
    first = encode.many([big, small], shared)
    assert first == [encode_packet(big), "4hi"]
    assert LARGE_TEXT not in [entry[0] for entry in shared.values()]  # only a marker
    assert shared[id(small.data)] == ("hi", "4hi")  # small ones at once, as before
    second = encode.many([big], shared)
    assert second == [encode_packet(big)]
    assert encode.many([big], shared)[0] is second[0]  # shared from then on
    other = "y" * SHARE_FROM
    shared2: dict[int, tuple[str, str]] = {}
    encode.many([EioPacket(EioType.MESSAGE, "z" * SHARE_FROM)], shared2)
    marker = next(iter(shared2.values()))
    shared2[id(other)] = marker  # as if ``other`` had taken a freed object's id
    assert encode.many([EioPacket(EioType.MESSAGE, other)], shared2) == ["4" + other]
    assert shared2[id(other)] == (other, "4" + other)


queries = st.lists(
    st.tuples(st.text("abcEIO_-.~0123456789=", max_size=6), st.text("ab=%+&-_2", max_size=6)),
    max_size=6,
)


@settings(max_examples=300)
@given(queries, st.sampled_from(["", "&", "&&"]))
def test_query_split_is_parse_qsl(fields: list[tuple[str, str]], tail: str) -> None:
    text = "&".join(f"{name}={value}" if value else name for name, value in fields) + tail
    assert _parse_query(text) == dict(parse_qsl(text, keep_blank_values=True))


posts = st.one_of(
    st.binary(max_size=12),
    st.binary(max_size=12).map(lambda blob: b"4" + blob),
    st.text(max_size=12).map(lambda text: ("4" + text).encode()),
    st.sampled_from([b"4", b"", b"4a\x1e4b", b"4\xff", b"6", b"1", b"bAQID", b"4" + b"x" * 20]),
)


@settings(max_examples=400)
@given(
    posts,
    st.sampled_from(["text/plain;charset=UTF-8", "text/plain", "application/octet-stream", ""]),
    st.booleans(),
    st.sampled_from([3, 4]),
    st.sampled_from([11.0, 12.5]),
    st.booleans(),
    st.booleans(),
)
@example(b"4a\x1e4b", "text/plain;charset=UTF-8", False, 4, 11.0, True, False)  # two packets
@example(b"4\xe9t\xe9", "text/plain;charset=UTF-8", False, 4, 11.0, False, False)  # not UTF-8
@example(b"4" + b"x" * 20, "text/plain;charset=UTF-8", False, 4, 11.0, False, False)  # too long
@example(b"4x", "application/octet-stream", False, 4, 12.5, True, False)  # binary on v4
@example(b"4x", "text/plain;charset=UTF-8", False, 4, 12.5, True, False)
def test_a_one_message_post_as_a_text_frame_is_receive_post(
    body: bytes, content_type: str, jsonp: bool, eio: int, now: float, ping: bool, closed: bool
) -> None:
    """The polling POST shortcut (one_text_message, then Session.receive_frame) gives the
    events and session state that receive_post gives, pings and closes included."""
    text = one_text_message(body, eio, content_type, jsonp, 16)
    if text is None:
        return  # receive_post handles it
    config = SessionConfig(ping_interval=10, ping_timeout=5, max_payload=16)
    a, b = (Session("sid", eio=eio, transport="polling", now=0.0, config=config) for _ in "ab")
    for session in (a, b):
        session.take_outgoing()
        if ping:
            session.tick(10.0)  # a v4 ping goes out: a message later extends the pong wait
        if closed:
            session.close()
    outcomes = []
    for session, general in ((a, True), (b, False)):
        try:
            if general:
                result: Any = list(
                    session.receive_post(body, content_type=content_type, jsonp=jsonp, now=now)
                )
            else:
                frame = session.receive_frame(text, now)
                result = [MessageReceived(frame)] if isinstance(frame, str) else frame
        except ProtocolError as exc:
            result = type(exc)
        outcomes.append((result, session.closed, session.next_deadline(), session.take_outgoing()))
    assert outcomes[0] == outcomes[1]
