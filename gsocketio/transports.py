"""gevent-socketio's ``socketio.transports`` path: the transport names and classes.

In the seed each transport was a class the handler instantiated per request, reading and writing
the virtual socket's queues. Here transports are the protocol layers' business: today's clients
use Engine.IO's polling and WebSocket (:mod:`gsocketio.engine`), 0.9 clients the five 0.9
transports (:mod:`gsocketio.legacy.transports`), and an app only chooses them by name with
``SocketIOServer(transports=[...])``. So the names (:data:`TRANSPORTS`, :data:`handler_types`)
are current, and the classes only import: using one (instantiating or subclassing it) raises a
``DeprecationWarning`` saying so, and its ``do_exchange`` raises ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Any, Final

from gsocketio.compat.retired import Retired

__all__ = [
    "TRANSPORTS",
    "BaseTransport",
    "FlashSocketTransport",
    "HTMLFileTransport",
    "JSONPolling",
    "WebsocketTransport",
    "XHRMultipartTransport",
    "XHRPollingTransport",
    "handler_types",
]

_INSTEAD: Final = (
    "gsocketio's transports are internal: choose them by name with "
    "SocketIOServer(transports=[...]) (see gsocketio.transports.TRANSPORTS)"
)


class BaseTransport(Retired):
    """Deprecated: the seed's transport base class (see the module docstring)."""

    instead = _INSTEAD
    name: str = ""
    """The transport's name as ``SocketIOServer(transports=...)`` takes it."""

    def __init__(self, handler: Any, config: Any = None, **kwargs: Any) -> None:
        super().__init__()
        self.handler = handler
        self.config = config

    def do_exchange(self, socket: Any, request_method: str) -> None:
        """The seed's per-request entry point; nothing calls it here."""
        raise NotImplementedError(f"{type(self).__name__}.do_exchange: {_INSTEAD}")


class XHRPollingTransport(BaseTransport):
    """Deprecated: ``xhr-polling`` (Engine.IO polling for today's clients)."""

    name = "xhr-polling"


class JSONPolling(XHRPollingTransport):
    """Deprecated: ``jsonp-polling`` (Engine.IO JSONP polling for today's clients)."""

    name = "jsonp-polling"


class XHRMultipartTransport(XHRPollingTransport):
    """Deprecated: ``xhr-multipart`` (no 0.9 client used it; today's clients poll instead)."""

    name = "xhr-multipart"


class HTMLFileTransport(XHRPollingTransport):
    """Deprecated: ``htmlfile`` (0.9 clients; today's clients poll instead)."""

    name = "htmlfile"


class WebsocketTransport(BaseTransport):
    """Deprecated: ``websocket`` (RFC 6455, :mod:`gsocketio.websocket`)."""

    name = "websocket"


class FlashSocketTransport(WebsocketTransport):
    """Deprecated: ``flashsocket`` (0.9 clients only, with the Flash policy server)."""

    name = "flashsocket"


handler_types: Final[dict[str, type[BaseTransport]]] = {
    cls.name: cls
    for cls in (
        WebsocketTransport,
        FlashSocketTransport,
        HTMLFileTransport,
        XHRMultipartTransport,
        XHRPollingTransport,
        JSONPolling,
    )
}
"""The seed's ``SocketIOHandler.handler_types``: transport name → (deprecated) class."""

TRANSPORTS: Final = tuple(handler_types)
"""Every name ``SocketIOServer(transports=...)`` accepts, as the seed's handler listed them."""
