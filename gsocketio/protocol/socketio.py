"""Socket.IO packets, protocol v5 (socket.io-client 3/4) and v4 (1.x/2.x clients), sans-I/O.

A packet is one Engine.IO MESSAGE ``<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]``
plus one bytes message per binary attachment. :func:`encode` turns the ``bytes`` in the data
into ``{"_placeholder":true,"num":N}`` and returns ``[text, *attachments]``; :class:`Decoder`
(one per connection) waits for the announced attachments and puts them back, splits a v4
CONNECT's ``?query`` into :attr:`Packet.query`, and is as strict as socket.io-parser 4.2
(reserved event names, attachment counts, ack id placement). Decoding raises only
:class:`gsocketio.ProtocolError` subclasses; encoding our own data raises
:class:`~gsocketio.exceptions.EncodeError` (a ``ValueError``) or ``TypeError``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from gsocketio.exceptions import (
    AttachmentError,
    EncodeError,
    InvalidJSONError,
    NestingTooDeepError,
    PacketFormatError,
    PacketTypeError,
    PayloadTooLargeError,
    TooManyAttachmentsError,
)
from gsocketio.protocol import _json
from gsocketio.protocol._mypyc import mypyc_attr
from gsocketio.protocol.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "MAX_ACK_ID",
    "RESERVED_EVENTS",
    "Decoder",
    "Packet",
    "PacketType",
    "encode",
    "json_dumps",
    "json_loads",
]


class PacketType(IntEnum):
    """Socket.IO packet types; v4 called 4 ``ERROR``, v5 calls it CONNECT_ERROR."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(slots=True)
class Packet:
    """One Socket.IO packet.

    ``data``: EVENT ``[name, *args]``; ACK ``[*args]``; CONNECT the auth dict or None;
    CONNECT_ERROR a dict (v5) or a string (v4); DISCONNECT None. ``query`` is only used by v4
    CONNECT packets (the part after ``?`` in the namespace).
    """

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    query: str | None = None


