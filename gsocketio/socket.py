"""Socket: one namespace of a client, what the application knows by ``sid``.

It is what the adapter delivers broadcasts to, holds the socket's session, ack table and
pre-connect buffer, and answers its CONNECT (:meth:`Socket.accept` / :meth:`Socket.refuse`).
Memory matters (tens of thousands of idle sockets): everything optional is created on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from gsocketio._logging import get_logger
from gsocketio.acks import DEFAULT_ACK_LIMIT, AckTable
from gsocketio.adapters.base import Encoded, WireFormat
from gsocketio.protocol import socketio as sio_protocol
from gsocketio.protocol.socketio import Packet

if TYPE_CHECKING:
    from gsocketio.client import Client
    from gsocketio.listeners import OwnHooks
    from gsocketio.socketio_server import Server

__all__ = ["CLOSED", "CONNECTED", "CONNECTING", "Socket", "SocketIOWire"]

log = get_logger("gsocketio.server")

CONNECTING: Final = 0  # connect handler running; outgoing packets are buffered
CONNECTED: Final = 1
CLOSED: Final = 2

MAX_PRECONNECT_ITEMS: Final = 1024
"""Messages buffered for a socket whose connect handler has not finished."""


class SocketIOWire:
    """The Socket.IO v4/v5 wire format (one encoding serves both)."""

    __slots__ = ("_dumps",)

    def __init__(self, dumps: Callable[[Any], str] = sio_protocol.json_dumps) -> None:
        self._dumps = dumps

    def encode(self, packet: Packet) -> Encoded:
        # Looked up on the module on purpose: one place to observe (and count) encodes.
        return sio_protocol.encode(packet, dumps=self._dumps)


class Socket:
    """One client in one namespace: the unit rooms, sessions, acks and handlers work on."""

    __slots__ = (
        "_buffer",
        "acks",
        "auth",
        "client",
        "close_reason",
        "data",
        "issued",
        "listeners",
        "namespace",
        "pid",
        "recovered",
        "server",
        "session",
        "sid",
        "state",
        "wire",
    )

    def __init__(self, server: Server, client: Client, namespace: str, auth: Any) -> None:
        self.server = server
        self.client = client
        self.sid = client.session.socket_id(namespace)
        self.namespace = namespace
        self.wire: WireFormat = client.wire
        self.auth = auth
        self.state = CONNECTING
        self.close_reason: str | None = None
        self.session: dict[str, Any] | None = None
        self.data: dict[str, Any] | None = None  # user data shown by fetch_sockets (cluster)
        self.issued = time.time()  # the handshake's "issued" for fetch_sockets
        self.acks: AckTable | None = None
        self._buffer: list[str | bytes] | None = None
        self.pid: str | None = None  # connection state recovery: the private session id
        self.recovered = False  # restored from a session (Node's socket.recovered)
        self.listeners: OwnHooks | None = None  # its own listeners (gsocketio.listeners)

    def __repr__(self) -> str:
        return f"<Socket {self.sid} {self.namespace} state={self.state}>"

    @property
    def environ(self) -> dict[str, Any]:
        """The WSGI environ of the connection's handshake request."""
        environ: dict[str, Any] = self.client.conn.environ
        return environ

    # --- answering the CONNECT ---------------------------------------------------------------

    def accept(self) -> None:
        """Admit the client: the CONNECT reply first, then what was emitted meanwhile."""
        if self.state != CONNECTING:
            return
        client = self.client
        reply = client.session.accept(self.namespace, self.sid)
        if self.pid is not None and isinstance(reply.data, dict):
            reply.data["pid"] = self.pid  # {sid, pid}: the client keeps it for recovery
        self.send_now(reply)
        buffer, self._buffer = self._buffer, None
        self.state = CONNECTED
        client.cancel_timer()
        if buffer and not client.closed:
            client.conn.send_many(buffer)
        hooks = self.server._hooks
        if hooks.connected:  # instrumentation (the admin UI) is on
            hooks.socket_connected(self)

    def refuse(self, error_args: Any = None) -> None:
        """Refuse the CONNECT (CONNECT_ERROR with ``error_args``, the application's refusal
        data) and forget the socket; an already accepted socket gets DISCONNECT instead (the
        ``always_connect`` mode). No disconnect handler runs."""
        if self.state == CLOSED:
            return
        was_open = self.state == CONNECTED
        self.server.discard(self, "connection refused")
        if was_open:
            self.client.disconnect(self.namespace)
        else:
            self.client.refuse(self.client.session.refuse(self.namespace, error_args))

    # --- sending -----------------------------------------------------------------------------

    def deliver(self, items: Encoded) -> None:
        """Send encoded messages now, or hold them until the CONNECT is accepted."""
        state = self.state
        if state == CONNECTED:
            conn = self.client.conn
            if (stats := self.client.stats) is not None:
                stats.delivered(conn.transport, items)
            conn.send_many(items)
        elif state == CONNECTING:
            buffer = self._buffer
            if buffer is None:
                buffer = self._buffer = []
            if len(buffer) + len(items) > MAX_PRECONNECT_ITEMS:
                log.warning("socket %s: pre-connect buffer full, dropping a packet", self.sid)
                if (stats := self.client.stats) is not None:
                    stats.bound("preconnect_buffer")
                return
            buffer.extend(items)

    def deliver_volatile(self, items: Encoded) -> None:
        """A volatile packet: dropped (and counted) while the connection says it is congested
        (half its outgoing bound waiting, with ``slow_consumer="drop_volatile"``)."""
        if getattr(self.client.conn, "congested", False):
            if (stats := self.client.stats) is not None:
                stats.slow("dropped_volatile")
            return
        self.deliver(items)

    def send_packet(self, packet: Packet) -> None:
        self.deliver(self.wire.encode(packet))

    def send_now(self, packet: Packet) -> None:
        """Send regardless of state (CONNECT, CONNECT_ERROR and DISCONNECT replies)."""
        if not self.client.closed:
            self.client.conn.send_many(self.wire.encode(packet))

    def drop_buffer(self) -> None:
        self._buffer = None

    def add_ack(self, callback: Callable[..., object]) -> int:
        table = self.acks
        if table is None:
            stats = self.client.stats
            evicted = partial(stats.bound, "ack_table") if stats is not None else None
            table = self.acks = AckTable(DEFAULT_ACK_LIMIT, evicted)
        return table.add(callback)
