"""The Socket.IO server: namespaces, handlers, rooms, acks — ``gsocketio.Server``.

It implements the engine's ``EngineHandler``: each connection becomes a
:class:`gsocketio.client.Client` whose :class:`~gsocketio.protocol.socketio_session.SocketIOSession`
turns messages into events (protocol v5 for Engine.IO 4 clients, v4 for Engine.IO 3 and 0.9
ones); :meth:`Server._dispatch` hands them to the handler layer (:mod:`gsocketio.registry` by
default, gevent-socketio's namespaces with :mod:`gsocketio.compat.managed`). The public API
(emit, call, rooms, sessions, disconnect) works on the :class:`gsocketio.socket.Socket` objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import gevent

from gsocketio._logging import get_logger
from gsocketio.acks import CallWaiter, unwrap_call_result
from gsocketio.adapters.base import Adapter, BroadcastOptions, WireFormat
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.adapters.recovery import RecoveryOptions, persist_socket, replay, restore_socket
from gsocketio.admin import AdminAPI
from gsocketio.client import Client, Connection, own_wire
from gsocketio.cluster_api import ClusterAPI
from gsocketio.cluster_host import ServerHost
from gsocketio.default_handlers import RegistryHandlers
from gsocketio.drain import drain, track
from gsocketio.dynamic import ParentNamespace, forget_child
from gsocketio.engine import EngineOptions, EngineServer
from gsocketio.engine.hooks import EngineHooks
from gsocketio.exceptions import CallTimeoutError, UnknownSocketError
from gsocketio.hooks import Hooks
from gsocketio.hooks_api import HookAPI
from gsocketio.namespace import Namespace
from gsocketio.protocol import socketio as sio_protocol
from gsocketio.protocol.msgpack_parser import MsgpackDecoder, MsgpackWire
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import RESERVED_EVENTS, Decoder, Packet, PacketType
from gsocketio.protocol.socketio_session import Connect, SocketIOSession
from gsocketio.registry import HandlerLayer, HandlerRegistry, Middleware
from gsocketio.session_api import SessionAPI
from gsocketio.socket import CLOSED, CONNECTED, Socket, SocketIOWire
from gsocketio.wsgi import WSGIApp

if TYPE_CHECKING:
    from gsocketio.stats import Stats

__all__ = ["Rooms", "Server"]

Rooms = str | Iterable[str]
"""A room (or sid) name, or several."""
F = TypeVar("F", bound=Callable[..., Any])
NamespacePolicy = str | Collection[str] | Callable[[str, dict[str, Any]], bool] | None

_EVENT = PacketType.EVENT
_DISCONNECT = PacketType.DISCONNECT
_NO_SOCKETS: dict[str, Socket] = {}  # shared empty lookup result; never written to


def _room_set(rooms: Rooms | None) -> frozenset[str]:
    if rooms is None:
        return frozenset()
    if isinstance(rooms, str):
        return frozenset((rooms,))
    return frozenset(rooms)


class Server(ClusterAPI, HookAPI, SessionAPI, AdminAPI):
    """A Socket.IO server for gevent; serve it with :meth:`wsgi_app` or :meth:`handle_request`.

    Engine settings (:class:`gsocketio.engine.EngineOptions`: ``ping_interval``, ``allow_request``
    ...) go to the Engine.IO server, as keywords or as ``engine_options=EngineOptions(...)``.
    ``json`` is a module with ``dumps``/``loads`` replacing the JSON codec. ``namespaces``: which
    namespaces without handlers are accepted — ``None`` only ``/``, ``"*"`` any, a collection of
    names, or a callable ``(namespace, environ) -> bool`` deciding on demand.
    ``always_connect``: send CONNECT before the connect handler runs (a refusal then becomes a
    DISCONNECT), as python-socketio does. ``handlers``: the handler layer running the
    connections' events (default: the handlers registered with :meth:`on`, :meth:`event`,
    :meth:`use` and :meth:`register_namespace`). ``serializer="msgpack"``:
    socket.io-msgpack-parser's packets (:mod:`gsocketio.protocol.msgpack_parser`) for every
    client but 0.9 ones. ``cleanup_empty_child_namespaces``: forget a dynamic namespace
    (:meth:`of` with a pattern) when its last socket leaves (Node's option).
    ``connection_state_recovery``: ``True`` or Node's options in snake case
    (``max_disconnection_duration``, ``skip_middlewares``); see docs/recovery.md.
    """

    metrics: Stats | None = None  # hot-path counters while instrumented (gsocketio.metrics)

    def __init__(
        self,
        *,
        adapter: Adapter | None = None,
        json: ModuleType | Any = None,
        always_connect: bool = False,
        namespaces: NamespacePolicy = None,
        logger: logging.Logger | None = None,
        connect_timeout: float = 45,
        handlers: HandlerLayer | None = None,
        serializer: str = "default",
        cleanup_empty_child_namespaces: bool = False,
        connection_state_recovery: bool | Mapping[str, Any] | RecoveryOptions | None = None,
        engine_options: EngineOptions | None = None,
        **engine_settings: Any,
    ) -> None:
        self.logger = logger or get_logger("gsocketio.server")
        self.adapter: Adapter = adapter if adapter is not None else MemoryAdapter()
        self._cluster_host = ServerHost(self)  # cluster operations: see gsocketio/cluster_api.py
        self.adapter.bind(self._cluster_host)
        self.recovery = RecoveryOptions.parse(connection_state_recovery)  # docs/recovery.md
        self.draining = False  # drain(): new connections are closed at once
        if self.recovery is not None:
            self.adapter.enable_recovery(self.recovery)
        self.always_connect = always_connect
        self.namespaces = namespaces
        self.connect_timeout = connect_timeout
        dumps = json.dumps if json is not None else sio_protocol.json_dumps
        self._loads: Callable[[str], Any] = (
            json.loads if json is not None else sio_protocol.json_loads
        )
        self.engine = EngineServer(self, engine_options, **engine_settings)
        self._limits = self.engine.limits
        self._text_decoder = partial(Decoder, loads=self._loads, limits=self._limits)
        if serializer == "msgpack":  # socket.io-msgpack-parser's clients
            self._wire: WireFormat = MsgpackWire()
            self._new_decoder: Callable[[], Decoder] = partial(MsgpackDecoder, limits=self._limits)
        elif serializer == "default":
            self._wire = SocketIOWire(dumps)
            self._new_decoder = self._text_decoder
        else:
            raise ValueError(f"serializer must be 'default' or 'msgpack', not {serializer!r}")
        self._registry = HandlerRegistry()
        self._middlewares: list[Middleware] = []
        self._hooks = Hooks()
        self.engine_hooks = EngineHooks()  # sio.on_engine(...): wraps the endpoint when used
        self.dynamic_parents: list[ParentNamespace] = []  # dynamic namespaces: sio.of(pattern)
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        if handlers is None:
            handlers = RegistryHandlers(self._registry, self._middlewares, self._hooks)
        self.handlers: HandlerLayer = handlers
        self._keeps_rooms: Callable[[Socket], bool] | None = getattr(handlers, "keeps_rooms", None)
        handlers.bind(self)
        self._clients: dict[str, Client] = {}  # engine sid -> client
        self._sockets: dict[str, dict[str, Socket]] = {}  # namespace -> sid -> socket
        self._wsgi: WSGIApp | None = None
        # last: a stopping worker drains and closes it (gsocketio.drain.shut_down), so only a
        # complete Server (one whose __init__ did not raise) is ever tracked
        track(self)

    # --- registration ------------------------------------------------------------------------

    @overload
    def on(
        self, event: str, handler: None = None, namespace: str | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, namespace: str | None = None) -> F: ...

    def on(
        self, event: str, handler: Callable[..., Any] | None = None, namespace: str | None = None
    ) -> Any:
        """Register ``handler`` for ``event``; without ``handler``, a decorator.

        ``event`` may be ``"connect"`` (``(sid, environ, auth)``, fewer parameters accepted),
        ``"disconnect"`` (``(sid, reason)``), ``"*"`` (catch-all: ``(event, sid, *args)``) or
        any event name (``(sid, *args)``; the return value is the ack). ``namespace="*"``
        registers for every namespace; such handlers get the namespace after the event name.
        """
        nsp = namespace or "/"

        def register(fn: F) -> F:
            self._registry.add(event, fn, nsp)
            return fn

        if handler is not None:
            register(handler)
            return handler
        return register

    @overload
    def event(self, handler: F, namespace: str | None = None) -> F: ...

    @overload
    def event(self, handler: None = None, namespace: str | None = None) -> Callable[[F], F]: ...

    def event(self, handler: F | None = None, namespace: str | None = None) -> Any:
        """Decorator registering a function under its own name: ``@sio.event def chat(...)``."""

        def register(fn: F) -> F:
            self._registry.add(fn.__name__, fn, namespace or "/")
            return fn

        return register(handler) if handler is not None else register

    def use(
        self, middleware: Callable[[str, dict[str, Any], Any, str], Any]
    ) -> Callable[[str, dict[str, Any], Any, str], Any]:
        """Add a connect middleware ``fn(sid, environ, auth, namespace)``, run before the connect
        handler; raising :class:`gsocketio.ConnectionRefusedError` (or returning False) refuses."""
        self._middlewares.append(middleware)
        return middleware

    def register_namespace(self, namespace_handler: Namespace) -> None:
        """Register a class-based :class:`gsocketio.Namespace`."""
        if not isinstance(namespace_handler, Namespace):
            raise TypeError("register_namespace() needs a gsocketio.Namespace instance")
        namespace_handler._set_server(self)
        self._registry.add_namespace(namespace_handler)

    # --- WSGI --------------------------------------------------------------------------------

    def handle_request(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one WSGI request addressed to the Socket.IO endpoint."""
        if self._wsgi is None:
            self._wsgi = WSGIApp(self)
        return self._wsgi(environ, start_response)

    def wsgi_app(self, other_app: Any = None, socketio_path: str = "socket.io", **kw: Any) -> Any:
        """A WSGI app routing ``/<socketio_path>/`` here and everything else to ``other_app``;
        ``metrics_path=``: Prometheus metrics there; ``admin_ui_path=``: the Admin UI's files."""
        metrics_path: str | None = kw.pop("metrics_path", None)
        app = self._base_app(other_app, socketio_path, kw)  # admin_ui_path=: gsocketio.admin
        if metrics_path is None:
            return app
        from gsocketio.metrics import metrics_app

        return metrics_app(self, app, metrics_path, socketio_path)

    # --- EngineHandler -----------------------------------------------------------------------

    def engine_connect(self, conn: Connection) -> None:
        if self.draining:  # the client reconnects elsewhere (behind a load balancer)
            conn.close()
            return
        client = self._new_client(conn)
        self.handlers.on_client(client)
        if client.hold is None:
            client.dispatch(client.session.start())

    def _new_client(self, conn: Connection) -> Client:
        """Register the Client of a new connection. A connection may bring its own wire format
        (the 0.9 endpoint's do: ``client.own_wire``); the rest speak Socket.IO v4/v5, encoded
        with ``self._wire``. Broadcasts are then encoded once per format."""
        # A connection with a wire of its own (0.9 clients) keeps the text decoder.
        decoder = (self._text_decoder if own_wire(conn) is not None else self._new_decoder)()
        session = SocketIOSession(eio=conn.eio, sid=conn.sid, decoder=decoder)
        client = Client(self, conn, session, self._wire)
        self._clients[conn.sid] = client
        return client

    def engine_message(self, conn: Connection, data: str | bytes) -> None:
        client = self._clients.get(conn.sid)
        if client is None:
            return
        if client.hold is not None:  # the handler layer is not ready: it keeps them in order
            client.hold(data)
            return
        client.dispatch(client.session.receive(data))

    def engine_packet(self, conn: Connection, packet: Packet) -> None:
        """An already decoded packet (the 0.9 endpoint's): as :meth:`engine_message`."""
        client = self._clients.get(conn.sid)
        if client is None:
            return
        if client.hold is not None:
            client.hold(packet)
            return
        client.dispatch(client.session.receive_packet(packet))

    def open_socket(self, client: Client, event: Connect) -> None:
        """A client asks to join a namespace: refuse it, or register a CONNECTING socket
        (known to the adapter, so the connect handler can join rooms) for the handler layer
        to answer."""
        namespace = event.namespace
        if not self.handlers.allows(client, namespace):
            self.logger.info("refusing %s: unknown namespace %s", client.conn.sid, namespace)
            client.refuse(client.session.refuse_unknown(namespace))
            return
        sock = Socket(self, client, namespace, event.auth)
        live = self._sockets.setdefault(namespace, {})
        restored = None
        if self.recovery is not None and client.eio != 3:
            restored = restore_socket(self.adapter, sock, live)
        client.sockets[namespace] = sock
        live[sock.sid] = sock
        self.adapter.add_socket(namespace, sock.sid, sock)
        if restored is not None:
            replay(self.adapter, sock, restored)
        self.handlers.on_connect(sock, event.query)

    def engine_disconnect(self, conn: Connection, reason: str) -> None:
        client = self._clients.pop(conn.sid, None)
        if client is None:
            return
        if self.metrics is not None:
            self.metrics.disconnected(reason)
        client.closed = True
        client.cancel_timer()
        client.session.decoder.reset()
        for sock in list(client.sockets.values()):
            self.close_socket(sock, reason, inline=False)
        self.handlers.on_client_closed(client, reason)

    def close_client(self, client: Client, reason: str) -> None:
        """Close the engine connection and run the disconnect handlers of its sockets."""
        if client.closed:
            return
        client.conn.close()
        self.engine_disconnect(client.conn, reason)

    # --- sockets -----------------------------------------------------------------------------

    def discard(self, sock: Socket, reason: str, *, keep_rooms: bool = False) -> None:
        """Close and forget ``sock`` (acks aborted) without running a disconnect handler;
        ``keep_rooms``: the handler layer removes it from the adapter later (``disconnecting``)."""
        accepted = sock.state == CONNECTED  # then close_socket cleans up a dynamic child
        sock.state = CLOSED
        sock.close_reason = reason
        client = sock.client
        namespace = sock.namespace
        if client.sockets.get(namespace) is sock:
            del client.sockets[namespace]
            client.session.leave(namespace)
        by_sid = self._sockets.get(namespace)
        if by_sid is not None and by_sid.get(sock.sid) is sock:
            del by_sid[sock.sid]
            if not by_sid:
                del self._sockets[namespace]
                if not accepted and self.cleanup_empty_child_namespaces and self.dynamic_parents:
                    forget_child(self.dynamic_parents, self._registry, namespace)
        if not keep_rooms:
            self.adapter.remove_socket(namespace, sock.sid)
        sock.drop_buffer()
        if sock.listeners is not None:
            self._release_listeners(sock)
        if sock.acks is not None:
            sock.acks.abort_all(f"socket disconnected ({reason})")

    def close_socket(self, sock: Socket, reason: str, *, inline: bool) -> None:
        """Forget ``sock``; the handler layer runs its disconnect handler (if it was open)."""
        if sock.state == CLOSED:
            return
        accepted = sock.state == CONNECTED
        keeps = self._keeps_rooms
        if accepted and self.recovery is not None:
            persist_socket(self.adapter, sock, reason)
        self.discard(sock, reason, keep_rooms=accepted and keeps is not None and keeps(sock))
        self.handlers.on_disconnect(sock, reason, accepted=accepted, inline=inline)
        if accepted and self._hooks.disconnected:  # instrumentation (the admin UI) is on
            self._hooks.socket_closed(sock, reason)
        if self.cleanup_empty_child_namespaces and sock.namespace not in self._sockets:
            forget_child(self.dynamic_parents, self._registry, sock.namespace)

    def _socket(self, sid: str, namespace: str | None) -> Socket:
        nsp = namespace or "/"
        sock = self._sockets.get(nsp, _NO_SOCKETS).get(sid)
        if sock is None:
            raise UnknownSocketError(f"no socket {sid!r} in namespace {nsp!r}")
        return sock

    # --- public API --------------------------------------------------------------------------

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
        """Send ``event`` with ``args`` to a sid, a room, several, or (by default) everyone in
        the namespace, minus ``skip_sid`` (sids or rooms). ``callback`` (single sid only) gets
        the client's ack arguments."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        nsp = namespace or "/"
        target = to if to is not None else room
        packet = Packet(_EVENT, nsp, [event, *args])
        if self._hooks.sending:
            self._notify_outgoing(nsp, target, skip_sid, packet.data)
        if callback is not None:
            if not isinstance(target, str):
                raise ValueError("an emit with a callback must address a single sid (to=sid)")
            if target not in self._sockets.get(nsp, _NO_SOCKETS):  # another node's socket?
                self._remote_emit_with_callback(event, args, target, nsp, callback)
                return
            sock = self._socket(target, nsp)
            if self.metrics is not None:
                callback = self.metrics.timed_callback(callback)
            packet.id = sock.add_ack(callback)
            sock.send_packet(packet)
            return
        if type(target) is str and skip_sid is None and not self.adapter.recovers:
            sock_ = self._sockets.get(nsp, _NO_SOCKETS).get(target)
            if sock_ is not None:  # a local sid: skip the room machinery
                sock_.send_packet(packet)
                return
        self.adapter.broadcast(
            packet, BroadcastOptions(rooms=_room_set(target), except_rooms=_room_set(skip_sid))
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
        """Emit the ``message`` event (what the client's ``send()`` counterpart receives)."""
        self.emit(
            "message",
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
        )

    def call(
        self, event: str, *args: Any, to: str, namespace: str | None = None, timeout: float = 60
    ) -> Any:
        """Emit to one sid and wait for its ack; returns the ack's argument (None for none, a
        tuple for several; for a socket of another node its first argument). Raises
        :class:`gsocketio.CallTimeoutError` after ``timeout`` seconds,
        :class:`gsocketio.CallAbortedError` at once if a local socket goes away."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        nsp = namespace or "/"
        if self._hooks.sending:
            self._notify_outgoing(nsp, to, None, [event, *args])
        sock = self._sockets.get(nsp, _NO_SOCKETS).get(to)
        if sock is None:  # another node's socket (UnknownSocketError without a cluster)
            return self._remote_call(event, args, to, nsp, timeout)
        waiter = CallWaiter()
        ack_id = sock.add_ack(waiter)
        timer = self.metrics.timer() if self.metrics is not None else None
        sock.send_packet(Packet(_EVENT, sock.namespace, [event, *args], ack_id))
        try:
            result = waiter.result.get(timeout=timeout)
        except gevent.Timeout:
            if sock.acks is not None:
                sock.acks.discard(ack_id)
            if timer is not None:
                timer.timed_out()
            raise CallTimeoutError(f"no ack for {event!r} from {to} in {timeout} s") from None
        if timer is not None:
            timer.done()
        return unwrap_call_result(result)

    def drain(self, batch_size: int = 50, interval: float = 0.2) -> int:
        """Stop accepting and close every client in staggered batches (sessions persisted
        when recovery is on); see :mod:`gsocketio.drain`. Returns how many were closed."""
        return drain(self, batch_size, interval)

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect ``sid`` from the namespace (the connection may stay for others); runs the
        disconnect handler with reason ``"server namespace disconnect"``. Another node's sid: its
        owner does it; unknown sids: no-op."""
        sock = self._sockets.get(namespace or "/", _NO_SOCKETS).get(sid)
        if sock is None:
            return self._remote_disconnect(sid, namespace or "/")
        if sock.state == CONNECTED:
            sock.client.disconnect(sock.namespace)
        self.close_socket(sock, DisconnectReason.SERVER_DISCONNECT, inline=True)

    def sockets(self, namespace: str | None = None) -> list[str]:
        """The sids connected to ``namespace`` in this process, sorted."""
        return sorted(
            sid
            for sid, sock in self._sockets.get(namespace or "/", _NO_SOCKETS).items()
            if sock.state == CONNECTED
        )

    def close(self) -> None:
        """Node's ``io.close()``: every disconnect handler gets ``"server shutting down"``,
        the engine closes every connection, then the adapter leaves the cluster (a Redis
        adapter unsubscribes and closes its connections); the Admin UI's stats greenlet ends."""
        if self.admin is not None:
            self.admin.stop()
        for client in list(self._clients.values()):
            self.close_client(client, DisconnectReason.SERVER_SHUTTING_DOWN)
        self.engine.close()
        self.adapter.close()
