"""Sans-I/O codec of the classic Redis adapter's request and response channels (Node's
``RequestType`` 0-9): JSON or msgpack sniffed by the first byte, fields checked, and the
encoders producing the exact bytes ``@socket.io/redis-adapter`` 8.x and the emitter publish.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from gsocketio.adapters.redis_wire import (
    DEFAULT_WIRE_LIMITS,
    Selection,
    WireLimits,
    decode_any,
    dumps_json,
    event_data,
    opt_str,
    pack,
    room_list,
    room_name,
    selection,
    wire_opts,
)
from gsocketio.exceptions import AdapterMessageError

__all__ = ["Request", "RequestType", "Response", "decode_request", "decode_response"]

_EVENT = 2


class RequestType(IntEnum):
    """The classic adapter's ``RequestType`` enum (the numbers are the wire values)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


# --- requests ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Request:
    """A decoded request-channel message; which fields are set depends on ``type``."""

    type: RequestType
    uid: str | None = None
    request_id: str | None = None
    selection: Selection | None = None  # 2/3/4 current form, 5, 7
    rooms: tuple[str, ...] = ()  # 2/3: rooms to join/leave; 0: rooms to list
    close: bool = False  # 4
    data: list[Any] = field(default_factory=list)  # 6: [event, *args]; 7: packet data
    nsp: str | None = None  # 7: packet.nsp
    sid: str | None = None  # legacy per-sid 2/3/4
    room: str | None = None  # legacy per-sid 2/3


def decode_request(payload: bytes, limits: WireLimits = DEFAULT_WIRE_LIMITS) -> Request:
    """Decode a request-channel message (JSON or msgpack) and check its fields."""
    msg = decode_any(payload, limits)
    if not isinstance(msg, dict):
        raise AdapterMessageError("a request must be an object")
    raw_type = msg.get("type")
    if isinstance(raw_type, bool) or not isinstance(raw_type, int):
        raise AdapterMessageError(f"request type {raw_type!r} is not a number")
    try:
        rtype = RequestType(raw_type)
    except ValueError:
        raise AdapterMessageError(f"unknown request type {raw_type}") from None
    req = Request(rtype, opt_str(msg, "uid"), opt_str(msg, "requestId"))
    if rtype in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT):
        if "opts" in msg:
            req.selection = selection(msg["opts"], limits)
            if rtype is not RequestType.REMOTE_DISCONNECT:
                req.rooms = room_list(msg.get("rooms"), limits, "rooms")
        else:  # the pre-8 per-sid form
            req.sid = opt_str(msg, "sid")
            if req.sid is None:
                raise AdapterMessageError("a legacy remote request needs a sid")
            if rtype is not RequestType.REMOTE_DISCONNECT:
                req.room = room_name(msg.get("room"))
        if rtype is RequestType.REMOTE_DISCONNECT:
            req.close = bool(msg.get("close", False))
    elif rtype is RequestType.SOCKETS:
        req.rooms = room_list(msg.get("rooms"), limits, "rooms")
    elif rtype is RequestType.REMOTE_FETCH:
        req.selection = selection(msg.get("opts"), limits)
    elif rtype is RequestType.SERVER_SIDE_EMIT:
        req.data = event_data(msg.get("data"))
    elif rtype is RequestType.BROADCAST:
        packet = msg.get("packet")
        if not isinstance(packet, dict):
            raise AdapterMessageError("a broadcast request needs a packet object")
        req.data = event_data(packet.get("data"))
        nsp = packet.get("nsp", "/")
        if not isinstance(nsp, str):
            raise AdapterMessageError("packet.nsp must be a string")
        req.nsp = nsp
        req.selection = selection(msg.get("opts"), limits)
        if req.request_id is None:
            raise AdapterMessageError("a broadcast request needs a requestId")
    if req.request_id is None and rtype in (
        RequestType.SOCKETS,
        RequestType.ALL_ROOMS,
        RequestType.REMOTE_FETCH,
    ):
        raise AdapterMessageError(f"request type {rtype.name} needs a requestId")
    if rtype in (RequestType.BROADCAST_CLIENT_COUNT, RequestType.BROADCAST_ACK):
        raise AdapterMessageError(f"{rtype.name} is a response, not a request")
    return req


def _with_uid(uid: str | None, body: dict[str, Any]) -> dict[str, Any]:
    return {"uid": uid, **body} if uid is not None else body


