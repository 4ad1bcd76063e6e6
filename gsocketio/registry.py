"""Handler layers: who runs a socket's events. The default one resolves handlers ahead of time.

:class:`HandlerLayer` is what :class:`gsocketio.Server` asks to run a connection's events;
:class:`RegistryHandlers` (the default, over a :class:`HandlerRegistry`, in greenlets) and
:class:`gsocketio.compat.managed.ManagedHandlers` (gevent-socketio's namespaces) implement it.

Registration is rare and dispatch is per message, so every decision that does not depend on
the message is taken at registration: signatures of ``connect``/``disconnect`` handlers are
inspected once and adapted, and each namespace gets a :class:`Dispatch` table (event name →
``(function, calling convention)``) rebuilt whenever a handler is added. Dispatching an event
is then two dict lookups.

Resolution order (python-socketio's, with class-based namespaces merged in):

1. a function handler of the namespace for the event;
2. an ``on_<event>`` method of the namespace's class-based :class:`Namespace`;
3. a handler registered with ``namespace="*"`` for the event (gets the namespace first);
4. otherwise the catch-all ``"*"`` of the namespace (gets the event name first), then an
   overridden ``Namespace.trigger_event``, then the ``"*"`` catch-all of ``namespace="*"``
   (gets event name and namespace first).

``connect`` and ``disconnect`` never reach a catch-all (clients cannot send them anyway: the
decoder refuses reserved event names).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from gsocketio.hooks import wants_ack

if TYPE_CHECKING:
    from gsocketio.client import Client
    from gsocketio.namespace import Namespace
    from gsocketio.socket import Socket
    from gsocketio.socketio_server import Server

__all__ = [
    "ARGS",
    "EVENT_ARGS",
    "EVENT_NSP_ARGS",
    "MANUAL_ACK",
    "NSP_ARGS",
    "Dispatch",
    "Entry",
    "HandlerLayer",
    "HandlerRegistry",
    "Middleware",
    "accepts",
    "call_prefix",
    "fit",
    "positional_capacity",
]

Handler = Callable[..., Any]

# Calling conventions of an entry: what precedes (sid, *args).
ARGS: Final = 0  # fn(sid, *args)
EVENT_ARGS: Final = 1  # fn(event, sid, *args)
NSP_ARGS: Final = 2  # fn(namespace, sid, *args)
EVENT_NSP_ARGS: Final = 3  # fn(event, namespace, sid, *args)
MANUAL_ACK: Final = 4  # added to a convention: the handler takes ``ack=`` (see gsocketio.hooks)

Entry = tuple[Handler, int]
ConnectHandler = Callable[[str, str, dict[str, Any], Any], Any]  # (nsp, sid, environ, auth)
DisconnectHandler = Callable[[str, str, str], Any]  # (nsp, sid, reason)

SPECIAL_EVENTS: Final = frozenset({"connect", "disconnect", "disconnecting"})


def call_prefix(convention: int, event: str, sid: str, namespace: str) -> tuple[Any, ...]:
    """What precedes the event's arguments in a call under ``convention`` (without
    :data:`MANUAL_ACK`)."""
    if convention == ARGS:
        return (sid,)
    if convention == EVENT_ARGS:
        return (event, sid)
    if convention == NSP_ARGS:
        return (namespace, sid)
    return (event, namespace, sid)


def positional_capacity(fn: Handler) -> int | None:
    """How many positional arguments ``fn`` accepts; None when it takes ``*args`` (or is
    uninspectable, e.g. some builtins)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if param.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


