"""Instrumentation for the Socket.IO Admin UI (``@socket.io/admin-ui`` 0.5): ``sio.instrument()``.

It serves the UI's ``/admin`` namespace as the package's own Node server side does: login,
``config``, ``server_stats`` every few seconds, and in development mode ``all_sockets`` and the
socket, room and event notifications; the UI's commands (``emit``, ``join``, ``leave``,
``_disconnect``) become cluster operations, so they reach sockets on any node, and every
notification is an emit to the admin namespace, so admins on every node see every node. It
plugs into the server's existing hooks (lifecycle listeners, catch-all observers, the hot-path
counters of :mod:`gsocketio.stats`, :mod:`gsocketio.adapters.room_events` on the
local adapter) only when instrumented: a server that never calls ``instrument`` runs none of it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import socket as _socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import gevent

from gsocketio._logging import get_logger
from gsocketio.adapters.base import EVERYONE
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.adapters.room_events import watch_rooms
from gsocketio.admin_ui import AdminUIApp
from gsocketio.exceptions import ClusterError, ConnectionRefusedError
from gsocketio.hooks import ALL_NAMESPACES, Observer
from gsocketio.operator import RemoteSocket
from gsocketio.protocol.socketio import Packet, PacketType
from gsocketio.stats import Stats
from gsocketio.wsgi import WSGIApp

if TYPE_CHECKING:
    from gsocketio.socket import Socket
    from gsocketio.socketio_server import Server

__all__ = ["AdminAPI", "Instrumentation"]

log = get_logger("gsocketio.admin")

SESSION_TTL: Final = 86400.0
"""Seconds a login session (the ``session`` event's id) stays valid: the Node store's EX."""

COMMANDS: Final = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")

Auth = bool | Mapping[str, Any] | list[Mapping[str, Any]] | Callable[[Any], bool]


_second: list[Any] = [-1, ""]  # the last whole second formatted, and its text


def _now() -> str:
    """A timestamp as the UI reads it (python-socketio's form: ISO 8601 with milliseconds,
    UTC); the seconds part is formatted once per second, as every event carries one."""
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second[0] = whole
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


def _matches(expected: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Every expected field given, compared in constant time."""
    for name, value in expected.items():
        got = given.get(name)
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), str(value).encode()):
            return False
    return True


def serialize(nsp: str, d: Mapping[str, Any]) -> dict[str, Any]:
    """A socket as the UI lists it (Node's ``serialize``), from a fetch_sockets description."""
    data = d.get("data")
    data = dict(data) if isinstance(data, Mapping) else {}
    admin = data.pop("_admin", None)
    admin = admin if isinstance(admin, Mapping) else {}
    hs = d.get("handshake")
    hs = hs if isinstance(hs, Mapping) else {}
    headers = hs.get("headers")
    headers = headers if isinstance(headers, Mapping) else {}
    sid = str(d.get("id"))
    rooms = d.get("rooms")
    rooms = [str(r) for r in rooms] if isinstance(rooms, list | set | tuple) else []
    return {
        "id": sid,
        "clientId": admin.get("clientId"),
        "transport": admin.get("transport"),
        "nsp": nsp,
        "data": data,
        "handshake": {
            "address": headers.get("cf-connecting-ip")
            or headers.get("x-forwarded-for")
            or hs.get("address"),
            "headers": dict(headers),
            "query": hs.get("query", {}),
            "issued": hs.get("issued"),
            "secure": hs.get("secure", False),
            "time": hs.get("time"),
            "url": hs.get("url"),
            "xdomain": hs.get("xdomain", False),
        },
        "rooms": [sid, *sorted(r for r in rooms if r != sid)] if sid in rooms else sorted(rooms),
    }


