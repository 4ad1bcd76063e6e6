"""The broadcast operator and cluster operations on ``gsocketio.Server`` (a mixin).

Thin methods that start a :class:`gsocketio.operator.BroadcastOperator` (``sio.to(room)``,
``sio.of("/chat")``, ``sio.volatile`` ...) or run a namespace-wide cluster operation
(``fetch_sockets``, ``server_side_emit``, ``all_rooms`` ...), plus ``on_server_side`` to
register the handlers other servers reach and ``get_data`` for ``socket.data``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from gsocketio.dynamic import Matcher, ParentNamespace
from gsocketio.exceptions import UnknownSocketError
from gsocketio.operator import DEFAULT_TIMEOUT, BroadcastOperator, RemoteSocket, RoomsArg
from gsocketio.protocol.socketio import RESERVED_EVENTS

if TYPE_CHECKING:
    from gsocketio.adapters.base import Adapter, BroadcastOptions
    from gsocketio.cluster_host import ServerHost
    from gsocketio.hooks import Hooks

__all__ = ["ClusterAPI"]

F = TypeVar("F", bound=Callable[..., Any])


def _nsp(namespace: str | None) -> str:
    return namespace or "/"


class ClusterAPI:
    """Mixed into :class:`gsocketio.Server`; needs its ``adapter`` and ``_cluster_host``."""

    adapter: Adapter
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