def accepts(fn: Handler, count: int) -> bool:
    """Whether ``fn`` can be called with ``count`` positional arguments (True when it cannot
    be inspected: the call decides)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def fit(fn: Handler, offered: int, prefix: tuple[Any, ...] = ()) -> Callable[..., Any]:
    """Wrap ``fn`` so it can be called with ``offered`` arguments (after ``prefix``) even if it
    declares fewer — ``connect(sid)`` and ``connect(sid, environ)`` are both valid handlers."""
    capacity = positional_capacity(fn)
    wanted = offered + len(prefix)
    if capacity is None or capacity >= wanted:
        if not prefix:
            return fn
        return lambda *args: fn(*prefix, *args)
    keep = max(capacity - len(prefix), 0)
    return lambda *args: fn(*prefix, *args[:keep])


class Dispatch:
    """The resolved handlers of one namespace."""

    __slots__ = ("connect", "disconnect", "disconnecting", "events", "fallback")

    def __init__(self) -> None:
        self.events: dict[str, Entry] = {}
        self.fallback: Entry | None = None
        self.connect: ConnectHandler | None = None
        self.disconnect: DisconnectHandler | None = None
        self.disconnecting: DisconnectHandler | None = None


def _entry(fn: Handler, convention: int) -> Entry:
    return (fn, convention + MANUAL_ACK if wants_ack(fn) else convention)


def _connect_adapter(fn: Handler, star: bool) -> ConnectHandler:
    if star:  # fn(namespace, sid, environ, auth)
        fitted = fit(fn, 4)
        return lambda nsp, sid, environ, auth: fitted(nsp, sid, environ, auth)
    fitted = fit(fn, 3)
    return lambda nsp, sid, environ, auth: fitted(sid, environ, auth)


def _disconnect_adapter(fn: Handler, star: bool) -> DisconnectHandler:
    if star:  # fn(namespace, sid, reason)
        fitted = fit(fn, 3)
        return lambda nsp, sid, reason: fitted(nsp, sid, reason)
    fitted = fit(fn, 2)
    return lambda nsp, sid, reason: fitted(sid, reason)


def namespace_methods(obj: Namespace) -> dict[str, Handler]:
    """The ``on_<event>`` methods of a class-based namespace, by event name."""
    methods: dict[str, Handler] = {}
    for name in dir(type(obj)):
        if name.startswith("on_") and len(name) > 3:
            method = getattr(obj, name)
            if callable(method):
                methods[name[3:]] = method
    return methods


class HandlerRegistry:
    """Every registered handler; :meth:`get` returns a namespace's resolved :class:`Dispatch`."""

    def __init__(self) -> None:
        self._functions: dict[str, dict[str, Handler]] = {}
        self._objects: dict[str, Namespace] = {}
        self._resolved: dict[str, Dispatch] = {}
        self._unregistered = Dispatch()  # what a namespace without own handlers gets
        self._aliases: dict[str, str] = {}  # dynamic child namespace -> its parent's key

    def add(self, event: str, fn: Handler, namespace: str) -> None:
        self._functions.setdefault(namespace, {})[event] = fn
        self._rebuild()

    def add_namespace(self, obj: Namespace) -> None:
        self._objects[obj.namespace] = obj
        self._rebuild()

    def known(self, namespace: str) -> bool:
        """True if the namespace has handlers of its own (which makes it accepted)."""
        return namespace in self._resolved

    def get(self, namespace: str) -> Dispatch:
        found = self._resolved.get(namespace)
        return found if found is not None else self._unregistered

    def alias(self, child: str, key: str) -> None:
        """Give the dynamic namespace ``child`` the handlers registered under ``key`` (the
        same :class:`Dispatch` object: one lookup per event, as for any namespace)."""
        self._aliases[child] = key
        self._resolved[child] = self._resolved.get(key) or self._resolve(key)

    def unalias(self, child: str) -> None:
        if self._aliases.pop(child, None) is not None:
            self._resolved.pop(child, None)

    def _rebuild(self) -> None:
        names = (set(self._functions) | set(self._objects)) - {"*"}
        resolved = {name: self._resolve(name) for name in names}
        for child, key in self._aliases.items():
            resolved[child] = resolved.get(key) or self._resolve(key)
        self._resolved = resolved
        self._unregistered = self._resolve(None)

    def _resolve(self, namespace: str | None) -> Dispatch:
        star = self._functions.get("*", {})
        own = self._functions.get(namespace, {}) if namespace is not None else {}
        obj = self._objects.get(namespace) if namespace is not None else None
        intercepted = obj is not None and obj.overrides_trigger_event()
        methods = namespace_methods(obj) if obj is not None and not intercepted else {}
        table = Dispatch()

        for event, fn in star.items():
            if event != "*" and event not in SPECIAL_EVENTS:
                table.events[event] = _entry(fn, NSP_ARGS)
        for event, fn in methods.items():
            if event not in SPECIAL_EVENTS:
                table.events[event] = _entry(fn, ARGS)
        for event, fn in own.items():
            if event != "*" and event not in SPECIAL_EVENTS:
                table.events[event] = _entry(fn, ARGS)

        if "*" in own:
            table.fallback = _entry(own["*"], EVENT_ARGS)
        elif obj is not None and intercepted:
            table.fallback = (obj.trigger_event, EVENT_ARGS)
        elif "*" in star:
            table.fallback = _entry(star["*"], EVENT_NSP_ARGS)

        table.connect = self._special(
            "connect", own, methods, star, obj if intercepted else None, _connect_adapter
        )
        table.disconnect = self._special(
            "disconnect", own, methods, star, obj if intercepted else None, _disconnect_adapter
        )
        table.disconnecting = self._special(
            "disconnecting", own, methods, star, None, _disconnect_adapter
        )
        return table

    @staticmethod
    def _special(
        event: str,
        own: dict[str, Handler],
        methods: dict[str, Handler],
        star: dict[str, Handler],
        interceptor: Namespace | None,
        adapt: Callable[[Handler, bool], Any],
    ) -> Any:
        fn = own.get(event) or methods.get(event)
        if fn is not None:
            return adapt(fn, False)
        if interceptor is not None:
            trigger = interceptor.trigger_event
            return lambda nsp, sid, *args: trigger(event, sid, *args)
        if event in star:
            return adapt(star[event], True)
        return None


