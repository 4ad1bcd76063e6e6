"""gevent-socketio apps on :class:`gsocketio.Server`: the :class:`ManagedHandlers` handler layer.

As gevent-socketio did, the user's WSGI app runs once per connection, in a greenlet, with
``environ['socketio']`` the connection's :class:`ManagedSocket` and ``PATH_INFO`` in
gevent-socketio's shape (``/socket.io/1/xhr-polling/<sid>``); its view calls
:func:`gsocketio.socketio_manage`, whose receiver loop handles the connection's events as
gevent-socketio packet dicts, one at a time, in order. Connection, sockets, protocol rules and
the Server API are the server's own, for 0.9 clients too (see docs/architecture.md).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import gevent
from gevent.queue import Full

from gsocketio._logging import get_logger
from gsocketio.acks import CallWaiter
from gsocketio.compat.options import SEED_TRANSPORTS, modern_transports
from gsocketio.compat.packets import SeedPacket, event_dict, packet_of
from gsocketio.compat.virtsocket import VirtualSocket, default_json_dumps
from gsocketio.protocol.legacy_bridge import endpoint_of, namespace_of
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import Decoder, Packet
from gsocketio.protocol.socketio_session import Connect, SessionEvent
from gsocketio.socket import CONNECTED, Socket, SocketIOWire
from gsocketio.socketio_server import Server
from gsocketio.websocket.connection import RFILE_KEY, SOCKET_KEY, WEBSOCKET_KEY

if TYPE_CHECKING:
    from gsocketio.client import Client, Connection

__all__ = [
    "CLOSE_GRACE",
    "REFUSED_GRACE",
    "SEED_TRANSPORTS",  # re-exported from compat.options
    "ManagedHandlers",
    "ManagedSocket",
    "managed_server",
    "modern_transports",  # re-exported from compat.options
]

log = get_logger("gsocketio.compat")

REFUSED_GRACE: Final = 5.0
"""Seconds a refused connection stays open for the client's CONNECT to get its CONNECT_ERROR."""
CLOSE_GRACE: Final = 5.0
"""Seconds a connection whose last namespace is gone stays open for the client to close it
(every client generation does): closing at once could put the DISCONNECT packets and
Engine.IO's CLOSE in one polling response, which clients take for a transport loss."""


def managed_server(
    application: Callable[..., Any] | None,
    *,
    resource: str = "socket.io",
    manage_timeout: float = 10.0,
    config: Mapping[str, Any] | None = None,
    **server_options: Any,
) -> Server:
    """A :class:`gsocketio.Server` serving a gevent-socketio WSGI app (see the module doc).

    ``cors_allowed_origins`` defaults to ``'*'`` (gevent-socketio answered every origin); other
    keywords go to :class:`gsocketio.Server`.
    """
    server_options.setdefault("cors_allowed_origins", "*")  # the server's JSON is the seed's
    layer = ManagedHandlers(
        application, resource=resource, manage_timeout=manage_timeout, config=config
    )
    return Server(handlers=layer, **server_options)


def _noop_start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
    return lambda data: None


class _SeedAck:
    """Ack-table entry of a namespace's ``emit(..., callback=)``: the client's ACK goes to the
    receiver loop as an ``ack`` packet dict with gevent-socketio's own message id."""

    __slots__ = ("msgid",)

    def __init__(self, msgid: Any) -> None:
        self.msgid = msgid

    def __call__(self, *args: Any) -> None:  # never called: ManagedHandlers.on_ack routes it
        raise RuntimeError("seed acks are dispatched by the receiver loop")


