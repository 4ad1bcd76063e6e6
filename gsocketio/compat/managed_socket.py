"""The virtual socket of one seed-mode connection: :class:`ModernSocket`.

It is the ``VirtualSocket`` (:mod:`gsocketio.compat.virtsocket`) the seed's namespaces see as
``self.socket``, built on the :class:`gsocketio.Server`'s own per-connection objects: the
connection's :class:`gsocketio.socket.Client` (decoder, wire format) and one
:class:`gsocketio.socket.Socket` per namespace (see :mod:`gsocketio.compat.managed` for what
the Server API then does on them).

Where packets are handled: until ``socketio_manage`` configured the socket (its JSON codec,
its namespaces) messages wait undecoded in the inbox, and the receiver loop decodes them. From
then on the connection's reader decodes: it keeps the sockets up to date (CONNECT, DISCONNECT),
resolves acks of ``sio.call``/``sio.emit(callback=)`` itself, and queues seed packets for the
loop, in order.

Protocol mapping (client ⇄ seed packet dicts):

* CONNECT ``/nsp`` is answered once ``socketio_manage`` gave the namespaces (waiting at most
  ``manage_timeout``); an endpoint missing from them, or an app that returns without calling
  ``socketio_manage``, gets CONNECT_ERROR. ``'/'`` is the seed's ``''``. A non-global CONNECT
  becomes a seed ``connect`` packet (the namespace object answers it and runs
  ``recv_connect``); the global namespace is answered directly and its object created on its
  first packet, as with the seed.
* EVENT → ``event`` (an ack id → ``ack: 'data'``); ACK of a namespace's ``emit(callback=)`` →
  ``ack`` with the seed's message id (the wire id comes from the socket's ack table, so it
  never collides with ``sio.call``'s); DISCONNECT → ``disconnect`` of that endpoint. The
  ``message`` event with one argument goes to ``recv_message`` (a string) or ``recv_json``
  (anything else) — what the old client's ``send()``/``json.send()`` reached — unless the
  namespace class defines ``on_message``.
* Outgoing ``event`` → EVENT; ``message``/``json`` → the ``message`` event; ``ack`` → ACK;
  ``disconnect`` → DISCONNECT; ``heartbeat``/``noop`` are the engine's business and dropped;
  ``error`` packets have no equivalent and are dropped with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import gevent
from gevent.queue import Full

from gsocketio import lifecycle
from gsocketio._logging import get_logger
from gsocketio.acks import CallWaiter
from gsocketio.compat.virtsocket import SeedPacket, VirtualSocket, default_json_dumps
from gsocketio.exceptions import ProtocolError
from gsocketio.lifecycle import CLIENT_DISCONNECT, SERVER_DISCONNECT, connect_error_data
from gsocketio.mixins import adapter_namespace
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import Decoder, Packet, PacketType
from gsocketio.socket import CLOSED, CONNECTED, CONNECTING, Client, Socket, SocketIOWire

if TYPE_CHECKING:
    from gsocketio.compat.managed import SeedServer

__all__ = ["CLOSE_GRACE", "REFUSED_GRACE", "ModernSocket"]

log = get_logger("gsocketio.compat")

REFUSED_GRACE: Final = 5.0
"""Seconds a refused connection stays open for the client's CONNECT to get its CONNECT_ERROR."""
CLOSE_GRACE: Final = 5.0
"""Seconds a connection whose last namespace is gone stays open for the client to close it
(every client generation does once it has no namespace left). Closing at once could put the
DISCONNECT packets and Engine.IO's CLOSE in one polling response, which clients take for a
transport loss ("transport close") instead of a server disconnect."""
REFUSAL: Final = "Connection rejected by server"
_EVENT_TYPES: Final = (PacketType.EVENT, PacketType.BINARY_EVENT)
_ACK_TYPES: Final = (PacketType.ACK, PacketType.BINARY_ACK)
_TRANSPORT_GONE: Final = DisconnectReason.FORCED_SERVER_CLOSE


def _noop_start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
    return lambda data: None


