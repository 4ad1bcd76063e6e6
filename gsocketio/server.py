"""The Socket.IO server: namespaces, handlers, rooms, acks — ``gsocketio.Server``.

It implements the engine's ``EngineHandler`` (see docs/architecture.md): the engine hands it
each connection and each message, it speaks Socket.IO protocol v5 to Engine.IO 4 clients
(socket.io-client 3/4) and v4 to Engine.IO 3 clients (1.x/2.x). The v4 differences handled
here, checked against the protocol spec and socket.io 4.8's compatibility mode:

* the server connects a v4 client to ``/`` by itself when the engine opens and replies ``0``
  (no sid payload); other namespaces ``0/nsp?query,`` get ``0/nsp,``;
* a v4 socket's id is the engine sid in ``/`` and ``/nsp#<engine sid>`` elsewhere (v5 uses a
  fresh random id per namespace, never the engine sid);
* CONNECT_ERROR carries ``data`` or else ``message`` as a plain value, not the v5 object;
* the v4 ``auth`` a connect handler gets is the CONNECT query as a dict (None for ``/``, which
  has no CONNECT packet: its query is in ``environ["QUERY_STRING"]`` of the handshake).

Per incoming EVENT the work is: decode, look up the namespace's resolved handler table
(:mod:`gsocketio.registry`), spawn. Handlers (connect handlers too) run in their own greenlets,
at most ``MAX_HANDLERS_PER_CLIENT`` per connection; an exception is logged with event and sid.

Additions to the brief: ``connect_timeout`` (Node's ``connectTimeout``, 45 s: a v5 client that
joins no namespace in time is closed), ``max_pending_acks`` is fixed per socket
(:data:`gsocketio.acks.DEFAULT_ACK_LIMIT`), :class:`gsocketio.CallAbortedError` (a subclass of
``CallTimeoutError``) when the socket goes away during ``call()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl

import gevent

from gsocketio import lifecycle
from gsocketio._logging import get_logger
from gsocketio.acks import CallWaiter, unwrap_call_result
from gsocketio.adapters.base import Adapter, BroadcastOptions
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.cluster_api import ClusterAPI
from gsocketio.cluster_host import ServerHost
from gsocketio.engine import EngineConnection, EngineOptions, EngineServer
from gsocketio.exceptions import CallTimeoutError, ProtocolError, UnknownSocketError
from gsocketio.lifecycle import CLIENT_DISCONNECT, SERVER_DISCONNECT
from gsocketio.namespace import Namespace
from gsocketio.protocol import socketio as sio_protocol
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import RESERVED_EVENTS, Decoder, Packet, PacketType
from gsocketio.registry import (
    ARGS,
    EVENT_ARGS,
    NSP_ARGS,
    Entry,
    HandlerRegistry,
)
from gsocketio.socket import CONNECTED, Client, Socket, SocketIOWire
from gsocketio.wsgi import WSGIApp

__all__ = ["Rooms", "Server"]

Rooms = str | Iterable[str]
"""A room (or sid) name, or several."""
F = TypeVar("F", bound=Callable[..., Any])
NamespacePolicy = str | Collection[str] | Callable[[str, dict[str, Any]], bool] | None

_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_CONNECT = PacketType.CONNECT
_DISCONNECT = PacketType.DISCONNECT
_NO_SOCKETS: dict[str, Socket] = {}  # shared empty lookup result; never written to


def _room_set(rooms: Rooms | None) -> frozenset[str]:
    if rooms is None:
        return frozenset()
    if isinstance(rooms, str):
        return frozenset((rooms,))
    return frozenset(rooms)


class Server(ClusterAPI):
    """A Socket.IO server for gevent; serve it with :meth:`wsgi_app` or :meth:`handle_request`.

    Engine settings (:class:`gsocketio.engine.EngineOptions`: ``ping_interval``, ``allow_request``
    ...) go to the Engine.IO server, as keywords or as ``engine_options=EngineOptions(...)``.
    ``json`` is a module with ``dumps``/``loads`` replacing the JSON codec. ``namespaces``: which
    namespaces without handlers are accepted — ``None`` only ``/``, ``"*"`` any, a collection of
    names, or a callable ``(namespace, environ) -> bool`` deciding on demand.
    ``always_connect``: send CONNECT before the connect handler runs (a refusal then becomes a
    DISCONNECT), as python-socketio does.
    """

    def __init__(
        self,
        *,
        adapter: Adapter | None = None,
        json: ModuleType | Any = None,
        always_connect: bool = False,
        namespaces: NamespacePolicy = None,
        logger: logging.Logger | None = None,
        connect_timeout: float = 45,
        engine_options: EngineOptions | None = None,
        **engine_settings: Any,
    ) -> None:
        self.logger = logger or get_logger("gsocketio.server")
        self.adapter: Adapter = adapter if adapter is not None else MemoryAdapter()
        self._cluster_host = ServerHost(self)  # cluster operations: see gsocketio/cluster_api.py
        self.adapter.bind(self._cluster_host)
        self.always_connect = always_connect
        self.namespaces = namespaces
        self.connect_timeout = connect_timeout
        dumps = json.dumps if json is not None else sio_protocol.json_dumps
        self._loads: Callable[[str], Any] = (
            json.loads if json is not None else sio_protocol.json_loads
        )
        self._wire = SocketIOWire(dumps)
        self.engine = EngineServer(self, engine_options, **engine_settings)
        self._limits = self.engine.limits
        self._registry = HandlerRegistry()
        self._middlewares: list[Callable[[str, dict[str, Any], Any, str], Any]] = []
        self._clients: dict[str, Client] = {}  # engine sid -> client
        self._sockets: dict[str, dict[str, Socket]] = {}  # namespace -> sid -> socket
        self._wsgi: WSGIApp | None = None

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
        """A WSGI app routing ``/<socketio_path>/`` here and everything else to ``other_app``."""
        return WSGIApp(self, other_app, socketio_path, **kw)

    # --- EngineHandler -----------------------------------------------------------------------

    def engine_connect(self, conn: EngineConnection) -> None:
        client = self._new_client(conn, Decoder(loads=self._loads, limits=self._limits))
        if client.eio == 3:
            # Protocol v4: the client is in "/" without asking (it never sends CONNECT for it).
            lifecycle.start(self, client, "/", None)
        elif self.connect_timeout:
            lifecycle.arm_timeout(self, client, self.connect_timeout)

    def _new_client(self, conn: EngineConnection, decoder: Decoder) -> Client:
        """Register the Client of a new connection. A connection may bring its own wire format
        (the legacy 0.9 endpoint's do); the rest speak Socket.IO v4/v5, encoded with
        ``self._wire``. Broadcasts are then encoded once per format."""
        client = Client(conn, decoder, getattr(conn, "wire", None) or self._wire)
        self._clients[conn.sid] = client
        return client

    def engine_message(self, conn: EngineConnection, data: str | bytes) -> None:
        client = self._clients.get(conn.sid)
        if client is None:
            return
        try:
            packet = client.decoder.feed(data)
        except ProtocolError as exc:
            self.logger.warning("closing %s: bad packet (%s)", conn.sid, exc)
            self.close_client(client, DisconnectReason.PARSE_ERROR)
            return
        if packet is None:  # waiting for binary attachments
            return
        ptype = packet.type
        sock = client.sockets.get(packet.namespace)
        if ptype is _EVENT:
            if sock is None or sock.state != CONNECTED:
                self._stray(client, packet)
                return
            data_ = packet.data
            table = self._registry.get(packet.namespace)
            entry = table.events.get(data_[0]) or table.fallback
            if entry is not None:
                client.spawn(self._run_event, sock, entry, data_, packet.id)
            elif packet.id is not None:
                self.logger.debug("no handler for %r (ack %s unanswered)", data_[0], packet.id)
        elif ptype is _ACK:
            if sock is None:
                self._stray(client, packet)
                return
            self._on_ack(sock, packet)
        elif ptype is _CONNECT:
            if sock is not None:
                self.logger.warning("closing %s: second CONNECT to %s", conn.sid, packet.namespace)
                self.close_client(client, DisconnectReason.PARSE_ERROR)
                return
            if client.eio == 3:
                auth: Any = dict(parse_qsl(packet.query)) if packet.query else None
            else:
                auth = packet.data
            lifecycle.start(self, client, packet.namespace, auth)
        elif ptype is _DISCONNECT:
            if sock is not None:
                lifecycle.close_socket(self, sock, CLIENT_DISCONNECT, inline=False)
        else:  # a client never sends CONNECT_ERROR
            self.logger.warning("closing %s: unexpected %s packet", conn.sid, ptype.name)
            self.close_client(client, DisconnectReason.PARSE_ERROR)

    def engine_disconnect(self, conn: EngineConnection, reason: str) -> None:
        client = self._clients.pop(conn.sid, None)
        if client is None:
            return
        client.closed = True
        client.cancel_timer()
        client.decoder.reset()
        for sock in list(client.sockets.values()):
            lifecycle.close_socket(self, sock, reason, inline=False)

    def close_client(self, client: Client, reason: str) -> None:
        """Close the engine connection and run the disconnect handlers of its sockets."""
        if client.closed:
            return
        client.conn.close()
        self.engine_disconnect(client.conn, reason)

    # --- incoming ----------------------------------------------------------------------------

    def _stray(self, client: Client, packet: Packet) -> None:
        """A packet for a namespace the client is not in. Before any CONNECT that breaks the
        protocol (the spec says close); afterwards it is a benign race with a disconnect."""
        if not client.sockets:
            self.logger.warning(
                "closing %s: %s before any CONNECT", client.conn.sid, packet.type.name
            )
            self.close_client(client, DisconnectReason.PARSE_ERROR)
        else:
            self.logger.debug(
                "ignoring %s for %s: not connected", packet.type.name, packet.namespace
            )

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
            if ack_id is not None and sock.state == CONNECTED:
                if result is None:
                    args: list[Any] = []
                elif isinstance(result, tuple):
                    args = list(result)
                else:
                    args = [result]
                sock.send_packet(Packet(_ACK, sock.namespace, args, ack_id))
        except Exception:
            self.logger.exception(
                "error in handler for event %r (sid %s, namespace %s)",
                event,
                sock.sid,
                sock.namespace,
            )

    def _on_ack(self, sock: Socket, packet: Packet) -> None:
        table = sock.acks
        callback = table.pop(packet.id) if table is not None and packet.id is not None else None
        if callback is None:
            self.logger.debug("ack %s from %s: not pending", packet.id, sock.sid)
        elif isinstance(callback, CallWaiter):
            callback(*packet.data)
        else:
            sock.client.spawn(self._run_callback, sock, callback, packet.data)

    def _run_callback(self, sock: Socket, callback: Callable[..., Any], args: list[Any]) -> None:
        try:
            callback(*args)
        except Exception:
            self.logger.exception(
                "error in ack callback (sid %s, namespace %s)", sock.sid, sock.namespace
            )

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
        if callback is not None:
            if not isinstance(target, str):
                raise ValueError("an emit with a callback must address a single sid (to=sid)")
            sock = self._socket(target, nsp)
            packet.id = sock.add_ack(callback)
            sock.send_packet(packet)
            return
        if type(target) is str and skip_sid is None:
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
        tuple for several). Raises :class:`gsocketio.CallTimeoutError` after ``timeout``
        seconds, :class:`gsocketio.CallAbortedError` at once if the socket goes away."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        sock = self._socket(to, namespace)
        waiter = CallWaiter()
        ack_id = sock.add_ack(waiter)
        sock.send_packet(Packet(_EVENT, sock.namespace, [event, *args], ack_id))
        try:
            result = waiter.result.get(timeout=timeout)
        except gevent.Timeout:
            if sock.acks is not None:
                sock.acks.discard(ack_id)
            raise CallTimeoutError(f"no ack for {event!r} from {to} in {timeout} s") from None
        return unwrap_call_result(result)

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        sock = self._socket(sid, namespace)
        self.adapter.enter_room(sock.namespace, sid, room)

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.adapter.leave_room(namespace or "/", sid, room)

    def close_room(self, room: str, namespace: str | None = None) -> None:
        """Remove every socket from ``room``."""
        self.adapter.close_room(namespace or "/", room)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms ``sid`` is in, its own sid room included."""
        sock = self._socket(sid, namespace)
        return list(self.adapter.rooms_of(sock.namespace, sid))

    def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """The socket's session dict (kept in this process, like python-socketio's)."""
        sock = self._socket(sid, namespace)
        if sock.session is None:
            sock.session = {}
        return sock.session

    def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        self._socket(sid, namespace).session = session

    @contextmanager
    def session(self, sid: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """``with sio.session(sid) as session: session["user"] = ...`` — saved on exit."""
        session = self.get_session(sid, namespace)
        yield session
        self.save_session(sid, session, namespace)

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect ``sid`` from the namespace (the connection may stay for others); runs the
        disconnect handler with reason ``"server namespace disconnect"``. Unknown sids: no-op."""
        sock = self._sockets.get(namespace or "/", _NO_SOCKETS).get(sid)
        if sock is None:
            return
        if sock.state == CONNECTED:
            sock.send_now(Packet(_DISCONNECT, sock.namespace))
        lifecycle.close_socket(self, sock, SERVER_DISCONNECT, inline=True)

    def sockets(self, namespace: str | None = None) -> list[str]:
        """The sids connected to ``namespace`` in this process."""
        return [
            sid
            for sid, sock in self._sockets.get(namespace or "/", _NO_SOCKETS).items()
            if sock.state == CONNECTED
        ]

    @staticmethod
    def sleep(seconds: float = 0) -> None:
        gevent.sleep(seconds)

    @staticmethod
    def start_background_task(target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``target`` in a new greenlet; returns the ``gevent.Greenlet``."""
        return gevent.spawn(target, *args, **kwargs)


_SEED_SERVE_NAMES = frozenset({"SocketIOServer", "serve", "serve_paste"})


def __getattr__(name: str) -> Any:
    """``gsocketio.server.SocketIOServer`` (and the seed's ``serve``/``serve_paste``): where
    gevent-socketio apps import them from.

    Resolved lazily because :mod:`gsocketio.serve` itself builds on this module.
    """
    if name in _SEED_SERVE_NAMES:
        from gsocketio import serve

        return getattr(serve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
