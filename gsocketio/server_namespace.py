"""Class-based namespaces for the modern API: ``on_<event>`` methods instead of decorators.

::

    class Chat(gsocketio.Namespace):
        def on_connect(self, sid, environ, auth): ...
        def on_message(self, sid, data):
            self.emit("message", data, to="room1")

    sio.register_namespace(Chat("/chat"))

The server resolves the ``on_`` methods once, at registration (see :mod:`gsocketio.handlers`);
override :meth:`Namespace.trigger_event` to intercept every event of the namespace (call
``super().trigger_event(event, *args)`` to keep the normal dispatch). The helpers (``emit``,
``enter_room``...) are the :class:`gsocketio.Server` ones with this namespace as default.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from gsocketio.handlers import fit, namespace_methods

if TYPE_CHECKING:
    from gsocketio.server import Rooms, Server

__all__ = ["Namespace"]


class Namespace:
    """Base class of class-based namespace handlers."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or "/"
        self._server: Server | None = None
        self._methods: dict[str, Callable[..., Any]] | None = None

    # --- wiring ------------------------------------------------------------------------------

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError(f"namespace {self.namespace!r} is not registered with a server")
        return self._server

    def _set_server(self, server: Server) -> None:
        self._server = server

    def overrides_trigger_event(self) -> bool:
        """True when a subclass replaced :meth:`trigger_event` (then every event goes there)."""
        return type(self).trigger_event is not Namespace.trigger_event

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Call ``on_<event>(*args)``; None if there is no such method.

        ``connect`` gets ``(sid, environ, auth)`` and ``disconnect`` ``(sid, reason)``, trimmed
        to what the method declares.
        """
        methods = self._methods
        if methods is None:
            methods = namespace_methods(self)
            if "connect" in methods:
                methods["connect"] = fit(methods["connect"], 3)
            if "disconnect" in methods:
                methods["disconnect"] = fit(methods["disconnect"], 2)
            self._methods = methods
        handler = methods.get(event)
        return handler(*args) if handler is not None else None

    # --- server helpers with this namespace as default ---------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        to: Rooms | None = None,
        room: Rooms | None = None,
        skip_sid: Rooms | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        self.server.emit(
            event,
            *args,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def send(
        self,
        data: Any,
        to: Rooms | None = None,
        room: Rooms | None = None,
        skip_sid: Rooms | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        self.server.send(
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def call(
        self, event: str, *args: Any, to: str, namespace: str | None = None, timeout: float = 60
    ) -> Any:
        return self.server.call(
            event, *args, to=to, namespace=namespace or self.namespace, timeout=timeout
        )

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: str, namespace: str | None = None) -> None:
        self.server.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return self.server.get_session(sid, namespace=namespace or self.namespace)

    def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        self.server.save_session(sid, session, namespace=namespace or self.namespace)

    def session(
        self, sid: str, namespace: str | None = None
    ) -> AbstractContextManager[dict[str, Any]]:
        return self.server.session(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        self.server.disconnect(sid, namespace=namespace or self.namespace)
