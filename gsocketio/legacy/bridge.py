"""How a 0.9 client looks to the Socket.IO layer, and back: packet translation, sans-I/O.

The Socket.IO layer (:class:`gsocketio.Server`) sees a legacy client as one more Engine.IO 3
connection (protocol v4 semantics: it is put in ``/`` without asking, its ``CONNECT`` query is
the auth dict, its socket ids are the session id and ``/nsp#<sid>`` — all as in 0.9) whose
packets are encoded in the 0.9 format:

* **in**: :func:`to_socketio` turns what :meth:`LegacySession.receive` delivers into
  Socket.IO packets, which the connection encodes (:func:`encode_for_server`) and hands to
  ``engine_message`` — the one entry point of the :class:`EngineHandler` contract;
* **out**: :class:`LegacyWire` is the adapter ``WireFormat`` of legacy sockets, so a room
  broadcast is encoded once for all 0.9 recipients (and once for the modern ones). Its items are
  :class:`LegacyText`, a ``str`` marking text already in the 0.9 format; anything else reaching
  a legacy connection (the few packets the server encodes with its own wire, e.g.
  CONNECT_ERROR) is translated by :class:`Translator`.

Mapping (endpoint ``""`` is namespace ``/``)::

    0.9 → Socket.IO                              Socket.IO → 0.9
    1::/chat?x=y   CONNECT /chat query x=y       CONNECT /chat          1::/chat
    0::/chat       DISCONNECT /chat              DISCONNECT /           0::  (whole socket)
    3:5+::text     EVENT ["message", "text"] 5   EVENT ["message", s] 5 3:5+::s (str s)
    4:::{"a":1}    EVENT ["message", {"a":1}]    EVENT ["message", v]   4:::<json v>
    5:5+::{...}    EVENT [name, *args] id 5      EVENT [name, *args] 5  5:5+::{"name",..}
    6:::5+[args]   ACK id 5 [args]               ACK 5 [args]           6:::5+[args]
                                                 CONNECT_ERROR /chat    7::/chat:2 (unauthorized)

An id without ``+`` was acked on receipt by the session and arrives here without it.
Events named like the Socket.IO layer's reserved ones (``connect``, ``disconnect``...) are not
forwarded, as the 0.9 server ignored its blacklisted events. ``bytes`` the server emits become
``{"type":"Buffer","data":[...]}``, what ``JSON.stringify`` makes of a Node ``Buffer`` (the 0.9
protocol has no binary). JSON for 0.9 clients escapes U+2028/U+2029 (see :func:`buffer_dumps`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from gsocketio._logging import get_logger
from gsocketio.adapters.base import Encoded
from gsocketio.exceptions import ProtocolError
from gsocketio.protocol import legacy
from gsocketio.protocol import socketio as sio
from gsocketio.protocol._json import legacy_dumps
from gsocketio.protocol.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "LegacyText",
    "LegacyWire",
    "Translator",
    "buffer_dumps",
    "encode_for_server",
    "endpoint_of",
    "namespace_of",
    "to_legacy",
    "to_socketio",
]

log = get_logger("gsocketio.legacy")

ROOT_DISCONNECT: Final = "0::"
"""The whole-socket disconnect: a 0.9 client treats it as being booted (no reconnect)."""
ROOT_REFUSAL: Final = "7:::2"
"""What a refused ``/`` becomes (error "unauthorized" on endpoint ``""``)."""

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


def namespace_of(endpoint: str) -> str | None:
    """The Socket.IO namespace of a 0.9 endpoint; None when it cannot be one."""
    if not endpoint:
        return "/"
    if endpoint[0] != "/" or "," in endpoint or "?" in endpoint:
        return None
    return endpoint


def endpoint_of(namespace: str) -> str:
    return "" if namespace == "/" else namespace


def to_socketio(packet: legacy.Packet) -> sio.Packet | None:
    """The Socket.IO packet for a delivered 0.9 packet; None when it has no counterpart.

    No counterpart: a CONNECT to ``/`` (the layer connects ``/`` itself), an ERROR (clients
    have nothing to report to a server), an endpoint that is not a namespace, or an event name
    the Socket.IO layer reserves. The caller logs those.
    """
    namespace = namespace_of(packet.endpoint)
    if namespace is None:
        return None
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


def encode_for_server(packet: sio.Packet) -> str:
    """The text ``engine_message`` expects for ``packet`` (JSON from 0.9 holds no binary)."""
    encoded = sio.encode(packet)
    text = encoded[0]
    assert isinstance(text, str) and len(encoded) == 1
    return text


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

    def encode(self, packet: sio.Packet) -> Encoded:
        return (self.encode_text(packet),)

    def encode_text(self, packet: sio.Packet) -> LegacyText:
        return LegacyText(legacy.encode_packet(to_legacy(packet), dumps=self._dumps))


class Translator:
    """Turns what the Socket.IO layer hands a legacy connection into 0.9 text.

    :class:`LegacyText` passes through; other items are Socket.IO v4 messages (text, then
    binary attachments) encoded by the server's own wire, decoded here once per connection.
    """

    __slots__ = ("_decoder", "_limits", "_wire")

    def __init__(self, wire: LegacyWire, limits: Limits = DEFAULT_LIMITS) -> None:
        self._wire = wire
        self._limits = limits
        self._decoder: sio.Decoder | None = None

    def translate(self, items: Iterable[str | bytes]) -> list[str]:
        out: list[str] = []
        for item in items:
            if type(item) is LegacyText:
                out.append(item)
                continue
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = sio.Decoder(limits=self._limits)
            try:
                packet = decoder.feed(item)
            except ProtocolError as exc:  # our own server's output: a bug, not bad input
                log.error("untranslatable message for a legacy client dropped: %s", exc)
                continue
            if packet is not None:
                out.append(self._wire.encode_text(packet))
        return out