class _Left:
    """Inbox item: ``endpoint`` lost its socket (client or server disconnect)."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint


class ManagedHandlers:
    """The handler layer of gevent-socketio apps; ``sockets`` is gevent-socketio's
    ``server.sockets`` (sessid → :class:`ManagedSocket`)."""

    def __init__(
        self,
        application: Callable[..., Any] | None,
        *,
        resource: str = "socket.io",
        manage_timeout: float = 10.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.application = application
        self.resource = resource.strip("/")
        self.manage_timeout = manage_timeout
        self.config: dict[str, Any] = dict(config or {})
        self.sockets: dict[str, ManagedSocket] = {}
        self._by_conn: dict[str, ManagedSocket] = {}
        self._server: Server | None = None

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError("ManagedHandlers used before a Server bound it")
        return self._server

    def get_socket(self, sessid: str = "") -> ManagedSocket | None:
        """The live virtual socket with this sessid (the engine sid), or None."""
        return self.sockets.get(sessid)

    def app_environ(self, conn: Connection) -> dict[str, Any]:
        """The environ the app runs with for ``conn`` (see the module docstring)."""
        environ = dict(conn.environ)
        for key in (SOCKET_KEY, RFILE_KEY, WEBSOCKET_KEY, "gunicorn.socket", "gunicorn.sock"):
            environ.pop(key, None)
        transport = conn.transport if conn.transport in SEED_TRANSPORTS else "xhr-polling"
        environ["gsocketio.original_path_info"] = environ.get("PATH_INFO", "")
        environ["PATH_INFO"] = f"/{self.resource}/1/{transport}/{conn.sid}"
        environ["wsgi.input"] = io.BytesIO(b"")
        environ["CONTENT_LENGTH"] = "0"
        return environ

    def forget(self, vsock: ManagedSocket) -> None:
        sid = vsock.conn.sid
        if self._by_conn.get(sid) is vsock:
            del self._by_conn[sid]
        vsock.detach()

    # --- HandlerLayer ------------------------------------------------------------------------

    def bind(self, server: Server) -> None:
        self._server = server

    def on_client(self, client: Client) -> None:
        if self.application is None:
            raise RuntimeError("a managed server needs the WSGI application to run")
        vsock = ManagedSocket(self, client)
        self._by_conn[client.conn.sid] = vsock
        self.sockets[vsock.sessid] = vsock
        client.hold = vsock.hold
        vsock.start(self.application)

    def allows(self, client: Client, namespace: str) -> bool:
        vsock = self._by_conn.get(client.conn.sid)
        if vsock is None:
            return False
        # A v4 (or 0.9) client is in "/" without asking, whatever the app's namespaces.
        return endpoint_of(namespace) in vsock.namespaces or (namespace == "/" and client.eio == 3)

    def on_connect(self, sock: Socket, query: str | None) -> None:
        vsock = self._by_conn.get(sock.client.conn.sid)
        if vsock is not None:
            vsock.joining(sock, query)

    def on_event(self, sock: Socket, data: list[Any], ack_id: int | None) -> None:
        vsock = self._by_conn.get(sock.client.conn.sid)
        if vsock is not None:
            vsock.deliver(vsock.event_packet(endpoint_of(sock.namespace), data, ack_id))

    def on_ack(self, sock: Socket, callback: Callable[..., object], args: list[Any]) -> None:
        if type(callback) is _SeedAck:
            vsock = self._by_conn.get(sock.client.conn.sid)
            if vsock is not None:
                endpoint = endpoint_of(sock.namespace)
                vsock.deliver(
                    {"type": "ack", "ackId": callback.msgid, "args": args, "endpoint": endpoint}
                )
        elif isinstance(callback, CallWaiter):  # sio.call()
            callback(*args)
        else:  # sio.emit(..., callback=)
            sock.client.spawn(_run_callback, sock, callback, args)

    def on_disconnect(self, sock: Socket, reason: str, *, accepted: bool, inline: bool) -> None:
        vsock = self._by_conn.get(sock.client.conn.sid)
        if vsock is None or sock.client.closed:  # a closed connection: engine_closed says it
            return
        if not accepted and reason == DisconnectReason.SERVER_DISCONNECT:
            sock.client.refuse(sock.client.session.refuse(sock.namespace))
        vsock.deliver(_Left(endpoint_of(sock.namespace)))

    def on_client_closed(self, client: Client, reason: str) -> None:
        vsock = self._by_conn.pop(client.conn.sid, None)
        if vsock is not None:
            log.debug("%s: transport closed (%s)", client.conn.sid, reason)
            vsock.engine_closed()

    def save_session(self, sock: Socket, session: dict[str, Any]) -> None:
        """The seed's session is per connection, shared by its namespaces: replaced in place."""
        current = sock.session
        if current is None or current is session:
            sock.session = session
            return
        current.clear()
        current.update(session)


def _ignore(item: object) -> None:
    pass


def _run_callback(sock: Socket, callback: Callable[..., object], args: list[Any]) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("error in ack callback (sid %s, namespace %s)", sock.sid, sock.namespace)


