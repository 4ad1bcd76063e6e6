"""Listeners of one connected socket: Node's ``socket.on``/``use``/``onAny``/``onAnyOutgoing``.

``sio.socket(sid)`` returns a :class:`SocketListeners` handle; what it registers lives on that
:class:`gsocketio.socket.Socket` only (its ``listeners`` slot, None until first used) and goes
with it. The server counts the sockets that have inbound or outgoing listeners
(:class:`gsocketio.hooks.Hooks`), so the handler layer takes its hooked event path only while
such a socket exists, and there only for the sockets that have them: a server whose sockets
register nothing keeps the plain decode → lookup → spawn path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

from gsocketio._logging import get_logger
from gsocketio.hooks import AckResponder, PacketRefusedError, wants_ack
from gsocketio.registry import ARGS, MANUAL_ACK, Entry, call_prefix
from gsocketio.socket import CLOSED

if TYPE_CHECKING:
    from gsocketio.hooks import Hooks
    from gsocketio.socket import Socket

__all__ = [
    "LIFECYCLE_EVENTS",
    "OwnHooks",
    "SocketListeners",
    "filter_packet",
    "notify_own",
    "run_lifecycle",
    "run_listeners",
]

log = get_logger("gsocketio.server")

F = TypeVar("F", bound=Callable[..., Any])

LIFECYCLE_EVENTS: Final = frozenset({"disconnect", "disconnecting"})
"""Events a socket's own listeners may take besides the client's: ``fn(sid, reason)``."""


class OwnHooks:
    """What one socket registered. ``inbound``/``outgoing``: whether the server counts this
    socket among those needing the hooked paths (until it closes)."""

    __slots__ = ("events", "inbound", "incoming", "middlewares", "outgoing", "outgoing_on")

    def __init__(self) -> None:
        self.events: dict[str, list[Entry]] = {}
        self.incoming: list[Callable[..., Any]] = []
        self.outgoing: list[Callable[..., Any]] = []
        self.middlewares: list[Callable[..., Any]] = []
        self.inbound = False
        self.outgoing_on = False

    def needs_inbound(self) -> bool:
        """Whether incoming events of this socket need the hooked path."""
        return bool(
            self.incoming
            or self.middlewares
            or any(name not in LIFECYCLE_EVENTS for name in self.events)
        )


def notify_own(listeners: list[Callable[..., Any]], sock: Socket, data: list[Any]) -> None:
    """Call a socket's catch-all listeners ``fn(event, sid, *args)``; errors are logged."""
    for fn in list(listeners):
        try:
            fn(data[0], sock.sid, *data[1:])
        except Exception:
            log.exception("error in a socket's catch-all listener (sid %s)", sock.sid)


def filter_packet(
    middlewares: list[Callable[..., Any]], sock: Socket, data: list[Any]
) -> list[Any]:
    """Run a socket's packet middlewares as :meth:`gsocketio.hooks.Hooks.filter` runs the
    server-wide ones; raises what they raise (False refuses)."""
    for fn in list(middlewares):
        result = fn(sock.sid, data, sock.namespace)
        if result is False:
            raise PacketRefusedError(f"packet {data[0]!r} refused by a middleware")
        if isinstance(result, list) and result:
            data = result
    return data


def run_lifecycle(sock: Socket, event: str, reason: str) -> None:
    """A socket's own ``disconnecting``/``disconnect`` listeners, ``fn(sid, reason)``."""
    own = sock.listeners
    for fn, _convention in own.events.get(event, ()) if own is not None else ():
        try:
            fn(sock.sid, reason)
        except Exception:
            log.exception("error in a socket's %s listener (sid %s)", event, sock.sid)


def run_listeners(
    sock: Socket, entry: Entry | None, own: list[Entry], data: list[Any], ack_id: int | None
) -> None:
    """An event for a socket with listeners of its own: the namespace's handler (``entry``)
    first, then the socket's, as Node runs every listener of an event. They share one ack:
    the first value returned (or ``ack(...)`` call) answers; if none answers and none takes
    ``ack``, an empty ack is sent, the rule of plain handlers. A listener that raises is
    logged; the others still run, and then no empty ack is sent for it."""
    event = data[0]
    responder = AckResponder(sock, ack_id)
    manual = failed = False
    for fn, convention in [entry, *own] if entry is not None else own:
        try:
            if convention >= MANUAL_ACK:
                manual = True
                prefix = call_prefix(convention - MANUAL_ACK, event, sock.sid, sock.namespace)
                result = fn(*prefix, *data[1:], ack=responder)
            else:
                result = fn(*call_prefix(convention, event, sock.sid, sock.namespace), *data[1:])
            if result is not None and responder.pending:
                responder(*(result if isinstance(result, tuple) else (result,)))
        except Exception:  # the handler's error, or an ack that cannot be encoded
            log.exception("error in a listener for %r (sid %s)", event, sock.sid)
            failed = True
    if responder.pending and not manual and not failed:
        responder()


