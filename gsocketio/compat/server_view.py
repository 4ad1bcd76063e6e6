"""The ``server`` a gevent-socketio app sees through ``self.socket.server``.

gevent-socketio handed namespaces its ``SocketIOServer``, whose ``sockets`` dict (live virtual
sockets by sessid) custom mixins and code outside any namespace loop over. Here the serving
object is a :class:`gsocketio.Server`, so the virtual socket gets this view of it instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gsocketio.compat.managed import ManagedHandlers, ManagedSocket

__all__ = ["SeedServerView"]


class SeedServerView:
    """What a virtual socket's ``server`` is to a gevent-socketio app: its server object, whose
    ``sockets`` is the dict of live virtual sockets by sessid (custom mixins and code outside
    any namespace loop over it), with ``get_socket(sessid)`` and ``config``; every other
    attribute (``adapter``, ``emit``, ``rooms``...) is the :class:`gsocketio.Server`'s."""

    __slots__ = ("_layer",)

    def __init__(self, layer: ManagedHandlers) -> None:
        self._layer = layer

    @property
    def sockets(self) -> dict[str, ManagedSocket]:
        return self._layer.sockets

    @property
    def config(self) -> dict[str, Any]:
        return self._layer.config

    def get_socket(self, sessid: str = "") -> ManagedSocket | None:
        return self._layer.get_socket(sessid)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer.server, name)

    def __repr__(self) -> str:
        return f"<SeedServerView of {self._layer.server!r}>"
