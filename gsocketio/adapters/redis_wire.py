"""Sans-I/O codec of the classic ``@socket.io/redis-adapter`` 8.x and ``@socket.io/redis-emitter``
5.x messages: channel names, the msgpack broadcast envelope, the request/response types (JSON
or msgpack, told apart by the first byte) and the uid rules; no gevent, no Redis, no clock.

The msgpack dialect is notepack.io 3's: bytes travel as bin, JS Dates as the timestamp
extension (-1, decoded to aware ``datetime``), integers in their smallest form, other numbers
as float64, ``undefined`` map values left out. Node's JSON paths turn Buffers into
``{"type":"Buffer","data":[...]}`` and Dates into ISO strings; :func:`dumps_json` does the same.
Every decoder validates shapes and bounds and raises only :class:`AdapterMessageError`.
Request and response messages are in :mod:`gsocketio.adapters.redis_requests`. See
docs/cluster.md and ../shared/SCALEOUT-PROTOCOL.md §2, §4, §12.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import msgpack

from gsocketio.exceptions import AdapterMessageError

__all__ = [
    "EMITTER_UID",
    "BroadcastMessage",
    "Channels",
    "WireLimits",
    "decode_broadcast",
    "dumps_json",
    "encode_broadcast",
    "new_uid",
    "pack",
    "unpack",
]

EMITTER_UID: Final = "emitter"
_UID_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_EVENT: Final = 2
_BINARY_EVENT: Final = 5


@dataclass(frozen=True, slots=True)
class WireLimits:
    """Bounds on what a received message may hold; past them it is dropped unread."""

    max_message_bytes: int = 16 * 1024 * 1024
    max_rooms: int = 10_000


DEFAULT_WIRE_LIMITS: Final = WireLimits()


def new_uid(size: int = 6) -> str:
    """A server uid or request id: ``size`` characters of ``[A-Za-z0-9]`` (Node's uid2(6))."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(size))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@dataclass(frozen=True, slots=True)
class Channels:
    """The channel names of one namespace under one key prefix."""

    key: str
    nsp: str

    @property
    def broadcast_prefix(self) -> str:
        """``<key>#<nsp>#``: everyone / several rooms; a single room appends ``<room>#``."""
        return f"{self.key}#{self.nsp}#"

    @property
    def pattern(self) -> str:
        """The PSUBSCRIBE pattern of every broadcast channel of the namespace."""
        return _glob_escape(self.broadcast_prefix) + "*"

    @property
    def request(self) -> str:
        return f"{self.key}-request#{self.nsp}#"

    @property
    def response(self) -> str:
        return f"{self.key}-response#{self.nsp}#"

    def specific_response(self, uid: str) -> str:
        return f"{self.key}-response#{self.nsp}#{uid}#"

    def broadcast(self, rooms: Sequence[str]) -> str:
        """The channel a broadcast goes to: the room channel when exactly one room is named."""
        if len(rooms) == 1:
            return f"{self.key}#{self.nsp}#{rooms[0]}#"
        return self.broadcast_prefix

    def room_of(self, channel: str) -> str | None:
        """The room a broadcast channel names ("" for none); None if not this namespace's."""
        prefix = self.broadcast_prefix
        if not channel.startswith(prefix) or not channel.endswith("#"):
            return None
        return channel[len(prefix) : -1]


# --- the msgpack dialect ----------------------------------------------------------------------


def _pack_default(obj: Any) -> Any:
    if isinstance(obj, bytearray | memoryview):
        return bytes(obj)
    if isinstance(obj, set | frozenset):
        return list(obj)
    if isinstance(obj, datetime) and obj.tzinfo is None:
        return obj.replace(tzinfo=UTC)  # a naive datetime is taken as UTC, like JS Dates
    raise TypeError(f"cannot encode {type(obj).__name__} for the Redis adapter")


def pack(obj: Any) -> bytes:
    """msgpack the way notepack.io 3 does (bin for bytes, ext -1 for datetimes)."""
    return msgpack.packb(obj, use_bin_type=True, datetime=True, default=_pack_default)  # type: ignore[no-any-return]


def _ext_hook(code: int, data: bytes) -> Any:
    if code == 0:  # notepack 2 (adapters < 8, emitters < 5) sent Buffers as ext 0
        return data
    raise AdapterMessageError(f"unsupported msgpack extension type {code}")


def unpack(payload: bytes, limits: WireLimits = DEFAULT_WIRE_LIMITS) -> Any:
    """Decode notepack msgpack; bin → bytes, timestamps → aware datetimes."""
    if len(payload) > limits.max_message_bytes:
        raise AdapterMessageError(f"message of {len(payload)} bytes is over the bound")
    try:
        return msgpack.unpackb(
            payload,
            raw=False,
            timestamp=3,
            strict_map_key=True,
            ext_hook=_ext_hook,
        )
    except AdapterMessageError:
        raise
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException) as exc:
        raise AdapterMessageError(f"bad msgpack: {exc}") from None


