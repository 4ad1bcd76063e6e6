"""The broadcast operator and cluster operations on ``gsocketio.Server`` (a mixin).

Thin methods that start a :class:`gsocketio.operator.BroadcastOperator` (``sio.to(room)``,
``sio.of("/chat")``, ``sio.volatile`` ...) or run a namespace-wide cluster operation
(``fetch_sockets``, ``server_side_emit``, ``all_rooms`` ...), plus ``on_server_side`` to
register the handlers other servers reach and ``get_data`` for ``socket.data``; and the
per-sid methods (``enter_room``, ``leave_room``, ``rooms``, and the other-node halves of
``call``, ``emit(to=sid, callback=)`` and ``disconnect``) that reach a socket whichever node
owns it, as Node's ``io.to(socketId)`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import gevent

from gsocketio._logging import get_logger
from gsocketio.adapters.base import BroadcastOptions
from gsocketio.dynamic import Matcher, ParentNamespace
from gsocketio.exceptions import CallTimeoutError, ClusterTimeoutError, UnknownSocketError
from gsocketio.operator import DEFAULT_TIMEOUT, BroadcastOperator, RemoteSocket, RoomsArg
from gsocketio.protocol.socketio import RESERVED_EVENTS

if TYPE_CHECKING:
    from gsocketio.adapters.base import Adapter
    from gsocketio.cluster_host import ServerHost
    from gsocketio.hooks import Hooks
    from gsocketio.socket import Socket

__all__ = ["ClusterAPI"]

F = TypeVar("F", bound=Callable[..., Any])

log = get_logger("gsocketio.cluster")


def _nsp(namespace: str | None) -> str:
    return namespace or "/"


class ClusterAPI:
    """Mixed into :class:`gsocketio.Server`; needs its ``adapter`` and ``_cluster_host``."""

    adapter: Adapter
    _sockets: dict[str, dict[str, Socket]]
    _cluster_host: ServerHost
    _hooks: Hooks
    _notify_selected: Callable[[str, BroadcastOptions, list[Any]], None]
    dynamic_parents: list[ParentNamespace]

    # --- the operator --------------------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        hooks = self._hooks
        if hooks.sending:  # on_any_outgoing listeners see the operator's emits too
            return BroadcastOperator(self.adapter, outgoing=self._notify_selected)
        return BroadcastOperator(self.adapter)

    @overload
    def of(self, namespace: str) -> BroadcastOperator: ...

    @overload
    def of(self, namespace: Matcher) -> ParentNamespace: ...

    def of(self, namespace: str | Matcher) -> BroadcastOperator | ParentNamespace:
        """An operator on ``namespace`` (everyone in it until narrowed); given a compiled
        regular expression or a function ``(name, environ) -> bool`` instead, a new
        :class:`gsocketio.dynamic.ParentNamespace` (dynamic namespaces)."""
        if isinstance(namespace, str):
            return self._operator().of(namespace)
        parent = ParentNamespace(
            cast(Any, self), namespace, f"<parent {len(self.dynamic_parents)}>"
        )
        self.dynamic_parents.append(parent)
        return parent

    def to(self, *rooms: RoomsArg) -> BroadcastOperator:
        """``sio.to("room").except_("other").emit(...)``; ``in_`` is the same."""
        return self._operator().to(*rooms)

    def in_(self, *rooms: RoomsArg) -> BroadcastOperator:
        return self._operator().to(*rooms)

    def except_(self, *rooms: RoomsArg) -> BroadcastOperator:
        return self._operator().except_(*rooms)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        return self._operator().local

    def compress(self, flag: bool = True) -> BroadcastOperator:
        return self._operator().compress(flag)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._operator().timeout(seconds)

    # --- namespace-wide cluster operations -----------------------------------------------------

    def fetch_sockets(
        self, namespace: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> list[RemoteSocket]:
        """Every socket of the namespace on every node."""
        return self.of(_nsp(namespace)).timeout(timeout).fetch_sockets()

    def sockets_join(self, rooms: RoomsArg, namespace: str | None = None) -> None:
        """Every socket of the namespace, on every node, joins ``rooms``."""
        self.of(_nsp(namespace)).sockets_join(rooms)

    def sockets_leave(self, rooms: RoomsArg, namespace: str | None = None) -> None:
        self.of(_nsp(namespace)).sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False, namespace: str | None = None) -> None:
        self.of(_nsp(namespace)).disconnect_sockets(close)

    def all_rooms(self, namespace: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> set[str]:
        """Every room of the namespace on every node (sid rooms included, as Node's)."""
        return self.adapter.cluster_rooms(_nsp(namespace), timeout)

    def server_side_emit(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """Run the ``on_server_side`` handler of ``event`` on every *other* node (and Node's
        ``io.on(event)`` listeners)."""
        self._check_event(event)
        self.adapter.server_side_emit(
            _nsp(namespace), [event, *args], ack=False, timeout=DEFAULT_TIMEOUT
        )

    def server_side_call(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[Any]:
        """``server_side_emit`` waiting for every other node's reply (one each); raises
        :class:`gsocketio.ClusterTimeoutError` with the replies received if some are missing."""
        self._check_event(event)
        return self.adapter.server_side_emit(
            _nsp(namespace), [event, *args], ack=True, timeout=timeout
        )

    @staticmethod
    def _check_event(event: str) -> None:
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")

    def on_server_side(
        self, event: str, handler: F | None = None, namespace: str | None = None
    ) -> Any:
        """Register ``handler(*args)`` for ``server_side_emit(event, ...)`` from other nodes;
        its return value is the reply. Without ``handler``, a decorator."""

        def register(fn: F) -> F:
            self._cluster_host.handlers.setdefault(_nsp(namespace), {})[event] = fn
            return fn

        return register(handler) if handler is not None else register

    def get_data(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """``socket.data``: a dict of user data that travels with ``fetch_sockets``."""
        sock = self._cluster_host.socket(_nsp(namespace), sid)
        if sock is None:
            raise UnknownSocketError(f"no socket {sid!r} in namespace {_nsp(namespace)!r}")
        if sock.data is None:
            sock.data = {}
        if self.adapter.recovers:
            self.adapter.touch_session(sock.namespace, sid)  # the caller may change it now
        return sock.data

    # --- per-sid methods, wherever the socket lives ----------------------------------------------

    def _owns(self, namespace: str, sid: str) -> bool:
        """Whether ``sid`` is this node's (still in its rooms, in ``disconnecting`` too)."""
        if sid in self._sockets.get(namespace, {}):
            return True
        try:
            self.adapter.rooms_of(namespace, sid)
        except KeyError:
            return False
        return True

    def _only(self, sid: str, namespace: str) -> BroadcastOptions:
        """The selection of one socket on any node: its own sid room."""
        if not self.adapter.clustered:
            raise UnknownSocketError(f"no socket {sid!r} in namespace {namespace!r}")
        return BroadcastOptions(rooms=frozenset((sid,)))

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Put ``sid`` in ``room``. Another node's socket joins when that node receives the
        request (Node's ``io.in(sid).socketsJoin(room)``: this returns before)."""
        nsp = _nsp(namespace)
        if sid in self._sockets.get(nsp, {}):
            self.adapter.enter_room(nsp, sid, room)
        else:
            self.adapter.add_sockets(nsp, self._only(sid, nsp), (room,))

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Take ``sid`` out of ``room`` (on its node, as :meth:`enter_room`)."""
        nsp = _nsp(namespace)
        if not self.adapter.clustered or self._owns(nsp, sid):
            self.adapter.leave_room(nsp, sid, room)
        else:
            self.adapter.del_sockets(nsp, self._only(sid, nsp), (room,))

    def close_room(self, room: str, namespace: str | None = None) -> None:
        """Remove every socket from ``room`` (on every node with a cluster adapter)."""
        self.adapter.close_room(_nsp(namespace), room)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms ``sid`` is in, its own sid room included (in its ``disconnecting``
        handler too: the socket is closed but still in its rooms there). Another node's
        socket is asked for with a fetch request (at most ``DEFAULT_TIMEOUT`` s)."""
        nsp = _nsp(namespace)
        if self._owns(nsp, sid):
            return list(self.adapter.rooms_of(nsp, sid))
        for found in self.adapter.fetch_sockets(nsp, self._only(sid, nsp), DEFAULT_TIMEOUT):
            rooms = found.get("rooms")
            if found.get("id") == sid and isinstance(rooms, list):
                return [str(r) for r in rooms]
        raise UnknownSocketError(f"no socket {sid!r} in namespace {nsp!r} on any node")

    def _remote_call(
        self, event: str, args: tuple[Any, ...], sid: str, namespace: str, timeout: float
    ) -> Any:
        """``call(to=sid)`` for a socket this node does not own: a broadcast with acks to its
        sid room, which carries one ack argument (the cluster protocol's ``packet``)."""
        target = BroadcastOperator(self.adapter, namespace, self._only(sid, namespace).rooms)
        try:
            replies = target.timeout(timeout).call(event, *args)
        except ClusterTimeoutError as exc:
            if exc.replies:
                return exc.replies[0]
            raise CallTimeoutError(f"no ack for {event!r} from {sid} in {timeout} s") from None
        if not replies:  # every node answered: none has the socket
            raise UnknownSocketError(f"no socket {sid!r} in namespace {namespace!r} on any node")
        return replies[0]

    def _remote_emit_with_callback(
        self,
        event: str,
        args: tuple[Any, ...],
        sid: str,
        namespace: str,
        callback: Callable[..., Any],
    ) -> None:
        """``emit(to=sid, callback=)`` for another node's socket: ``callback(first_ack_arg)``
        runs in a greenlet once the ack arrives; a missing ack is dropped after 60 s."""
        self._only(sid, namespace)

        def wait() -> None:
            try:
                reply = self._remote_call(event, args, sid, namespace, 60)
            except (CallTimeoutError, UnknownSocketError) as exc:
                log.info("no ack for %r from %s: %s", event, sid, exc)
                return
            try:
                callback(reply)
            except Exception:
                log.exception("error in ack callback for %r", event)

        gevent.spawn(wait)

    def _remote_disconnect(self, sid: str, namespace: str) -> None:
        """``disconnect(sid)`` of another node's socket (a no-op without a cluster)."""
        if self.adapter.clustered and not self._owns(namespace, sid):
            self.adapter.disconnect_sockets(namespace, self._only(sid, namespace), False)
