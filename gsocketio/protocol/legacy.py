"""The Socket.IO 0.9 wire protocol (revision 1), sans-I/O.

What gevent-socketio 0.3.x and socket.io-client 0.9.x speak (LearnBoost/socket.io-spec):

* packets ``type ':' [id ['+']] ':' [endpoint] [':' data]``: :class:`Packet` (with
  ``to_seed_dict``/``from_seed_dict`` for the seed's dict form), :func:`encode_packet`,
  :func:`decode_packet`;
* payloads ``\\ufffd<len>\\ufffd<packet>...``, ``len`` in UTF-16 code units (JavaScript's
  ``String.length``): :func:`encode_payload`, :func:`decode_payload`;
* the handshake reply ``sid:heartbeat_timeout:close_timeout:transports``: :func:`encode_handshake`;
* jsonp-polling and JSONP handshake ``io.j[n]("...");`` (:func:`encode_jsonp`,
  :func:`encode_jsonp_error`), its POST body ``d=<JSON string>`` (:func:`decode_jsonp_body`),
  and htmlfile's prologue and ``<script>_("...");</script>`` pushes
  (:func:`encode_htmlfile_prologue`, :func:`encode_htmlfile_script`).

Errors: decoders raise only :class:`gsocketio.ProtocolError` subclasses (the peer is wrong);
encoders and :meth:`Packet.from_seed_dict` raise :class:`ValueError` for values that cannot be
put on the wire (the caller is wrong).

Choices where the spec and the 0.9 implementations are loose:

* CONNECT: the spec writes the query after the endpoint (``1::/chat?x=y``), the 0.9 parsers put
  it in the data field (``1::/chat:?x=y``); both decode to ``endpoint="/chat", qs="x=y"``
  (``qs`` never holds the ``?``); the encoder writes the spec form.
* A bare ``0`` (the spec's "disconnect the whole socket") decodes; the encoder writes ``0::``
  as both 0.9 implementations do. No other type may omit its separators.
* The decoder is stricter than the 0.9 parsers, which silently turned bad input into empty
  packets: unknown error codes, non-numeric ids, JSON of the wrong shape and data on
  disconnect/heartbeat/noop are refused.
* JavaScript literals equal ``JSON.stringify`` output except that U+2028/U+2029 and lone
  surrogates are ``\\u``-escaped (old browsers reject them raw in scripts). htmlfile chunks
  also escape ``/`` (as the 0.9 server does, GH-1251) and ``<`` (no ``<!--``/``</script>``
  can reach the HTML parser), and double each backslash that precedes a slash because the
  0.9.16 client strips one (``data.replace(/\\\\\\//g, '/')``) after evaluating the chunk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import accumulate
from typing import Any, Literal
from urllib.parse import parse_qsl

from gsocketio.exceptions import (
    InvalidJSONError,
    NestingTooDeepError,
    PacketFormatError,
    PacketTypeError,
    PayloadFormatError,
    PayloadTooLargeError,
    TooManyPacketsError,
)
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

HTMLFILE_PROLOGUE = (
    "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
    + " " * 173
)
"""What the 0.9 server writes first on an htmlfile stream; the padding makes IE render early."""

Loads = Callable[[str], Any]
Dumps = Callable[[Any], str]

_MAX_ID_DIGITS = len(str(MAX_ID))
_ACK_RE = re.compile(rf"([0-9]{{1,{_MAX_ID_DIGITS}}})(?:\+(.*))?", re.DOTALL)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
_JS_UNSAFE_RE = re.compile("[\u2028\u2029\ud800-\udfff]")
# A JSON string (possessive: no backtracking), or an unterminated one eating the rest.
_JSON_STRING_RE = re.compile(r'"[^"\\]*+(?:\\[\s\S][^"\\]*+)*+"|"[\s\S]*')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")
_BRACKET_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


def _dump(dumps: Dumps, value: Any) -> str:
    text = dumps(value)
    if not isinstance(text, str):  # e.g. orjson's bytes would be written as "b'...'"
        raise ValueError(f"dumps must return str, not {type(text).__name__}")
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def default_loads(text: str) -> Any:
    """``json.loads`` that, like ``JSON.parse``, refuses ``NaN`` and ``Infinity``."""
    return json.loads(text, parse_constant=_reject_constant)


def default_dumps(value: Any) -> str:
    """Compact JSON as ``JSON.stringify`` writes it (no spaces, non-ASCII kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


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
            seed["qs"] = self.qs
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
    raise ValueError(f"unknown seed packet type {value!r}")


def _seed_int(value: Any, what: str) -> int:
    if isinstance(value, str) and _is_digits(value) and len(value) <= _MAX_ID_DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{what} must be an integer, not {value!r}")


def _seed_args(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"args must be a list, not {type(value).__name__}")


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_id(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ValueError(f"{what} must be an int in 0..{MAX_ID}, not {value!r}")


def _validate(packet: Packet) -> None:
    """Refuse what cannot be encoded, or would not decode back to the same packet."""
    kind = PacketType(packet.type)
    if not isinstance(packet.endpoint, str) or ":" in packet.endpoint:
        raise ValueError(f"endpoint must be a str without ':', not {packet.endpoint!r}")
    if kind is PacketType.CONNECT and "?" in packet.endpoint:
        raise ValueError("a CONNECT endpoint cannot hold '?'; put the query in qs")
    if packet.id is not None:
        _check_id(packet.id, "id")
    if packet.ack not in ("", "data"):
        raise ValueError(f"ack must be '' or 'data', not {packet.ack!r}")
    if packet.ack == "data" and packet.id is None:
        raise ValueError("ack='data' needs an id")
    if kind is PacketType.CONNECT and not isinstance(packet.qs, str):
        raise ValueError("qs must be a str")
    elif kind is PacketType.MESSAGE and not isinstance(packet.data, str):
        raise ValueError("MESSAGE data must be a str")
    elif kind is PacketType.EVENT and not isinstance(packet.name, str):
        raise ValueError("EVENT name must be a str")
    elif kind is PacketType.ACK:
        _check_id(packet.ack_id, "ack_id")
    elif kind is PacketType.ERROR:
        if packet.reason and packet.reason not in ERROR_REASONS:
            raise ValueError(f"unknown error reason {packet.reason!r}")
        if packet.advice and packet.advice not in ERROR_ADVICE:
            raise ValueError(f"unknown error advice {packet.advice!r}")
    if kind in (PacketType.EVENT, PacketType.ACK) and not isinstance(packet.args, list):
        raise ValueError("args must be a list")


def encode_packet(packet: Packet, *, dumps: Dumps = default_dumps) -> str:
    """The wire form of one packet (one WebSocket frame, or one entry of a payload)."""
    _validate(packet)
    kind = PacketType(packet.type)
    msg_id = "" if packet.id is None else str(packet.id)
    head = f"{int(kind)}:{msg_id}{'+' if packet.ack == 'data' else ''}:{packet.endpoint}"
    data: str | None = None
    if kind is PacketType.CONNECT:
        return f"{head}?{packet.qs}" if packet.qs else head
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


def _check_depth(text: str, max_depth: int) -> None:
    """Bound JSON nesting before parsing (the parser recurses); strings do not count."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    brackets = _NOT_BRACKET_RE.sub("", _JSON_STRING_RE.sub("", text))
    if max(accumulate(map(_BRACKET_DELTA.__getitem__, brackets)), default=0) > max_depth:
        raise NestingTooDeepError(f"JSON nested deeper than {max_depth}")


def _load_json(text: str, loads: Loads, limits: Limits) -> Any:
    _check_depth(text, limits.max_depth)
    try:
        return loads(text)
    except RecursionError as exc:
        raise NestingTooDeepError("JSON nested too deep for the parser") from exc
    except (ValueError, TypeError) as exc:
        raise InvalidJSONError(f"invalid JSON: {exc}") from exc


# --- payload framing -----------------------------------------------------------------------


def utf16_length(text: str) -> int:
    """JavaScript's ``text.length``: astral characters count two."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encode_payload(packets: Sequence[str]) -> str:
    """Frame encoded packets; one packet goes bare and none gives ``""``, as in 0.9."""
    if len(packets) == 1:
        return packets[0]
    return "".join(f"{FRAME}{utf16_length(p)}{FRAME}{p}" for p in packets)


class _Units:
    """A string indexed in UTF-16 code units; plain ``str`` slicing when nothing is astral."""

    __slots__ = ("_raw", "_text", "length")

    def __init__(self, text: str) -> None:
        self._text = text
        self._raw: bytes | None = None
        self.length = len(text)
        if not text.isascii() and _ASTRAL_RE.search(text) is not None:
            self._raw = text.encode("utf-16-le", "surrogatepass")
            self.length = len(self._raw) // 2

    def slice(self, start: int, end: int) -> str:
        if self._raw is None:
            return self._text[start:end]
        return self._raw[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


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
    units = _Units(body)
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


# --- handshake and JavaScript wrappers -----------------------------------------------------


def encode_handshake(
    sid: str, heartbeat_timeout: int | None, close_timeout: int, transports: Iterable[str]
) -> str:
    """The handshake reply; ``heartbeat_timeout=None`` leaves its field empty (no heartbeats)."""
    names = list(transports)
    if not sid or ":" in sid:
        raise ValueError(f"sid must be non-empty without ':', not {sid!r}")
    if any(not name or ":" in name or "," in name for name in names):
        raise ValueError(f"bad transport names {names!r}")
    for timeout in (heartbeat_timeout, close_timeout):
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)):
            raise ValueError(f"timeouts are whole seconds, not {timeout!r}")
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeouts cannot be negative: {timeout}")
    heartbeat = "" if heartbeat_timeout is None else str(heartbeat_timeout)
    return f"{sid}:{heartbeat}:{close_timeout}:{','.join(names)}"


def js_string_literal(text: str) -> str:
    """A double-quoted JavaScript string literal for ``text``: ``JSON.stringify`` plus safety.

    U+2028, U+2029 and lone surrogates are ``\\u``-escaped: pre-ES2019 engines reject the
    former raw in string literals, and the latter cannot be written as UTF-8.
    """
    literal = json.dumps(text, ensure_ascii=False)
    return _JS_UNSAFE_RE.sub(lambda m: f"\\u{ord(m[0]):04x}", literal)


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"JSONP index must be a non-negative int, not {index!r}")


