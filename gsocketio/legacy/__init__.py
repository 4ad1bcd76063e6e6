"""Serving the legacy socket.io-client 0.9 (protocol revision 1) next to today's clients.

:class:`LegacyServer` is a WSGI app for ``/<resource>/1/...`` that bridges 0.9 sessions to a
:class:`gsocketio.Server`, so both kinds of client share handlers, namespaces and rooms.
Modules: :mod:`~gsocketio.legacy.endpoint` (routing, handshake, CORS),
:mod:`~gsocketio.legacy.transports` (websocket, flashsocket, htmlfile, xhr-polling,
jsonp-polling), :mod:`~gsocketio.legacy.connection` (a session as an ``EngineConnection``),
:mod:`~gsocketio.protocol.legacy_session` (the sans-I/O session: heartbeats, timeouts, acks on
receipt), :mod:`~gsocketio.protocol.legacy_bridge` (packet mapping, the legacy wire format) and
:mod:`~gsocketio.legacy.policy` (the Flash policy server).
"""

from gsocketio.legacy.connection import LegacyConnection
from gsocketio.legacy.endpoint import LegacyServer
from gsocketio.legacy.policy import FlashPolicyServer, policy_xml
from gsocketio.protocol.legacy_bridge import LegacyWire
from gsocketio.protocol.legacy_session import LegacyConfig, LegacySession

__all__ = [
    "FlashPolicyServer",
    "LegacyConfig",
    "LegacyConnection",
    "LegacyServer",
    "LegacySession",
    "LegacyWire",
    "policy_xml",
]
