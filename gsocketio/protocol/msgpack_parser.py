"""Socket.IO packets in msgpack, as ``socket.io-msgpack-parser`` 3.0.2 (npm) has them, sans-I/O.

Each packet is one binary Engine.IO message holding one msgpack map — ``type`` (0 to 4: the
parser has no BINARY_* types), ``nsp``, ``data`` (absent for DISCONNECT and a CONNECT without
auth) and ``id`` (absent without an ack) — with bytes inline as msgpack bin, so there are no
attachments and nothing is pending between messages. Other keys are ignored (the client adds
``options``). Incoming packets get the checks of the npm parser's ``checkPacket`` and those of
the text decoder (:mod:`gsocketio.protocol.socketio`): the namespace starts with ``/``, an
EVENT names a non-reserved event, an ACK has an id, the ack id stays within
:data:`~gsocketio.protocol.socketio.MAX_ACK_ID`, the same :class:`Limits`. Every refusal is a
:class:`~gsocketio.exceptions.ProtocolError` subclass. Select it with
``gsocketio.Server(serializer="msgpack")``; the browser build is ``socket.io.msgpack.min.js``.
"""

from __future__ import annotations

from typing import Any, Final

from gsocketio.exceptions import (
    InvalidMsgpackError,
    PacketFormatError,
    PacketTypeError,
    PayloadTooLargeError,
)
from gsocketio.protocol.limits import DEFAULT_LIMITS, Limits
from gsocketio.protocol.msgpack_codec import UNDEFINED, packb, unpackb
from gsocketio.protocol.socketio import MAX_ACK_ID, RESERVED_EVENTS, Decoder, Packet, PacketType

__all__ = ["MsgpackDecoder", "MsgpackWire", "decode", "encode"]

_EVENT: Final = PacketType.EVENT
_ACK: Final = PacketType.ACK
_CONNECT: Final = PacketType.CONNECT
_DISCONNECT: Final = PacketType.DISCONNECT
_CONNECT_ERROR: Final = PacketType.CONNECT_ERROR
_TYPES: Final = {t.value: t for t in (_CONNECT, _DISCONNECT, _EVENT, _ACK, _CONNECT_ERROR)}
_PLAIN: Final = {PacketType.BINARY_EVENT: _EVENT, PacketType.BINARY_ACK: _ACK}


def encode(packet: Packet) -> list[bytes]:
    """``[one msgpack message]``; BINARY_* types are written as EVENT/ACK (bytes ride inline).

    Raises ``TypeError`` for data msgpack cannot carry, ``ValueError`` for a bad ack id or
    namespace (our own server's mistakes, as :func:`gsocketio.protocol.socketio.encode`).
    """
    ptype = _PLAIN.get(packet.type, packet.type)
    namespace = packet.namespace
    if namespace[:1] != "/":
        raise ValueError(f"invalid namespace {namespace!r}")
    entry: dict[str, Any] = {"type": int(ptype), "nsp": namespace}
    data = packet.data
    if data is not None or ptype is _EVENT or ptype is _ACK:
        entry["data"] = [] if data is None else data
    ack_id: object = packet.id  # object: a bool narrowed to int would pass (mypyc unboxes it)
    if ack_id is not None:
        if type(ack_id) is not int or not 0 <= ack_id <= MAX_ACK_ID:
            raise ValueError(f"invalid ack id {ack_id!r}")
        entry["id"] = ack_id
    return [packb(entry)]


def decode(message: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> Packet:
    """Decode one binary message into a packet (see the module docstring for the checks)."""
    if len(message) > limits.max_payload:
        raise PayloadTooLargeError(f"packet of {len(message)} bytes exceeds max_payload")
    raw = message if type(message) is bytes else bytes(message)
    # One level more than the JSON decoder allows: the packet's own map.
    entry = unpackb(raw, max_depth=limits.max_depth + 1, top_undefined=UNDEFINED)
    if type(entry) is not dict:
        raise InvalidMsgpackError(f"a packet is a msgpack map, not {type(entry).__name__}")
    code = entry.get("type")
    ptype = _TYPES.get(code) if type(code) is int else None
    if ptype is None:
        raise PacketTypeError(f"invalid packet type {code!r}")
    namespace = entry.get("nsp")
    if type(namespace) is not str or namespace[:1] != "/":
        raise PacketFormatError(f"invalid namespace {namespace!r}")
    ack_id = entry.get("id", UNDEFINED)
    if ack_id is UNDEFINED:
        ack_id = None
    elif type(ack_id) is not int or not 0 <= ack_id <= MAX_ACK_ID:
        raise PacketFormatError(f"invalid packet id {ack_id!r}")
    data = entry.get("data", UNDEFINED)
    _validate(ptype, data, ack_id)
    return Packet(ptype, namespace, None if data is UNDEFINED else data, ack_id)


def _validate(ptype: PacketType, data: Any, ack_id: int | None) -> None:
    if ptype is _EVENT:
        if type(data) is not list or not data or type(data[0]) is not str:
            raise PacketFormatError("EVENT data must be an array starting with the event name")
        if data[0] in RESERVED_EVENTS:
            raise PacketFormatError(f"reserved event name {data[0]!r}")
        return
    if ptype is _ACK:
        if ack_id is None:
            raise PacketFormatError("ACK without an ack id")
        if type(data) is not list:
            raise PacketFormatError("ACK data must be an array")
        return
    if ack_id is not None:
        raise PacketFormatError(f"{ptype.name} cannot carry an ack id")
    if ptype is _CONNECT:
        if data is not UNDEFINED and type(data) is not dict:
            raise PacketFormatError("CONNECT data must be an object")
    elif ptype is _DISCONNECT:
        if data is not UNDEFINED:
            raise PacketFormatError("DISCONNECT cannot carry data")
    elif type(data) is not dict and type(data) is not str:  # CONNECT_ERROR
        raise PacketFormatError("CONNECT_ERROR data must be an object or a string")


class MsgpackDecoder(Decoder):
    """:class:`~gsocketio.protocol.socketio.Decoder`'s interface over msgpack messages (one
    per connection, as the server expects, though msgpack packets need no state: no
    attachments are ever pending). A text message is refused: this parser sends none."""

    __slots__ = ()

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits)

    def feed(self, message: str | bytes | bytearray | memoryview) -> Packet | None:
        if isinstance(message, bytes | bytearray | memoryview):
            return decode(message, self._limits)
        if isinstance(message, str):
            raise InvalidMsgpackError("text message on a msgpack connection")
        raise TypeError(f"expected str or bytes, got {type(message).__name__}")


class MsgpackWire:
    """The wire format of msgpack clients (an adapter encodes once per format)."""

    __slots__ = ()

    def encode(self, packet: Packet) -> list[bytes]:
        return encode(packet)
