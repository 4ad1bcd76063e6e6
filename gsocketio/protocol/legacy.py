"""The Socket.IO 0.9 wire protocol (revision 1), sans-I/O: packets, payloads, the handshake.

What gevent-socketio 0.3.x and socket.io-client 0.9.x speak (LearnBoost/socket.io-spec):
packets ``type ':' [id ['+']] ':' [endpoint] [':' data]`` (:class:`Packet`,
:func:`encode_packet`, :func:`decode_packet`), payloads ``\ufffd<len>\ufffd<packet>...`` with
``len`` in UTF-16 code units (:func:`encode_payload`, :func:`decode_payload`) and the handshake
reply ``sid:heartbeat_timeout:close_timeout:transports`` (:func:`encode_handshake`); the JSONP
and htmlfile wrappers are in :mod:`gsocketio.protocol.legacy_http`. Decoders accept what both
0.9 implementations write and are stricter than them elsewhere, raising only
:class:`gsocketio.ProtocolError` subclasses; encoders write what the seed and the 0.9 Node
server write (a CONNECT query as ``1::/nsp:?q=1``) and raise
:class:`~gsocketio.exceptions.EncodeError` for what cannot go on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final, Literal

from gsocketio.exceptions import (
    EncodeError,
    InvalidJSONError,
    NestingTooDeepError,
    PacketFormatError,
    PacketTypeError,
    PayloadFormatError,
    PayloadTooLargeError,
    TooManyPacketsError,
)
from gsocketio.protocol import _json
from gsocketio.protocol._text import Utf16View, utf16_len
from gsocketio.protocol.limits import DEFAULT_LIMITS, Limits


class PacketType(IntEnum):
    """The nine 0.9 packet types; ``name.lower()`` is the seed's ``'type'`` string."""

    DISCONNECT = 0
    CONNECT = 1
    HEARTBEAT = 2
    MESSAGE = 3
    JSON = 4
    EVENT = 5
    ACK = 6
    ERROR = 7
    NOOP = 8


AckMode = Literal["", "data"]
"""``""``: an ``id`` asks for an automatic ack on receipt; ``"data"`` (``id+``): the app acks."""

ERROR_REASONS = ("transport not supported", "client not handshaken", "unauthorized")
"""Error packet reason names, indexed by their wire code (the 0.9 client's ``parser.reasons``)."""
ERROR_ADVICE = ("reconnect",)
"""Error packet advice names, indexed by their wire code (the 0.9 client's ``parser.advice``)."""
RESERVED_EVENTS = frozenset(
    {"message", "connect", "disconnect", "open", "close", "error", "retry", "reconnect"}
)
"""Event names the spec reserves; the server layer decides what to do with them."""

MAX_ID = 2**53 - 1
"""Largest message id: ids are JavaScript numbers on the other side."""
FRAME = "\ufffd"
"""The payload frame marker."""

Loads = Callable[[str], Any]
Dumps = Callable[[Any], str]

_MAX_ID_DIGITS = len(str(MAX_ID))
_ACK_RE = re.compile(rf"([0-9]{{1,{_MAX_ID_DIGITS}}})(?:\+(.*))?", re.DOTALL)


def _dump(dumps: Dumps, value: Any) -> str:
    text = dumps(value)
    if not isinstance(text, str):  # e.g. orjson's bytes would be written as "b'...'"
        raise EncodeError(f"dumps must return str, not {type(text).__name__}")
    return text


default_loads: Final = _json.loads
"""The default parser: strict, like ``JSON.parse`` (:func:`._json.loads`)."""
default_dumps: Final = _json.dumps
"""The default serializer: compact, like ``JSON.stringify`` (:func:`._json.dumps`)."""