class SocketListeners:
    """Listeners and packet middlewares of one socket (``sio.socket(sid, namespace)``).

    The same calling conventions as the server-wide registrations: ``on(event, fn)`` gets
    ``fn(sid, *args)`` (its return value or ``ack=`` parameter answers, see
    :meth:`gsocketio.Server.on`), and also takes ``"disconnecting"``/``"disconnect"``
    (``fn(sid, reason)``, after the namespace's own handlers) and ``"error"`` (``fn(sid,
    exc)``, a packet a middleware refused); ``use_packet``, ``on_any`` and ``on_any_outgoing``
    as :class:`gsocketio.hooks_api.HookAPI`'s, for this socket only, after the server-wide
    ones. Everything is dropped when the socket disconnects.
    """

    __slots__ = ("_changed", "_hooks", "_sock")

    def __init__(self, sock: Socket, hooks: Hooks, changed: Callable[[], None]) -> None:
        self._sock = sock
        self._hooks = hooks
        self._changed = changed

    def __repr__(self) -> str:
        return f"<SocketListeners {self._sock.sid} {self._sock.namespace}>"

    @property
    def sid(self) -> str:
        return self._sock.sid

    @property
    def namespace(self) -> str:
        return self._sock.namespace

    @property
    def connected(self) -> bool:
        """False once the socket is closed (registrations are then ignored)."""
        return self._sock.state != CLOSED

    def _own(self) -> OwnHooks | None:
        sock = self._sock
        if sock.state == CLOSED:
            return None
        if sock.listeners is None:
            sock.listeners = OwnHooks()
        return sock.listeners

    def _update(self) -> None:
        """Keep the server's counts of sockets with listeners right (while it is open)."""
        own = self._sock.listeners
        if own is None or self._sock.state == CLOSED:
            return
        inbound, outgoing = own.needs_inbound(), bool(own.outgoing)
        if inbound != own.inbound or outgoing != own.outgoing_on:
            self._hooks.count_local(inbound - own.inbound, outgoing - own.outgoing_on)
            own.inbound, own.outgoing_on = inbound, outgoing
            self._changed()

    # --- events -------------------------------------------------------------------------------

    @overload
    def on(self, event: str, handler: None = None) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Add a listener for ``event`` on this socket; without ``handler``, a decorator."""
        if event == "connect":
            raise ValueError("the socket is connected already: register 'connect' with sio.on")

        def register(fn: F) -> F:
            own = self._own()
            if own is not None:
                manual = event not in LIFECYCLE_EVENTS and wants_ack(fn)
                own.events.setdefault(event, []).append((fn, ARGS + MANUAL_ACK * manual))
                self._update()
            return fn

        return register(handler) if handler is not None else register

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove a listener of ``event`` (None: all of them)."""
        own = self._sock.listeners
        if own is None or event not in own.events:
            return
        kept = [e for e in own.events[event] if handler is not None and e[0] is not handler]
        if kept:
            own.events[event] = kept
        else:
            del own.events[event]
        self._update()

    def use_packet(self, middleware: F) -> F:
        """A packet middleware ``fn(sid, [event, *args], namespace)`` for this socket's events
        (Node's ``socket.use``), run after the server-wide ones; raise or return False to
        refuse the packet (its ``error`` listeners get the exception)."""
        own = self._own()
        if own is not None:
            own.middlewares.append(middleware)
            self._update()
        return middleware

    # --- catch-all listeners ------------------------------------------------------------------

    def on_any(self, listener: F) -> F:
        """``fn(event, sid, *args)`` for each event this socket sends, before its middlewares."""
        return self._add(listener, outgoing=False, first=False)

    def prepend_any(self, listener: F) -> F:
        return self._add(listener, outgoing=False, first=True)

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        self._remove(listener, outgoing=False)

    def on_any_outgoing(self, listener: F) -> F:
        """``fn(event, sid, *args)`` for each event the server emits to this socket."""
        return self._add(listener, outgoing=True, first=False)

    def prepend_any_outgoing(self, listener: F) -> F:
        return self._add(listener, outgoing=True, first=True)

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        self._remove(listener, outgoing=True)

    def _add(self, listener: F, *, outgoing: bool, first: bool) -> F:
        own = self._own()
        if own is not None:
            bucket = own.outgoing if outgoing else own.incoming
            bucket.insert(0 if first else len(bucket), listener)
            self._update()
        return listener

    def _remove(self, listener: Callable[..., Any] | None, *, outgoing: bool) -> None:
        own = self._sock.listeners
        if own is None:
            return
        bucket = own.outgoing if outgoing else own.incoming
        bucket[:] = [] if listener is None else [f for f in bucket if f is not listener]
        self._update()
