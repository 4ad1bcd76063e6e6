"""Seed mode: run a gevent-socketio app (a WSGI app calling ``socketio_manage``) for today's
clients (socket.io-client 1.x-4.x, Engine.IO 3 and 4).

As the seed's ``SocketIOHandler`` did, :class:`SeedServer` runs the user's WSGI application
once per Socket.IO connection, in a greenlet, with ``environ['socketio']`` set to the
connection's virtual socket (:class:`ModernSocket`); the app's view calls
:func:`gsocketio.socketio_manage`, which serves the connection until it closes. That environ is
a copy of the handshake request's, with ``PATH_INFO`` rewritten to the seed's URL shape
(``/socket.io/1/xhr-polling/<sid>`` or ``.../websocket/<sid>``) so the app's existing route
(Flask ``/socket.io/<path:remaining>``, Django ``^socket\\.io``...) matches, and an empty body.

Protocol mapping (client ⇄ seed packet dicts):

* CONNECT ``/nsp`` is answered once ``socketio_manage`` gave the namespaces (waiting at most
  ``manage_timeout``); an endpoint missing from them, or an app that returns without calling
  ``socketio_manage``, gets CONNECT_ERROR. ``'/'`` is the seed's ``''``. A non-global CONNECT
  becomes a seed ``connect`` packet (the namespace object answers it and runs
  ``recv_connect``); the global namespace is answered directly and its object created on its
  first packet, as with the seed.
* EVENT → ``event`` (an ack id → ``ack: 'data'``); ACK → ``ack``; DISCONNECT → ``disconnect``
  of that endpoint. The ``message`` event with one argument goes to ``recv_message`` (a string)
  or ``recv_json`` (anything else) — what the old client's ``send()``/``json.send()`` reached —
  unless the namespace class defines ``on_message``.
* Outgoing ``event`` → EVENT; ``message``/``json`` → the ``message`` event; ``ack`` → ACK;
  ``disconnect`` → DISCONNECT; ``heartbeat``/``noop`` are the engine's business and dropped;
  ``error`` packets have no equivalent and are dropped with a warning.

Not registered with :class:`gsocketio.Server`'s own handlers: ``sio.emit(..., to=room_or_sid)``
reaches seed sockets (through the adapter), ``sio.rooms(sid)``/``sio.disconnect(sid)`` do not.
"""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import gevent

from gsocketio.exceptions import ProtocolError
from gsocketio.manage import SeedPacket, VirtualSocket, default_json_dumps
from gsocketio.mixins import adapter_namespace
from gsocketio.protocol.socketio import Decoder, Packet, PacketType
from gsocketio.server import Server
from gsocketio.socket import SocketIOWire
from gsocketio.transports.websocket import RFILE_KEY, SOCKET_KEY, WEBSOCKET_KEY

if TYPE_CHECKING:
    from gsocketio.adapters.base import Encoded, WireFormat
    from gsocketio.engine import EngineConnection
    from gsocketio.wsgi import WSGIApp

__all__ = ["SEED_TRANSPORTS", "ModernSocket", "SeedServer", "modern_transports"]

log = logging.getLogger("gsocketio.seed")

SEED_TRANSPORTS: Final = {
    "websocket": "websocket",
    "flashsocket": None,
    "htmlfile": "polling",
    "xhr-multipart": "polling",
    "xhr-polling": "polling",
    "jsonp-polling": "polling",
}
"""The seed's transport names and what today's clients use instead (None: no equivalent)."""

MAX_PRECONNECT_ITEMS: Final = 1024
REFUSED_GRACE: Final = 5.0
"""Seconds a refused connection stays open for the client's CONNECT to get its CONNECT_ERROR."""
_CONNECTING: Final = 0
_OPEN: Final = 1
_CLOSED: Final = 2
_EVENT_TYPES: Final = (PacketType.EVENT, PacketType.BINARY_EVENT)
_ACK_TYPES: Final = (PacketType.ACK, PacketType.BINARY_ACK)


