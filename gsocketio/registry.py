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

import gevent

from gsocketio._logging import get_logger
from gsocketio.acks import CallWaiter
from gsocketio.exceptions import ConnectionRefusedError
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import Packet, PacketType
from gsocketio.protocol.socketio_session import DEFAULT_REFUSAL
from gsocketio.socket import CLOSED, CONNECTED

if TYPE_CHECKING:
    import logging

    from gsocketio.client import Client
    from gsocketio.namespace import Namespace
    from gsocketio.socket import Socket
    from gsocketio.socketio_server import Server

__all__ = [
    "ARGS",
    "EVENT_ARGS",
    "EVENT_NSP_ARGS",
    "NSP_ARGS",
    "Dispatch",
    "Entry",
    "HandlerLayer",
    "HandlerRegistry",
    "RegistryHandlers",
    "accepts",
    "fit",
    "positional_capacity",
]

Handler = Callable[..., Any]

# Calling conventions of an entry: what precedes (sid, *args).
ARGS: Final = 0  # fn(sid, *args)
EVENT_ARGS: Final = 1  # fn(event, sid, *args)
NSP_ARGS: Final = 2  # fn(namespace, sid, *args)
EVENT_NSP_ARGS: Final = 3  # fn(event, namespace, sid, *args)

Entry = tuple[Handler, int]
ConnectHandler = Callable[[str, str, dict[str, Any], Any], Any]  # (nsp, sid, environ, auth)
DisconnectHandler = Callable[[str, str, str], Any]  # (nsp, sid, reason)