class Instrumentation:
    """One server's admin namespace: its login, stats emitter and notifications.

    Built by :meth:`AdminAPI.instrument`; :meth:`stop` ends the stats greenlet.
    """

    def __init__(
        self,
        server: Server,
        auth: Auth | None,
        namespace: str,
        mode: str,
        read_only: bool,
        server_id: str | None,
        server_stats_interval: float,
    ) -> None:
        if auth is None or auth is True:
            raise ValueError(
                "instrument() needs auth: False (no login: never in production), a dict such "
                "as {'username': ..., 'password': ...}, a list of them, or a callable(auth)"
            )
        if mode not in ("development", "production"):
            raise ValueError(f"mode must be 'development' or 'production', not {mode!r}")
        self.server = server
        self.auth = auth
        self.namespace = namespace if namespace.startswith("/") else "/" + namespace
        self.development = mode == "development"
        self.read_only = read_only
        self.server_id = server_id or f"{_socket.gethostname()}#{os.getpid()}"
        self.interval = server_stats_interval
        self.started = time.time()
        self._alone = type(server.adapter) is MemoryAdapter  # no other node to tell
        self._sessions: dict[str, float] = {}  # login session id -> expiry (this node's)
        features = [] if read_only else list(COMMANDS)
        features.append("AGGREGATED_EVENTS")
        if self.development:
            features.append("ALL_EVENTS")
        self.features = features
        if server.metrics is None:  # the counters of gsocketio.stats, shared with /metrics
            server.metrics = Stats()
        metrics = server.metrics
        self._seen = (metrics, len(server._clients), _totals(metrics), dict(metrics.disconnects))
        self._register()
        self._greenlet: gevent.Greenlet[Any] | None = gevent.spawn(self._run_stats)

    # --- setup -------------------------------------------------------------------------------

    def _register(self) -> None:
        sio = self.server
        nsp = self.namespace
        sio.on("connect", self._on_admin_connect, namespace=nsp)
        if not self.read_only:
            sio.on("emit", self._cmd_emit, namespace=nsp)
            sio.on("join", self._cmd_join, namespace=nsp)
            sio.on("leave", self._cmd_leave, namespace=nsp)
            sio.on("_disconnect", self._cmd_disconnect, namespace=nsp)
        if not self.development:
            return
        hooks = sio._hooks
        hooks.connected.append(self._socket_connected)
        hooks.disconnected.append(self._socket_closed)
        hooks.add_incoming(Observer(self._event_received), ALL_NAMESPACES, first=True)
        hooks.add_outgoing(Observer(self._event_sent), ALL_NAMESPACES, first=True)
        sio._hooks_changed()  # the handler layer takes the hooked event path from now on
        adapter = sio.adapter
        local = adapter if isinstance(adapter, MemoryAdapter) else getattr(adapter, "local", None)
        if isinstance(local, MemoryAdapter):
            watch_rooms(local, self._room_changed)
        else:
            log.warning(
                "admin UI: the adapter %s keeps no local MemoryAdapter: room_joined/room_left "
                "are not reported (socket lists still show rooms)",
                type(adapter).__name__,
            )

    def stop(self) -> None:
        """Stop emitting ``server_stats`` (the handlers stay registered)."""
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=False)

    # --- notifications -----------------------------------------------------------------------

    def _emit(self, event: str, *args: Any) -> None:
        """To every admin, on every node; straight to the adapter, as the application's
        outgoing listeners have no business seeing it. A lone server (memory adapter) with
        no admin connected skips it: the per-event cost of development mode with no UI open."""
        sio = self.server
        if self._alone and self.namespace not in sio._sockets:
            return
        try:
            sio.adapter.broadcast(
                Packet(PacketType.EVENT, self.namespace, [event, *args]), EVERYONE
            )
        except (ClusterError, TypeError, ValueError) as exc:  # never break the caller's path
            log.warning("admin UI: %s not sent: %s", event, exc)

    def _describe(self, sock: Socket) -> dict[str, Any]:
        return serialize(sock.namespace, self.server._cluster_host.describe(sock))

    def _socket_connected(self, sock: Socket) -> None:
        conn = sock.client.conn
        if sock.data is None:
            sock.data = {}
        # What Node's instrumentation keeps in socket.data, so every node can list the socket.
        sock.data["_admin"] = {"clientId": conn.sid[:12], "transport": conn.transport}
        self._emit("socket_connected", self._describe(sock), _now())

    def _socket_closed(self, sock: Socket, reason: str) -> None:
        self._emit("socket_disconnected", sock.namespace, sock.sid, str(reason), _now())

    def _event_received(self, namespace: str, sid: str, data: list[Any]) -> None:
        if namespace != self.namespace:
            self._emit("event_received", namespace, sid, list(data), _now())

    def _event_sent(self, namespace: str, sid: str, data: list[Any]) -> None:
        if namespace != self.namespace:  # the admin's own emits would loop
            self._emit("event_sent", namespace, sid, list(data), _now())

    def _room_changed(self, namespace: str, room: str, sid: str, joined: bool) -> None:
        self._emit("room_joined" if joined else "room_left", namespace, room, sid, _now())

    def _check_transports(self) -> None:
        """``socket_updated`` for local sockets whose connection upgraded since the last tick."""
        for by_sid in list(self.server._sockets.values()):
            for sock in list(by_sid.values()):
                admin = sock.data.get("_admin") if sock.data else None
                transport = sock.client.conn.transport
                if isinstance(admin, dict) and admin.get("transport") != transport:
                    admin["transport"] = transport
                    info = {"id": sock.sid, "nsp": sock.namespace, "transport": transport}
                    self._emit("socket_updated", info)

    # --- the admin namespace -----------------------------------------------------------------

    def _authenticate(self, auth: Any) -> str | None:
        """None if the login is accepted as it is, a new session id to send, or raises."""
        given = auth if isinstance(auth, Mapping) else {}
        if self.auth is False:
            return None
        session = given.get("sessionId")
        now = time.monotonic()
        if isinstance(session, str) and self._sessions.get(session, 0.0) > now:
            return None
        allowed = self.auth
        if callable(allowed):
            ok = bool(allowed(dict(given)))
        elif isinstance(allowed, Mapping):
            ok = _matches(allowed, given)
        else:
            ok = any(_matches(entry, given) for entry in allowed)
        if not ok:
            raise ConnectionRefusedError("invalid credentials")
        for old in [s for s, until in self._sessions.items() if until <= now]:
            del self._sessions[old]
        session = secrets.token_hex(8)
        self._sessions[session] = now + SESSION_TTL
        return session

    def _on_admin_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        session = self._authenticate(auth)
        sio = self.server
        if session is not None:
            sio.emit("session", session, to=sid, namespace=self.namespace)
        sio.emit("config", {"supportedFeatures": self.features}, to=sid, namespace=self.namespace)
        if self.development:  # a cluster request: not in the connect handler's greenlet
            gevent.spawn(self._send_all_sockets, sid)

    def _namespaces(self) -> list[str]:
        return sorted({*self.server._sockets, "/", self.namespace})

    def _send_all_sockets(self, sid: str) -> None:
        found: list[dict[str, Any]] = []
        for nsp in self._namespaces():
            try:
                sockets = self.server.fetch_sockets(nsp)
            except ClusterError as exc:  # a mute node: list what answered
                log.warning("admin UI: all_sockets of %s incomplete: %s", nsp, exc)
                continue
            found.extend(serialize(nsp, _remote(s)) for s in sockets)
        self.server.emit("all_sockets", found, to=sid, namespace=self.namespace)

    # --- commands (the UI's buttons) ---------------------------------------------------------

    def _target(self, nsp: Any, filter_: Any) -> Any:
        op = self.server.of(str(nsp or "/"))
        return op.to(str(filter_)) if filter_ else op

    def _cmd_emit(self, sid: str, nsp: Any, filter_: Any, event: Any, *args: Any) -> None:
        log.info("admin UI (%s): emit %r to %s in %s", sid, event, filter_ or "all", nsp)
        try:
            self._target(nsp, filter_).emit(str(event), *args)
        except ValueError as exc:  # a reserved event name
            log.info("admin UI: emit refused: %s", exc)

    def _cmd_join(self, sid: str, nsp: Any, room: Any, filter_: Any = None) -> None:
        log.info("admin UI (%s): %s in %s join %r", sid, filter_ or "all", nsp, room)
        self._target(nsp, filter_).sockets_join(str(room))

    def _cmd_leave(self, sid: str, nsp: Any, room: Any, filter_: Any = None) -> None:
        log.info("admin UI (%s): %s in %s leave %r", sid, filter_ or "all", nsp, room)
        self._target(nsp, filter_).sockets_leave(str(room))

    def _cmd_disconnect(self, sid: str, nsp: Any, close: Any = False, filter_: Any = None) -> None:
        log.info("admin UI (%s): disconnect %s in %s", sid, filter_ or "all", nsp)
        self._target(nsp, filter_).disconnect_sockets(bool(close))

    # --- server_stats ------------------------------------------------------------------------

    def _run_stats(self) -> None:
        while True:
            try:
                self._emit_stats()
                if self.development:
                    self._check_transports()
            except Exception:  # the loop must survive anything one tick meets
                log.exception("admin UI: server_stats failed")
            gevent.sleep(self.interval)

    def _aggregated(self) -> list[dict[str, Any]]:
        """What happened since the last tick, from the :class:`Stats` counters."""
        stats = self.server.metrics
        if stats is None:
            return []
        seen_stats, clients, before, closes = self._seen
        if seen_stats is not stats:  # replaced by hand: a new baseline, not negative deltas
            clients, before, closes = len(self.server._clients), {}, {}
        now_clients = len(self.server._clients)
        totals = _totals(stats)
        disconnects = dict(stats.disconnects)
        closed = {r: n - closes.get(r, 0) for r, n in disconnects.items() if n > closes.get(r, 0)}
        opened = sum(closed.values()) + now_clients - clients
        self._seen = (stats, now_clients, totals, disconnects)
        stamp = int(time.time()) * 1000
        found: list[dict[str, Any]] = [
            {"timestamp": stamp, "type": "rawConnection", "count": opened},
            *(
                {"timestamp": stamp, "type": "rawDisconnection", "subType": r, "count": n}
                for r, n in sorted(closed.items())
            ),
            *(
                {"timestamp": stamp, "type": kind, "count": n - before.get(kind, 0)}
                for kind, n in totals.items()
            ),
        ]
        return [e for e in found if e["count"] > 0]

    def stats(self) -> dict[str, Any]:
        """This node's ``server_stats`` (its aggregated events since the last call)."""
        sio = self.server
        conns = [client.conn for client in list(sio._clients.values())]
        return {
            "serverId": self.server_id,
            "hostname": _socket.gethostname(),
            "pid": os.getpid(),
            "uptime": time.time() - self.started,
            "clientsCount": len(conns),
            "pollingClientsCount": sum(1 for c in conns if c.transport == "polling"),
            "aggregatedEvents": self._aggregated(),
            "namespaces": [
                {"name": name, "socketsCount": len(by_sid)}
                for name, by_sid in sorted(sio._sockets.items())
            ],
        }

    def _emit_stats(self) -> None:
        self._emit("server_stats", self.stats())  # computed anyway: the next delta starts here


