"""Sans-I/O codec of socket.io-adapter's ClusterAdapter messages, as Node's sharded Redis
adapter (``createShardedAdapter``, 8.2+) publishes them: ``{type, data?, uid, nsp}``.

JSON (compact, key order as Node builds them) unless the type may carry binary (BROADCAST,
BROADCAST_ACK, FETCH_SOCKETS_RESPONSE, SERVER_SIDE_EMIT, SERVER_SIDE_EMIT_RESPONSE) and the
data does hold bytes: then the whole envelope is notepack msgpack. Receivers tell them apart by
the first byte. Uids are 16 lowercase hex characters. See SCALEOUT-PROTOCOL.md §2.10, §3, §12.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from gsocketio.adapters.redis_wire import (
    DEFAULT_WIRE_LIMITS,
    WireLimits,
    dates_to_json,
    decode_any,
    dumps_json,
    may_hold_dates,
    pack,
    wire_opts,
)
from gsocketio.exceptions import AdapterMessageError

__all__ = ["ClusterMessage", "MessageType", "decode_message", "encode_message", "new_uid"]


class MessageType(IntEnum):
    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


MAY_HOLD_BINARY: Final = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.BROADCAST_ACK,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
    }
)
RESPONSES: Final = frozenset(
    {
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_CLIENT_COUNT,
        MessageType.BROADCAST_ACK,
    }
)


def new_uid() -> str:
    """A ClusterAdapter uid / request id: 8 random bytes in hex."""
    return secrets.token_hex(8)


def has_binary(obj: Any, depth: int = 0) -> bool:
    if isinstance(obj, bytes | bytearray | memoryview):
        return True
    if depth > 64:
        return False
    if isinstance(obj, list | tuple):
        return any(has_binary(v, depth + 1) for v in obj)
    if isinstance(obj, dict):
        return any(has_binary(v, depth + 1) for v in obj.values())
    return False


def encode_message(mtype: MessageType, data: dict[str, Any] | None, uid: str, nsp: str) -> bytes:
    msg: dict[str, Any] = {"type": mtype}
    if data is not None:
        msg["data"] = data
    msg["uid"] = uid
    msg["nsp"] = nsp
    if mtype in MAY_HOLD_BINARY and has_binary(data):
        return pack(msg)
    return dumps_json(msg)


def broadcast_data(
    data: Sequence[Any],
    rooms: Sequence[str],
    except_rooms: Sequence[str],
    flags: dict[str, Any],
    request_id: str | None = None,
) -> dict[str, Any]:
    """The ``data`` of a BROADCAST: ``{packet, [requestId,] opts}`` (packet without nsp)."""
    body: dict[str, Any] = {"packet": {"type": 2, "data": list(data)}}
    if request_id is not None:
        body["requestId"] = request_id
    body["opts"] = wire_opts(rooms, except_rooms, flags)
    return body


@dataclass(slots=True)
class ClusterMessage:
    type: MessageType
    uid: str
    nsp: str
    data: dict[str, Any]


def decode_message(payload: bytes, limits: WireLimits = DEFAULT_WIRE_LIMITS) -> ClusterMessage:
    """Decode and check the envelope; the ``data`` fields are checked by the receiver."""
    msg = decode_any(payload, limits)
    if not isinstance(msg, dict):
        raise AdapterMessageError("a cluster message must be an object")
    raw_type = msg.get("type")
    if isinstance(raw_type, bool) or not isinstance(raw_type, int):
        raise AdapterMessageError(f"message type {raw_type!r} is not a number")
    try:
        mtype = MessageType(raw_type)
    except ValueError:
        raise AdapterMessageError(f"unknown message type {raw_type}") from None
    uid, nsp = msg.get("uid"), msg.get("nsp")
    if not isinstance(uid, str) or not isinstance(nsp, str):
        raise AdapterMessageError("uid and nsp must be strings")
    data = msg.get("data", {})
    if not isinstance(data, dict):
        raise AdapterMessageError("data must be an object")
    if payload[:1] != b"{" and may_hold_dates(payload):
        data = dates_to_json(data)
    return ClusterMessage(mtype, uid, nsp, data)
