"""gevent-socketio's packet dicts ⇄ Socket.IO packets: the pure half of the managed layer.

In: EVENT → ``event`` (an ack id → ``ack: 'data'``); the ``message`` event with one argument →
``message`` (a string) or ``json`` (anything else), what the old client's ``send()`` and
``json.send()`` reached, unless the namespace class defines ``on_message``. Out: ``event`` →
EVENT; ``message``/``json`` → the ``message`` event; ``ack`` → ACK. The other dict types
(``connect``, ``disconnect``, ``error``, ``heartbeat``, ``noop``) are socket state, not packets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gsocketio.protocol.socketio import Packet, PacketType

__all__ = ["SeedPacket", "event_dict", "packet_of"]

SeedPacket = dict[str, Any]


def event_dict(
    endpoint: str, data: list[Any], ack_id: int | None, *, on_message: bool = False
) -> SeedPacket:
    """The dict for an EVENT ``[name, *args]``; ``on_message``: the namespace handles the
    ``message`` event itself."""
    name, args = data[0], data[1:]
    pkt: SeedPacket
    if name == "message" and len(args) == 1 and not on_message:
        kind = "message" if isinstance(args[0], str) else "json"
        pkt = {"type": kind, "data": args[0], "endpoint": endpoint}
    else:
        pkt = {"type": "event", "name": name, "args": args, "endpoint": endpoint}
    if ack_id is not None:
        pkt["id"] = ack_id
        pkt["ack"] = "data"
    return pkt


def packet_of(pkt: Mapping[str, Any], namespace: str, ack_id: int | None) -> Packet | None:
    """The packet for an outgoing ``event``/``message``/``json``/``ack`` dict (``ack_id``: the
    wire id when it asks for an ack); None for the other types. ``ValueError`` for an unknown
    type."""
    kind = pkt.get("type")
    if kind == "event":
        return Packet(PacketType.EVENT, namespace, [pkt["name"], *pkt.get("args", ())], ack_id)
    if kind in ("message", "json"):
        return Packet(PacketType.EVENT, namespace, ["message", pkt.get("data")], ack_id)
    if kind == "ack":
        return Packet(PacketType.ACK, namespace, list(pkt.get("args", ())), int(pkt["ackId"]))
    if kind in ("connect", "disconnect", "error", "heartbeat", "noop"):
        return None
    raise ValueError(f"unknown packet type {kind!r}")