def modern_transports(transports: Iterable[str] | None) -> list[str] | None:
    """Map the seed's ``transports`` option to Engine.IO transport names (None: all)."""
    if transports is None:
        return None
    chosen: list[str] = []
    for name in transports:
        if name not in SEED_TRANSPORTS:
            raise ValueError(f"transports should be elements of: {sorted(SEED_TRANSPORTS)}")
        modern = SEED_TRANSPORTS[name]
        if modern is not None and modern not in chosen:
            chosen.append(modern)
    if not chosen:
        raise ValueError(f"no transport usable by today's clients in {list(transports)}")
    return chosen


def _noop_start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
    return lambda data: None


class _Endpoint:
    """One namespace of one client: the adapter's recipient (rooms and broadcasts)."""

    __slots__ = ("_buffer", "conn", "namespace", "sid", "state", "wire")

    def __init__(self, sid: str, namespace: str, conn: EngineConnection, wire: WireFormat):
        self.sid = sid
        self.namespace = namespace
        self.conn = conn
        self.wire = wire
        self.state = _CONNECTING
        self._buffer: list[str | bytes] = []

    def deliver(self, items: Encoded) -> None:
        if self.state == _OPEN:
            self.conn.send_many(items)
        elif self.state == _CONNECTING:
            if len(self._buffer) + len(items) > MAX_PRECONNECT_ITEMS:
                log.warning("%s: pre-connect buffer full, dropping a packet", self.sid)
                return
            self._buffer.extend(items)

    def send(self, packet: Packet) -> None:
        self.deliver(self.wire.encode(packet))

    def send_now(self, packet: Packet) -> None:
        self.conn.send_many(self.wire.encode(packet))

    def open(self, reply: Packet) -> None:
        if self.state != _CONNECTING:
            return
        self.send_now(reply)
        buffered, self._buffer = self._buffer, []
        self.state = _OPEN
        if buffered:
            self.conn.send_many(buffered)