RESERVED_EVENTS: Final[frozenset[str]] = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Event names a peer may not send: they have a meaning of their own on either side."""

MAX_ACK_ID_DIGITS: Final = 15
MAX_ACK_ID: Final = 10**MAX_ACK_ID_DIGITS - 1
"""Ack ids stay below 2**53, the largest integer a JavaScript peer counts exactly."""

_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_CONNECT = PacketType.CONNECT
_DISCONNECT = PacketType.DISCONNECT
_BINARY_EVENT = PacketType.BINARY_EVENT
_BINARY_ACK = PacketType.BINARY_ACK

_TYPE_BY_CHAR: Final = {str(t.value): t for t in PacketType}
_CHAR_BY_TYPE: Final = {t: str(t.value) for t in PacketType}
_TO_BINARY: Final = {
    _EVENT: _BINARY_EVENT,
    _ACK: _BINARY_ACK,
    _BINARY_EVENT: _BINARY_EVENT,
    _BINARY_ACK: _BINARY_ACK,
}
_TO_PLAIN: Final = {_BINARY_EVENT: _EVENT, _BINARY_ACK: _ACK}
_BINARY_TYPES: Final = _json.BINARY_TYPES

_ACK_ID_RE: Final = re.compile(f"[0-9]{{1,{MAX_ACK_ID_DIGITS + 1}}}")
_FAST_EVENT_SPAN: Final = 2 + MAX_ACK_ID_DIGITS  # "2", up to 15 digits, then "["
_COUNT_RE: Final = re.compile(r"([0-9]+)-")

json_dumps: Final = _json.dumps
"""The default serializer (:func:`gsocketio.protocol._json.dumps`)."""
json_loads: Final = _json.loads
"""The default parser (:func:`gsocketio.protocol._json.loads`)."""


# --- encoding --------------------------------------------------------------------------------


# The recursive walkers below take a ``budget`` of nesting levels, sys.getrecursionlimit() at
# the top: pure Python raises RecursionError near there anyway, and compiled (mypyc) code, whose
# calls do not count against that limit, raises the same instead of overflowing the C stack.


def _too_deep() -> RecursionError:
    return RecursionError("data nested deeper than the recursion limit")


def _has_binary(obj: Any, budget: int) -> bool:
    if isinstance(obj, _BINARY_TYPES):
        return True
    if isinstance(obj, list | tuple):
        if budget <= 0:
            raise _too_deep()
        return any(_has_binary(item, budget - 1) for item in obj)
    if isinstance(obj, dict):
        if budget <= 0:
            raise _too_deep()
        return any(_has_binary(value, budget - 1) for value in obj.values())
    return False


def _deconstruct(obj: Any, attachments: list[bytes], budget: int) -> Any:
    """Copy ``obj`` with each binary value replaced by its placeholder, in document order."""
    if isinstance(obj, _BINARY_TYPES):
        attachments.append(obj if type(obj) is bytes else bytes(obj))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(obj, list | tuple):
        if budget <= 0:
            raise _too_deep()
        return [_deconstruct(item, attachments, budget - 1) for item in obj]
    if isinstance(obj, dict):
        if budget <= 0:
            raise _too_deep()
        return {key: _deconstruct(value, attachments, budget - 1) for key, value in obj.items()}
    return obj


def _header(packet: Packet, ptype: PacketType, attachments: int) -> str:
    head = _CHAR_BY_TYPE[ptype]
    if attachments:
        head += f"{attachments}-"
    namespace = packet.namespace
    if namespace != "/" or packet.query is not None:
        if namespace[:1] != "/" or "," in namespace or "?" in namespace:
            raise EncodeError(f"invalid namespace {namespace!r}")
        if packet.query is not None:
            if ptype != _CONNECT:
                raise EncodeError("only CONNECT packets carry a query")
            if "," in packet.query:
                raise EncodeError(f"invalid query {packet.query!r}")
            namespace = f"{namespace}?{packet.query}"
        head += namespace + ","
    # typed object: mypyc unboxes an id narrowed to int, and True would pass as 1
    ack_id: object = packet.id
    if ack_id is not None:
        if type(ack_id) is not int or not 0 <= ack_id <= MAX_ACK_ID:
            raise EncodeError(f"invalid ack id {ack_id!r}")
        head += str(ack_id)
    return head


def encode(packet: Packet, *, dumps: Callable[[Any], str] = json_dumps) -> list[str | bytes]:
    """Encode ``packet`` as ``[text, *attachments]``, each item one Engine.IO MESSAGE.

    Binary values in an EVENT or ACK become placeholders and the type becomes BINARY_EVENT or
    BINARY_ACK; binary anywhere else raises ``TypeError``. ``dumps`` replaces the JSON
    serializer; the default one detects binary during serialization (one pass when there is
    none), a custom one gets the data after a separate scan for binary.
    """
    ptype = packet.type
    data = packet.data
    if data is None:
        body = ""
    elif dumps is json_dumps:
        try:
            body = _json.probing_dumps(data)
        except _json.BinaryFound:
            return _encode_binary(packet, dumps)
    elif _has_binary(data, sys.getrecursionlimit()):
        return _encode_binary(packet, dumps)
    else:
        body = dumps(data)
    return [_header(packet, _TO_PLAIN.get(ptype, ptype), 0) + body]


def _encode_binary(packet: Packet, dumps: Callable[[Any], str]) -> list[str | bytes]:
    wire_type = _TO_BINARY.get(packet.type)
    if wire_type is None:
        raise TypeError(
            f"binary data is only allowed in EVENT and ACK packets, not {packet.type!r}"
        )
    attachments: list[bytes] = []
    data = _deconstruct(packet.data, attachments, sys.getrecursionlimit())
    text = _header(packet, wire_type, len(attachments)) + dumps(data)
    return [text, *attachments]


# --- decoding --------------------------------------------------------------------------------


def _reconstruct(obj: Any, buffers: list[bytes], budget: int) -> Any:
    """Put attachments back in place of their placeholders (in place). The default ``loads``
    bounds the depth before parsing; a custom one may not: ``budget`` bounds it here."""
    if budget <= 0:
        raise NestingTooDeepError("placeholder nesting too deep")
    if isinstance(obj, list):
        for index, item in enumerate(obj):
            if isinstance(item, list | dict):
                obj[index] = _reconstruct(item, buffers, budget - 1)
    elif isinstance(obj, dict):
        if obj.get("_placeholder") is True:
            num = obj.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise AttachmentError(f"placeholder num {num!r} out of range")
            return buffers[num]
        for key, value in obj.items():
            if isinstance(value, list | dict):
                obj[key] = _reconstruct(value, buffers, budget - 1)
    return obj


@mypyc_attr(allow_interpreted_subclasses=True)  # a public class: users may subclass it
class Decoder:
    """Turns incoming Engine.IO message payloads into packets; one per connection.

    ``loads`` replaces the JSON parser; it must raise ``ValueError`` on bad input (as
    ``json.loads`` does). After any error the decoder holds no partial packet, so the caller may
    keep using it, though the reference servers close the connection.
    """

    __slots__ = (
        "_buffered",
        "_buffers",
        "_count_width",
        "_expected",
        "_limits",
        "_loads",
        "_pending",
    )

    def __init__(
        self, *, loads: Callable[[str], Any] = json_loads, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self._loads = loads
        self._limits = limits
        self._count_width = len(str(limits.max_attachments))
        self._pending: Packet | None = None
        self._expected = 0
        self._buffers: list[bytes] = []
        self._buffered = 0

    @property
    def pending(self) -> bool:
        """True while a binary packet waits for its attachments."""
        return self._pending is not None

    def reset(self) -> None:
        """Drop a partially received binary packet."""
        self._pending = None
        self._expected = 0
        self._buffers = []
        self._buffered = 0

    def feed(self, message: str | bytes | bytearray | memoryview) -> Packet | None:
        """Take one message; return the packet it completes, or None while attachments are due."""
        if isinstance(message, str):
            # Fast path for the most frequent packets: an EVENT on "/", with or without an
            # ack id (``2[...]``, ``212[...]``); anything else takes the general decoder.
            if (
                message[:1] == "2"
                and self._pending is None
                and len(message) <= self._limits.max_payload
            ):
                bracket = message.find("[", 1, _FAST_EVENT_SPAN)
                ack_id = None
                if bracket > 1:
                    digits = message[1:bracket]
                    if digits.isdigit() and digits.isascii():
                        ack_id = int(digits)
                    else:
                        bracket = -1
                if bracket > 0:
                    data = self._parse_json(message[bracket:])
                    if not (type(data) is list and data and type(data[0]) is str):
                        _validate(_EVENT, data, True, ack_id)  # raises the precise error
                    elif data[0] in RESERVED_EVENTS:
                        raise PacketFormatError(f"reserved event name {data[0]!r}")
                    return Packet(_EVENT, "/", data, ack_id)
            if self._pending is not None:
                self.reset()
                raise AttachmentError("text message while binary attachments are pending")
            packet, count = self._decode_text(message)
            if count:
                self._pending = packet
                self._expected = count
                self._buffers = []
                return None
            return packet
        if isinstance(message, _BINARY_TYPES):
            return self._take_attachment(message)
        raise TypeError(f"expected str or bytes, got {type(message).__name__}")

    def _take_attachment(self, message: bytes | bytearray | memoryview) -> Packet | None:
        packet = self._pending
        if packet is None:
            raise AttachmentError("binary message with no binary packet pending")
        if len(message) > self._limits.max_payload:
            self.reset()
            raise PayloadTooLargeError("attachment larger than max_payload")
        self._buffered += len(message)
        if self._buffered > self._limits.max_attachment_bytes:
            self.reset()
            raise PayloadTooLargeError("attachments together exceed max_attachment_bytes")
        buffers = self._buffers
        buffers.append(message if type(message) is bytes else bytes(message))
        if len(buffers) < self._expected:
            return None
        self.reset()
        try:
            packet.data = _reconstruct(packet.data, buffers, sys.getrecursionlimit())
        except RecursionError as exc:  # only reachable with a custom ``loads``
            raise NestingTooDeepError("placeholder nesting too deep") from exc
        return packet

    def _decode_text(self, text: str) -> tuple[Packet, int]:
        size = len(text)
        if size == 0:
            raise PacketTypeError("empty packet")
        if size > self._limits.max_payload:
            raise PayloadTooLargeError(f"packet of {size} characters exceeds max_payload")
        ptype = _TYPE_BY_CHAR.get(text[0])
        if ptype is None:
            raise PacketTypeError(f"unknown packet type {text[0]!r}")
        pos = 1
        count = 0
        if ptype is _BINARY_EVENT or ptype is _BINARY_ACK:
            count, pos = self._read_count(text)

        namespace = "/"
        query = None
        if pos < size and text[pos] == "/":
            comma = text.find(",", pos)
            if comma < 0:
                namespace, pos = text[pos:], size
            else:
                namespace, pos = text[pos:comma], comma + 1
            if ptype is _CONNECT:
                mark = namespace.find("?")
                if mark >= 0:
                    namespace, query = namespace[:mark], namespace[mark + 1 :]

        ack_id = None
        if pos < size and "0" <= text[pos] <= "9":
            match = _ACK_ID_RE.match(text, pos)
            if match is not None:
                digits = match.group()
                if len(digits) > MAX_ACK_ID_DIGITS:
                    raise PacketFormatError(f"ack id longer than {MAX_ACK_ID_DIGITS} digits")
                ack_id = int(digits)
                pos = match.end()

        if pos < size:
            data = self._parse_json(text[pos:])
            has_data = True
        else:
            data = None
            has_data = False
        _validate(ptype, data, has_data, ack_id)
        return Packet(_TO_PLAIN.get(ptype, ptype), namespace, data, ack_id, query), count

    def _read_count(self, text: str) -> tuple[int, int]:
        """Read ``<n>-`` after a BINARY_* type, refusing a large count before using it."""
        match = _COUNT_RE.match(text, 1)
        if match is None:
            raise AttachmentError("binary packet without a valid attachment count")
        digits = match.group(1).lstrip("0")
        maximum = self._limits.max_attachments
        if len(digits) > self._count_width or int(digits or "0") > maximum:
            raise TooManyAttachmentsError(f"more than {maximum} attachments announced")
        count = int(digits or "0")
        if count == 0:
            raise AttachmentError("binary packet announcing 0 attachments")
        return count, match.end()

    def _parse_json(self, text: str) -> Any:
        _json.check_depth(text, self._limits.max_depth)
        try:
            return self._loads(text)
        except RecursionError as exc:
            raise NestingTooDeepError("JSON nesting too deep") from exc
        except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError included
            raise InvalidJSONError(f"invalid JSON: {exc}") from exc


def _validate(ptype: PacketType, data: Any, has_data: bool, ack_id: int | None) -> None:
    """Check the data shape of each type as socket.io-parser does, plus ack id placement."""
    if ptype is _EVENT or ptype is _BINARY_EVENT:
        if not has_data:
            raise PacketFormatError("EVENT without data")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise InvalidJSONError("EVENT data must be an array starting with the event name")
        if data[0] in RESERVED_EVENTS:
            raise PacketFormatError(f"reserved event name {data[0]!r}")
        return
    if ptype is _ACK or ptype is _BINARY_ACK:
        if ack_id is None:
            raise PacketFormatError("ACK without an ack id")
        if not has_data:
            raise PacketFormatError("ACK without data")
        if not isinstance(data, list):
            raise InvalidJSONError("ACK data must be an array")
        return
    if ack_id is not None:
        raise PacketFormatError(f"{ptype.name} cannot carry an ack id")
    if ptype is _CONNECT:
        if has_data and not isinstance(data, dict):
            raise InvalidJSONError("CONNECT data must be an object")
    elif ptype is _DISCONNECT:
        if has_data:
            raise PacketFormatError("DISCONNECT cannot carry data")
    elif has_data and not isinstance(data, dict | str):  # CONNECT_ERROR: v5 object, v4 string
        raise InvalidJSONError("CONNECT_ERROR data must be an object or a string")
