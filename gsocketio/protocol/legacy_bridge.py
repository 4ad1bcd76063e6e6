"""How a 0.9 client looks to the Socket.IO layer, and back: packet mapping, sans-I/O.

The Socket.IO layer sees a 0.9 client as one more Engine.IO 3 connection (protocol v4 rules:
it is in ``/`` without asking, its CONNECT query is the auth dict, its socket ids are the
session id and ``/nsp#<sid>``, all as in 0.9). In: :func:`to_socketio` maps what
:class:`~gsocketio.protocol.legacy_session.LegacySession` delivers to Socket.IO packets, fed
to the connection's :class:`~gsocketio.protocol.socketio_session.SocketIOSession` as they are.
Out: :class:`LegacyWire` is the adapter ``WireFormat`` of 0.9 sockets (a room broadcast is
encoded once for all of them).

Mapping (endpoint ``""`` is namespace ``/``)::

    0.9 → Socket.IO                              Socket.IO → 0.9
    1::/chat?x=y   CONNECT /chat query x=y       CONNECT /chat          1::/chat
    0::/chat       DISCONNECT /chat              DISCONNECT /           0::  (whole socket)
    3:5+::text     EVENT ["message", "text"] 5   EVENT ["message", s] 5 3:5+::s (str s)
    4:::{"a":1}    EVENT ["message", {"a":1}]    EVENT ["message", v]   4:::<json v>
    5:5+::{...}    EVENT [name, *args] id 5      EVENT [name, *args] 5  5:5+::{"name",..}
    6:::5+[args]   ACK id 5 [args]               ACK 5 [args]           6:::5+[args]
                                                 CONNECT_ERROR /chat    7::/chat:2 (unauthorized)

An id without ``+`` was acked on receipt by the session and arrives here without it. Events
named like the Socket.IO layer's reserved ones are not forwarded, as the 0.9 server ignored its
blacklisted events. ``bytes`` the server emits become ``{"type":"Buffer","data":[...]}``, what
``JSON.stringify`` makes of a Node ``Buffer`` (0.9 has no binary); U+2028/U+2029 are escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from gsocketio.protocol import legacy
from gsocketio.protocol import socketio as sio
from gsocketio.protocol._json import legacy_dumps

__all__ = [
    "LegacyText",
    "LegacyWire",
    "buffer_dumps",
    "endpoint_of",
    "is_namespace",
    "namespace_of",
    "to_legacy",
    "to_socketio",
]

_LEGACY_TYPE = legacy.PacketType
_SIO_TYPE = sio.PacketType
_MESSAGE_EVENT: Final = "message"


class LegacyText(str):
    """Text already in the 0.9 wire format. A ``str`` subclass, so the marker survives every
    container the Socket.IO layer copies items into (e.g. a socket's pre-connect buffer)."""

    __slots__ = ()


buffer_dumps: Final = legacy_dumps
"""The JSON of 0.9 clients (:func:`gsocketio.protocol._json.legacy_dumps`): binary values as
Node's ``Buffer`` JSON, U+2028/U+2029 escaped."""


def namespace_of(endpoint: str) -> str:
    """The Socket.IO namespace of a 0.9 (or gevent-socketio) endpoint: ``""`` is ``"/"``."""
    return endpoint or "/"


def endpoint_of(namespace: str) -> str:
    """The 0.9 endpoint of a Socket.IO namespace: ``"/"`` is ``""``."""
    return "" if namespace == "/" else namespace


def is_namespace(endpoint: str) -> bool:
    """Whether a 0.9 endpoint can name a Socket.IO namespace."""
    return not endpoint or (endpoint[0] == "/" and "," not in endpoint and "?" not in endpoint)


def to_socketio(packet: legacy.Packet) -> sio.Packet | None:
    """The Socket.IO packet for a delivered 0.9 packet; None when it has no counterpart.

    No counterpart: a CONNECT to ``/`` (the layer connects ``/`` itself), an ERROR (clients
    have nothing to report to a server), an endpoint that is not a namespace, or an event name
    the Socket.IO layer reserves. The caller logs those.
    """
    if not is_namespace(packet.endpoint):
        return None
    namespace = namespace_of(packet.endpoint)
    kind = packet.type
    ack_id = packet.id if packet.ack == "data" else None
    if kind is _LEGACY_TYPE.EVENT:
        if packet.name in sio.RESERVED_EVENTS:
            return None
        return sio.Packet(_SIO_TYPE.EVENT, namespace, [packet.name, *packet.args], ack_id)
    if kind is _LEGACY_TYPE.MESSAGE or kind is _LEGACY_TYPE.JSON:
        return sio.Packet(_SIO_TYPE.EVENT, namespace, [_MESSAGE_EVENT, packet.data], ack_id)
    if kind is _LEGACY_TYPE.ACK:
        return sio.Packet(_SIO_TYPE.ACK, namespace, list(packet.args), packet.ack_id)
    if kind is _LEGACY_TYPE.CONNECT:
        if namespace == "/":
            return None
        # A v4 CONNECT ends its query at the first ","; the server's parse_qsl decodes %2C.
        query = packet.qs.replace(",", "%2C") or None
        return sio.Packet(_SIO_TYPE.CONNECT, namespace, None, query=query)
    if kind is _LEGACY_TYPE.DISCONNECT:
        return sio.Packet(_SIO_TYPE.DISCONNECT, namespace)
    return None


def to_legacy(packet: sio.Packet) -> legacy.Packet:
    """The 0.9 packet for a packet the Socket.IO layer sends; raises ``ValueError`` for a
    namespace a 0.9 endpoint cannot name (no legacy client can be in one)."""
    endpoint = endpoint_of(packet.namespace)
    kind = packet.type
    if kind is _SIO_TYPE.EVENT or kind is _SIO_TYPE.BINARY_EVENT:
        data = packet.data
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ValueError(f"an EVENT needs [name, *args], not {data!r}")
        name, args = data[0], data[1:]
        ack: legacy.AckMode = "data" if packet.id is not None else ""
        if name == _MESSAGE_EVENT and len(args) == 1:
            value = args[0]
            kind_ = _LEGACY_TYPE.MESSAGE if isinstance(value, str) else _LEGACY_TYPE.JSON
            return legacy.Packet(kind_, endpoint, id=packet.id, ack=ack, data=value)
        return legacy.Packet(
            _LEGACY_TYPE.EVENT, endpoint, id=packet.id, ack=ack, name=name, args=list(args)
        )
    if kind is _SIO_TYPE.ACK or kind is _SIO_TYPE.BINARY_ACK:
        args = packet.data if isinstance(packet.data, list) else []
        return legacy.Packet(_LEGACY_TYPE.ACK, endpoint, ack_id=packet.id, args=list(args))
    if kind is _SIO_TYPE.CONNECT:
        return legacy.Packet(_LEGACY_TYPE.CONNECT, endpoint)
    if kind is _SIO_TYPE.DISCONNECT:
        return legacy.Packet(_LEGACY_TYPE.DISCONNECT, endpoint)
    # CONNECT_ERROR: the 0.9 client emits "connect_failed" for an unauthorized endpoint.
    return legacy.Packet(_LEGACY_TYPE.ERROR, endpoint, reason="unauthorized")


class LegacyWire:
    """The adapter ``WireFormat`` of 0.9 sockets (compared by identity: share one instance)."""

    __slots__ = ("_dumps",)

    def __init__(self, dumps: Callable[[Any], str] = buffer_dumps) -> None:
        self._dumps = dumps

    def __repr__(self) -> str:
        return "<LegacyWire>"

    def encode(self, packet: sio.Packet) -> tuple[LegacyText]:
        return (self.encode_text(packet),)

    def encode_text(self, packet: sio.Packet) -> LegacyText:
        return LegacyText(legacy.encode_packet(to_legacy(packet), dumps=self._dumps))