def js_date(value: datetime) -> str:
    """JavaScript's ``Date.prototype.toJSON``: ISO 8601, milliseconds, ``Z``."""
    value = value.astimezone(UTC) if value.tzinfo is not None else value
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"type": "Buffer", "data": list(bytes(obj))}
    if isinstance(obj, datetime):
        return js_date(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON for the Redis adapter")


def dumps_json(obj: Any) -> bytes:
    """``JSON.stringify`` as Node's adapter sends it: compact, UTF-8, Buffers as objects."""
    text = json.dumps(
        obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )
    return text.encode()


def dates_to_json(obj: Any) -> Any:
    """Replace datetimes by their JS JSON form (what a Node server would send a client)."""
    if isinstance(obj, datetime):
        return js_date(obj)
    if isinstance(obj, list):
        return [dates_to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: dates_to_json(v) for k, v in obj.items()}
    return obj


def may_hold_dates(payload: bytes) -> bool:
    """Cheap test: could this msgpack hold a timestamp (fixext4/8 or ext8 of type -1)?"""
    return b"\xd6\xff" in payload or b"\xd7\xff" in payload or b"\xc7\x0c\xff" in payload


def decode_any(payload: bytes, limits: WireLimits) -> Any:
    """JSON if the first byte is ``{`` (what Node's receivers test), msgpack otherwise."""
    if not payload:
        raise AdapterMessageError("empty message")
    if payload[0] == 0x7B:
        if len(payload) > limits.max_message_bytes:
            raise AdapterMessageError(f"message of {len(payload)} bytes is over the bound")
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise AdapterMessageError(f"bad JSON: {exc}") from None
    return unpack(payload, limits)


# --- field validation -------------------------------------------------------------------------


def room_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdapterMessageError(
            f"a room must be a string or a number, not {type(value).__name__}"
        )
    # JS users pass numbers as rooms; ours are strings, so number rooms match their text.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rooms(value: Any, limits: WireLimits, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise AdapterMessageError(f"{what} must be an array")
    if len(value) > limits.max_rooms:
        raise AdapterMessageError(f"{what} lists {len(value)} rooms (bound {limits.max_rooms})")
    return frozenset(room_name(r) for r in value)


def room_list(value: Any, limits: WireLimits, what: str) -> tuple[str, ...]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return (room_name(value),)
    return tuple(_rooms(value, limits, what))


def opt_str(msg: dict[str, Any], name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AdapterMessageError(f"{name} must be a string")
    return value


def event_data(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise AdapterMessageError("event data must be an array starting with the event name")
    return value


@dataclass(slots=True)
class Selection:
    """Rooms / except-rooms / flags of a request or broadcast, as received."""

    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    flags: dict[str, Any] = field(default_factory=dict)


def selection(value: Any, limits: WireLimits) -> Selection:
    if value is None:
        return Selection()
    if not isinstance(value, dict):
        raise AdapterMessageError("opts must be an object")
    flags = value.get("flags") or {}
    if not isinstance(flags, dict):
        raise AdapterMessageError("opts.flags must be an object")
    return Selection(
        _rooms(value.get("rooms"), limits, "opts.rooms"),
        _rooms(value.get("except"), limits, "opts.except"),
        flags,
    )


def wire_opts(
    rooms: Iterable[str], except_rooms: Iterable[str], flags: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{rooms, except[, flags]}`` as the adapter writes them (flags only where Node has them)."""
    opts: dict[str, Any] = {"rooms": list(rooms), "except": list(except_rooms)}
    if flags is not None:
        opts["flags"] = flags
    return opts


# --- broadcasts -------------------------------------------------------------------------------


@dataclass(slots=True)
class BroadcastMessage:
    """A decoded message of a broadcast channel."""

    uid: str
    nsp: str
    data: list[Any]
    selection: Selection


def encode_broadcast(
    uid: str,
    nsp: str,
    data: Sequence[Any],
    rooms: Sequence[str],
    except_rooms: Sequence[str],
    flags: dict[str, Any],
    *,
    emitter: bool = False,
) -> bytes:
    """``[uid, {type, data, nsp}, {rooms, except, flags}]``; the emitter orders opts rooms,
    flags, except (byte-for-byte what each Node package publishes)."""
    opts: dict[str, Any]
    if emitter:
        opts = {"rooms": list(rooms), "flags": flags, "except": list(except_rooms)}
    else:
        opts = {"rooms": list(rooms), "except": list(except_rooms), "flags": flags}
    return pack([uid, {"type": _EVENT, "data": list(data), "nsp": nsp}, opts])


def decode_broadcast(payload: bytes, limits: WireLimits = DEFAULT_WIRE_LIMITS) -> BroadcastMessage:
    """Decode a broadcast channel message (msgpack array of uid, packet, opts)."""
    msg = unpack(payload, limits)
    if not isinstance(msg, list) or len(msg) != 3:
        raise AdapterMessageError("a broadcast must be an array of [uid, packet, opts]")
    uid, packet, opts = msg
    if not isinstance(uid, str):
        raise AdapterMessageError("broadcast uid must be a string")
    if not isinstance(packet, dict):
        raise AdapterMessageError("broadcast packet must be an object")
    if packet.get("type", _EVENT) not in (_EVENT, _BINARY_EVENT):
        raise AdapterMessageError(f"broadcast packet type {packet.get('type')!r} is not EVENT")
    nsp = packet.get("nsp", "/")
    if not isinstance(nsp, str):
        raise AdapterMessageError("packet.nsp must be a string")
    data = event_data(packet.get("data"))
    if may_hold_dates(payload):
        data = dates_to_json(data)
    return BroadcastMessage(uid, nsp, data, selection(opts, limits))