@dataclass(slots=True)
class Packet:
    """One 0.9 packet. Fields that do not belong to ``type`` keep their defaults.

    ``data``: MESSAGE text (``str``) or the JSON packet's value. ``name``/``args``: EVENT.
    ``ack_id``/``args``: ACK (the id being acknowledged and the ack's arguments).
    ``reason``/``advice``: ERROR (names from :data:`ERROR_REASONS`/:data:`ERROR_ADVICE`, or
    ``""``). ``qs``: CONNECT query string, without the ``?``.
    """

    type: PacketType
    endpoint: str = ""
    id: int | None = None
    ack: AckMode = ""
    data: Any = None
    name: str = ""
    args: list[Any] = field(default_factory=list)
    ack_id: int | None = None
    reason: str = ""
    advice: str = ""
    qs: str = ""

    def to_seed_dict(self) -> dict[str, Any]:
        """The dict gevent-socketio 0.3's ``packet.decode`` returned for this packet."""
        seed: dict[str, Any] = {"type": self.type.name.lower(), "endpoint": self.endpoint}
        if self.id is not None:
            seed["id"] = self.id
            seed["ack"] = "data" if self.ack == "data" else True
        kind = self.type
        if kind is PacketType.CONNECT:
            seed["qs"] = f"?{self.qs}" if self.qs else ""  # the seed kept the "?"
        elif kind in (PacketType.MESSAGE, PacketType.JSON):
            seed["data"] = self.data
        elif kind is PacketType.EVENT:
            seed["name"] = self.name
            seed["args"] = list(self.args)
        elif kind is PacketType.ACK:
            seed["ackId"] = self.ack_id
            seed["args"] = list(self.args)
        elif kind is PacketType.ERROR:
            seed["reason"] = self.reason
            seed["advice"] = self.advice
        return seed

    @classmethod
    def from_seed_dict(cls, seed: Mapping[str, Any]) -> Packet:
        """Build a packet from a dict as the seed's ``packet.encode`` accepted it.

        Lenient where the seed was (``args`` as a tuple, ``id``/``ackId`` as digit strings,
        ``qs`` with its ``?``); raises :class:`ValueError` for anything unencodable.
        """
        kind = _seed_type(seed.get("type"))
        packet = cls(kind, endpoint=seed.get("endpoint") or "")
        if seed.get("id") is not None:
            packet.id = _seed_int(seed["id"], "id")
            packet.ack = "data" if seed.get("ack") == "data" else ""
        if kind is PacketType.CONNECT:
            packet.qs = str(seed.get("qs") or "").removeprefix("?")
        elif kind is PacketType.MESSAGE:
            packet.data = seed.get("data", "")
        elif kind is PacketType.JSON:
            packet.data = seed.get("data")
        elif kind is PacketType.EVENT:
            packet.name = seed.get("name")  # type: ignore[assignment]  # checked by _validate
            packet.args = _seed_args(seed.get("args"))
        elif kind is PacketType.ACK:
            packet.ack_id = _seed_int(seed.get("ackId"), "ackId")
            packet.args = _seed_args(seed.get("args"))
        elif kind is PacketType.ERROR:
            packet.reason = seed.get("reason") or ""
            packet.advice = seed.get("advice") or ""
        _validate(packet)
        return packet


def _seed_type(value: Any) -> PacketType:
    if isinstance(value, str):
        for kind in PacketType:
            if kind.name.lower() == value:
                return kind
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 8:
        return PacketType(value)
    raise EncodeError(f"unknown seed packet type {value!r}")


def _seed_int(value: Any, what: str) -> int:
    if isinstance(value, str) and _is_digits(value) and len(value) <= _MAX_ID_DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise EncodeError(f"{what} must be an integer, not {value!r}")


