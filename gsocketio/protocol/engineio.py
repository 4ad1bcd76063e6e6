"""Engine.IO packets, payloads and WebSocket messages, protocol revisions 4 and 3 (sans-I/O).

A packet is ``<type digit><data>``. v4 (socket.io-client 3+): a WebSocket message carries one
packet (binary: the raw bytes of a MESSAGE); a polling body joins packets with ``\\x1e``, binary
as ``"b" + base64``. v3 (socket.io-client 1.x/2.x): a binary message is ``b"\\x04" + data``; a
polling body is the *string* payload ``<length>:<packet>...`` (length in UTF-16 code units, as
JavaScript counts; binary as ``b4<base64>``) or the *binary* payload (per packet a 0/1 marker,
the length as raw digit bytes, ``0xFF``, the packet); JSONP wraps a string payload as
``___eio[<j>]("<escaped>");`` and is POSTed as the form field ``d=<payload>``. Decoders raise
:mod:`gsocketio.exceptions` subclasses only and check :class:`Limits` before slicing; encoders
raise ``ValueError`` for packets that cannot be framed (bytes on a non-MESSAGE packet, or text
with ``\\x1e`` in a v4 polling payload).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final
from urllib.parse import parse_qsl

from gsocketio.exceptions import (
    PacketFormatError,
    PacketTypeError,
    PayloadFormatError,
    PayloadTooLargeError,
    TooManyPacketsError,
)
from gsocketio.protocol._text import Utf16View, js_string_literal, utf16_len
from gsocketio.protocol.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "BINARY_TYPE",
    "JSONP_TYPE",
    "TEXT_TYPE",
    "Packet",
    "PacketType",
    "WsEncoder",
    "decode_jsonp_body",
    "decode_packet",
    "decode_payload_v3",
    "decode_payload_v4",
    "decode_post",
    "encode_jsonp",
    "encode_packet",
    "encode_payload_v3",
    "encode_payload_v4",
    "encode_poll",
    "ws_encoder",
]


class PacketType(IntEnum):
    """Engine.IO packet types; the value is the digit on the wire."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet. ``data`` is ``bytes`` only for a binary MESSAGE."""

    type: PacketType
    data: str | bytes = ""


RECORD_SEPARATOR = "\x1e"

_MESSAGE = PacketType.MESSAGE
# Lookup tables instead of int()/str() on every packet: the hot path is one dict hit.
_TYPE_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
_CHAR_BY_TYPE: tuple[str, ...] = tuple(str(int(t)) for t in PacketType)
_EMPTY: dict[PacketType, Packet] = {t: Packet(t) for t in PacketType}
_V3_BINARY_PREFIX = bytes((_MESSAGE,))
_RAW_DIGITS = bytes(range(10))
_ASCII_TO_RAW = bytes.maketrans(b"0123456789", _RAW_DIGITS)
_RAW_TO_ASCII = bytes.maketrans(_RAW_DIGITS, b"0123456789")
_JSONP_NEWLINE = re.compile(r"\\\\n|\\n")
# A text message of at least this many characters is shared through a flush's memo from its
# second sighting on (:meth:`WsEncoder.many`); the first leaves only this marker, which holds
# nothing and is told by its empty message (a memoized one never is; not by identity: mypyc
# boxes a Final tuple anew at each use). Memoized at once, the large message of every
# connection of a flush (an echo, an ack) lived until the flush ended: the heap grew by them
# and shrank back each flush, and the kernel re-faulted those pages every time
# (docs/benchmarks.md, "Large payloads").
SHARE_FROM: Final = 4096
_SEEN: Final[tuple[str, str]] = ("", "")


# --- packets ---------------------------------------------------------------------------------


def encode_packet(packet: Packet, *, eio: int = 4) -> str | bytes:
    """Encode ``packet`` as one WebSocket frame: ``str`` for a text frame, ``bytes`` for binary."""
    data = packet.data
    if isinstance(data, str):
        return _CHAR_BY_TYPE[packet.type] + data
    if packet.type is not _MESSAGE:
        raise ValueError(f"only MESSAGE packets can carry bytes, not {packet.type.name}")
    return data if eio == 4 else _V3_BINARY_PREFIX + data