class ModernSocket(VirtualSocket):
    """The virtual socket of one Engine.IO connection (see the module docstring)."""

    def __init__(self, server: SeedServer, conn: EngineConnection) -> None:
        super().__init__(server, server.config, sessid=conn.sid)
        self.server: SeedServer = server
        self.conn = conn
        self.eio = conn.eio
        self.state = self.STATE_CONNECTED
        self.connection_established = True
        self.auth: dict[str, Any] = {}  # endpoint -> the client's CONNECT auth payload
        self._endpoints: dict[str, _Endpoint] = {}  # adapter namespace -> recipient
        self._wire = server.wire
        self._decoder: Decoder | None = None
        self._deadline: gevent.Greenlet[..., Any] | None = None
        self._refused = False

    # --- running the app ---------------------------------------------------------------------

    def start(self, application: Callable[..., Any]) -> None:
        """Run ``application`` for this connection; refuse it if it never calls
        ``socketio_manage`` within the server's ``manage_timeout``."""
        environ = self.server.app_environ(self.conn)
        environ["socketio"] = self
        self._deadline = gevent.spawn_later(self.server.manage_timeout, self._manage_overdue)
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
                self.server.manage_timeout,
                self.sessid,
            )
            self._refuse()

    def _refuse(self) -> None:
        """Answer every CONNECT queued so far with CONNECT_ERROR and close."""
        if self._refused or self.managed:
            return
        self._refused = True
        decoder = Decoder(limits=self.server.engine.limits)
        refused: list[str] = ["/"] if self.eio == 3 else []
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if not isinstance(item, str | bytes):
                continue
            try:
                packet = decoder.feed(item)
            except ProtocolError:
                break
            if packet is not None and packet.type is PacketType.CONNECT:
                refused.append(packet.namespace)
        for nsp in refused:
            self._connect_error(nsp, "Connection rejected by server")
        self.state = self.STATE_DISCONNECTED
        self.detach()
        if refused:
            self._close_transport()
        else:  # the client's CONNECT is still on its way: feed() answers it, then closes
            gevent.spawn_later(REFUSED_GRACE, self._close_transport)

    def _connect_error(self, nsp: str, message: str) -> None:
        data: Any = message if self.eio == 3 else {"message": message}
        if not self.conn.closed:
            self.conn.send_many(self._wire.encode(Packet(PacketType.CONNECT_ERROR, nsp, data)))

    # --- engine side -------------------------------------------------------------------------

    def feed(self, data: str | bytes) -> None:
        """One Engine.IO message from the client (called from the connection's reader)."""
        if self._refused:
            # Late CONNECTs of a refused connection still get their answer.
            try:
                packet = Decoder(limits=self.server.engine.limits).feed(data)
            except ProtocolError:
                return
            if packet is not None and packet.type is PacketType.CONNECT:
                self._connect_error(packet.namespace, "Connection rejected by server")
                self._close_transport()
            return
        self.put_server_msg(data)

    def engine_closed(self) -> None:
        """The Engine.IO connection is gone."""
        if self.managed:
            self.transport_closed()
            return
        if self._deadline is not None:
            self._deadline.kill(block=False)
        self.state = self.STATE_DISCONNECTED
        self.detach()
        self._close_transport()

    # --- VirtualSocket hooks -----------------------------------------------------------------

    def _on_managed(self) -> None:
        if self._deadline is not None:
            self._deadline.kill(block=False)
            self._deadline = None
        if self.json_dumps is not default_json_dumps:
            self._wire = SocketIOWire(self.json_dumps)
        self._decoder = Decoder(loads=self.json_loads, limits=self.server.engine.limits)
        if self.eio == 3:  # protocol v4: the client is in "/" without asking
            self._add_endpoint("/", self.sessid).open(Packet(PacketType.CONNECT, "/"))

    def _packets_from(self, item: Any) -> Iterable[SeedPacket]:
        if not isinstance(item, str | bytes):
            return (item,)
        assert self._decoder is not None
        try:
            packet = self._decoder.feed(item)
        except ProtocolError as exc:
            log.warning("closing %s: bad packet (%s)", self.sessid, exc)
            self.kill(detach=True)
            return ()
        if packet is None:
            return ()
        nsp = packet.namespace
        endpoint = "" if nsp == "/" else nsp
        ptype = packet.type
        if ptype is PacketType.CONNECT:
            return self._client_connect(packet, endpoint)
        if ptype is PacketType.DISCONNECT:
            return self._client_disconnect(endpoint)
        target = self._endpoints.get(nsp)
        if target is None or target.state == _CLOSED:
            if not self._endpoints:
                log.warning("closing %s: %s before any CONNECT", self.sessid, ptype.name)
                self.kill(detach=True)
            else:
                log.debug("ignoring %s for %s: not connected", ptype.name, nsp)
            return ()
        if ptype in _EVENT_TYPES:
            return (self._event_dict(packet, endpoint),)
        if ptype in _ACK_TYPES:
            return ({"type": "ack", "ackId": packet.id, "args": packet.data, "endpoint": endpoint},)
        log.warning("closing %s: unexpected %s packet", self.sessid, ptype.name)
        self.kill(detach=True)
        return ()

    def _event_dict(self, packet: Packet, endpoint: str) -> SeedPacket:
        name, args = packet.data[0], packet.data[1:]
        pkt: SeedPacket
        if name == "message" and len(args) == 1 and not self._has_on_message(endpoint):
            kind = "message" if isinstance(args[0], str) else "json"
            pkt = {"type": kind, "data": args[0], "endpoint": endpoint}
        else:
            pkt = {"type": "event", "name": name, "args": args, "endpoint": endpoint}
        if packet.id is not None:
            pkt["id"] = packet.id
            pkt["ack"] = "data"
        return pkt

    def _has_on_message(self, endpoint: str) -> bool:
        cls = self.namespaces.get(endpoint)
        return cls is not None and callable(getattr(cls, "on_message", None))

    def _client_connect(self, packet: Packet, endpoint: str) -> Iterable[SeedPacket]:
        nsp = packet.namespace
        if nsp in self._endpoints:
            log.warning("closing %s: second CONNECT to %s", self.sessid, nsp)
            self.kill(detach=True)
            return ()
        if endpoint not in self.namespaces:
            log.info("refusing %s: unknown namespace %s", self.sessid, nsp)
            self._connect_error(nsp, "Invalid namespace")
            return ()
        if self.eio == 3:
            sid = self.sessid if nsp == "/" else f"{nsp}#{self.sessid}"
        else:
            sid = secrets.token_urlsafe(15)
        target = self._add_endpoint(nsp, sid)
        if packet.data is not None:
            self.auth[endpoint] = packet.data
        if endpoint == self.GLOBAL_NS:
            target.open(self._connect_reply(target))
            return ()
        pkt: SeedPacket = {"type": "connect", "endpoint": endpoint}
        if packet.query:
            pkt["qs"] = packet.query
        return (pkt,)

    def _client_disconnect(self, endpoint: str) -> Iterable[SeedPacket]:
        if endpoint in self.active_ns:
            return ({"type": "disconnect", "endpoint": endpoint},)
        self._close_endpoint(endpoint)
        if not self.active_ns and not self._endpoints_open():
            self.kill(detach=True)
        return ()

    def _is_global_disconnect(self, pkt: Mapping[str, Any]) -> bool:
        return False  # "/" is a namespace like the others; the engine closes the connection

    def _add_endpoint(self, nsp: str, sid: str) -> _Endpoint:
        # A connection with a wire of its own (the legacy layer's 0.9 format) keeps it, so
        # broadcasts are encoded once per format.
        wire = getattr(self.conn, "wire", None) or self._wire
        target = _Endpoint(sid, nsp, self.conn, wire)
        self._endpoints[nsp] = target
        self.server.adapter.add_socket(nsp, sid, target)
        return target

    def _connect_reply(self, target: _Endpoint) -> Packet:
        if self.eio == 3:
            return Packet(PacketType.CONNECT, target.namespace)
        return Packet(PacketType.CONNECT, target.namespace, {"sid": target.sid})

    def _transmit(self, pkt: Mapping[str, Any]) -> None:
        kind = pkt.get("type")
        nsp = adapter_namespace(pkt.get("endpoint") or "")
        target = self._endpoints.get(nsp)
        if kind in ("heartbeat", "noop"):
            return
        if target is None or target.state == _CLOSED:
            log.debug("dropping a %s packet for %s: %s is not connected", kind, nsp, self.sessid)
            return
        ack_id = pkt.get("id") if pkt.get("ack") else None
        if kind == "event":
            packet = Packet(PacketType.EVENT, nsp, [pkt["name"], *pkt.get("args", ())], ack_id)
        elif kind in ("message", "json"):
            packet = Packet(PacketType.EVENT, nsp, ["message", pkt.get("data")], ack_id)
        elif kind == "ack":
            packet = Packet(PacketType.ACK, nsp, list(pkt.get("args", ())), int(pkt["ackId"]))
        elif kind == "connect":
            target.open(self._connect_reply(target))
            return
        elif kind == "disconnect":
            if target.state == _OPEN:
                target.send_now(Packet(PacketType.DISCONNECT, nsp))
            self._close_endpoint(pkt.get("endpoint") or "")
            return
        elif kind == "error":
            log.warning(
                "%s: error packets have no equivalent for this client: %s", self.sessid, pkt
            )
            return
        else:
            raise ValueError(f"unknown packet type {kind!r}")
        target.send(packet)

    def _room_sid(self, endpoint: str) -> str | None:
        target = self._endpoints.get(adapter_namespace(endpoint))
        return target.sid if target is not None and target.state != _CLOSED else None

    def _endpoints_open(self) -> bool:
        return any(target.state != _CLOSED for target in self._endpoints.values())

    def _close_endpoint(self, endpoint: str) -> None:
        target = self._endpoints.pop(adapter_namespace(endpoint), None)
        if target is not None:
            target.state = _CLOSED
            self.server.adapter.remove_socket(target.namespace, target.sid)

    def _close_transport(self) -> None:
        if self._deadline is not None:
            self._deadline.kill(block=False)
            self._deadline = None
        for target in list(self._endpoints.values()):
            self._close_endpoint(target.namespace)
        self.server.forget(self)
        if not self.conn.closed:
            self.conn.close()


