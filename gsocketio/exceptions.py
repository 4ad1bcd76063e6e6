"""Every error gsocketio raises on purpose, in one hierarchy.

Callers catch :class:`ProtocolError` for "the peer sent something we refuse"; the subclasses
say exactly what, so tests and logs can tell a bad length prefix from a bad namespace.
"""

from __future__ import annotations

import builtins
from typing import Any


class GSocketIOError(Exception):
    """Root of every gsocketio exception."""


# --- bad input from a peer -------------------------------------------------------------------


class ProtocolError(GSocketIOError):
    """The peer sent bytes that do not follow the protocol."""


class PacketTypeError(ProtocolError):
    """A packet's type field is missing or names no known type."""


class PacketFormatError(ProtocolError):
    """A packet's structure is malformed (bad id, namespace, separator, JSON shape...)."""


class PayloadFormatError(ProtocolError):
    """A multi-packet payload (polling body, legacy frame) is malformed."""


class InvalidJSONError(PacketFormatError):
    """A packet carries text that is not valid JSON, or JSON of the wrong shape."""


class InvalidMsgpackError(PacketFormatError):
    """A packet is not well-formed msgpack, or uses a msgpack type the parser does not carry."""


class AttachmentError(PacketFormatError):
    """Binary attachments and their placeholders do not match."""


class LimitExceededError(ProtocolError):
    """Input is larger than a configured limit; refused before anything big is allocated."""


class PayloadTooLargeError(LimitExceededError):
    """A payload, packet or length prefix exceeds ``max_payload``."""


class TooManyPacketsError(LimitExceededError):
    """A payload holds more packets than allowed."""


class TooManyAttachmentsError(LimitExceededError):
    """A binary packet announces more attachments than allowed."""


class NestingTooDeepError(LimitExceededError):
    """JSON (or placeholder) nesting is deeper than allowed."""


# --- session / server state ------------------------------------------------------------------


class SessionError(GSocketIOError):
    """An operation on an Engine.IO session that is not valid in its state."""


class UnknownSessionError(SessionError):
    """No session has this sid (never existed, or already closed)."""


class SessionClosedError(SessionError):
    """The session is closed; nothing more can be sent or received."""


class ConnectionRefusedError(GSocketIOError):
    """Raise from a connect handler to refuse the client; ``data`` reaches it in CONNECT_ERROR."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        if not args:
            self.error_args: Any = {"message": "Connection rejected by server"}
        elif len(args) == 1 and isinstance(args[0], str):
            self.error_args = {"message": args[0]}
        elif len(args) == 1:
            self.error_args = {"message": "Connection rejected by server", "data": args[0]}
        else:
            self.error_args = {"message": args[0], "data": args[1] if len(args) == 2 else args[1:]}


class CallTimeoutError(GSocketIOError, builtins.TimeoutError):
    """``call()`` got no acknowledgement from the client in time."""


# --- transports ------------------------------------------------------------------------------


class WebSocketError(GSocketIOError):
    """A WebSocket connection failed (socket error, send timeout) or was misused."""


class WebSocketHandshakeError(WebSocketError):
    """The request is not a valid WebSocket upgrade; the caller answers HTTP 400."""


class WebSocketClosedError(WebSocketError):
    """Sending on a WebSocket that is closed or closing."""


class CallAbortedError(CallTimeoutError):
    """``call()`` will never get its acknowledgement: the socket disconnected, or the
    pending-ack bound evicted the call. Raised at once instead of after the timeout."""


class UnknownSocketError(SessionError):
    """No connected Socket.IO socket has this sid in this namespace."""