def encode_jsonp(data: str, index: int) -> str:
    """``io.j[<index>]("<data>");``: a jsonp-polling reply (a payload) or a JSONP handshake."""
    _check_index(index)
    return f"io.j[{index}]({js_string_literal(data)});"


def encode_jsonp_error(message: str, index: int) -> str:
    """``io.j[<index>](new Error("<message>"));``: a refused JSONP handshake (HTTP status 200)."""
    _check_index(index)
    return f"io.j[{index}](new Error({js_string_literal(message)}));"


def decode_jsonp_body(body: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """The payload of a jsonp-polling POST: form field ``d`` holding a JSON-encoded string."""
    if len(body) > limits.max_payload:
        raise PayloadTooLargeError(f"body of {len(body)} bytes > {limits.max_payload}")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        fields = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=64)
    except ValueError as exc:  # includes UnicodeDecodeError and too many fields
        raise PayloadFormatError(f"bad form-encoded body: {exc}") from exc
    values = [value for key, value in fields if key == "d"]
    if len(values) != 1:
        raise PayloadFormatError(f"expected one 'd' field, got {len(values)}")
    encoded = values[0]
    if not encoded.startswith('"'):  # only a string may reach json.loads: no nesting to recurse
        raise PayloadFormatError("the 'd' field must hold a JSON string")
    try:
        payload = json.loads(encoded)
    except ValueError as exc:
        raise PayloadFormatError(f"the 'd' field is not a JSON string: {exc}") from exc
    if not isinstance(payload, str):
        raise PayloadFormatError("the 'd' field must hold a JSON string")
    return payload


def encode_htmlfile_prologue() -> str:
    """The first chunk of an htmlfile stream (:data:`HTMLFILE_PROLOGUE`)."""
    return HTMLFILE_PROLOGUE


def encode_htmlfile_script(data: str) -> str:
    """``<script>_("<data>");</script>``: one push (a packet or payload) on an htmlfile stream."""
    compensated = data.replace("\\/", "\\\\/")  # the client strips one backslash before '/'
    literal = js_string_literal(compensated).replace("/", "\\/").replace("<", "\\u003c")
    return f"<script>_({literal});</script>"