# --- handler layers ------------------------------------------------------------------------------

Middleware = Callable[[str, dict[str, Any], Any, str], Any]  # (sid, environ, auth, namespace)


class HandlerLayer(Protocol):
    """What runs a server's events. Called from the connection's reader unless noted; must not
    block there for long (spawn, or queue)."""

    def bind(self, server: Server) -> None:
        """Called once by the server that uses this layer."""

    def on_client(self, client: Client) -> None:
        """A new connection (before any of its messages). A layer that is not ready for them
        sets ``client.hold`` and later calls ``server.release(client)``."""

    def allows(self, client: Client, namespace: str) -> bool:
        """Whether ``namespace`` exists for this client (else "Invalid namespace")."""

    def on_connect(self, sock: Socket, query: str | None) -> None:
        """A CONNECTING socket; answer it, now or later, with ``sock.accept()`` or
        ``sock.refuse(data)``."""

    def on_event(self, sock: Socket, data: list[Any], ack_id: int | None) -> None:
        """An EVENT ``[name, *args]``; if ``ack_id`` is set the client waits for an ACK."""

    def on_ack(self, sock: Socket, callback: Callable[..., object], args: list[Any]) -> None:
        """The client acknowledged an emit whose ack table entry was ``callback``."""

    def on_disconnect(self, sock: Socket, reason: str, *, accepted: bool, inline: bool) -> None:
        """``sock`` was closed (``accepted``: after its CONNECT was accepted). ``inline``: the
        caller waits for the handler (``sio.disconnect``) rather than reading a connection."""

    def on_client_closed(self, client: Client, reason: str) -> None:
        """The connection is gone (its sockets were closed first)."""

    def save_session(self, sock: Socket, session: dict[str, Any]) -> None:
        """``sio.save_session``: make ``session`` the socket's session."""
