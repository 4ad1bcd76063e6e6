"""The :class:`gsocketio.Server` methods registering the hooks of :mod:`gsocketio.hooks`.

Node's ``socket.use``, ``onAny``/``prependAny``/``offAny`` and their outgoing twins, made
server-wide with a ``namespace`` filter (``"*"``: every namespace), as the rest of this API
addresses sockets by sid. A mixin so the server module stays about connections and emits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from gsocketio.adapters.base import BroadcastOptions
from gsocketio.engine.hooks import EngineHooks
from gsocketio.hooks import Hooks
from gsocketio.listeners import SocketListeners, notify_own

if TYPE_CHECKING:
    from gsocketio.adapters.base import Adapter
    from gsocketio.socket import Socket

__all__ = ["HookAPI"]

F = TypeVar("F", bound=Callable[..., Any])


def _names(rooms: str | Iterable[str] | None) -> frozenset[str]:
    if rooms is None:
        return frozenset()
    return frozenset((rooms,)) if isinstance(rooms, str) else frozenset(rooms)


class HookAPI:
    """Packet middlewares and catch-all listeners (mixed into :class:`gsocketio.Server`)."""

    _hooks: Hooks
    engine_hooks: EngineHooks
    adapter: Adapter
    handlers: Any
    _sockets: dict[str, dict[str, Socket]]
    _socket: Callable[[str, str | None], Socket]

    def _hooks_changed(self) -> None:
        refresh = getattr(self.handlers, "refresh", None)
        if refresh is not None:
            refresh()

    def use_packet(self, middleware: F, namespace: str = "*") -> F:
        """Add a packet middleware ``fn(sid, [event, *args], namespace)``, run on each incoming
        event before its handler (Node's ``socket.use``). It may change the list in place or
        return a replacement; raising, or returning False, drops the event: the namespace's
        ``error`` handler ``(sid, exc)`` gets the exception and the client is sent nothing
        (Node emits ``error`` on the server-side socket only)."""
        self._hooks.add_middleware(middleware, namespace)
        self._hooks_changed()
        return middleware

    def on_any(self, listener: F, namespace: str = "*") -> F:
        """``fn(event, sid, *args)`` for every incoming event, handled or not, before the
        packet middlewares (Node's ``onAny``)."""
        self._hooks.add_incoming(listener, namespace, first=False)
        self._hooks_changed()
        return listener

    def prepend_any(self, listener: F, namespace: str = "*") -> F:
        """As :meth:`on_any`, called before the listeners already added."""
        self._hooks.add_incoming(listener, namespace, first=True)
        self._hooks_changed()
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove an :meth:`on_any` listener (None: all of them)."""
        self._hooks.remove(listener, outgoing=False)
        self._hooks_changed()

    def on_any_outgoing(self, listener: F, namespace: str = "*") -> F:
        """``fn(event, sid, *args)`` for every event this server emits, once per local
        recipient socket (Node's ``onAnyOutgoing``), before it is sent."""
        self._hooks.add_outgoing(listener, namespace, first=False)
        return listener

    def prepend_any_outgoing(self, listener: F, namespace: str = "*") -> F:
        """As :meth:`on_any_outgoing`, called before the listeners already added."""
        self._hooks.add_outgoing(listener, namespace, first=True)
        return listener

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove an :meth:`on_any_outgoing` listener (None: all of them)."""
        self._hooks.remove(listener, outgoing=True)

    @overload
    def on_engine(self, event: str, listener: None = None) -> Callable[[F], F]: ...

    @overload
    def on_engine(self, event: str, listener: F) -> F: ...

    def on_engine(self, event: str, listener: F | None = None) -> Any:
        """Node's ``io.engine.on(event, ...)`` for ``"initial_headers"`` / ``"headers"``
        (``fn(headers, environ)``: append ``(name, value)`` pairs) and ``"connection_error"``
        (``fn(err)``, a :class:`gsocketio.engine.hooks.EngineConnectionError` with ``code``,
        ``message``, ``environ``); see :mod:`gsocketio.engine.hooks`. Without ``listener``,
        a decorator."""

        def register(fn: F) -> F:
            self.engine_hooks.add(event, fn)
            return fn

        return register(listener) if listener is not None else register

    def _notify_outgoing(
        self,
        namespace: str,
        to: str | Iterable[str] | None,
        skip: str | Iterable[str] | None,
        data: list[Any],
    ) -> None:
        """Tell the outgoing listeners about an emit, per local recipient (only called when
        there are listeners)."""
        self._notify_selected(
            namespace, BroadcastOptions(rooms=_names(to), except_rooms=_names(skip)), data
        )

    def _notify_selected(self, namespace: str, opts: BroadcastOptions, data: list[Any]) -> None:
        """As :meth:`_notify_outgoing`, for a broadcast operator's selection: the server-wide
        listeners, then the recipient's own (:meth:`socket`)."""
        hooks = self._hooks
        local = self._sockets.get(namespace, {}) if hooks.local_outgoing else {}
        for sid in sorted(self.adapter.sockets(namespace, opts)):
            hooks.notify(hooks.outgoing, sid, namespace, data)
            sock = local.get(sid)
            if sock is not None and sock.listeners is not None and sock.listeners.outgoing:
                notify_own(sock.listeners.outgoing, sock, data)

    # --- one socket's listeners ----------------------------------------------------------------

    def socket(self, sid: str, namespace: str | None = None) -> SocketListeners:
        """The listeners of one socket of this process, Node's ``socket.on``/``socket.use``/
        ``socket.onAny``/``socket.onAnyOutgoing`` (see :class:`gsocketio.listeners.
        SocketListeners`); usable from its connect handler on. Raises
        :class:`gsocketio.exceptions.UnknownSocketError` for a sid that is not connected here."""
        return SocketListeners(self._socket(sid, namespace), self._hooks, self._hooks_changed)

    def _release_listeners(self, sock: Socket) -> None:
        """``sock`` closed: the server stops counting it among sockets with listeners (its
        ``disconnect`` listeners still run, from the list it keeps)."""
        own = sock.listeners
        if own is not None and (own.inbound or own.outgoing_on):
            self._hooks.count_local(-own.inbound, -own.outgoing_on)
            own.inbound = own.outgoing_on = False
            self._hooks_changed()
