"""gevent-socketio's ``socketio_manage``, its per-connection "virtual socket" and error handler.

What the seed's ``socketio.virtsocket.Socket`` and ``socketio.socketio_manage`` did, protocol
independent: the namespaces see :class:`VirtualSocket` as ``self.socket`` and exchange packets
with it in the seed's dict form (``{'type': 'event', 'name': ..., 'args': [...], 'endpoint':
'/chat', 'id': 1, 'ack': 'data'}``, see :meth:`gsocketio.protocol.legacy.Packet.to_seed_dict`).
A protocol layer subclasses it and implements four hooks:

* :meth:`VirtualSocket._transmit` — put one outgoing seed packet on the wire (unserved, a
  socket queues it on ``client_queue``, :mod:`gsocketio.compat.client_queue`);
* :meth:`VirtualSocket._packets_from` — turn one queued inbound item into seed packets;
* :meth:`VirtualSocket._close_endpoint` / :meth:`VirtualSocket._close_transport` — drop one
  namespace / the whole connection; :meth:`VirtualSocket._room_sid` — the socket's sid in the
  server's adapter for a namespace (what the mixins join rooms and skip themselves with).

:mod:`gsocketio.compat.managed` implements them for every client generation (0.9 and
socket.io-client 1.x-4.x), so namespaces never learn which protocol a client speaks.

As in the seed, inbound packets of one connection are handled one at a time, in order, by a
receiver loop that ``socketio_manage`` runs until the socket closes. Deliberate differences
from the seed:

* the loop runs in the view's own greenlet (the seed spawned one and joined it), so a
  framework's request-local state (Flask's ``request``, ``g``...) is still there in handlers;
  ``kill()`` from another greenlet ends the loop after the packet being handled;
* an exception from a namespace method is logged with sid and event, reported through the
  error handler as ``method_error``, and the loop goes on (the seed's loop died with it);
* the inbound queue and the pending-ack table are bounded (:data:`MAX_QUEUED`,
  :data:`MAX_PENDING_ACKS`); a full queue makes the transport wait (backpressure);
* ``initialize()`` runs on each class of the MRO that *defines* it (the seed's ``hasattr`` also
  re-ran an inherited one once per subclass).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import gevent
from gevent.queue import Full, Queue

from gsocketio._logging import get_logger
from gsocketio.acks import AckTable
from gsocketio.compat.client_queue import ClientQueue
from gsocketio.compat.packets import SeedPacket
from gsocketio.protocol import _json

if TYPE_CHECKING:
    from gsocketio.namespace import BaseNamespace

__all__ = [
    "MAX_PENDING_ACKS",
    "MAX_QUEUED",
    "Socket",
    "VirtualSocket",
    "default_error_handler",
    "default_json_dumps",
    "default_json_loads",
    "socketio_manage",
]

log = get_logger("gsocketio.compat")

ErrorHandler = Callable[["VirtualSocket", str, str, str | None, Any, bool], Any]
NamespaceMap = Mapping[str, type["BaseNamespace"]]

MAX_QUEUED: Final = 1024
"""Inbound items waiting for the receiver loop; past it the transport's reader waits."""

MAX_PENDING_ACKS: Final = 1024
"""Ack callbacks (``emit(..., callback=)``) kept per socket; the oldest is dropped past it."""

_WAKE: Final = object()  # queued to wake the receiver loop without a packet
_CLOSE: Final = object()  # queued when the transport is gone


default_json_loads: Final = _json.loads
"""The seed's default JSON decoder: :func:`gsocketio.protocol._json.loads` (strict)."""

default_json_dumps: Final = _json.dumps
"""The seed's default JSON encoder (compact, Decimal as a number):
:func:`gsocketio.protocol._json.dumps`."""


def default_error_handler(
    socket: VirtualSocket,
    error_name: str,
    error_message: str,
    endpoint: str | None,
    msg_id: Any,
    quiet: bool,
) -> None:
    """Send the ``error`` event ``[error_name, error_message]`` to the client and log it.

    ``quiet`` only logs. Replace it with ``socketio_manage(..., error_handler=fn)``; ``fn`` gets
    the same arguments.
    """
    pkt: SeedPacket = {
        "type": "event",
        "name": "error",
        "args": [error_name, error_message],
        "endpoint": endpoint or "",
    }
    if msg_id:
        pkt["id"] = msg_id
    if not quiet:
        socket.send_packet(pkt)
    log.error(
        "default_error_handler: %s, %s (endpoint=%s, msg_id=%s, sid=%s)",
        error_name,
        error_message,
        endpoint,
        msg_id,
        socket.sessid,
    )


