"""Sans-I/O codec of ``@socket.io/redis-streams-adapter`` 0.3.x: stream entries, session
values and entry-id (offset) arithmetic; no Redis, no gevent, no clock.

A stream entry is ``{uid, nsp, type, data?}`` with ``type`` a decimal string and ``data``
JSON, or base64 of @msgpack/msgpack when a type that may carry binary does (SCALEOUT-PROTOCOL
§5.3). A session is base64 msgpack of ``{sid, pid, rooms, data}`` (§5.5). Ephemeral messages
(pub/sub) are msgpack of the whole envelope; :func:`pack_envelope` builds them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from gsocketio.adapters import cluster_wire as cw
from gsocketio.adapters.redis_wire import DEFAULT_WIRE_LIMITS, WireLimits, dumps_json, pack, unpack
from gsocketio.exceptions import AdapterMessageError

__all__ = [
    "SESSION_FIELD",
    "STREAM_TYPES",
    "decode_entry",
    "decode_session",
    "encode_entry",
    "encode_session",
    "entry_key",
    "is_offset",
    "next_offset",
    "pack_envelope",
    "read_streams",
    "stream_hash",
    "stream_name",
]

SESSION_FIELD: Final = "gsioSession"
"""gsocketio's extra key in a stored session: the ``get_session`` dict (Node ignores it)."""

_OFFSET: Final = re.compile(r"^[0-9]+-[0-9]+$")

STREAM_TYPES: Final = frozenset(
    {
        cw.MessageType.BROADCAST,
        cw.MessageType.SOCKETS_JOIN,
        cw.MessageType.SOCKETS_LEAVE,
        cw.MessageType.DISCONNECT_SOCKETS,
    }
)
"""What goes to the stream (a BROADCAST only without requestId); the rest is pub/sub."""


def is_offset(value: Any) -> bool:
    return isinstance(value, str) and _OFFSET.match(value) is not None


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (``"0-0"`` for anything unparsable)."""
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


def next_offset(offset: str) -> str:
    """The smallest id after ``offset`` (exclusive ranges without Redis 6.2's ``(``)."""
    ms, seq = entry_key(offset)
    return f"{ms}-{seq + 1}"


def stream_hash(nsp: str) -> int:
    """Node's ``hashCode``: ``h * 31 + c`` over the UTF-16 code units, as a signed 32-bit int."""
    h = 0
    units = nsp.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h = (h * 31 + (units[i] | units[i + 1] << 8)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def stream_name(base: str, count: int, nsp: str) -> str:
    """The stream a namespace's entries go to: ``base`` alone, or with ``streamCount > 1``
    ``base-<i>``, i = hash % count with JS's sign-keeping ``%`` (so i may be negative)."""
    if count == 1:
        return base
    h = stream_hash(nsp)
    index = abs(h) % count
    return f"{base}-{-index if h < 0 else index}"


def read_streams(base: str, count: int) -> list[str]:
    """Every stream a namespace can hash to: ``base`` or ``base-<i>`` for -(count-1) < i <
    count (Node reads only i >= 0; a namespace with a negative index is read here too)."""
    if count == 1:
        return [base]
    return [f"{base}-{i}" for i in range(-(count - 1), count)]


def encode_entry(uid: str, nsp: str, mtype: cw.MessageType, data: Any) -> dict[str, str]:
    fields = {"uid": uid, "nsp": nsp, "type": str(int(mtype))}
    if data:
        if mtype in cw.MAY_HOLD_BINARY and cw.has_binary(data):
            fields["data"] = base64.b64encode(pack(data)).decode("ascii")
        else:
            fields["data"] = dumps_json(data).decode("utf-8")
    return fields


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise AdapterMessageError("a stream field is not UTF-8") from None
    if isinstance(value, str):
        return value
    raise AdapterMessageError("a stream field must be a string")


def decode_entry(
    fields: Mapping[Any, Any], limits: WireLimits = DEFAULT_WIRE_LIMITS
) -> cw.ClusterMessage:
    """Decode one entry's fields (bytes or str keys); raises :class:`AdapterMessageError`."""
    text = {_text(k): v for k, v in fields.items()}
    if "nsp" not in text or "uid" not in text or "type" not in text:
        raise AdapterMessageError("a stream entry needs uid, nsp and type")
    raw_type = _text(text["type"])
    try:
        mtype = cw.MessageType(int(raw_type))
    except ValueError:
        raise AdapterMessageError(f"unknown message type {raw_type!r}") from None
    data: Any = {}
    if "data" in text:
        raw = _text(text["data"])
        if len(raw) > limits.max_message_bytes:
            raise AdapterMessageError("a stream entry over the bound")
        if raw.startswith("{"):
            try:
                data = json.loads(raw)
            except ValueError:
                raise AdapterMessageError("bad JSON in a stream entry") from None
        else:
            try:
                data = unpack(base64.b64decode(raw, validate=True), limits)
            except binascii.Error:
                raise AdapterMessageError("bad base64 in a stream entry") from None
    if not isinstance(data, dict):
        raise AdapterMessageError("data must be an object")
    return cw.ClusterMessage(mtype, _text(text["uid"]), _text(text["nsp"]), data)


def pack_envelope(mtype: cw.MessageType, data: Any, uid: str, nsp: str) -> bytes:
    """An ephemeral message or response: msgpack of ``{type, data, uid, nsp}``."""
    msg: dict[str, Any] = {"type": int(mtype)}
    if data is not None:
        msg["data"] = data
    msg["uid"] = uid
    msg["nsp"] = nsp
    return pack(msg)


def encode_session(
    sid: str, pid: str, rooms: list[str], data: Any, session: dict[str, Any] | None = None
) -> str:
    """Node's ``{sid, pid, rooms, data}``, plus :data:`SESSION_FIELD` when there is a
    ``get_session`` dict (an extra key Node's restore ignores)."""
    value: dict[str, Any] = {"sid": sid, "pid": pid, "rooms": rooms, "data": data}
    if session is not None:
        value[SESSION_FIELD] = session
    return base64.b64encode(pack(value)).decode("ascii")


def decode_session(raw: bytes | str, limits: WireLimits = DEFAULT_WIRE_LIMITS) -> dict[str, Any]:
    """A stored session, checked: ``sid``/``pid`` strings, ``rooms`` a list of strings."""
    try:
        session = unpack(base64.b64decode(raw, validate=True), limits)
    except binascii.Error:
        raise AdapterMessageError("bad base64 in a session") from None
    if not isinstance(session, dict):
        raise AdapterMessageError("a session must be an object")
    sid, pid, rooms = session.get("sid"), session.get("pid"), session.get("rooms")
    if not isinstance(sid, str) or not isinstance(pid, str) or not isinstance(rooms, list):
        raise AdapterMessageError("a session needs sid, pid and rooms")
    if not all(isinstance(r, str) for r in rooms):
        raise AdapterMessageError("session rooms must be strings")
    if not isinstance(session.get(SESSION_FIELD, {}), dict):
        raise AdapterMessageError("a session's get_session value must be a map")
    return session
