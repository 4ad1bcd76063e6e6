"""gevent-socketio's ``socketio.packet`` path: the 0.9 packet codec in the seed's dict form.

``encode(dict) -> str`` and ``decode(str) -> dict`` over :mod:`gsocketio.protocol.legacy`
(:meth:`~gsocketio.protocol.legacy.Packet.from_seed_dict` /
:meth:`~gsocketio.protocol.legacy.Packet.to_seed_dict`), and the seed's lookup tables
(``MSG_TYPES`` name → type digit, ``ERROR_REASONS``/``ERROR_ADVICES`` name → code, and their
``*_VALUES`` inverses). Differences: ``decode`` raises a :class:`gsocketio.ProtocolError`
subclass for input the 0.9 parsers silently turned into empty packets (the seed raised bare
``Exception``, ``KeyError`` or ``ValueError``, or printed), and ``encode`` raises
:class:`ValueError` for a dict it cannot put on the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from gsocketio.compat.virtsocket import default_json_dumps, default_json_loads
from gsocketio.protocol.legacy import ERROR_ADVICE as _ADVICE_NAMES
from gsocketio.protocol.legacy import ERROR_REASONS as _REASON_NAMES
from gsocketio.protocol.legacy import Packet, PacketType, decode_packet, encode_packet

__all__ = [
    "ADVICES_VALUES",
    "ERROR_ADVICES",
    "ERROR_REASONS",
    "MSG_TYPES",
    "MSG_VALUES",
    "REASONS_VALUES",
    "decode",
    "default_json_dumps",
    "default_json_loads",
    "encode",
    "socketio_packet_attributes",
]

MSG_TYPES: Final[dict[str, int]] = {kind.name.lower(): int(kind) for kind in PacketType}
"""Packet type names (the seed dict's ``'type'``) → wire digit."""
MSG_VALUES: Final[dict[int, str]] = {code: name for name, code in MSG_TYPES.items()}
ERROR_REASONS: Final[dict[str, int]] = {name: code for code, name in enumerate(_REASON_NAMES)}
"""Error packet reasons → wire code."""
REASONS_VALUES: Final[dict[int, str]] = dict(enumerate(_REASON_NAMES))
ERROR_ADVICES: Final[dict[str, int]] = {name: code for code, name in enumerate(_ADVICE_NAMES)}
"""Error packet advices → wire code."""
ADVICES_VALUES: Final[dict[int, str]] = dict(enumerate(_ADVICE_NAMES))

socketio_packet_attributes: Final = [
    "type",
    "name",
    "data",
    "endpoint",
    "args",
    "ackId",
    "reason",
    "advice",
    "qs",
    "id",
]
"""The keys a seed packet dict may have (``ack`` goes with ``id``)."""


def encode(data: Mapping[str, Any], json_dumps: Callable[[Any], str] = default_json_dumps) -> str:
    """The 0.9 wire form of a seed packet dict (``{'type': 'event', 'name': ..., ...}``)."""
    return encode_packet(Packet.from_seed_dict(data), dumps=json_dumps)


def decode(rawstr: str, json_loads: Callable[[str], Any] = default_json_loads) -> dict[str, Any]:
    """The seed packet dict of one 0.9 packet (``'5:1+::{"name":"x"}'`` → ``{'type': 'event',
    'id': 1, 'ack': 'data', 'name': 'x', 'args': [], 'endpoint': ''}``)."""
    return decode_packet(rawstr, loads=json_loads).to_seed_dict()
