"""Per-connection state of the Socket.IO server.

:class:`Client` is one Engine.IO connection: its packet decoder, its sockets by namespace and
the bounded set of handler greenlets it runs. :class:`Socket` is one namespace of a client —
what the application knows by ``sid`` — and is what the adapter delivers broadcasts to.

Memory matters here (tens of thousands of idle sockets): everything optional (session, ack
table, pre-connect buffer, connect timer) is created on first use, and both classes use slots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from gevent.event import Event

from gsocketio._logging import get_logger
from gsocketio.acks import DEFAULT_ACK_LIMIT, AckTable
from gsocketio.adapters.base import Encoded, WireFormat
from gsocketio.greenlets import POOL
from gsocketio.protocol import socketio as sio_protocol
from gsocketio.protocol.socketio import Decoder, Packet

if TYPE_CHECKING:
    from gsocketio.engine import EngineConnection
    from gsocketio.stats import Stats

__all__ = ["CLOSED", "CONNECTED", "CONNECTING", "Client", "Socket", "SocketIOWire"]

log = get_logger("gsocketio.server")

CONNECTING: Final = 0  # connect handler running; outgoing packets are buffered
CONNECTED: Final = 1
CLOSED: Final = 2

MAX_HANDLERS_PER_CLIENT: Final = 128
"""Handler greenlets one connection may have running; past it the reader waits (backpressure:
a client flooding a slow handler slows down itself, not the server)."""

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


class Client:
    """One Engine.IO connection as the Socket.IO layer sees it."""

    __slots__ = (
        "_inflight",
        "_slot",
        "closed",
        "conn",
        "decoder",
        "eio",
        "sockets",
        "stats",
        "timer",
        "wire",
    )

    def __init__(self, conn: EngineConnection, decoder: Decoder, wire: WireFormat) -> None:
        self.stats: Stats | None = None  # the server's counters while instrumented
        self.conn = conn
        self.eio = conn.eio
        self.decoder = decoder
        self.wire = wire  # how this connection's packets are encoded (0.9 clients differ)
        self.sockets: dict[str, Socket] = {}  # namespace -> socket (connecting or connected)
        self.closed = False
        self.timer: Any = None  # connect-timeout loop timer until a namespace is joined
        self._inflight = 0
        self._slot: Event | None = None

    def cancel_timer(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.close()

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in a new greenlet, waiting first while too many are running.

        Called from the connection's reader: waiting here stops reading from that client only.
        """
        while self._inflight >= MAX_HANDLERS_PER_CLIENT and not self.closed:
            slot = self._slot
            if slot is None:
                slot = self._slot = Event()
            slot.clear()
            slot.wait()
        self._inflight += 1
        # A recycled bare greenlet (gsocketio.greenlets): a fresh one costs several times more
        # per message; fn never raises (the server's runners log errors).
        POOL.spawn(self._run, fn, args)

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        finally:
            self._inflight -= 1
            slot = self._slot
            if slot is not None:
                slot.set()


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
        "namespace",
        "session",
        "sid",
        "state",
        "wire",
    )

    def __init__(
        self, sid: str, namespace: str, client: Client, wire: WireFormat, auth: Any
    ) -> None:
        self.sid = sid
        self.namespace = namespace
        self.client = client
        self.wire = wire
        self.auth = auth
        self.state = CONNECTING
        self.close_reason: str | None = None
        self.session: dict[str, Any] | None = None
        self.data: dict[str, Any] | None = None  # user data shown by fetch_sockets (cluster)
        self.issued = time.time()  # the handshake's "issued" for fetch_sockets
        self.acks: AckTable | None = None
        self._buffer: list[str | bytes] | None = None

    def __repr__(self) -> str:
        return f"<Socket {self.sid} {self.namespace} state={self.state}>"

    def deliver(self, items: Encoded) -> None:
        """Send encoded messages now, or hold them until the connect handler accepts."""
        state = self.state
        if state == CONNECTED:
            if (stats := self.client.stats) is not None:
                stats.packets_out += 1
            self.client.conn.send_many(items)
        elif state == CONNECTING:
            buffer = self._buffer
            if buffer is None:
                buffer = self._buffer = []
            if len(buffer) + len(items) > MAX_PRECONNECT_ITEMS:
                log.warning("socket %s: pre-connect buffer full, dropping a packet", self.sid)
                return
            buffer.extend(items)

    def deliver_volatile(self, items: Encoded) -> None:
        """A volatile packet: dropped (and counted) while the connection says it is congested
        (over half its outgoing bound, with ``slow_consumer="drop_volatile"``)."""
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

    def open(self, connect_packet: Packet | None) -> None:
        """Become CONNECTED: the CONNECT reply first, then what the handler emitted meanwhile."""
        if connect_packet is not None:
            self.send_now(connect_packet)
        buffer, self._buffer = self._buffer, None
        self.state = CONNECTED
        if buffer and not self.client.closed:
            self.client.conn.send_many(buffer)

    def drop_buffer(self) -> None:
        self._buffer = None

    def add_ack(self, callback: Callable[..., object]) -> int:
        table = self.acks
        if table is None:
            table = self.acks = AckTable(DEFAULT_ACK_LIMIT)
        return table.add(callback)