def decode_packet(frame: str | bytes, *, eio: int = 4, limits: Limits = DEFAULT_LIMITS) -> Packet:
    """Decode one WebSocket frame (``str`` = text frame, ``bytes`` = binary frame)."""
    if len(frame) > limits.max_payload:
        raise PayloadTooLargeError(f"packet of {len(frame)} exceeds {limits.max_payload}")
    if isinstance(frame, str):
        # The common case inline (one dict hit, one slice); _decode_text handles the rest.
        packet_type = _TYPE_BY_CHAR.get(frame[:1])
        if packet_type is not None:
            return Packet(packet_type, frame[1:]) if len(frame) > 1 else _EMPTY[packet_type]
        return _decode_text(frame, eio)
    if type(frame) is not bytes:
        frame = bytes(frame)  # a bytearray or memoryview from the framing layer
    if eio == 4:
        return Packet(_MESSAGE, frame)
    return _decode_v3_binary_packet(frame)


class WsEncoder:
    """How packets become WebSocket messages for one client (``ws_encoder(eio, b64)``)."""

    __slots__ = ("_b64", "_eio")

    def __init__(self, eio: int, b64: bool) -> None:
        self._eio = eio
        self._b64 = eio == 3 and b64  # a v3 client without binary frames: base64 in text

    def __call__(self, packet: Packet) -> str | bytes:
        data = packet.data
        if self._b64 and type(data) is bytes:
            return "b4" + binascii.b2a_base64(data, newline=False).decode("ascii")
        return encode_packet(packet, eio=self._eio)

    def many(
        self, packets: Sequence[Packet], shared: dict[int, tuple[str, str]] | None = None
    ) -> list[str | bytes]:
        """The messages of ``packets``. ``shared`` (the caller's, e.g. per flush) memoizes the
        message of a text MESSAGE by the identity of its data, the same for v3 and v4: a
        broadcast's recipients get the very same message object (framed once downstream)."""
        if shared is None:
            return [self(packet) for packet in packets]
        out: list[str | bytes] = []
        memo = shared.get
        for packet in packets:
            data = packet.data
            if type(data) is not str or packet.type is not _MESSAGE:
                out.append(self(packet))
            elif (hit := memo(id(data))) is not None and hit[1]:  # not a marker
                out.append(hit[1])
            elif hit is None and len(data) >= SHARE_FROM:
                # Seen once so far: marked, not kept. A marker outlives its data, whose id
                # another object may then take: that one is memoized below (a miss, not a
                # wrong message).
                shared[id(data)] = _SEEN
                out.append("4" + data)
            else:  # the memo holds data, so no other object can take its id
                message = shared[id(data)] = (data, "4" + data)
                out.append(message[1])
        return out


def ws_encoder(eio: int, b64: bool = False) -> WsEncoder:
    """The WebSocket message encoder for a client of revision ``eio`` (``b64``: v3 without
    binary frames, from the handshake's ``b64=1``)."""
    return WsEncoder(eio, b64)


def _decode_text(text: str, eio: int) -> Packet:
    head = text[:1]
    packet_type = _TYPE_BY_CHAR.get(head)
    if packet_type is not None:
        return Packet(packet_type, text[1:]) if len(text) > 1 else _EMPTY[packet_type]
    if head == "b":
        return _decode_base64(text, eio)
    if not head:
        raise PacketTypeError("empty packet: no type")
    raise PacketTypeError(f"unknown packet type {head!r}")


