"""Why a connection or a socket ended: one vocabulary for every layer and protocol generation.

The strings are the reference (Node) server's, which applications see as the ``reason`` of their
disconnect handlers; the 0.9 endpoint reports the same ones.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DisconnectReason"]


class DisconnectReason(StrEnum):
    """A disconnect reason; compares equal to its string."""

    TRANSPORT_CLOSE = "transport close"  # the client sent CLOSE, or its transport went away
    TRANSPORT_ERROR = "transport error"  # transport failure or protocol violation
    PING_TIMEOUT = "ping timeout"
    PARSE_ERROR = "parse error"  # the client sent undecodable data or broke the protocol
    FORCED_CLOSE = "forced close"  # the engine connection was closed by the server
    BUFFER_FULL = "outgoing buffer full"  # the client does not read fast enough
    SERVER_DISCONNECT = "server namespace disconnect"  # sio.disconnect(sid)
    CLIENT_DISCONNECT = "client namespace disconnect"  # the client left the namespace
    FORCED_SERVER_CLOSE = "forced server close"  # the server closed the whole client
    SERVER_SHUTTING_DOWN = "server shutting down"