def _totals(stats: Stats) -> dict[str, int]:
    """The counters the UI charts, by its type names (Node counts Engine.IO packets; these
    are Socket.IO events in and packets delivered, and their bytes)."""
    return {
        "packetsIn": stats.events_in,
        "packetsOut": stats.packets_out,
        "bytesIn": sum(stats.bytes_in.values()),
        "bytesOut": sum(stats.bytes_out.values()),
    }


def _remote(s: RemoteSocket) -> dict[str, Any]:
    return {"id": s.id, "handshake": s.handshake, "rooms": list(s.rooms), "data": s.data}


class AdminAPI:
    """``sio.instrument()`` (mixed into :class:`gsocketio.Server`)."""

    admin: Instrumentation | None = None

    def instrument(
        self,
        auth: Auth | None = None,
        mode: str = "development",
        read_only: bool = False,
        server_id: str | None = None,
        namespace: str = "/admin",
        server_stats_interval: float = 2,
    ) -> Instrumentation:
        """Serve the Socket.IO Admin UI's namespace (python-socketio's signature).

        Args:
            auth: ``False`` (anyone may log in: never in production), a dict of the fields
                the UI's login must send (``{"username": ..., "password": ...}``), a list of
                such dicts, or a callable ``(auth) -> bool``.
            mode: ``"development"`` reports every socket, room change and event (and costs
                per event); ``"production"`` only ``server_stats``.
            read_only: the UI's commands (emit, join, leave, disconnect) are not offered.
            server_id: this node's name in the UI (default ``hostname#pid``).
            namespace: the admin namespace.
            server_stats_interval: seconds between two ``server_stats``.

        Returns:
            The :class:`Instrumentation` (``stop()`` ends its stats greenlet).

        Raises:
            ValueError: no ``auth`` given, an unknown ``mode``, or already instrumented.
        """
        if self.admin is not None:
            raise ValueError("this server is already instrumented")
        server: Server = self  # type: ignore[assignment]
        self.admin = Instrumentation(
            server, auth, namespace, mode, read_only, server_id, server_stats_interval
        )
        return self.admin

    def _base_app(self, other_app: Any, socketio_path: str, kw: dict[str, Any]) -> Any:
        """``wsgi_app()``'s :class:`WSGIApp`, behind the Admin UI route when ``kw`` has
        ``admin_ui_path`` (taken out of ``kw``)."""
        path: str | None = kw.pop("admin_ui_path", None)
        app = WSGIApp(self, other_app, socketio_path, **kw)
        return app if path is None else AdminUIApp(app, path)
