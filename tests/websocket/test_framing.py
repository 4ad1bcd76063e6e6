"""The framing fast paths against websockets' own protocol: same messages, same failures.

``FrameReader`` cuts plain data frames itself and hands everything else to the protocol; for
any byte stream, cut anywhere, it must yield exactly what the protocol alone yields and fail
the connection with the same close code. Frames are built by websockets' client side (masked,
as a browser sends them) or by hand where the RFC 6455 examples give the bytes.
"""

from __future__ import annotations

import codecs
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from gsocketio.websocket.framing import _VIEW_FROM, FrameReader, frame_message

MAX = 4096
# RFC 6455 §5.7
RFC_MASKED_HELLO = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
RFC_UNMASKED_HELLO = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
RFC_BINARY_256_HEADER = bytes([0x82, 0x7E, 0x01, 0x00])
RFC_BINARY_64K_HEADER = bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])


def client_frames(
    frames: list[tuple[Opcode, bytes, bool]], mask: bytes = b"\x0f\xf0\x55\xaa"
) -> bytes:
    """The bytes a client sends for these frames (masked), built by hand: no validation, so
    invalid sequences (a fragmented PING, an orphan continuation) can be sent too."""
    out = bytearray()
    for opcode, data, fin in frames:
        out.append((0x80 if fin else 0) | opcode.value)
        size = len(data)
        if size < 126:
            out.append(0x80 | size)
        elif size < 65536:
            out += struct.pack("!BH", 0x80 | 126, size)
        else:
            out += struct.pack("!BQ", 0x80 | 127, size)
        out += mask
        out += bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bytes(out)


def server() -> Protocol:
    return Protocol(Side.SERVER, state=State.OPEN, max_size=MAX)


def with_reader(stream: bytes, cuts: list[int]) -> tuple[list[str | bytes], Any]:
    p = server()
    reader = FrameReader(p, MAX)
    start = 0
    for cut in [*sorted(min(cut, len(stream)) for cut in cuts), len(stream)]:
        if cut > start:
            reader.feed(stream[start:cut])
            start = cut
    return list(reader.messages), _outcome(p)


def with_protocol(stream: bytes) -> tuple[list[str | bytes], Any]:
    """Reference: the protocol alone; text decoded fragment by fragment (invalid UTF-8 fails
    the connection as soon as a fragment shows it, as the server must)."""
    p = server()
    p.receive_data(stream)
    messages: list[str | bytes] = []
    parts: list[Any] = []
    decoder: Any = None
    for frame in p.events_received():
        assert isinstance(frame, Frame)
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            decoder = (
                codecs.getincrementaldecoder("utf-8")() if frame.opcode is Opcode.TEXT else None
            )
            parts = []
        elif frame.opcode is not Opcode.CONT:
            continue
        if decoder is not None:
            try:
                parts.append(decoder.decode(bytes(frame.data), frame.fin))
            except UnicodeDecodeError:
                return messages, ("failed", 1007)
        else:
            parts.append(bytes(frame.data))
        if frame.fin:
            messages.append("".join(parts) if decoder is not None else b"".join(parts))
    return messages, _outcome(p)


def _outcome(p: Protocol) -> Any:
    if p.state is State.OPEN:
        return "open"
    return ("failed", int(p.close_sent.code) if p.close_sent is not None else None)


payloads = st.one_of(st.text(max_size=300).map(str.encode), st.binary(max_size=300))
frames = st.lists(
    st.tuples(
        st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PING, Opcode.PONG]),
        payloads,
        st.booleans(),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(frames, st.lists(st.integers(min_value=0, max_value=6000), max_size=8))