def encode_all_rooms_request(uid: str, request_id: str) -> bytes:
    return dumps_json({"uid": uid, "requestId": request_id, "type": RequestType.ALL_ROOMS})


def encode_join_request(
    uid: str | None,
    rooms: Sequence[str],
    except_rooms: Sequence[str],
    join: Sequence[str],
    *,
    leave: bool = False,
) -> bytes:
    """socketsJoin / socketsLeave (``uid`` None: the emitter's form)."""
    rtype = RequestType.REMOTE_LEAVE if leave else RequestType.REMOTE_JOIN
    body = {"type": rtype, "opts": wire_opts(rooms, except_rooms), "rooms": list(join)}
    return dumps_json(_with_uid(uid, body))


def encode_disconnect_request(
    uid: str | None, rooms: Sequence[str], except_rooms: Sequence[str], close: bool
) -> bytes:
    body = {
        "type": RequestType.REMOTE_DISCONNECT,
        "opts": wire_opts(rooms, except_rooms),
        "close": close,
    }
    return dumps_json(_with_uid(uid, body))


def encode_fetch_request(
    uid: str, request_id: str, rooms: Sequence[str], except_rooms: Sequence[str]
) -> bytes:
    return dumps_json(
        {
            "uid": uid,
            "requestId": request_id,
            "type": RequestType.REMOTE_FETCH,
            "opts": wire_opts(rooms, except_rooms),
        }
    )


def encode_server_side_emit(uid: str, data: Sequence[Any], request_id: str | None = None) -> bytes:
    body: dict[str, Any] = {"uid": uid}
    if request_id is not None:
        body["requestId"] = request_id
    body["type"] = RequestType.SERVER_SIDE_EMIT
    body["data"] = list(data)
    return dumps_json(body)


def encode_broadcast_request(
    uid: str,
    request_id: str,
    nsp: str,
    data: Sequence[Any],
    rooms: Sequence[str],
    except_rooms: Sequence[str],
    flags: dict[str, Any],
) -> bytes:
    """A broadcast with acks (type 7), msgpack like Node's."""
    return pack(
        {
            "uid": uid,
            "requestId": request_id,
            "type": RequestType.BROADCAST,
            "packet": {"type": _EVENT, "data": list(data), "nsp": nsp},
            "opts": wire_opts(rooms, except_rooms, flags),
        }
    )


# --- responses --------------------------------------------------------------------------------


@dataclass(slots=True)
class Response:
    """A decoded response-channel message: its requestId and the rest of its fields."""

    request_id: str
    type: int | None
    body: dict[str, Any]


def decode_response(payload: bytes, limits: WireLimits = DEFAULT_WIRE_LIMITS) -> Response:
    msg = decode_any(payload, limits)
    if not isinstance(msg, dict):
        raise AdapterMessageError("a response must be an object")
    request_id = msg.get("requestId")
    if not isinstance(request_id, str):
        raise AdapterMessageError("a response needs a string requestId")
    rtype = msg.get("type")
    if rtype is not None and (isinstance(rtype, bool) or not isinstance(rtype, int)):
        raise AdapterMessageError("response type must be a number")
    return Response(request_id, rtype, msg)


def encode_sockets_response(request_id: str, sids: Iterable[str]) -> bytes:
    return dumps_json({"requestId": request_id, "sockets": list(sids)})


def encode_all_rooms_response(request_id: str, rooms: Iterable[str]) -> bytes:
    return dumps_json({"requestId": request_id, "rooms": list(rooms)})


def encode_fetch_response(request_id: str, sockets: Sequence[dict[str, Any]]) -> bytes:
    """``{requestId, sockets:[{id, handshake, rooms, data}]}`` (JSON, as Node answers)."""
    return dumps_json({"requestId": request_id, "sockets": list(sockets)})


def encode_legacy_ack(request_id: str) -> bytes:
    return dumps_json({"requestId": request_id})


def encode_server_side_emit_response(request_id: str, data: Any) -> bytes:
    return dumps_json({"type": RequestType.SERVER_SIDE_EMIT, "requestId": request_id, "data": data})


def encode_client_count(request_id: str, count: int) -> bytes:
    return dumps_json(
        {"type": RequestType.BROADCAST_CLIENT_COUNT, "requestId": request_id, "clientCount": count}
    )


def encode_broadcast_ack(request_id: str, reply: Any) -> bytes:
    """One client's ack of a broadcast-with-acks (msgpack, as Node's parser encodes it)."""
    return pack({"type": RequestType.BROADCAST_ACK, "requestId": request_id, "packet": reply})