class SeedSockets(dict[str, VirtualSocket]):
    """``server.sockets``: the seed's dict of live virtual sockets by sessid, which custom
    mixins iterate; calling it is :meth:`gsocketio.Server.sockets` (sids of a namespace)."""

    def __init__(self, server: SeedServer) -> None:
        super().__init__()
        self._server = server

    def __call__(self, namespace: str | None = None) -> list[str]:
        return sorted(self._server.adapter.sockets(namespace or "/"))


class SeedServer(Server):
    """A :class:`gsocketio.Server` that serves a gevent-socketio WSGI app (see module doc).

    ``application`` is the user's WSGI app, run once per connection. ``resource`` is the URL
    segment of the Socket.IO endpoint. ``manage_timeout`` bounds the wait for the app to call
    ``socketio_manage``. ``config`` holds the seed's options (heartbeats, close timeout) for
    protocol layers that use them. Other keyword arguments go to :class:`gsocketio.Server`;
    ``cors_allowed_origins`` defaults to ``'*'`` because the seed answered every origin.
    """

    def __init__(
        self,
        application: Callable[..., Any] | None = None,
        *,
        resource: str = "socket.io",
        manage_timeout: float = 10.0,
        config: Mapping[str, Any] | None = None,
        **server_options: Any,
    ) -> None:
        server_options.setdefault("cors_allowed_origins", "*")
        super().__init__(**server_options)
        self.application = application
        self.resource = resource.strip("/")
        self.manage_timeout = manage_timeout
        self.config: dict[str, Any] = dict(config or {})
        self.wire = SocketIOWire(default_json_dumps)
        # The seed's ``server.sockets`` dict (sessid -> socket), still callable as Server's
        # ``sockets(namespace)``.
        self.seed_sockets = SeedSockets(self)
        self.sockets = self.seed_sockets  # type: ignore[method-assign]
        self._by_conn: dict[str, ModernSocket] = {}

    def wsgi_app(self, other_app: Any = None, socketio_path: str | None = None, **kw: Any) -> Any:
        """The WSGI app: ``/<resource>/`` here, everything else to ``other_app`` (by default
        the seed application itself)."""
        from gsocketio.wsgi import WSGIApp

        app: WSGIApp = WSGIApp(
            self,
            other_app if other_app is not None else self.application,
            socketio_path or self.resource,
            **kw,
        )
        return app

    def get_socket(self, sessid: str = "") -> VirtualSocket | None:
        """The live virtual socket with this sessid (the engine sid), or None."""
        return self.seed_sockets.get(sessid)

    def app_environ(self, conn: EngineConnection) -> dict[str, Any]:
        """The environ the seed app runs with for ``conn`` (see the module docstring)."""
        environ = dict(conn.environ)
        for key in (SOCKET_KEY, RFILE_KEY, WEBSOCKET_KEY, "gunicorn.socket"):
            environ.pop(key, None)
        transport = conn.transport if conn.transport in SEED_TRANSPORTS else "xhr-polling"
        environ["gsocketio.original_path_info"] = environ.get("PATH_INFO", "")
        environ["PATH_INFO"] = f"/{self.resource}/1/{transport}/{conn.sid}"
        environ["wsgi.input"] = io.BytesIO(b"")
        environ["CONTENT_LENGTH"] = "0"
        return environ

    def forget(self, vsock: ModernSocket) -> None:
        if self._by_conn.get(vsock.conn.sid) is vsock:
            del self._by_conn[vsock.conn.sid]
        vsock.detach()

    # --- EngineHandler -----------------------------------------------------------------------

    def engine_connect(self, conn: EngineConnection) -> None:
        if self.application is None:
            raise RuntimeError("SeedServer needs the WSGI application to run per connection")
        vsock = ModernSocket(self, conn)
        self._by_conn[conn.sid] = vsock
        self.seed_sockets[vsock.sessid] = vsock
        vsock.start(self.application)

    def engine_message(self, conn: EngineConnection, data: str | bytes) -> None:
        vsock = self._by_conn.get(conn.sid)
        if vsock is not None:
            vsock.feed(data)

    def engine_disconnect(self, conn: EngineConnection, reason: str) -> None:
        vsock = self._by_conn.pop(conn.sid, None)
        if vsock is not None:
            log.debug("%s: transport closed (%s)", conn.sid, reason)
            vsock.engine_closed()
