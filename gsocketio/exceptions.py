"""Every error gsocketio raises on purpose, in one hierarchy.

Callers catch :class:`ProtocolError` for "the peer sent something we refuse" (the subclasses say
exactly what, so tests and logs can tell a bad length prefix from a bad namespace) and
:class:`EncodeError` for "our own data cannot go on the wire"::

    GSocketIOError
    ├── ProtocolError                       the peer broke the protocol
    │   ├── PacketTypeError
    │   ├── PacketFormatError
    │   │   ├── InvalidJSONError
    │   │   └── AttachmentError
    │   ├── PayloadFormatError
    │   ├── LimitExceededError
    │   │   ├── PayloadTooLargeError
    │   │   ├── TooManyPacketsError
    │   │   ├── TooManyAttachmentsError
    │   │   └── NestingTooDeepError
    │   └── HTTPRequestError                a request head the HTTP server refuses
    ├── HTTPBodyError (also OSError)        a request body that cannot be read
    ├── ServerConfigError (also ValueError) a server configuration that cannot work
    ├── EncodeError (also ValueError)       a packet of ours cannot be encoded
    ├── SessionError                        not valid in the session's state
    │   ├── SessionClosedError
    │   └── UnknownSocketError              no such socket in that namespace
    ├── ConnectionRefusedError              raised by a connect handler
    ├── CallTimeoutError (also TimeoutError)
    │   └── CallAbortedError
    └── WebSocketError
        ├── WebSocketHandshakeError
        └── WebSocketClosedError
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


# --- our own output ----------------------------------------------------------------------------


class EncodeError(GSocketIOError, ValueError):
    """A packet of ours cannot be put on the wire (a NaN, a bad ack id, an invalid namespace...).

    A ``ValueError``, which encoders raised before it existed; unknown types still raise
    ``TypeError``, as ``json.dumps`` does.
    """


# --- session / server state ------------------------------------------------------------------


class SessionError(GSocketIOError):
    """An operation on an Engine.IO session that is not valid in its state."""


class SessionClosedError(SessionError):
    """The session is closed; nothing more can be sent or received."""


class UnknownSocketError(SessionError):
    """No connected Socket.IO socket has this sid in this namespace."""


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


class CallAbortedError(CallTimeoutError):
    """``call()`` will never get its acknowledgement: the socket disconnected, or the
    pending-ack bound evicted the call. Raised at once instead of after the timeout."""


# --- transports ------------------------------------------------------------------------------


class WebSocketError(GSocketIOError):
    """A WebSocket connection failed (socket error, send timeout) or was misused."""


class WebSocketHandshakeError(WebSocketError):
    """The request is not a valid WebSocket upgrade; the caller answers HTTP 400."""


class WebSocketClosedError(WebSocketError):
    """Sending on a WebSocket that is closed or closing."""


# --- the cluster (adapters that reach other servers) ------------------------------------------


class AdapterMessageError(ProtocolError):
    """A message received on an adapter's channels is malformed (bad msgpack or JSON, wrong
    types, unknown request type, over a size bound); it is logged and dropped."""


class ClusterError(GSocketIOError):
    """A cluster operation (fetch_sockets, server_side_emit with acks...) failed."""


class ClusterUnavailableError(ClusterError):
    """The adapter cannot reach the other servers now (Redis down); local clients are served."""


class ClusterTimeoutError(ClusterError, builtins.TimeoutError):
    """Not every server (or client) answered in time. ``replies`` holds what did arrive."""

    def __init__(self, message: str, replies: list[Any] | None = None) -> None:
        super().__init__(message)
        self.replies: list[Any] = replies if replies is not None else []


# --- HTTP front door -------------------------------------------------------------------------


class HTTPRequestError(ProtocolError):
    """A request head the HTTP server refuses; ``status`` is the answer (400, 414, 505...).

    The connection is closed after the answer: the byte stream cannot be trusted any more.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HTTPBodyError(GSocketIOError, builtins.OSError):
    """A request body could not be read: broken chunked framing, a bound or deadline crossed,
    or the client went away. An ``OSError``, so an application that reads ``wsgi.input``
    handles it like a lost client; the connection is closed after the response."""


class ServerConfigError(GSocketIOError, ValueError):
    """The server was configured in a way that cannot work (e.g. seed mode for an application
    that routes Socket.IO itself); raised at start-up rather than leaving clients hanging."""
