"""Seed mode: run a gevent-socketio app (a WSGI app calling ``socketio_manage``) for today's
clients (socket.io-client 1.x-4.x, Engine.IO 3 and 4) and, through the legacy endpoint, 0.9.

As the seed's ``SocketIOHandler`` did, :class:`SeedServer` runs the user's WSGI application
once per Socket.IO connection, in a greenlet, with ``environ['socketio']`` set to the
connection's virtual socket (:class:`gsocketio.compat.managed_socket.ModernSocket`); the app's view
calls :func:`gsocketio.socketio_manage`, which serves the connection until it closes. That
environ is a copy of the handshake request's, with ``PATH_INFO`` rewritten to the seed's URL
shape (``/socket.io/1/xhr-polling/<sid>`` or ``.../websocket/<sid>``) so the app's existing
route (Flask ``/socket.io/<path:remaining>``, Django ``^socket\\.io``...) matches, and an
empty body.

Seed sockets are first-class :class:`gsocketio.Server` sockets: the connection is the server's
own :class:`gsocketio.socket.Client` and each namespace it joins a :class:`gsocketio.socket.Socket`
(registered with the server and the adapter; wire format, pre-connect buffer, ack table), so
``sio.emit/call/enter_room/leave_room/rooms/get_session/session/disconnect/sockets`` work on
them as on modern sockets, for 0.9 clients too. Only the handler layer differs: packets go to
the BaseNamespace objects, one at a time and in order, in the view's receiver loop. What that
means for the Server API:

* ``sio.disconnect(sid, nsp)`` sends DISCONNECT and forgets the socket at once; the namespace's
  ``recv_disconnect`` then runs in the receiver loop (the connection closes with its last
  namespace, as in the seed, once the client had
  :data:`~gsocketio.compat.managed_socket.CLOSE_GRACE` seconds to close it itself);
* ``sio.get_session(sid)`` is the seed's per-connection ``session`` dict, shared by the
  connection's namespaces (what ``BaseNamespace.session`` is); ``save_session`` replaces its
  contents in place;
* ``sio.call(..., to=sid)`` works from any greenlet, a namespace method included: acks are
  resolved by the connection's reader, not the loop;
* a namespace finds its sid with ``self.socket.sid_of(self.ns_name)``.

The packet mapping between clients and the seed's packet dicts is in
:mod:`gsocketio.compat.managed_socket`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from gsocketio._logging import get_logger
from gsocketio.compat.managed_socket import ModernSocket
from gsocketio.compat.virtsocket import VirtualSocket, default_json_dumps
from gsocketio.protocol.socketio import Decoder
from gsocketio.server import Server
from gsocketio.socket import SocketIOWire
from gsocketio.websocket.connection import RFILE_KEY, SOCKET_KEY, WEBSOCKET_KEY

if TYPE_CHECKING:
    from gsocketio.engine import EngineConnection
    from gsocketio.wsgi import WSGIApp

__all__ = ["SEED_TRANSPORTS", "ModernSocket", "SeedServer", "SeedSockets", "modern_transports"]

log = get_logger("gsocketio.compat")

SEED_TRANSPORTS: Final = {
    "websocket": "websocket",
    "flashsocket": None,
    "htmlfile": "polling",
    "xhr-multipart": "polling",
    "xhr-polling": "polling",
    "jsonp-polling": "polling",
}
"""The seed's transport names and what today's clients use instead (None: no equivalent)."""


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


class SeedSockets(dict[str, VirtualSocket]):
    """``server.sockets``: the seed's dict of live virtual sockets by sessid, which custom
    mixins iterate; calling it is :meth:`gsocketio.Server.sockets` (sids of a namespace)."""

    def __init__(self, server: SeedServer) -> None:
        super().__init__()
        self._server = server

    def __call__(self, namespace: str | None = None) -> list[str]:
        return sorted(Server.sockets(self._server, namespace))


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
        # Seed sockets encode with the seed's JSON unless socketio_manage gives json_dumps.
        self._wire = SocketIOWire(default_json_dumps)
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
        for key in (SOCKET_KEY, RFILE_KEY, WEBSOCKET_KEY, "gunicorn.socket", "gunicorn.sock"):
            environ.pop(key, None)
        transport = conn.transport if conn.transport in SEED_TRANSPORTS else "xhr-polling"
        environ["gsocketio.original_path_info"] = environ.get("PATH_INFO", "")
        environ["PATH_INFO"] = f"/{self.resource}/1/{transport}/{conn.sid}"
        environ["wsgi.input"] = io.BytesIO(b"")
        environ["CONTENT_LENGTH"] = "0"
        return environ

    def forget(self, vsock: ModernSocket) -> None:
        sid = vsock.conn.sid
        if self._by_conn.get(sid) is vsock:
            del self._by_conn[sid]
        if self._clients.get(sid) is vsock.client:
            del self._clients[sid]
        vsock.detach()

    # --- Server API with the seed's handler layer --------------------------------------------

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """As :meth:`gsocketio.Server.disconnect`; the namespace's ``recv_disconnect`` runs in
        the connection's receiver loop (see the module docstring). Unknown sids: no-op."""
        sock = self._sockets.get(namespace or "/", {}).get(sid)
        if sock is None:
            return
        vsock = self._by_conn.get(sock.client.conn.sid)
        if vsock is None or vsock.client is not sock.client:
            super().disconnect(sid, namespace)
            return
        vsock.server_disconnect(sock)

    def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        """Replace the contents of the connection's seed session (shared by its namespaces)."""
        sock = self._socket(sid, namespace)
        current = sock.session
        if current is None or current is session:
            sock.session = session
            return
        current.clear()
        current.update(session)

    # --- EngineHandler -----------------------------------------------------------------------

    def engine_connect(self, conn: EngineConnection) -> None:
        if self.application is None:
            raise RuntimeError("SeedServer needs the WSGI application to run per connection")
        client = self._new_client(conn, Decoder(limits=self.engine.limits))
        vsock = ModernSocket(self, client)
        self._by_conn[conn.sid] = vsock
        self.seed_sockets[vsock.sessid] = vsock
        vsock.start(self.application)

    def engine_message(self, conn: EngineConnection, data: str | bytes) -> None:
        vsock = self._by_conn.get(conn.sid)
        if vsock is not None:
            vsock.feed(data)

    def engine_disconnect(self, conn: EngineConnection, reason: str) -> None:
        client = self._clients.pop(conn.sid, None)
        if client is not None:
            client.closed = True
        vsock = self._by_conn.pop(conn.sid, None)
        if vsock is not None:
            log.debug("%s: transport closed (%s)", conn.sid, reason)
            vsock.engine_closed(reason)