SPECIAL_EVENTS: Final = frozenset({"connect", "disconnect"})


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

    __slots__ = ("connect", "disconnect", "events", "fallback")

    def __init__(self) -> None:
        self.events: dict[str, Entry] = {}
        self.fallback: Entry | None = None
        self.connect: ConnectHandler | None = None
        self.disconnect: DisconnectHandler | None = None


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

    def _rebuild(self) -> None:
        names = (set(self._functions) | set(self._objects)) - {"*"}
        self._resolved = {name: self._resolve(name) for name in names}
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
                table.events[event] = (fn, NSP_ARGS)
        for event, fn in methods.items():
            if event not in SPECIAL_EVENTS:
                table.events[event] = (fn, ARGS)
        for event, fn in own.items():
            if event != "*" and event not in SPECIAL_EVENTS:
                table.events[event] = (fn, ARGS)

        if "*" in own:
            table.fallback = (own["*"], EVENT_ARGS)
        elif obj is not None and intercepted:
            table.fallback = (obj.trigger_event, EVENT_ARGS)
        elif "*" in star:
            table.fallback = (star["*"], EVENT_NSP_ARGS)

        table.connect = self._special(
            "connect", own, methods, star, obj if intercepted else None, _connect_adapter
        )
        table.disconnect = self._special(
            "disconnect", own, methods, star, obj if intercepted else None, _disconnect_adapter
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


class RegistryHandlers:
    """The default handler layer: middlewares, connect policy and the handlers of a
    :class:`HandlerRegistry`, each event in a greenlet of the client's bounded set.

    Connect flow: the socket is registered (so the connect handler can already join rooms and
    emit: what it emits is buffered), the middlewares and connect handler run in a greenlet;
    then the socket is accepted or refused. A socket closed while its handler ran is never
    opened; if the handler had accepted, the disconnect handler still runs, so every accepted
    ``connect`` is paired with one ``disconnect``.
    """

    def __init__(self, registry: HandlerRegistry, middlewares: list[Middleware]) -> None:
        self.registry = registry
        self.middlewares = middlewares
        self.logger: logging.Logger = get_logger("gsocketio.server")
        self._server: Server | None = None

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError("RegistryHandlers used before Server.__init__ bound it")
        return self._server

    def bind(self, server: Server) -> None:
        self._server = server
        self.logger = server.logger

    def on_client(self, client: Client) -> None:
        timeout = self.server.connect_timeout
        if client.eio != 3 and timeout:  # v4 clients are in "/" at once
            client.arm_timer(timeout, self._timeout_fired)

    def _timeout_fired(self, client: Client) -> None:
        client.cancel_timer()  # runs in the hub: only schedule work, never block here
        if client.closed or any(s.state == CONNECTED for s in client.sockets.values()):
            return
        self.logger.info("closing %s: no namespace joined in time", client.conn.sid)
        gevent.spawn(self.server.close_client, client, DisconnectReason.FORCED_SERVER_CLOSE)

    def allows(self, client: Client, namespace: str) -> bool:
        if self.registry.known(namespace):
            return True
        policy = self.server.namespaces
        if policy is None:
            return namespace == "/"
        if policy == "*":
            return True
        if callable(policy):
            try:
                return bool(policy(namespace, client.conn.environ))
            except Exception:
                self.logger.exception("namespaces callable failed for %r", namespace)
                return False
        return namespace in policy

    def on_connect(self, sock: Socket, query: str | None) -> None:
        if self.server.always_connect:
            sock.accept()
        sock.client.spawn(self._run_connect, sock)

    def _run_connect(self, sock: Socket) -> None:
        refusal: Any = None
        accepted = False
        environ = sock.environ
        try:
            recovery = self.server.recovery
            skip = sock.recovered and recovery is not None and recovery.skip_middlewares
            for middleware in () if skip else self.middlewares:
                if middleware(sock.sid, environ, sock.auth, sock.namespace) is False:
                    refusal = DEFAULT_REFUSAL
                    break
            if refusal is None:
                handler = self.registry.get(sock.namespace).connect
                if (
                    handler is not None
                    and handler(sock.namespace, sock.sid, environ, sock.auth) is False
                ):
                    refusal = DEFAULT_REFUSAL
                accepted = refusal is None
        except ConnectionRefusedError as exc:
            refusal = exc.error_args
        except Exception:
            self.logger.exception(
                "error in connect handler (sid %s, namespace %s)", sock.sid, sock.namespace
            )
            refusal = DEFAULT_REFUSAL

        always_connect = self.server.always_connect
        if sock.state == CLOSED:  # closed while the handler ran
            reason = sock.close_reason or DisconnectReason.TRANSPORT_CLOSE
            if reason == DisconnectReason.SERVER_DISCONNECT and not always_connect:
                # sio.disconnect() during connect: the client still waits for an answer
                client = sock.client
                client.refuse(client.session.refuse(sock.namespace, refusal or DEFAULT_REFUSAL))
            if accepted and not always_connect:
                self._run_disconnect(sock, reason)
            return
        if refusal is not None:
            sock.refuse(refusal)
        else:
            sock.accept()

    def on_event(self, sock: Socket, data: list[Any], ack_id: int | None) -> None:
        table = self.registry.get(sock.namespace)
        entry = table.events.get(data[0]) or table.fallback
        if entry is not None:
            sock.client.spawn(self._run_event, sock, entry, data, ack_id)
        elif ack_id is not None:
            self.logger.debug("no handler for %r (ack %s unanswered)", data[0], ack_id)

    def _run_event(self, sock: Socket, entry: Entry, data: list[Any], ack_id: int | None) -> None:
        fn, convention = entry
        event = data[0]
        try:
            if convention == ARGS:
                result = fn(sock.sid, *data[1:])
            elif convention == EVENT_ARGS:
                result = fn(event, sock.sid, *data[1:])
            elif convention == NSP_ARGS:
                result = fn(sock.namespace, sock.sid, *data[1:])
            else:
                result = fn(event, sock.namespace, sock.sid, *data[1:])
        except Exception:
            self.logger.exception(
                "error in handler for event %r (sid %s, namespace %s)",
                event,
                sock.sid,
                sock.namespace,
            )
            return
        if ack_id is not None and sock.state == CONNECTED:
            if result is None:
                args: list[Any] = []
            elif isinstance(result, tuple):
                args = list(result)
            else:
                args = [result]
            try:
                sock.send_packet(Packet(PacketType.ACK, sock.namespace, args, ack_id))
            except (TypeError, ValueError) as exc:  # never drop an ack silently
                self.logger.error(
                    "ack of event %r not sent (sid %s, namespace %s): the reply cannot be "
                    "encoded: %s",
                    event,
                    sock.sid,
                    sock.namespace,
                    exc,
                )

    def on_ack(self, sock: Socket, callback: Callable[..., object], args: list[Any]) -> None:
        if isinstance(callback, CallWaiter):
            callback(*args)
        else:
            sock.client.spawn(self._run_callback, sock, callback, args)

    def _run_callback(self, sock: Socket, callback: Callable[..., object], args: list[Any]) -> None:
        try:
            callback(*args)
        except Exception:
            self.logger.exception(
                "error in ack callback (sid %s, namespace %s)", sock.sid, sock.namespace
            )

    def on_disconnect(self, sock: Socket, reason: str, *, accepted: bool, inline: bool) -> None:
        if not accepted:
            return
        if inline:
            self._run_disconnect(sock, reason)
        else:
            # Not counted against the client's handler bound: the reader must never wait here.
            gevent.spawn(self._run_disconnect, sock, reason)

    def _run_disconnect(self, sock: Socket, reason: str) -> None:
        handler = self.registry.get(sock.namespace).disconnect
        if handler is None:
            return
        try:
            handler(sock.namespace, sock.sid, reason)
        except Exception:
            self.logger.exception(
                "error in disconnect handler (sid %s, namespace %s)", sock.sid, sock.namespace
            )

    def on_client_closed(self, client: Client, reason: str) -> None:
        client.cancel_timer()

    def save_session(self, sock: Socket, session: dict[str, Any]) -> None:
        sock.session = session
