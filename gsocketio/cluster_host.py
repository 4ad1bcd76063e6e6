"""The server's side of cluster operations: what an adapter may do to local sockets.

:class:`ServerHost` implements :class:`gsocketio.adapters.base.AdapterHost` over a
:class:`gsocketio.Server`: it disconnects, describes (Node's fetchSockets shape, so Node peers
and the admin UI can read our sockets) and emits-with-ack to local sockets, and it keeps the
server-side event handlers (``sio.on_server_side``) that ``server_side_emit`` reaches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import gevent

from gsocketio._logging import get_logger
from gsocketio.protocol.socketio import Packet, PacketType
from gsocketio.socket import CONNECTED, Socket

if TYPE_CHECKING:
    from gsocketio.socketio_server import Server

__all__ = ["ServerHost", "node_handshake"]

log = get_logger("gsocketio.cluster")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _js_date_string(at: float) -> str:
    """What JavaScript's ``new Date().toString()`` prints, in UTC."""
    t = time.gmtime(at)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT+0000 (Coordinated Universal Time)"
    )


def node_handshake(environ: dict[str, Any], auth: Any, issued: float) -> dict[str, Any]:
    """A socket's handshake in Node's field order (headers lower-case, as Node has them)."""
    headers: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith("HTTP_") and isinstance(value, str):
            headers[name[5:].lower().replace("_", "-")] = value
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.lower().replace("_", "-")] = str(environ[name])
    query_string = environ.get("QUERY_STRING") or ""
    path = environ.get("SCRIPT_NAME", "") + (environ.get("PATH_INFO") or "/")
    return {
        "headers": headers,
        "time": _js_date_string(issued),
        "address": str(environ.get("REMOTE_ADDR") or ""),
        "xdomain": "HTTP_ORIGIN" in environ,
        "secure": environ.get("wsgi.url_scheme") == "https",
        "issued": int(issued * 1000),
        "url": path + ("?" + query_string if query_string else ""),
        "query": dict(parse_qsl(query_string, keep_blank_values=True)),
        "auth": auth if isinstance(auth, dict) else {},
    }


class ServerHost:
    """The :class:`AdapterHost` of one server."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.handlers: dict[str, dict[str, Callable[..., Any]]] = {}  # nsp -> event -> fn

    def socket(self, namespace: str, sid: str) -> Socket | None:
        return self._server._sockets.get(namespace, {}).get(sid)

    def disconnect_local(self, namespace: str, sids: Iterable[str], close: bool) -> None:
        server = self._server
        for sid in list(sids):
            sock = self.socket(namespace, sid)
            if sock is None:
                continue
            server.disconnect(sid, namespace)
            if close:
                server.close_client(sock.client, "forced server close")

    def describe(self, sock: Socket) -> dict[str, Any]:
        rooms = [sock.sid]
        rooms.extend(
            r for r in self._server.adapter.rooms_of(sock.namespace, sock.sid) if r != sock.sid
        )
        return {
            "id": sock.sid,
            "handshake": node_handshake(sock.client.conn.environ, sock.auth, sock.issued),
            "rooms": rooms,
            "data": sock.data if sock.data is not None else {},
        }

    def describe_local(self, namespace: str, sids: Iterable[str]) -> list[dict[str, Any]]:
        found = []
        for sid in sids:
            sock = self.socket(namespace, sid)
            if sock is not None and sock.state == CONNECTED:
                found.append(self.describe(sock))
        return found

    def emit_with_ack_local(
        self, packet: Packet, sids: Iterable[str], on_ack: Callable[[Any], None]
    ) -> int:
        def first_arg(*args: Any) -> None:
            on_ack(args[0] if args else None)

        sent = 0
        for sid in list(sids):
            sock = self.socket(packet.namespace, sid)
            if sock is None or sock.state != CONNECTED:
                continue
            ack_id = sock.add_ack(first_arg)
            sock.send_packet(Packet(PacketType.EVENT, packet.namespace, packet.data, ack_id))
            sent += 1
        return sent

    def server_side_event(
        self, namespace: str, data: list[Any], reply: Callable[[Any], None] | None
    ) -> None:
        handler = self.handlers.get(namespace, {}).get(data[0])
        if handler is None:
            log.debug("no server-side handler for %r in %s", data[0], namespace)
            return
        gevent.spawn(self._run, handler, namespace, data, reply)

    def _run(
        self,
        handler: Callable[..., Any],
        namespace: str,
        data: list[Any],
        reply: Callable[[Any], None] | None,
    ) -> None:
        try:
            result = handler(*data[1:])
        except Exception:
            log.exception("error in server-side handler %r (namespace %s)", data[0], namespace)
            return
        if reply is not None:
            reply(result)