def test_reader_matches_the_protocol(
    sequence: list[tuple[Opcode, bytes, bool]], cuts: list[int]
) -> None:
    stream = client_frames(sequence)
    expected_messages, expected = with_protocol(stream)
    messages, outcome = with_reader(stream, cuts)
    assert messages == expected_messages
    assert outcome == expected


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (RFC_UNMASKED_HELLO, 1002),  # clients must mask
        (b"\xff" * 64, 1002),  # reserved bits and opcode, absurd length
        (client_frames([(Opcode.TEXT, b"x" * (MAX + 1), True)])[:20], 1009),  # header only
        (client_frames([(Opcode.TEXT, b"\xce\xba\xed\xa0\x80", True)]), 1007),
        (client_frames([(Opcode.CONT, b"orphan", True)]), 1002),
        (client_frames([(Opcode.TEXT, b"a", False), (Opcode.TEXT, b"b", True)]), 1002),
    ],
    ids=["unmasked", "garbage", "too-big", "bad-utf8", "orphan-cont", "text-in-fragments"],
)
def test_bad_input_fails_like_the_protocol(stream: bytes, code: int) -> None:
    assert with_reader(stream, [])[1] == ("failed", code)


def test_rfc_example_and_split_header() -> None:
    assert with_reader(RFC_MASKED_HELLO, [1, 3, 7]) == (["Hello"], "open")


@pytest.mark.parametrize("size", [_VIEW_FROM - 1, _VIEW_FROM, 70_000])
@pytest.mark.parametrize("cuts", [[], [3], [1000, 5000], [69_000]], ids=str)
def test_large_payloads_unmasked_through_a_view_match_the_protocol(
    size: int, cuts: list[int]
) -> None:
    """From _VIEW_FROM bytes on a payload is unmasked through a memoryview of the received
    bytes or of the reader's buffer: the same messages as the protocol, and the buffer still
    resizes afterwards (a live view would raise BufferError), with a frame behind it."""
    text = ("é" * (size // 2) + "x" * (size % 2)).encode()
    blob = (bytes(range(256)) * (size // 256 + 1))[:size]
    sequence = [(Opcode.BINARY, blob, True), (Opcode.TEXT, text, True), (Opcode.TEXT, b"z", True)]
    stream = client_frames(sequence)
    reference = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    reference.receive_data(stream)
    frames_ = [e for e in reference.events_received() if isinstance(e, Frame)]
    expected = [
        bytes(f.data) if f.opcode is Opcode.BINARY else bytes(f.data).decode() for f in frames_
    ]
    p = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    reader = FrameReader(p, 1 << 20)
    done = 0
    for cut in [*(c for c in cuts if c < len(stream)), len(stream)]:
        reader.feed(stream[done:cut])  # never b"" (EOF)
        done = cut
    assert list(reader.messages) == expected == [blob, text.decode(), "z"]
    assert p.state is State.OPEN


def test_partial_frame_waits_within_bounds() -> None:
    p = server()
    reader = FrameReader(p, MAX)
    stream = client_frames([(Opcode.BINARY, b"q" * 3000, True)])
    reader.feed(stream[:1000])
    assert not reader.messages and p.state is State.OPEN
    reader.feed(stream[1000:])
    assert list(reader.messages) == [b"q" * 3000]


@pytest.mark.parametrize(
    ("data", "head"),
    [
        ("Hello", RFC_UNMASKED_HELLO[:2]),
        (bytes(256), RFC_BINARY_256_HEADER),
        (bytes(65536), RFC_BINARY_64K_HEADER),
        ("", b"\x81\x00"),
        ("é" * 63, b"\x81\x7e\x00\x7e"),  # 126 bytes of UTF-8: the 16-bit length form
    ],
)
def test_frame_message_matches_rfc_headers(data: str | bytes, head: bytes) -> None:
    chunks: list[bytes] = []
    frame_message(chunks, data)
    wire = b"".join(chunks)
    assert wire.startswith(head)
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(wire)
    (frame,) = client.events_received()
    assert isinstance(frame, Frame)
    assert frame.fin and frame.data == (data.encode() if isinstance(data, str) else data)


def test_frame_message_hello_is_the_rfc_example() -> None:
    chunks: list[bytes] = []
    frame_message(chunks, "Hello")
    assert b"".join(chunks) == RFC_UNMASKED_HELLO
    assert struct.unpack("!BB", RFC_UNMASKED_HELLO[:2]) == (0x81, 5)
