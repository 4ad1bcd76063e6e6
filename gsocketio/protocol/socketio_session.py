"""SocketIOSession: the Socket.IO rules of one Engine.IO connection, sans-I/O.

Fed Engine.IO messages (or packets another codec already decoded, e.g. the 0.9 bridge's), it
returns what the server must act on (:class:`Connect`, :class:`Event`, :class:`Ack`,
:class:`Disconnect`, :class:`Refused`, :class:`Violation`) and builds the replies the server sends
(:meth:`SocketIOSession.accept`, :meth:`SocketIOSession.refuse`). Every per-connection rule
of protocol v5 (Engine.IO 4) and v4 (Engine.IO 3) lives here; see docs/architecture.md.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from gsocketio.exceptions import ProtocolError
from gsocketio.protocol.socketio import Decoder, Packet, PacketType

__all__ = [
    "DEFAULT_REFUSAL",
    "INVALID_NAMESPACE",
    "MAX_NAMESPACES_PER_CLIENT",
    "MAX_NAMESPACE_LENGTH",
    "TOO_MANY_NAMESPACES",
    "Ack",
    "Connect",
    "Disconnect",
    "Event",
    "Refused",
    "SocketIOSession",
    "Violation",
    "connect_error_data",
    "new_sid",
]

MAX_NAMESPACES_PER_CLIENT: Final = 256
"""Namespaces one connection may be in (or joining) at once; past it, "Too many namespaces"."""
MAX_NAMESPACE_LENGTH: Final = 256
"""Longest namespace name accepted (Node has no bound); longer ones are refused, and neither
the reply nor the log repeats them in full."""

DEFAULT_REFUSAL: Final[dict[str, Any]] = {"message": "Connection rejected by server"}
INVALID_NAMESPACE: Final[dict[str, Any]] = {"message": "Invalid namespace"}
TOO_MANY_NAMESPACES: Final[dict[str, Any]] = {"message": "Too many namespaces"}

_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_CONNECT = PacketType.CONNECT
_DISCONNECT = PacketType.DISCONNECT
_CONNECT_ERROR = PacketType.CONNECT_ERROR
_JOINING: Final = 0  # CONNECT received, not answered yet
_JOINED: Final = 1  # accepted


@dataclass(slots=True)
class Connect:
    """The client asks to join ``namespace`` (for v4, implicitly ``/`` on open)."""

    namespace: str
    auth: Any  # v5: the CONNECT payload; v4: the CONNECT query as a dict (None for "/")
    query: str | None


@dataclass(slots=True)
class Event:
    """An EVENT in a joined namespace: ``data`` is ``[name, *args]``."""

    namespace: str
    data: list[Any]
    id: int | None


@dataclass(slots=True)
class Ack:
    """An ACK from a namespace the client is in (or joining)."""

    namespace: str
    data: list[Any]
    id: int


@dataclass(slots=True)
class Disconnect:
    """The client left ``namespace``."""

    namespace: str


@dataclass(slots=True)
class Refused:
    """A CONNECT the session refused by itself: send ``packet``; ``why`` is safe to log,
    ``bound`` names the limit it hit (for the metrics)."""

    packet: Packet
    why: str
    bound: str = ""


@dataclass(slots=True)
class Violation:
    """The client broke the protocol: close the connection ("parse error")."""

    why: str


SessionEvent = Connect | Event | Ack | Disconnect | Refused | Violation


def new_sid() -> str:
    """A fresh random socket id (v5 never shows the engine sid, which authenticates requests)."""
    return secrets.token_urlsafe(15)


def connect_error_data(eio: int, error_args: Any) -> Any:
    """The CONNECT_ERROR payload of a refusal by the application: v5 ``{"message", "data"?}``;
    v4 a plain value, ``data`` if present else ``message`` (socket.io 4's compatibility mode)."""
    if isinstance(error_args, dict) and "message" in error_args:
        payload = error_args
    else:
        payload = {"message": DEFAULT_REFUSAL["message"], "data": error_args}
    if eio == 3:
        return payload.get("data") or payload["message"]
    return payload


class SocketIOSession:
    """The namespace state of one connection (see the module docstring).

    ``eio`` is the Engine.IO revision (3: protocol v4, 4: protocol v5), ``sid`` the engine sid
    (v4 socket ids derive from it), ``decoder`` decodes this connection's messages and may be
    replaced (gevent-socketio apps choose their JSON codec late).
    """

    __slots__ = ("_states", "decoder", "eio", "max_namespace_length", "max_namespaces", "sid")

    def __init__(
        self,
        *,
        eio: int,
        decoder: Decoder,
        sid: str = "",
        max_namespaces: int = MAX_NAMESPACES_PER_CLIENT,
        max_namespace_length: int = MAX_NAMESPACE_LENGTH,
    ) -> None:
        self.eio = eio
        self.sid = sid
        self.decoder = decoder
        self.max_namespaces = max_namespaces
        self.max_namespace_length = max_namespace_length
        self._states: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<SocketIOSession eio={self.eio} namespaces={sorted(self._states)}>"

    # --- inbound -----------------------------------------------------------------------------

    def start(self) -> list[SessionEvent]:
        """What opening the connection means: v4 clients are in ``/`` without asking."""
        if self.eio == 3:
            return self.receive_packet(Packet(_CONNECT, "/"))
        return []

    def receive(self, message: str | bytes) -> list[SessionEvent]:
        """One Engine.IO message payload from the client."""
        try:
            packet = self.decoder.feed(message)
        except ProtocolError as exc:
            return [Violation(f"bad packet ({exc})")]
        if packet is None:  # waiting for binary attachments
            return []
        if packet.type is _EVENT and self._states.get(packet.namespace) == _JOINED:
            return [Event(packet.namespace, packet.data, packet.id)]  # the hot path, inlined
        return self.receive_packet(packet)

    def receive_packet(self, packet: Packet) -> list[SessionEvent]:
        """One decoded packet (binary ones already reassembled into EVENT/ACK)."""
        ptype = packet.type
        nsp = packet.namespace
        state = self._states.get(nsp)
        if ptype is _EVENT:
            if state == _JOINED:
                return [Event(nsp, packet.data, packet.id)]
            return self._stray(ptype)
        if ptype is _ACK:
            if state is not None and packet.id is not None:
                return [Ack(nsp, packet.data, packet.id)]
            return self._stray(ptype)
        if ptype is _CONNECT:
            return self._connect(packet, state)
        if ptype is _DISCONNECT:
            if state is None:
                return []
            del self._states[nsp]
            return [Disconnect(nsp)]
        return [Violation(f"unexpected {ptype.name} packet")]  # clients never send CONNECT_ERROR

    def _stray(self, ptype: PacketType) -> list[SessionEvent]:
        # Before any CONNECT that breaks the protocol (the spec says close); afterwards it is a
        # benign race with a disconnect.
        if not self._states:
            return [Violation(f"{ptype.name} before any CONNECT")]
        return []

    def _connect(self, packet: Packet, state: int | None) -> list[SessionEvent]:
        nsp = packet.namespace
        if state is not None:
            return [Violation(f"second CONNECT to {nsp}")]
        if len(nsp) > self.max_namespace_length:
            shown = nsp[: self.max_namespace_length]
            reply = Packet(_CONNECT_ERROR, shown, dict(INVALID_NAMESPACE))
            return [Refused(reply, f"namespace name of {len(nsp)} characters", "namespace_length")]
        if len(self._states) >= self.max_namespaces:
            refusal = self._error(nsp, TOO_MANY_NAMESPACES)
            return [Refused(refusal, "too many namespaces", "namespaces_per_client")]
        self._states[nsp] = _JOINING
        if self.eio == 3:
            query = packet.query
            auth: Any = dict(parse_qsl(query)) if query else None
        else:
            auth = packet.data
        return [Connect(nsp, auth, packet.query)]

    # --- outbound ----------------------------------------------------------------------------

    def socket_id(self, namespace: str) -> str:
        """The id of this connection's socket in ``namespace``: v4 derives it from the engine
        sid (``sid`` in ``/``, ``/nsp#sid`` elsewhere); v5 uses a fresh random one."""
        if self.eio == 3:
            return self.sid if namespace == "/" else f"{namespace}#{self.sid}"
        return new_sid()

    def accept(self, namespace: str, sid: str) -> Packet:
        """The CONNECT reply that admits the client to ``namespace`` (v4 carries no sid)."""
        self._states[namespace] = _JOINED
        if self.eio == 3:
            return Packet(_CONNECT, namespace)
        return Packet(_CONNECT, namespace, {"sid": sid})

    def refuse(self, namespace: str, error_args: Any = None) -> Packet:
        """The CONNECT_ERROR for a refusal by the application (middleware, connect handler)."""
        self._states.pop(namespace, None)
        args = DEFAULT_REFUSAL if error_args is None else error_args
        return Packet(_CONNECT_ERROR, namespace, connect_error_data(self.eio, args))

    def refuse_unknown(self, namespace: str) -> Packet:
        """The CONNECT_ERROR for a namespace the server does not serve: ``{"message": "Invalid
        namespace"}`` for v4 and v5 alike, as Node sends it."""
        self._states.pop(namespace, None)
        return self._error(namespace, INVALID_NAMESPACE)

    def leave(self, namespace: str) -> None:
        """The server closed the client's socket in ``namespace`` (idempotent)."""
        self._states.pop(namespace, None)

    def joined(self, namespace: str) -> bool:
        return self._states.get(namespace) == _JOINED

    def __contains__(self, namespace: object) -> bool:
        """True while the client is in (or joining) ``namespace``."""
        return namespace in self._states

    def __len__(self) -> int:
        return len(self._states)

    @staticmethod
    def _error(namespace: str, payload: dict[str, Any]) -> Packet:
        return Packet(_CONNECT_ERROR, namespace, dict(payload))