class ManagedSocket(VirtualSocket):
    """The virtual socket of one Engine.IO (or 0.9) connection (see the module docstring)."""

    def __init__(self, layer: ManagedHandlers, client: Client) -> None:
        super().__init__(layer.server, layer.config, sessid=client.conn.sid)
        self.server: Server = layer.server
        self.layer = layer
        self.client = client
        self.conn = client.conn
        self.eio = client.eio
        self.state = self.STATE_CONNECTED
        self.connection_established = True
        self.auth: dict[str, Any] = {}  # endpoint -> the client's CONNECT auth payload
        self._deadline: gevent.Greenlet[..., Any] | None = None
        self._refused = False
        self._ready = False  # socketio_manage configured the decoder
        self._raw_pending = 0  # undecoded messages in the inbox; later ones wait behind them
        self._loop: Any = None  # the receiver loop's greenlet
        self._inline: list[Any] | None = None  # what the loop's own decoding produced

    # --- running the app ---------------------------------------------------------------------

    def start(self, application: Callable[..., Any]) -> None:
        """Run ``application`` for this connection; refuse it if it never calls
        ``socketio_manage`` within the layer's ``manage_timeout``."""
        environ = self.layer.app_environ(self.conn)
        environ["socketio"] = self
        self._deadline = gevent.spawn_later(self.layer.manage_timeout, self._manage_overdue)
        self.wsgi_app_greenlet = gevent.spawn(self._run_app, application, environ)

    def _run_app(self, application: Callable[..., Any], environ: dict[str, Any]) -> None:
        result: Any = None
        try:
            result = application(environ, _noop_start_response)
        except Exception:
            log.exception("the WSGI application failed for Socket.IO connection %s", self.sessid)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing the WSGI response failed (sid %s)", self.sessid)
        if not self.managed and not self._refused:
            log.warning(
                "the WSGI application returned without calling socketio_manage "
                "(sid %s, path %s): refusing the connection",
                self.sessid,
                environ.get("PATH_INFO"),
            )
            self._refuse()

    def _manage_overdue(self) -> None:
        if not self.managed:
            log.warning(
                "socketio_manage not called within %ss (sid %s): refusing the connection",
                self.layer.manage_timeout,
                self.sessid,
            )
            self._refuse()

    def _refuse(self) -> None:
        """Answer every CONNECT received so far with CONNECT_ERROR and close."""
        if self._refused or self.managed:
            return
        self._refused = True
        session = self.client.session
        events = session.start()
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if isinstance(item, str | bytes | Packet):
                events = [*events, *self._decode(item)]
        refused = [event.namespace for event in events if isinstance(event, Connect)]
        for namespace in refused:
            self.client.refuse(session.refuse(namespace))
        self.state = self.STATE_DISCONNECTED
        self.detach()
        if refused:
            self._close_transport()
        else:  # the client's CONNECT is still on its way: hold() answers it, then closes
            gevent.spawn_later(REFUSED_GRACE, self._close_transport)

    def _decode(self, item: str | bytes | Packet) -> list[SessionEvent]:
        session = self.client.session
        if isinstance(item, Packet):
            return session.receive_packet(item)
        return session.receive(item)

    # --- the connection's reader -------------------------------------------------------------

    def hold(self, item: str | bytes | Packet) -> None:
        """``Client.hold``: a message that arrived before the receiver loop is ready for the
        reader's events (or after the connection was refused)."""
        if self._refused:  # late CONNECTs of a refused connection still get their answer
            for event in self._decode(item):
                if isinstance(event, Connect):
                    self.client.refuse(self.client.session.refuse(event.namespace))
                    self._close_transport()
            return
        if self.state == self.STATE_CONNECTED:
            self._raw_pending += 1
            self.put_server_msg(item)

    def deliver(self, item: Any) -> None:
        """Queue an inbound item for the receiver loop (the loop's own: kept aside)."""
        if self._loop is not None and gevent.getcurrent() is self._loop:
            if self._inline is not None:
                self._inline.append(item)
                return
            try:  # e.g. a namespace method calling sio.disconnect(): never wait on itself
                self._inbox.put_nowait(item)
            except Full:
                gevent.spawn(self.put_server_msg, item)
            return
        self.put_server_msg(item)

    def joining(self, sock: Socket, query: str | None) -> None:
        endpoint = endpoint_of(sock.namespace)
        sock.session = self.session  # the seed's session is per connection
        if self.eio != 3 and sock.auth is not None:
            self.auth[endpoint] = sock.auth
        if endpoint == self.GLOBAL_NS:  # answered at once, its object made on first packet
            sock.accept()
            return
        pkt: SeedPacket = {"type": "connect", "endpoint": endpoint}
        if query:
            pkt["qs"] = query
        self.deliver(pkt)

    def event_packet(self, endpoint: str, data: list[Any], ack_id: int | None) -> SeedPacket:
        return event_dict(endpoint, data, ack_id, on_message=self._has_on_message(endpoint))

    def _has_on_message(self, endpoint: str) -> bool:
        cls = self.namespaces.get(endpoint)
        return cls is not None and callable(getattr(cls, "on_message", None))

    def engine_closed(self) -> None:
        """The connection is gone (its sockets already are): the namespaces, in the loop."""
        if self.managed:
            self.transport_closed()
            return
        if self._deadline is not None:
            self._deadline.kill(block=False)
        self.state = self.STATE_DISCONNECTED
        self.detach()
        self._close_transport()

    # --- VirtualSocket hooks (the receiver loop) ---------------------------------------------

    def _on_managed(self) -> None:
        if self._deadline is not None:
            self._deadline.kill(block=False)
            self._deadline = None
        self._loop = gevent.getcurrent()
        client = self.client
        # A connection with a wire of its own (the 0.9 format) keeps it.
        if self.json_dumps is not default_json_dumps and client.own is None:
            client.wire = SocketIOWire(self.json_dumps)
        client.session.decoder = Decoder(loads=self.json_loads, limits=self.server.engine.limits)
        self._ready = True
        for pkt in self._inline_run(client.start):  # v4: "/" at once
            self._handle_packet(pkt)
        if not self._raw_pending:
            client.hold = None

    def _inline_run(self, fn: Callable[..., None], *args: Any) -> list[SeedPacket]:
        self._inline = []
        try:
            fn(*args)
        finally:
            found, self._inline = self._inline, None
        packets: list[SeedPacket] = []
        for item in found:
            packets.extend(self._packets_from(item))
        return packets

    def _packets_from(self, item: Any) -> Iterable[SeedPacket]:
        if isinstance(item, str | bytes | Packet):
            self._raw_pending -= 1
            packets = self._inline_run(self.client.feed, item)
            if not self._raw_pending and self._ready:
                self.client.hold = None  # the reader's events come straight to the loop now
            return packets
        if type(item) is _Left:
            return self._left(item.endpoint)
        return (item,)

    def _left(self, endpoint: str) -> Iterable[SeedPacket]:
        if endpoint in self.active_ns:
            return ({"type": "disconnect", "endpoint": endpoint},)
        if not self.active_ns and not self.client.sockets:
            self.kill(detach=True)
        return ()

    def _is_global_disconnect(self, pkt: Mapping[str, Any]) -> bool:
        return False  # "/" is a namespace like the others; the engine closes the connection

    def _transmit(self, pkt: Mapping[str, Any]) -> None:
        kind = pkt.get("type")
        if kind in ("heartbeat", "noop"):
            return
        nsp = namespace_of(pkt.get("endpoint") or "")
        sock = self.client.sockets.get(nsp)
        if sock is None:
            log.debug("dropping a %s packet for %s: %s is not connected", kind, nsp, self.sessid)
            return
        if kind == "connect":
            sock.accept()
        elif kind == "disconnect":
            if sock.state == CONNECTED:
                self.client.disconnect(nsp)
            self.server.discard(sock, DisconnectReason.SERVER_DISCONNECT)
        elif kind == "error":
            log.warning(
                "%s: error packets have no equivalent for this client: %s", self.sessid, pkt
            )
        else:
            msgid = pkt.get("id")
            wants_ack = pkt.get("ack") and msgid is not None and kind != "ack"
            # The socket's ack table allocates the wire id (it never collides with sio.call's);
            # the ACK comes back to the loop with gevent-socketio's own id.
            packet = packet_of(pkt, nsp, sock.add_ack(_SeedAck(msgid)) if wants_ack else None)
            if packet is not None:
                sock.send_packet(packet)

    def _room_sid(self, endpoint: str) -> str | None:
        sock = self.client.sockets.get(namespace_of(endpoint))
        return sock.sid if sock is not None else None

    def _endpoints_open(self) -> bool:
        return bool(self.client.sockets)

    def _close_endpoint(self, endpoint: str) -> None:
        sock = self.client.sockets.get(namespace_of(endpoint))
        if sock is not None:
            self.server.discard(sock, DisconnectReason.SERVER_DISCONNECT)

    def _close_transport(self) -> None:
        if self._deadline is not None:
            self._deadline.kill(block=False)
            self._deadline = None
        for sock in list(self.client.sockets.values()):
            self.server.discard(sock, DisconnectReason.FORCED_SERVER_CLOSE)
        self.layer.forget(self)
        self.client.closed = True
        self.client.hold = _ignore  # what the client still sends is for nobody
        if self.conn.closed:
            return
        if self.managed:  # closed with the last namespace: after the client's turn
            gevent.spawn_later(CLOSE_GRACE, self._close_conn)
        else:  # refused: the CONNECT_ERRORs are out
            self.conn.close()

    def _close_conn(self) -> None:
        if not self.conn.closed:
            log.debug("%s: closing, no namespace left", self.sessid)
            self.conn.close()

    def detach(self) -> None:
        """Remove this socket from the layer's ``sockets``."""
        if self.layer.sockets.get(self.sessid) is self:
            del self.layer.sockets[self.sessid]
