"""Client: one Engine.IO (or 0.9) connection as the Socket.IO layer sees it.

It holds the connection's :class:`~gsocketio.protocol.socketio_session.SocketIOSession`, its wire
format, its sockets by namespace, the bounded set of handler greenlets it runs and the connect
timer, and hands the session's events to the server's handler layer (:mod:`gsocketio.registry`,
:mod:`gsocketio.compat.managed`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import gevent
import gevent.event

from gsocketio._logging import get_logger
from gsocketio.greenlets import POOL
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import Packet, PacketType
from gsocketio.protocol.socketio_session import (
    Ack,
    Connect,
    Disconnect,
    Event,
    Refused,
    SessionEvent,
    SocketIOSession,
    Violation,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gsocketio.adapters.base import WireFormat
    from gsocketio.socket import Socket
    from gsocketio.socketio_server import Server
    from gsocketio.stats import Stats

__all__ = ["MAX_HANDLERS_PER_CLIENT", "Client", "Connection", "OwnWire", "own_wire"]

log = get_logger("gsocketio.server")

MAX_HANDLERS_PER_CLIENT: Final = 128
"""Handler greenlets one connection may have running; past it the reader waits (backpressure:
a client flooding a slow handler slows down itself, not the server)."""


class Connection(Protocol):
    """What the Socket.IO layer uses of a connection: the engine's ``EngineConnection``, the
    0.9 endpoint's ``LegacyConnection`` and the tests' fakes all are one."""

    @property
    def sid(self) -> str: ...

    @property
    def eio(self) -> int: ...

    @property
    def environ(self) -> dict[str, Any]: ...

    @property
    def transport(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def send_many(self, items: Sequence[str | bytes]) -> None: ...

    def close(self) -> None: ...


class OwnWire(Protocol):
    """A connection that encodes with a wire format of its own (the 0.9 endpoint's) and is told
    when the server ends a namespace for it: for a 0.9 client, losing ``/`` ends everything.

    Not ``runtime_checkable`` (mypyc/mypyc#909: a compiled Protocol class is no protocol to
    ``isinstance``): :func:`own_wire` is the runtime test."""

    @property
    def wire(self) -> WireFormat: ...

    def close_namespace(self, namespace: str) -> None: ...

    def refuse(self, namespace: str) -> None: ...


def own_wire(conn: object) -> OwnWire | None:
    """``conn`` as an :class:`OwnWire` if it is one (it has ``close_namespace``), else None."""
    return cast(OwnWire, conn) if hasattr(conn, "close_namespace") else None


class Client:
    """One connection of the Socket.IO layer (see the module docstring).

    ``hold``: while set (by a handler layer that is not ready yet), raw messages go to it
    instead of the session, in order.
    """

    __slots__ = (
        "_inflight",
        "_inline_conn",
        "_slot",
        "closed",
        "conn",
        "eio",
        "hold",
        "own",
        "server",
        "session",
        "sockets",
        "stats",
        "timer",
        "wire",
    )

    def __init__(
        self, server: Server, conn: Connection, session: SocketIOSession, wire: WireFormat
    ) -> None:
        self.server = server
        self.stats: Stats | None = server.metrics  # counters while instrumented, else None
        self.conn = conn
        self.eio = conn.eio
        self.session = session
        own = own_wire(conn)
        self.own: OwnWire | None = own
        self.wire = (
            own.wire if own is not None else wire
        )  # how this connection's packets are encoded
        self.sockets: dict[str, Socket] = {}  # namespace -> socket (connecting or connected)
        self.closed = False
        self.hold: Callable[[str | bytes | Packet], None] | None = None
        self.timer: Any = None  # connect-timeout loop timer until a namespace is joined
        self._inflight = 0
        # The engine's connections may run handlers on their reader (EngineConnection.run_inline).
        # (Not named ``_inline``: mypyc would make it the C struct field ``__inline``, a keyword.)
        self._inline_conn: Any = conn if hasattr(conn, "run_inline") else None
        self._slot: gevent.event.Event | None = None

    def __repr__(self) -> str:
        return f"<Client {self.conn.sid} eio={self.eio} {sorted(self.sockets)}>"

    # --- inbound -----------------------------------------------------------------------------

    def dispatch(self, events: list[SessionEvent]) -> None:
        """Act on the session's events (called from the connection's reader)."""
        server = self.server
        handlers = server.handlers
        for event in events:
            if type(event) is Event:
                if (stats := self.stats) is not None:
                    stats.events_in += 1
                sock = self.sockets.get(event.namespace)
                if sock is not None:
                    handlers.on_event(sock, event.data, event.id)
            elif type(event) is Ack:
                sock = self.sockets.get(event.namespace)
                table = sock.acks if sock is not None else None
                callback = table.pop(event.id) if table is not None else None
                if sock is not None and callback is not None:
                    handlers.on_ack(sock, callback, event.data)
                else:
                    log.debug("ack %s from %s: not pending", event.id, self.conn.sid)
            elif type(event) is Connect:
                server.open_socket(self, event)
            elif type(event) is Disconnect:
                sock = self.sockets.get(event.namespace)
                if sock is not None:
                    server.close_socket(sock, DisconnectReason.CLIENT_DISCONNECT, inline=False)
            elif type(event) is Refused:
                server.logger.warning("refusing %s: %s", self.conn.sid, event.why)
                if (stats := self.stats) is not None and event.bound:
                    stats.bound(event.bound)
                self.refuse(event.packet)
            elif type(event) is Violation:
                server.logger.warning("closing %s: %s", self.conn.sid, event.why)
                server.close_client(self, DisconnectReason.PARSE_ERROR)
                return

    def feed(self, item: str | bytes | Packet) -> None:
        """Run a message (or decoded packet) a handler layer held (:attr:`hold`)."""
        if not self.closed:
            session = self.session
            if isinstance(item, Packet):
                self.dispatch(session.receive_packet(item))
            else:
                self.dispatch(session.receive(item))

    def start(self) -> None:
        """Run the opening events (v4: the implicit ``/``) a handler layer held until ready."""
        if not self.closed:
            self.dispatch(self.session.start())

    # --- outbound ----------------------------------------------------------------------------

    def send_packets(self, *packets: Packet) -> None:
        """Encode and send packets regardless of socket state (connect replies, refusals)."""
        if self.closed:
            return
        encode = self.wire.encode
        for packet in packets:
            self.conn.send_many(encode(packet))

    def refuse(self, packet: Packet) -> None:
        """Send a CONNECT_ERROR (from :attr:`session`) and tell a connection with its own wire."""
        if self.closed:
            return
        self.send_packets(packet)
        if self.own is not None:
            self.own.refuse(packet.namespace)

    def disconnect(self, namespace: str) -> None:
        """Send DISCONNECT for ``namespace`` and tell a connection with its own wire."""
        if self.closed:
            return
        self.send_packets(Packet(PacketType.DISCONNECT, namespace))
        if self.own is not None:
            self.own.close_namespace(namespace)

    # --- connect timeout ---------------------------------------------------------------------

    def arm_timer(self, seconds: float, fired: Callable[[Client], None]) -> None:
        """Call ``fired(self)`` from the hub after ``seconds`` unless :meth:`cancel_timer` runs
        first. A loop timer rather than a sleeping greenlet: far cheaper per connection."""
        timer = gevent.get_hub().loop.timer(seconds)
        self.timer = timer
        timer.start(fired, self)

    def cancel_timer(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.close()

    # --- handler greenlets -------------------------------------------------------------------

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` as a handler of its own, waiting first while too many are running:
        inline on a WebSocket reader that can hand its reading over should ``fn`` block, else
        in a recycled greenlet. Either way the caller goes on reading while ``fn`` waits.

        Called from the connection's reader: waiting here stops reading from that client only.
        """
        if self._inflight >= MAX_HANDLERS_PER_CLIENT:
            self._wait_for_slot()
        self._inflight += 1
        # On the WebSocket reader, fn runs right here (no switch) and the reading moves to
        # another greenlet only if fn blocks (gsocketio.engine.websocket). Else a recycled
        # bare greenlet (gsocketio.greenlets): a fresh one costs several times more per
        # message. fn never raises (the handler layer's runners log errors).
        inline = self._inline_conn
        if inline is None or not inline.run_inline(self._run, (fn, args)):
            POOL.spawn(self._run, fn, args)

    def _wait_for_slot(self) -> None:
        """The client has its bound of handlers running: wait (bounded by their end)."""
        if (stats := self.stats) is not None:
            stats.bound("handlers_per_client")
        while self._inflight >= MAX_HANDLERS_PER_CLIENT and not self.closed:
            slot = self._slot
            if slot is None:
                slot = self._slot = gevent.event.Event()
            slot.clear()
            slot.wait()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        finally:
            self._inflight -= 1
            slot = self._slot
            if slot is not None:
                slot.set()