def _method_for(pkt: Mapping[str, Any]) -> str:
    """The namespace method a packet is dispatched to, for error reports."""
    kind = pkt.get("type")
    if kind == "event":
        return "on_" + str(pkt.get("name", "")).replace(" ", "_")
    if kind == "ack":
        return "ack callback"
    return f"recv_{kind}"


class VirtualSocket(ClientQueue):
    """One client connection as the seed's namespaces see it (``self.socket``).

    Holds the namespace classes given to :func:`socketio_manage`, the namespace objects created
    so far (``active_ns``), the per-connection ``session`` dict they share, ack callbacks and
    the error handler. Subclasses connect it to a protocol (see the module docstring).
    """

    STATE_CONNECTING = "CONNECTING"
    STATE_CONNECTED = "CONNECTED"
    STATE_DISCONNECTING = "DISCONNECTING"
    STATE_DISCONNECTED = "DISCONNECTED"

    GLOBAL_NS = ""
    """The global namespace's endpoint (``'/'`` for today's clients)."""

    json_loads: Callable[[str], Any] = staticmethod(default_json_loads)
    json_dumps: Callable[[Any], str] = staticmethod(default_json_dumps)

    def __init__(
        self,
        server: Any,
        config: Mapping[str, Any] | None = None,
        error_handler: ErrorHandler | None = None,
        sessid: str | None = None,
    ) -> None:
        self.server = server
        self.sessid = sessid or secrets.token_hex(10)
        self.session: dict[str, Any] = {}
        self.state = "NEW"
        self.connection_established = False
        self.acks = AckTable(MAX_PENDING_ACKS)  # by gevent-socketio's message id
        self.ack_counter = 0
        self.request: Any = None
        self.environ: dict[str, Any] | None = None
        self.namespaces: dict[str, type[BaseNamespace]] = {}
        self.active_ns: dict[str, BaseNamespace] = {}
        self.jobs: list[gevent.Greenlet[..., Any]] = []
        self.error_handler: ErrorHandler = error_handler or default_error_handler
        self.config: dict[str, Any] = dict(config or {})
        self.wsgi_app_greenlet: gevent.Greenlet[..., Any] | None = None
        self.managed = False
        self._inbox: Queue[Any] = Queue(maxsize=MAX_QUEUED)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.sessid} {self.state} ns={sorted(self.active_ns)}>"

    # --- set by socketio_manage --------------------------------------------------------------

    def _set_namespaces(self, namespaces: NamespaceMap) -> None:
        self.namespaces = dict(namespaces)

    def _set_request(self, request: Any) -> None:
        self.request = request

    def _set_environ(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    def _set_error_handler(self, error_handler: ErrorHandler) -> None:
        self.error_handler = error_handler

    def _set_json_loads(self, json_loads: Callable[[str], Any]) -> None:
        self.json_loads = json_loads

    def _set_json_dumps(self, json_dumps: Callable[[Any], str]) -> None:
        self.json_dumps = json_dumps

    # --- acks --------------------------------------------------------------------------------

    def _get_next_msgid(self) -> int:
        self.ack_counter += 1
        return self.ack_counter

    @property
    def ack_callbacks(self) -> Mapping[Any, Callable[..., Any]]:
        """gevent-socketio's pending ack callbacks by message id (read-only)."""
        return self.acks.pending

    def _save_ack_callback(self, msgid: Any, callback: Callable[..., Any]) -> bool:
        return self.acks.put(msgid, callback)

    def _pop_ack_callback(self, msgid: Any) -> Callable[..., Any] | None:
        callback: Callable[..., Any] | None = self.acks.pop(msgid)
        return callback

    # --- namespaces --------------------------------------------------------------------------

    def __getitem__(self, key: str) -> BaseNamespace:
        """The active namespace object of ``key``: ``self.socket['/chat'].emit(...)``."""
        return self.active_ns[key]

    def __contains__(self, key: object) -> bool:
        return key in self.active_ns

    __hasitem__ = __contains__  # the seed's spelling

    @property
    def connected(self) -> bool:
        return self.state == self.STATE_CONNECTED

    def sid_of(self, endpoint: str = "") -> str | None:
        """This connection's sid in ``endpoint`` for the :class:`gsocketio.Server` API
        (``sio.call(..., to=sid)``, ``sio.rooms(sid)``...); None when not connected there."""
        return self._room_sid(endpoint)

    def error(
        self,
        error_name: str,
        error_message: str,
        endpoint: str | None = None,
        msg_id: Any = None,
        quiet: bool = False,
    ) -> Any:
        """Report an error through the configured error handler."""
        return self.error_handler(self, error_name, error_message, endpoint, msg_id, quiet)

    def disconnect(self, silent: bool = False) -> None:
        """Call ``recv_disconnect()`` on every active namespace (the seed ignores ``silent``)."""
        for ns_name, ns in list(self.active_ns.items()):
            try:
                ns.recv_disconnect()
            except Exception:
                log.exception(
                    "error in recv_disconnect (sid %s, namespace %r)", self.sessid, ns_name
                )

    def remove_namespace(self, namespace: str) -> None:
        """Forget a namespace object; the connection closes when none is left."""
        self.active_ns.pop(namespace, None)
        self._close_endpoint(namespace)
        if not self.active_ns and not self._endpoints_open() and self.connected:
            self.kill(detach=True)

    def send_packet(self, pkt: Mapping[str, Any]) -> None:
        """Send one packet in the seed's dict form to this client."""
        self._transmit(pkt)

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> gevent.Greenlet[..., Any]:
        """Run ``fn`` in a greenlet killed with the socket."""
        job = gevent.spawn(fn, *args, **kwargs)
        self.jobs = [j for j in self.jobs if not j.dead]
        self.jobs.append(job)
        return job

    def kill(self, detach: bool = False) -> None:
        """Close the socket: ``recv_disconnect()`` on each namespace, then kill the jobs."""
        self.acks.abort_all("socket closed")
        if self.connected:
            self.state = self.STATE_DISCONNECTING
            self._wake()
            if self.active_ns:
                self.disconnect()
            self.state = self.STATE_DISCONNECTED
        if detach:
            self.detach()
        try:
            self._close_transport()
        finally:
            current = gevent.getcurrent()
            gevent.killall([job for job in self.jobs if job is not current], block=False)

    def detach(self) -> None:
        """Remove this socket from ``server.sockets``."""
        sockets = getattr(self.server, "sockets", None)
        if isinstance(sockets, dict) and sockets.get(self.sessid) is self:
            del sockets[self.sessid]

    # --- the receiver loop -------------------------------------------------------------------

    def put_server_msg(self, item: Any) -> None:
        """Queue one inbound item (a seed dict, or raw data the subclass decodes); waits while
        the queue is full so a flooding client slows down only itself."""
        if self.state in (self.STATE_DISCONNECTING, self.STATE_DISCONNECTED):
            return
        self._inbox.put(item)

    def _wake(self) -> None:
        # When full, the loop is busy and sees the new state after its current item.
        with contextlib.suppress(Full):
            self._inbox.put_nowait(_WAKE)

    def transport_closed(self) -> None:
        """The client is gone: the loop handles what was queued, then kills the socket."""
        try:
            self._inbox.put_nowait(_CLOSE)
        except Full:
            self._inbox = Queue(maxsize=MAX_QUEUED)  # nothing queued can be answered any more
            self._inbox.put_nowait(_CLOSE)

    def _receiver_loop(self) -> None:
        """Serve the socket until it closes, in the calling greenlet (the app's view)."""
        self.managed = True
        if not self.connected:
            return
        try:
            self._on_managed()
            while self.connected:
                item = self._inbox.get()
                if item is _CLOSE:
                    break
                if item is _WAKE:
                    continue
                for pkt in self._packets_from(item):
                    self._handle_packet(pkt)
                    if not self.connected:
                        break
        finally:  # whatever ends the loop (even a bug or a kill) closes the socket
            if self.state != self.STATE_DISCONNECTED:
                self.kill(detach=True)

    def _handle_packet(self, pkt: SeedPacket) -> None:
        """The seed's per-packet dispatch, plus error containment."""
        kind = pkt.get("type")
        if kind in ("heartbeat", "noop"):
            return
        if kind == "disconnect" and self._is_global_disconnect(pkt):
            self.kill(detach=True)
            return
        endpoint = pkt.get("endpoint") or ""
        if endpoint not in self.namespaces:
            self.error(
                "no_such_namespace",
                f"The endpoint you tried to connect to doesn't exist: {endpoint}",
                endpoint=endpoint,
            )
            return
        try:
            ns = self.active_ns.get(endpoint)
            if ns is None:
                ns = self._create_namespace(endpoint)
            retval = ns.process_packet(pkt)
        except Exception:
            method = _method_for(pkt)
            log.exception(
                "error in %s (sid %s, namespace %r, packet %s)", method, self.sessid, endpoint, kind
            )
            self.error(
                "method_error", f'The server-side method "{method}" failed', endpoint=endpoint
            )
            return
        if pkt.get("ack") == "data" and pkt.get("id") is not None and self.connected:
            args = list(retval) if type(retval) is tuple else [retval]
            ack = {"type": "ack", "ackId": pkt["id"], "args": args, "endpoint": endpoint}
            try:
                self.send_packet(ack)
            except (TypeError, ValueError) as exc:  # never drop an ack silently
                log.error(
                    "ack of %s not sent (sid %s, namespace %r): the reply cannot be encoded: %s",
                    _method_for(pkt),
                    self.sessid,
                    endpoint,
                    exc,
                )

    def _create_namespace(self, endpoint: str) -> BaseNamespace:
        from gsocketio.namespace import initialize_namespace

        cls = self.namespaces[endpoint]
        environ = self.environ if self.environ is not None else {"socketio": self}
        ns = cls(environ, endpoint, request=self.request)
        initialize_namespace(ns)
        self.active_ns[endpoint] = ns
        return ns

    # --- protocol hooks ----------------------------------------------------------------------

    def _on_managed(self) -> None:
        """Runs first in the receiver loop, once ``socketio_manage`` configured the socket."""

    def _packets_from(self, item: Any) -> Iterable[SeedPacket]:
        """Turn one queued inbound item into seed packets (default: it is one already)."""
        return (item,)

    def _is_global_disconnect(self, pkt: Mapping[str, Any]) -> bool:
        """Whether a disconnect packet ends the whole connection (0.9: endpoint ``''``)."""
        return (pkt.get("endpoint") or "") == ""

    def _room_sid(self, endpoint: str) -> str | None:
        """This socket's sid in ``server.adapter`` for ``endpoint``, None if not registered."""
        return None

    def _endpoints_open(self) -> bool:
        """Whether the client still has namespaces open at the protocol level."""
        return False

    def _close_endpoint(self, endpoint: str) -> None:
        """Stop delivering to one namespace (leave the adapter); no packet is sent."""

    def _close_transport(self) -> None:
        """Close the connection (idempotent)."""


Socket = VirtualSocket
"""The seed's name (``socketio.virtsocket.Socket``)."""


def socketio_manage(
    environ: dict[str, Any],
    namespaces: NamespaceMap,
    request: Any = None,
    error_handler: ErrorHandler | None = None,
    json_loads: Callable[[str], Any] | None = None,
    json_dumps: Callable[[Any], str] | None = None,
) -> None:
    """Attach ``namespaces`` to the connection in ``environ['socketio']`` and serve it.

    Call it from the view that your framework routes ``/socket.io/...`` to; it blocks until the
    socket closes. ``namespaces`` maps endpoints (``''`` is the global one) to
    :class:`gsocketio.namespace.BaseNamespace` subclasses; ``request`` is handed to them as
    ``self.request``; ``error_handler`` replaces :func:`default_error_handler`; ``json_loads``
    and ``json_dumps`` replace JSON for every packet of this socket.
    """
    socket: VirtualSocket = environ["socketio"]
    socket._set_environ(environ)
    socket._set_namespaces(namespaces)
    if request:
        socket._set_request(request)
    if error_handler:
        socket._set_error_handler(error_handler)
    if json_loads:
        socket._set_json_loads(json_loads)
    if json_dumps:
        socket._set_json_dumps(json_dumps)
    socket._receiver_loop()