def _decode_base64(text: str, eio: int) -> Packet:
    """``b<base64>`` (v4) or ``b<type><base64>`` (v3): binary data in a text channel."""
    start = 1
    if eio != 4:
        packet_type = _TYPE_BY_CHAR.get(text[1:2])
        if packet_type is None:
            raise PacketTypeError(f"unknown base64 packet type {text[1:2]!r}")
        if packet_type is not _MESSAGE:
            raise PacketFormatError(f"binary data on a {packet_type.name} packet")
        start = 2
    try:
        data = binascii.a2b_base64(text[start:], strict_mode=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise PacketFormatError(f"bad base64 data: {exc}") from None
    return Packet(_MESSAGE, data)


def _decode_v3_binary_packet(frame: bytes) -> Packet:
    if not frame:
        raise PacketTypeError("empty binary packet: no type byte")
    type_byte = frame[0]
    if type_byte == _MESSAGE:
        return Packet(_MESSAGE, frame[1:])
    if type_byte < len(_CHAR_BY_TYPE):
        raise PacketFormatError(f"binary data on a {PacketType(type_byte).name} packet")
    raise PacketTypeError(f"unknown binary packet type {type_byte}")


# --- v4 payloads -----------------------------------------------------------------------------


def encode_payload_v4(packets: Iterable[Packet]) -> str:
    """Join packets with ``\\x1e``; binary data becomes ``b`` + base64."""
    parts: list[str] = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            if RECORD_SEPARATOR in data:
                raise ValueError("text containing \\x1e cannot be framed in a v4 payload")
            parts.append(_CHAR_BY_TYPE[packet.type] + data)
        elif packet.type is _MESSAGE:
            parts.append("b" + binascii.b2a_base64(data, newline=False).decode("ascii"))
        else:
            raise ValueError(f"only MESSAGE packets can carry bytes, not {packet.type.name}")
    return RECORD_SEPARATOR.join(parts)


def decode_payload_v4(body: str | bytes, *, limits: Limits = DEFAULT_LIMITS) -> list[Packet]:
    """Split a v4 polling body on ``\\x1e`` and decode each packet (``bytes`` = UTF-8 text)."""
    if len(body) > limits.max_payload:
        raise PayloadTooLargeError(f"payload of {len(body)} exceeds {limits.max_payload}")
    if not isinstance(body, str):
        body = _utf8(body, PayloadFormatError)
    if not body:
        raise PayloadFormatError("empty payload")
    # maxsplit bounds the work: at most max_packets + 1 pieces are ever created.
    parts = body.split(RECORD_SEPARATOR, limits.max_packets)
    if len(parts) > limits.max_packets:
        raise TooManyPacketsError(f"payload holds more than {limits.max_packets} packets")
    return [_decode_text(part, 4) for part in parts]


# --- v3 payloads -----------------------------------------------------------------------------


def encode_payload_v3(packets: Iterable[Packet], *, binary: bool) -> str | bytes:
    """Encode a v3 polling body: the string format, or the binary format if ``binary``."""
    if binary:
        return _encode_v3_binary(packets)
    parts: list[str] = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            text = _CHAR_BY_TYPE[packet.type] + data
        elif packet.type is _MESSAGE:
            text = "b4" + binascii.b2a_base64(data, newline=False).decode("ascii")
        else:
            raise ValueError(f"only MESSAGE packets can carry bytes, not {packet.type.name}")
        parts.append(f"{utf16_len(text)}:{text}")
    # The reference encoder sends "0:" for no packets; its decoders skip empty entries.
    return "".join(parts) or "0:"


def _raw_digits(number: int) -> bytes:
    return str(number).encode("ascii").translate(_ASCII_TO_RAW)


def _encode_v3_binary(packets: Iterable[Packet]) -> bytes:
    chunks: list[bytes] = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            raw = (_CHAR_BY_TYPE[packet.type] + data).encode("utf-8")
            chunks += (b"\x00", _raw_digits(len(raw)), b"\xff", raw)
        elif packet.type is _MESSAGE:
            chunks += (b"\x01", _raw_digits(len(data) + 1), b"\xff", _V3_BINARY_PREFIX, data)
        else:
            raise ValueError(f"only MESSAGE packets can carry bytes, not {packet.type.name}")
    return b"".join(chunks)


def decode_payload_v3(
    body: str | bytes, *, limits: Limits = DEFAULT_LIMITS, binary: bool | None = None
) -> list[Packet]:
    """Decode a v3 polling body.

    ``str`` is the string format. ``bytes`` is the binary format unless ``binary=False``, which
    means "the string format, still UTF-8 encoded" (an HTTP body without an octet-stream type).
    """
    if len(body) > limits.max_payload:
        raise PayloadTooLargeError(f"payload of {len(body)} exceeds {limits.max_payload}")
    if not body:
        raise PayloadFormatError("empty payload")
    if isinstance(body, str):
        return _decode_v3_string(body, limits)
    if binary is False:
        return _decode_v3_string(_utf8(body, PayloadFormatError), limits)
    return _decode_v3_binary(bytes(body), limits)


def _max_digits(limits: Limits) -> int:
    return len(str(limits.max_payload))


def _decode_v3_string(body: str, limits: Limits) -> list[Packet]:
    # Lengths count UTF-16 code units (a view with no per-character Python loop).
    units = Utf16View(body)
    total = units.length
    window = units.slice

    max_digits = _max_digits(limits)
    packets: list[Packet] = []
    pos = count = 0
    while pos < total:
        count += 1
        if count > limits.max_packets:
            raise TooManyPacketsError(f"payload holds more than {limits.max_packets} packets")
        head = window(pos, pos + max_digits + 1)
        colon = head.find(":")
        if colon < 0:
            if len(head) > max_digits and head.isascii() and head.isdigit():
                raise PayloadTooLargeError("length prefix exceeds max_payload")
            raise PayloadFormatError("length prefix not followed by ':'")
        digits = head[:colon]
        if not (digits and digits.isascii() and digits.isdigit()):
            raise PayloadFormatError(f"bad length prefix {digits!r}")
        length = int(digits)
        if length > limits.max_payload:
            raise PayloadTooLargeError(f"length prefix {length} exceeds {limits.max_payload}")
        start = pos + colon + 1
        pos = start + length
        if pos > total:
            raise PayloadFormatError(f"truncated payload: packet of {length} overruns the body")
        if length:  # the reference skips empty entries ("0:" is the empty payload)
            try:
                text = units.strict_slice(start, pos)
            except UnicodeDecodeError:
                raise PayloadFormatError("length prefix splits a character") from None
            packets.append(_decode_text(text, 3))
    return packets


def _decode_v3_binary(body: bytes, limits: Limits) -> list[Packet]:
    max_digits = _max_digits(limits)
    packets: list[Packet] = []
    total = len(body)
    pos = 0
    while pos < total:
        if len(packets) >= limits.max_packets:
            raise TooManyPacketsError(f"payload holds more than {limits.max_packets} packets")
        marker = body[pos]
        if marker > 1:
            raise PayloadFormatError(f"bad packet marker {marker} (0 string, 1 binary)")
        sep = body.find(b"\xff", pos + 1, pos + max_digits + 2)
        if sep < 0:
            digits = body[pos + 1 : pos + max_digits + 2]
            if len(digits) > max_digits and not digits.translate(None, _RAW_DIGITS):
                raise PayloadTooLargeError("length prefix exceeds max_payload")
            raise PayloadFormatError("length prefix not followed by 0xFF")
        digits = body[pos + 1 : sep]
        if not digits or digits.translate(None, _RAW_DIGITS):
            raise PayloadFormatError("bad length prefix: expected digit bytes 0-9")
        length = int(digits.translate(_RAW_TO_ASCII))
        if length > limits.max_payload:
            raise PayloadTooLargeError(f"length prefix {length} exceeds {limits.max_payload}")
        start = sep + 1
        pos = start + length
        if pos > total:
            raise PayloadFormatError(f"truncated payload: packet of {length} overruns the body")
        chunk = body[start:pos]
        if marker:
            packets.append(_decode_v3_binary_packet(chunk))
        else:
            packets.append(_decode_text(_utf8(chunk, PacketFormatError), 3))
    return packets


def _utf8(raw: bytes, error: type[PacketFormatError] | type[PayloadFormatError]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"text is not valid UTF-8: {exc.reason} at byte {exc.start}") from None


# --- JSONP -----------------------------------------------------------------------------------


def encode_jsonp(payload: str, index: int) -> str:
    """Wrap a string payload for a JSONP poll: ``___eio[<index>]("<escaped>");``.

    JSON escaping makes it a JavaScript string literal, except U+2028/U+2029, which JSON allows
    raw but older JavaScript engines treat as line terminators, so they are escaped too.
    """
    if index < 0:
        raise ValueError("JSONP index must be a non-negative integer")
    return f"___eio[{index}]({js_string_literal(payload)});"


def decode_jsonp_body(body: bytes, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """Extract the payload from a JSONP POST body ``d=<form-encoded payload>``.

    The client escapes a literal backslash-n as ``\\\\n`` and a newline as ``\\n`` (browsers
    may turn a bare newline in a form field into CRLF); this undoes both in one pass.
    """
    if len(body) > limits.max_payload:
        raise PayloadTooLargeError(f"body of {len(body)} exceeds {limits.max_payload}")
    text = _utf8(body, PayloadFormatError)
    try:
        fields = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=64)
    except ValueError as exc:  # bad percent-escaped UTF-8, or too many fields
        raise PayloadFormatError(f"bad form body: {exc}") from None
    values = [value for key, value in fields if key == "d"]
    if len(values) != 1:
        raise PayloadFormatError(f"form body needs exactly one 'd' field, got {len(values)}")
    return _JSONP_NEWLINE.sub(_unescape_newline, values[0])


def _unescape_newline(match: re.Match[str]) -> str:
    return "\\n" if len(match.group()) == 3 else "\n"


# --- long-polling bodies ---------------------------------------------------------------------

TEXT_TYPE = "text/plain; charset=UTF-8"
BINARY_TYPE = "application/octet-stream"
JSONP_TYPE = "text/javascript; charset=UTF-8"


def decode_post(
    body: bytes, *, eio: int, content_type: str, jsonp: bool, limits: Limits = DEFAULT_LIMITS
) -> list[Packet]:
    """Decode a POSTed polling body: v4 text, v3 string or (``application/octet-stream``)
    binary payload, or a JSONP form (``jsonp``). A v4 client never POSTs binary: refused."""
    binary = content_type.split(";", 1)[0].strip().lower() == BINARY_TYPE
    if jsonp:
        text = decode_jsonp_body(body, limits=limits)
        if eio == 4:
            return decode_payload_v4(text, limits=limits)
        return decode_payload_v3(text, limits=limits)
    if eio == 4:
        if binary:
            raise PayloadFormatError("binary POST body on Engine.IO 4")
        return decode_payload_v4(body, limits=limits)
    return decode_payload_v3(body, limits=limits, binary=binary)


def encode_poll(
    packets: Sequence[Packet], *, eio: int, b64: bool, jsonp_index: int | None
) -> tuple[bytes, str, int]:
    """``(body, content_type, dropped)`` answering a GET with ``packets``. v3 uses the binary
    payload exactly when the reference server does (binary data, no ``b64``, no JSONP).
    ``dropped``: v4 text messages left out because they hold ``\\x1e`` (unframable)."""
    payload: str | bytes
    dropped = 0
    if eio == 4:
        try:
            payload = encode_payload_v4(packets)
        except ValueError:
            kept = [
                p for p in packets if not (isinstance(p.data, str) and RECORD_SEPARATOR in p.data)
            ]
            dropped = len(packets) - len(kept)
            payload = encode_payload_v4(kept)
    else:
        binary = not b64 and jsonp_index is None and any(isinstance(p.data, bytes) for p in packets)
        payload = encode_payload_v3(packets, binary=binary)
    if isinstance(payload, bytes):
        return payload, BINARY_TYPE, dropped
    if jsonp_index is not None:
        return encode_jsonp(payload, jsonp_index).encode(), JSONP_TYPE, dropped
    return payload.encode(), TEXT_TYPE, dropped