class _SeedAck:
    """Ack-table entry of a namespace's ``emit(..., callback=)``: the client's ACK goes to the
    receiver loop as the seed's ``ack`` packet with the seed's own message id."""

    __slots__ = ("msgid",)

    def __init__(self, msgid: Any) -> None:
        self.msgid = msgid

    def __call__(self, *args: Any) -> None:  # never called: see ModernSocket._from_wire
        raise RuntimeError("seed acks are dispatched by the receiver loop")


class _Left:
    """Inbox item: ``endpoint`` lost its socket (client or server disconnect)."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint


class ModernSocket(VirtualSocket):
    """The virtual socket of one Engine.IO (or legacy) connection (see the module docstring)."""

    def __init__(self, server: SeedServer, client: Client) -> None:
        super().__init__(server, server.config, sessid=client.conn.sid)
        self.server: SeedServer = server
        self.client = client
        self.conn = client.conn
        self.eio = client.eio
        self.state = self.STATE_CONNECTED
        self.connection_established = True
        self.auth: dict[str, Any] = {}  # endpoint -> the client's CONNECT auth payload
        self._deadline: gevent.Greenlet[..., Any] | None = None
        self._refused = False
        self._ready = False  # the reader decodes (socketio_manage configured the decoder)
        self._raw_pending = 0  # undecoded messages in the inbox; the reader waits for them
        self._loop: Any = None  # the receiver loop's greenlet

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
            self._connect_error(nsp, REFUSAL)
        self.state = self.STATE_DISCONNECTED
        self.detach()
        if refused:
            self._close_transport()
        else:  # the client's CONNECT is still on its way: feed() answers it, then closes
            gevent.spawn_later(REFUSED_GRACE, self._close_transport)

    def _connect_error(self, nsp: str, message: str) -> None:
        if not self.conn.closed:
            data = connect_error_data(self.eio, {"message": message})
            self.conn.send_many(
                self.client.wire.encode(Packet(PacketType.CONNECT_ERROR, nsp, data))
            )

    # --- engine side (the connection's reader) -----------------------------------------------

    def feed(self, data: str | bytes) -> None:
        """One Engine.IO message from the client (called from the connection's reader)."""
        if self._refused:
            # Late CONNECTs of a refused connection still get their answer.
            try:
                packet = Decoder(limits=self.server.engine.limits).feed(data)
            except ProtocolError:
                return
            if packet is not None and packet.type is PacketType.CONNECT:
                self._connect_error(packet.namespace, REFUSAL)
                self._close_transport()
            return
        if not self._ready or self._raw_pending:
            # Until socketio_manage gave the JSON codec (and the loop decoded what came
            # before), messages wait undecoded, in order.
            self._raw_pending += 1
            self.put_server_msg(data)
            return
        for item in self._from_wire(data):
            self.put_server_msg(item)

    def engine_closed(self, reason: str) -> None:
        """The Engine.IO connection is gone: its sockets at once, the namespaces in the loop."""
        self.client.closed = True
        self._discard_sockets(reason)
        if self.managed:
            self.transport_closed()
            return
        if self._deadline is not None:
            self._deadline.kill(block=False)
        self.state = self.STATE_DISCONNECTED
        self.detach()
        self._close_transport()

    def _from_wire(self, data: str | bytes) -> Iterable[Any]:
        """Decode one message; update the sockets; return what the receiver loop handles (seed
        packets, :class:`_Left`). Runs in the reader, or in the loop for early messages."""
        client = self.client
        if client.closed:
            return ()
        try:
            packet = client.decoder.feed(data)
        except ProtocolError as exc:
            log.warning("closing %s: bad packet (%s)", self.sessid, exc)
            self.server.close_client(client, DisconnectReason.PARSE_ERROR)
            return ()
        if packet is None:
            return ()
        nsp = packet.namespace
        endpoint = "" if nsp == "/" else nsp
        ptype = packet.type
        if ptype is PacketType.CONNECT:
            return self._client_connect(packet, endpoint)
        sock = client.sockets.get(nsp)
        if ptype is PacketType.DISCONNECT:
            if sock is None:
                log.debug("%s: DISCONNECT for %s, not connected", self.sessid, nsp)
                return ()
            lifecycle.discard(self.server, sock, CLIENT_DISCONNECT)
            return (_Left(endpoint),)
        if sock is None:
            if not client.sockets:
                log.warning("closing %s: %s before any CONNECT", self.sessid, ptype.name)
                self.server.close_client(client, DisconnectReason.PARSE_ERROR)
            else:
                log.debug("ignoring %s for %s: not connected", ptype.name, nsp)
            return ()
        if ptype in _EVENT_TYPES:
            return (self._event_dict(packet, endpoint),)
        if ptype in _ACK_TYPES:
            return self._client_ack(sock, packet, endpoint)
        log.warning("closing %s: unexpected %s packet", self.sessid, ptype.name)
        self.server.close_client(client, DisconnectReason.PARSE_ERROR)
        return ()

    def _client_ack(self, sock: Socket, packet: Packet, endpoint: str) -> Iterable[SeedPacket]:
        table = sock.acks
        callback = table.pop(packet.id) if table is not None and packet.id is not None else None
        if callback is None:
            log.debug("ack %s from %s: not pending", packet.id, sock.sid)
        elif type(callback) is _SeedAck:
            return ({"type": "ack", "ackId": callback.msgid, "args": packet.data,
                     "endpoint": endpoint},)  # fmt: skip
        elif isinstance(callback, CallWaiter):  # sio.call()
            callback(*packet.data)
        else:  # sio.emit(..., callback=)
            self.client.spawn(self.server._run_callback, sock, callback, packet.data)
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
        if nsp in self.client.sockets:
            log.warning("closing %s: second CONNECT to %s", self.sessid, nsp)
            self.server.close_client(self.client, DisconnectReason.PARSE_ERROR)
            return ()
        if endpoint not in self.namespaces:
            log.info("refusing %s: unknown namespace %s", self.sessid, nsp)
            self._connect_error(nsp, "Invalid namespace")
            return ()
        if self.eio == 3:  # protocol v4: the CONNECT query is the auth (as gsocketio.Server)
            auth: Any = dict(parse_qsl(packet.query)) if packet.query else None
        else:
            auth = packet.data
        sock = self._add_socket(nsp, auth)
        if packet.data is not None:
            self.auth[endpoint] = packet.data
        if endpoint == self.GLOBAL_NS:
            self._open(sock)
            return ()
        pkt: SeedPacket = {"type": "connect", "endpoint": endpoint}
        if packet.query:
            pkt["qs"] = packet.query
        return (pkt,)

    # --- VirtualSocket hooks (the receiver loop) ---------------------------------------------

    def _on_managed(self) -> None:
        if self._deadline is not None:
            self._deadline.kill(block=False)
            self._deadline = None
        self._loop = gevent.getcurrent()
        client = self.client
        # A connection with a wire of its own (the legacy 0.9 format) keeps it.
        if self.json_dumps is not default_json_dumps and getattr(self.conn, "wire", None) is None:
            client.wire = SocketIOWire(self.json_dumps)
        client.decoder = Decoder(loads=self.json_loads, limits=self.server.engine.limits)
        self._ready = True
        if self.eio == 3:  # protocol v4: the client is in "/" without asking
            self._open(self._add_socket("/", None))

    def _packets_from(self, item: Any) -> Iterable[SeedPacket]:
        if isinstance(item, str | bytes):
            self._raw_pending -= 1
            packets: list[SeedPacket] = []
            for found in self._from_wire(item):
                packets.extend(self._packets_from(found))
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
        nsp = adapter_namespace(pkt.get("endpoint") or "")
        sock = self.client.sockets.get(nsp)
        if sock is None:
            log.debug("dropping a %s packet for %s: %s is not connected", kind, nsp, self.sessid)
            return
        if kind == "event":
            packet = Packet(
                PacketType.EVENT, nsp, [pkt["name"], *pkt.get("args", ())], self._ack_id(sock, pkt)
            )
        elif kind in ("message", "json"):
            packet = Packet(
                PacketType.EVENT, nsp, ["message", pkt.get("data")], self._ack_id(sock, pkt)
            )
        elif kind == "ack":
            packet = Packet(PacketType.ACK, nsp, list(pkt.get("args", ())), int(pkt["ackId"]))
        elif kind == "connect":
            self._open(sock)
            return
        elif kind == "disconnect":
            if sock.state == CONNECTED:
                sock.send_now(Packet(PacketType.DISCONNECT, nsp))
            lifecycle.discard(self.server, sock, SERVER_DISCONNECT)
            return
        elif kind == "error":
            log.warning(
                "%s: error packets have no equivalent for this client: %s", self.sessid, pkt
            )
            return
        else:
            raise ValueError(f"unknown packet type {kind!r}")
        sock.send_packet(packet)

    @staticmethod
    def _ack_id(sock: Socket, pkt: Mapping[str, Any]) -> int | None:
        """The wire ack id for a packet asking for an ack (the socket's ack table allocates it,
        so it never collides with ``sio.call``'s); the ACK comes back with the seed's id."""
        msgid = pkt.get("id")
        if not pkt.get("ack") or msgid is None:
            return None
        return sock.add_ack(_SeedAck(msgid))

    def _room_sid(self, endpoint: str) -> str | None:
        sock = self.client.sockets.get(adapter_namespace(endpoint))
        return sock.sid if sock is not None else None

    def _endpoints_open(self) -> bool:
        return bool(self.client.sockets)

    def _close_endpoint(self, endpoint: str) -> None:
        sock = self.client.sockets.get(adapter_namespace(endpoint))
        if sock is not None:
            lifecycle.discard(self.server, sock, SERVER_DISCONNECT)

    def _close_transport(self) -> None:
        if self._deadline is not None:
            self._deadline.kill(block=False)
            self._deadline = None
        self._discard_sockets(_TRANSPORT_GONE)
        self.server.forget(self)
        self.client.closed = True
        if self.conn.closed:
            return
        if self.managed:  # the seed closed with the last namespace: after the client's turn
            gevent.spawn_later(CLOSE_GRACE, self._close_conn)
        else:  # refused: the CONNECT_ERRORs are out
            self.conn.close()

    def _close_conn(self) -> None:
        if not self.conn.closed:
            log.debug("%s: closing, no namespace left", self.sessid)
            self.conn.close()

    # --- sockets -----------------------------------------------------------------------------

    def _add_socket(self, nsp: str, auth: Any) -> Socket:
        sock = lifecycle.register(self.server, self.client, nsp, auth)
        sock.session = self.session  # the seed's session is per connection
        return sock

    def _open(self, sock: Socket) -> None:
        if sock.state != CONNECTING:
            return
        if self.eio == 3:
            sock.open(Packet(PacketType.CONNECT, sock.namespace))
        else:
            sock.open(Packet(PacketType.CONNECT, sock.namespace, {"sid": sock.sid}))

    def _discard_sockets(self, reason: str) -> None:
        for sock in list(self.client.sockets.values()):
            lifecycle.discard(self.server, sock, reason)

    def server_disconnect(self, sock: Socket) -> None:
        """``sio.disconnect()`` of one of this connection's sockets (any greenlet)."""
        if sock.state == CONNECTED:
            sock.send_now(Packet(PacketType.DISCONNECT, sock.namespace))
        elif sock.state == CONNECTING:  # the client still waits for an answer
            self._connect_error(sock.namespace, REFUSAL)
        if sock.state != CLOSED:
            lifecycle.discard(self.server, sock, SERVER_DISCONNECT)
        item = _Left("" if sock.namespace == "/" else sock.namespace)
        if gevent.getcurrent() is not self._loop:
            self.put_server_msg(item)
            return
        try:  # a namespace method disconnecting: the loop must never wait on its own inbox
            self._inbox.put_nowait(item)
        except Full:
            gevent.spawn(self.put_server_msg, item)