def _seed_args(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise EncodeError(f"args must be a list, not {type(value).__name__}")


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_id(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise EncodeError(f"{what} must be an int in 0..{MAX_ID}, not {value!r}")


def _validate(packet: Packet) -> None:
    """Refuse what cannot be encoded, or would not decode back to the same packet."""
    kind = PacketType(packet.type)
    if not isinstance(packet.endpoint, str) or ":" in packet.endpoint:
        raise EncodeError(f"endpoint must be a str without ':', not {packet.endpoint!r}")
    if kind is PacketType.CONNECT and "?" in packet.endpoint:
        raise EncodeError("a CONNECT endpoint cannot hold '?'; put the query in qs")
    if packet.id is not None:
        _check_id(packet.id, "id")
    if packet.ack not in ("", "data"):
        raise EncodeError(f"ack must be '' or 'data', not {packet.ack!r}")
    if packet.ack == "data" and packet.id is None:
        raise EncodeError("ack='data' needs an id")
    if kind is PacketType.CONNECT and not isinstance(packet.qs, str):
        raise EncodeError("qs must be a str")
    elif kind is PacketType.MESSAGE and not isinstance(packet.data, str):
        raise EncodeError("MESSAGE data must be a str")
    elif kind is PacketType.EVENT and not isinstance(packet.name, str):
        raise EncodeError("EVENT name must be a str")
    elif kind is PacketType.ACK:
        _check_id(packet.ack_id, "ack_id")
    elif kind is PacketType.ERROR:
        if packet.reason and packet.reason not in ERROR_REASONS:
            raise EncodeError(f"unknown error reason {packet.reason!r}")
        if packet.advice and packet.advice not in ERROR_ADVICE:
            raise EncodeError(f"unknown error advice {packet.advice!r}")
    if kind in (PacketType.EVENT, PacketType.ACK) and not isinstance(packet.args, list):
        raise EncodeError("args must be a list")


def encode_packet(packet: Packet, *, dumps: Dumps = default_dumps) -> str:
    """The wire form of one packet (one WebSocket frame, or one entry of a payload)."""
    _validate(packet)
    kind = PacketType(packet.type)
    msg_id = "" if packet.id is None else str(packet.id)
    head = f"{int(kind)}:{msg_id}{'+' if packet.ack == 'data' else ''}:{packet.endpoint}"
    data: str | None = None
    if kind is PacketType.CONNECT:
        # The seed's and the 0.9 Node server's form (the spec's README writes "1::/nsp?q=1").
        return f"{head}:?{packet.qs}" if packet.qs else head
    if kind is PacketType.MESSAGE:
        data = packet.data or None
    elif kind is PacketType.JSON:
        data = _dump(dumps, packet.data)
    elif kind is PacketType.EVENT:
        event: dict[str, Any] = {"name": packet.name}
        if packet.args:
            event["args"] = packet.args
        data = _dump(dumps, event)
    elif kind is PacketType.ACK:
        data = str(packet.ack_id) + (f"+{_dump(dumps, packet.args)}" if packet.args else "")
    elif kind is PacketType.ERROR:
        reason = str(ERROR_REASONS.index(packet.reason)) if packet.reason else ""
        advice = str(ERROR_ADVICE.index(packet.advice)) if packet.advice else ""
        if reason or advice:
            data = reason + (f"+{advice}" if advice else "")
    return head if data is None else f"{head}:{data}"


def decode_packet(
    text: str, *, loads: Loads = default_loads, limits: Limits = DEFAULT_LIMITS
) -> Packet:
    """Parse one packet; raises a :class:`gsocketio.ProtocolError` subclass on bad input."""
    if len(text) > limits.max_payload:
        raise PayloadTooLargeError(f"packet of {len(text)} characters > {limits.max_payload}")
    type_field, sep, rest = text.partition(":")
    if len(type_field) != 1 or not "0" <= type_field <= "8":
        raise PacketTypeError(f"unknown packet type {type_field[:16]!r}")
    packet = Packet(PacketType(int(type_field)))
    if not sep:
        if packet.type is PacketType.DISCONNECT:
            return packet
        raise PacketFormatError(f"packet type {type_field} without ':' separators")
    id_field, sep, rest = rest.partition(":")
    if not sep:
        raise PacketFormatError("missing ':' after the id field")
    if id_field:
        digits = id_field.removesuffix("+")
        if not _is_digits(digits) or len(digits) > _MAX_ID_DIGITS or int(digits) > MAX_ID:
            raise PacketFormatError(f"bad message id {id_field[:24]!r}")
        packet.id = int(digits)
        packet.ack = "data" if id_field.endswith("+") else ""
    if packet.type is PacketType.CONNECT:
        _decode_connect(packet, rest)
        return packet
    packet.endpoint, _, data = rest.partition(":")
    kind = packet.type
    if kind in (PacketType.DISCONNECT, PacketType.HEARTBEAT, PacketType.NOOP):
        if data:
            raise PacketFormatError(f"{kind.name} packets carry no data")
    elif kind is PacketType.MESSAGE:
        packet.data = data
    elif kind is PacketType.JSON:
        packet.data = _load_json(data, loads, limits)
    elif kind is PacketType.EVENT:
        _decode_event(packet, data, loads, limits)
    elif kind is PacketType.ACK:
        _decode_ack(packet, data, loads, limits)
    else:
        reason, _, advice = data.partition("+")
        packet.reason = _error_name(ERROR_REASONS, reason, "reason")
        packet.advice = _error_name(ERROR_ADVICE, advice, "advice")
    return packet


def _decode_connect(packet: Packet, rest: str) -> None:
    query = rest.find("?")
    colon = rest.find(":")
    if query != -1 and (colon == -1 or query < colon):
        packet.endpoint, packet.qs = rest[:query], rest[query + 1 :]
    else:
        packet.endpoint, _, data = rest.partition(":")
        packet.qs = data.removeprefix("?")


def _decode_event(packet: Packet, data: str, loads: Loads, limits: Limits) -> None:
    event = _load_json(data, loads, limits)
    if not isinstance(event, dict) or not isinstance(event.get("name"), str):
        raise InvalidJSONError('an event must be a JSON object with a string "name"')
    args = event.get("args")
    if args is None:
        args = []
    elif not isinstance(args, list):
        raise InvalidJSONError('an event\'s "args" must be a JSON array')
    packet.name, packet.args = event["name"], args


def _decode_ack(packet: Packet, data: str, loads: Loads, limits: Limits) -> None:
    match = _ACK_RE.fullmatch(data)
    if match is None or int(match[1]) > MAX_ID:
        raise PacketFormatError(f"bad ack data {data[:32]!r}")
    packet.ack_id = int(match[1])
    if match[2]:
        args = _load_json(match[2], loads, limits)
        if not isinstance(args, list):
            raise InvalidJSONError("ack arguments must be a JSON array")
        packet.args = args


def _error_name(names: tuple[str, ...], code: str, what: str) -> str:
    if not code:
        return ""
    if _is_digits(code) and len(code) <= 3 and int(code) < len(names):
        return names[int(code)]
    raise PacketFormatError(f"unknown error {what} code {code[:16]!r}")


def _load_json(text: str, loads: Loads, limits: Limits) -> Any:
    _json.check_depth(text, limits.max_depth)
    try:
        return loads(text)
    except RecursionError as exc:
        raise NestingTooDeepError("JSON nested too deep for the parser") from exc
    except (ValueError, TypeError) as exc:
        raise InvalidJSONError(f"invalid JSON: {exc}") from exc


# --- payload framing -----------------------------------------------------------------------


utf16_length: Final = utf16_len
"""JavaScript's ``text.length`` (:func:`gsocketio.protocol._text.utf16_len`)."""


def encode_payload(packets: Sequence[str]) -> str:
    """Frame encoded packets; one packet goes bare and none gives ``""``, as in 0.9."""
    if len(packets) == 1:
        return packets[0]
    return "".join(f"{FRAME}{utf16_len(p)}{FRAME}{p}" for p in packets)


def decode_payload(body: str, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Split a polling body into encoded packets (an unframed body is one packet).

    Length prefixes above ``limits.max_payload`` and more than ``limits.max_packets``
    packets are refused before anything is sliced.
    """
    if len(body) > limits.max_payload:
        raise PayloadTooLargeError(f"payload of {len(body)} characters > {limits.max_payload}")
    if not body:
        raise PayloadFormatError("empty payload")
    if body[0] != FRAME:
        return [body]
    units = Utf16View(body)
    max_digits = len(str(limits.max_payload))
    packets: list[str] = []
    pos = 0
    while pos < units.length:
        if units.slice(pos, pos + 1) != FRAME:
            raise PayloadFormatError(f"expected a frame marker at code unit {pos}")
        window = units.slice(pos + 1, pos + 2 + max_digits)
        digits, sep, _ = window.partition(FRAME)
        if not sep and _is_digits(window) and len(window) > max_digits:
            raise PayloadTooLargeError(f"length prefix {window}... > {limits.max_payload}")
        if not sep or not _is_digits(digits):
            raise PayloadFormatError(f"bad length prefix {window[:max_digits]!r}")
        length = int(digits)
        if length > limits.max_payload:
            raise PayloadTooLargeError(f"length prefix {length} > {limits.max_payload}")
        if len(packets) >= limits.max_packets:
            raise TooManyPacketsError(f"more than {limits.max_packets} packets in one payload")
        start = pos + 2 + len(digits)
        end = start + length
        if end > units.length:
            raise PayloadFormatError(f"length prefix {length} runs past the end of the payload")
        packets.append(units.slice(start, end))
        pos = end  # a cut inside a surrogate pair leaves a low surrogate here: not a marker
    return packets


# --- handshake -----------------------------------------------------------------


def encode_handshake(
    sid: str, heartbeat_timeout: int | None, close_timeout: int, transports: Iterable[str]
) -> str:
    """The handshake reply; ``heartbeat_timeout=None`` leaves its field empty (no heartbeats)."""
    names = list(transports)
    if not sid or ":" in sid:
        raise EncodeError(f"sid must be non-empty without ':', not {sid!r}")
    if any(not name or ":" in name or "," in name for name in names):
        raise EncodeError(f"bad transport names {names!r}")
    for timeout in (heartbeat_timeout, close_timeout):
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)):
            raise EncodeError(f"timeouts are whole seconds, not {timeout!r}")
        if timeout is not None and timeout < 0:
            raise EncodeError(f"timeouts cannot be negative: {timeout}")
    heartbeat = "" if heartbeat_timeout is None else str(heartbeat_timeout)
    return f"{sid}:{heartbeat}:{close_timeout}:{','.join(names)}"
