"""Optional per-event hooks of the default handler layer, Node's ``socket.use``/``onAny`` family.

Packet middlewares (``sio.use_packet``), catch-all listeners both ways (``sio.on_any``,
``sio.on_any_outgoing`` and their ``prepend`` variants) and manual acks (a handler with an
``ack`` keyword parameter). Nothing here runs unless registered: :class:`Hooks` tells the
handler layer at registration whether the hooked event path is needed at all, so servers
that use none of it keep the plain decode → lookup → spawn path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from gsocketio._logging import get_logger
from gsocketio.protocol.socketio import Packet, PacketType
from gsocketio.socket import CONNECTED

if TYPE_CHECKING:
    from gsocketio.socket import Socket

__all__ = [
    "ALL_NAMESPACES",
    "AckResponder",
    "Hooks",
    "Observer",
    "PacketRefusedError",
    "wants_ack",
]

log = get_logger("gsocketio.server")

ALL_NAMESPACES: Final = "*"

AnyListener = Callable[..., Any]  # (event, sid, *args)
PacketMiddleware = Callable[[str, list[Any], str], Any]  # (sid, [event, *args], namespace)
SocketListener = Callable[["Socket"], None]
CloseListener = Callable[["Socket", str], None]


class Observer:
    """A catch-all listener for instrumentation (the admin UI's): called with
    ``(namespace, sid, [event, *args])``, as a ``"*"`` listener cannot tell the namespace.
    Kept by ``off_any(None)``, which removes the application's listeners only."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str, str, list[Any]], None]) -> None:
        self.fn = fn


class PacketRefusedError(Exception):
    """Raise in a packet middleware to drop the event (the namespace's ``error`` handler gets
    it, as Node's ``socket.use`` emits ``error`` on the server-side socket)."""


def wants_ack(fn: Callable[..., Any]) -> bool:
    """Whether a handler takes its ack as a callable: it declares a parameter named ``ack``
    that can be passed by keyword. Decided once, at registration."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    param = parameters.get("ack")
    return param is not None and param.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


class AckResponder:
    """The client's ack as a callable: ``ack(*args)`` sends it, at most once, from any
    greenlet. ``pending`` tells whether the client asked for one and it was not sent yet."""

    __slots__ = ("_id", "_sock", "pending")

    def __init__(self, sock: Socket, ack_id: int | None) -> None:
        self._sock = sock
        self._id = ack_id
        self.pending = ack_id is not None

    def __call__(self, *args: Any) -> None:
        if not self.pending:
            return
        self.pending = False
        sock = self._sock
        if sock.state != CONNECTED:  # the client is gone or left the namespace
            return
        sock.send_packet(Packet(PacketType.ACK, sock.namespace, list(args), self._id))


def _add(listeners: dict[str, list[Any]], key: str, fn: Any, first: bool) -> None:
    bucket = listeners.setdefault(key, [])
    if first:
        bucket.insert(0, fn)
    else:
        bucket.append(fn)


class Hooks:
    """Registered packet middlewares and catch-all listeners, by namespace (``"*"``: all)."""

    def __init__(self) -> None:
        self.incoming: dict[str, list[AnyListener | Observer]] = {}
        self.outgoing: dict[str, list[AnyListener | Observer]] = {}
        self.middlewares: dict[str, list[PacketMiddleware]] = {}
        self.local_inbound = 0  # sockets with listeners of their own (gsocketio.listeners)
        self.local_outgoing = 0  # sockets with outgoing catch-all listeners of their own
        self.sending = False  # whether emits must tell any outgoing listener (one test)
        # Socket lifecycle listeners (instrumentation): checked once per socket, not per event.
        self.connected: list[SocketListener] = []
        self.disconnected: list[CloseListener] = []

    @property
    def inbound(self) -> bool:
        """Whether incoming events need the hooked path (for some socket at least)."""
        return bool(self.incoming or self.middlewares or self.local_inbound)

    @property
    def shared_inbound(self) -> bool:
        """Whether every socket's incoming events need the hooked path."""
        return bool(self.incoming or self.middlewares)

    def count_local(self, inbound: int, outgoing: int) -> None:
        """A socket started (+1) or stopped (-1) having listeners of its own."""
        self.local_inbound += inbound
        self.local_outgoing += outgoing
        self._sending()

    def _sending(self) -> None:
        self.sending = bool(self.outgoing or self.local_outgoing)

    def add_incoming(self, fn: AnyListener | Observer, namespace: str, first: bool) -> None:
        _add(self.incoming, namespace, fn, first)

    def add_outgoing(self, fn: AnyListener | Observer, namespace: str, first: bool) -> None:
        _add(self.outgoing, namespace, fn, first)
        self._sending()

    def add_middleware(self, fn: PacketMiddleware, namespace: str) -> None:
        _add(self.middlewares, namespace, fn, False)

    def remove(self, fn: AnyListener | None, outgoing: bool) -> None:
        """Remove ``fn`` (None: every listener) from the incoming or outgoing listeners."""
        table = self.outgoing if outgoing else self.incoming
        for key in list(table):
            if fn is None:  # the application's listeners; instrumentation's Observers stay
                table[key] = [f for f in table[key] if type(f) is Observer]
            else:
                table[key] = [f for f in table[key] if f is not fn]
            if not table[key]:
                del table[key]
        self._sending()

    @staticmethod
    def _for(table: dict[str, list[Any]], namespace: str) -> list[Any]:
        return [*table.get(ALL_NAMESPACES, ()), *table.get(namespace, ())]

    def notify(
        self,
        table: dict[str, list[AnyListener | Observer]],
        sid: str,
        namespace: str,
        data: list[Any],
    ) -> None:
        for fn in self._for(table, namespace):
            try:
                if type(fn) is Observer:
                    fn.fn(namespace, sid, data)
                else:
                    fn(data[0], sid, *data[1:])
            except Exception:
                log.exception("error in catch-all listener (sid %s, namespace %s)", sid, namespace)

    def socket_connected(self, sock: Socket) -> None:
        """A socket was accepted: tell the lifecycle listeners (only called when there are)."""
        for fn in self.connected:
            try:
                fn(sock)
            except Exception:
                log.exception("error in connection listener (sid %s)", sock.sid)

    def socket_closed(self, sock: Socket, reason: str) -> None:
        """An accepted socket closed with ``reason``: tell the lifecycle listeners."""
        for fn in self.disconnected:
            try:
                fn(sock, reason)
            except Exception:
                log.exception("error in disconnection listener (sid %s)", sock.sid)

    def filter(self, sid: str, namespace: str, data: list[Any]) -> list[Any]:
        """Run the packet middlewares; returns the (possibly replaced) ``[event, *args]``.
        Raises what a middleware raises; a middleware returning False refuses the packet."""
        for fn in self._for(self.middlewares, namespace):
            result = fn(sid, data, namespace)
            if result is False:
                raise PacketRefusedError(f"packet {data[0]!r} refused by a middleware")
            if isinstance(result, list) and result:
                data = result
        return data
