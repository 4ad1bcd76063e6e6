"""Connecting a client to a namespace and taking it out again (split out of server.py).

Connect flow: the socket is registered (so the connect handler can already join rooms and
emit — what it emits is buffered) and its middlewares + connect handler run in a greenlet of
their own; then the client gets CONNECT followed by the buffered packets, or CONNECT_ERROR.
A socket closed while its handler ran (client DISCONNECT, engine gone, ``sio.disconnect``) is
never opened; if the handler had accepted, the disconnect handler still runs, so every
accepted ``connect`` is paired with one ``disconnect``.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import gevent

from gsocketio.exceptions import ConnectionRefusedError
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import Packet, PacketType
from gsocketio.socket import CLOSED, CONNECTED, Client, Socket

if TYPE_CHECKING:
    from gsocketio.server import Server

__all__ = ["arm_timeout", "close_socket", "connect_error_data", "discard", "register", "start"]

SERVER_DISCONNECT = DisconnectReason.SERVER_DISCONNECT
CLIENT_DISCONNECT = DisconnectReason.CLIENT_DISCONNECT
DEFAULT_REFUSAL: dict[str, Any] = {"message": "Connection rejected by server"}
INVALID_NAMESPACE: dict[str, Any] = {"message": "Invalid namespace"}
TOO_MANY_NAMESPACES: dict[str, Any] = {"message": "Too many namespaces"}
MAX_NAMESPACES_PER_CLIENT = 256
"""Namespaces one connection may be in at once: with ``namespaces="*"`` (or a callable) each
accepted CONNECT keeps a socket, so without a bound one client could make the server hold
any number of them. Past it, CONNECT_ERROR "Too many namespaces"."""


def connect_error_data(eio: int, error_args: Any) -> Any:
    """The CONNECT_ERROR payload: v5 ``{"message", "data"?}``; v4 a plain value, ``data`` if
    present else ``message`` (what socket.io 4's compatibility mode sends)."""
    if isinstance(error_args, dict) and "message" in error_args:
        payload = error_args
    else:
        payload = {"message": DEFAULT_REFUSAL["message"], "data": error_args}
    if eio == 3:
        return payload.get("data") or payload["message"]
    return payload


def _send_connect_error(server: Server, client: Client, namespace: str, error_args: Any) -> None:
    if client.closed:
        return
    packet = Packet(PacketType.CONNECT_ERROR, namespace, connect_error_data(client.eio, error_args))
    client.conn.send_many(client.wire.encode(packet))


def _connect_packet(sock: Socket) -> Packet:
    if sock.client.eio == 3:
        return Packet(PacketType.CONNECT, sock.namespace)
    return Packet(PacketType.CONNECT, sock.namespace, {"sid": sock.sid})


def _namespace_allowed(server: Server, namespace: str, environ: dict[str, Any]) -> bool:
    if server._registry.known(namespace):
        return True
    policy = server.namespaces
    if policy is None:
        return namespace == "/"
    if policy == "*":
        return True
    if callable(policy):
        try:
            return bool(policy(namespace, environ))
        except Exception:
            server.logger.exception("namespaces callable failed for %r", namespace)
            return False
    return namespace in policy


def _new_sid(client: Client, namespace: str) -> str:
    """v5: a fresh random id (the engine sid is sensitive); v4: derived from the engine sid."""
    if client.eio == 3:
        sid = client.conn.sid
        return sid if namespace == "/" else f"{namespace}#{sid}"
    return secrets.token_urlsafe(15)


def _forget(server: Server, sock: Socket) -> None:
    client = sock.client
    if client.sockets.get(sock.namespace) is sock:
        del client.sockets[sock.namespace]
    by_sid = server._sockets.get(sock.namespace)
    if by_sid is not None and by_sid.get(sock.sid) is sock:
        del by_sid[sock.sid]
        if not by_sid:
            del server._sockets[sock.namespace]
    server.adapter.remove_socket(sock.namespace, sock.sid)


def register(server: Server, client: Client, namespace: str, auth: Any) -> Socket:
    """Create a CONNECTING socket and make it known to the client, the server and the adapter
    (shared with seed mode, whose BaseNamespace layer answers the CONNECT itself)."""
    sock = Socket(_new_sid(client, namespace), namespace, client, client.wire, auth)
    client.sockets[namespace] = sock
    server._sockets.setdefault(namespace, {})[sock.sid] = sock
    server.adapter.add_socket(namespace, sock.sid, sock)
    return sock


def start(server: Server, client: Client, namespace: str, auth: Any) -> None:
    """Handle a CONNECT (or the implicit v4 one to ``/``); called from the reader."""
    environ = client.conn.environ
    if not _namespace_allowed(server, namespace, environ):
        server.logger.info("refusing %s: unknown namespace %s", client.conn.sid, namespace)
        _send_connect_error(server, client, namespace, INVALID_NAMESPACE)
        return
    if len(client.sockets) >= MAX_NAMESPACES_PER_CLIENT:
        server.logger.warning("refusing %s: too many namespaces", client.conn.sid)
        _send_connect_error(server, client, namespace, TOO_MANY_NAMESPACES)
        return
    sock = register(server, client, namespace, auth)
    if server.always_connect:
        sock.open(_connect_packet(sock))
        client.cancel_timer()
    client.spawn(_run_connect, server, sock, environ)


def _run_connect(server: Server, sock: Socket, environ: dict[str, Any]) -> None:
    refusal: Any = None
    accepted = False
    try:
        for middleware in server._middlewares:
            if middleware(sock.sid, environ, sock.auth, sock.namespace) is False:
                refusal = DEFAULT_REFUSAL
                break
        if refusal is None:
            handler = server._registry.get(sock.namespace).connect
            if (
                handler is not None
                and handler(sock.namespace, sock.sid, environ, sock.auth) is False
            ):
                refusal = DEFAULT_REFUSAL
            accepted = refusal is None
    except ConnectionRefusedError as exc:
        refusal = exc.error_args
    except Exception:
        server.logger.exception(
            "error in connect handler (sid %s, namespace %s)", sock.sid, sock.namespace
        )
        refusal = DEFAULT_REFUSAL

    client = sock.client
    if sock.state == CLOSED:  # closed while the handler ran
        reason = sock.close_reason or DisconnectReason.TRANSPORT_CLOSE
        if reason == SERVER_DISCONNECT and not server.always_connect:
            # sio.disconnect() during connect: the client still waits for an answer
            _send_connect_error(server, client, sock.namespace, refusal or DEFAULT_REFUSAL)
        if accepted and not server.always_connect:
            _run_disconnect_handler(server, sock, reason)
        return
    if refusal is not None:
        was_open = sock.state == CONNECTED  # always_connect
        discard(server, sock, "connection refused")
        if was_open:
            sock.send_now(Packet(PacketType.DISCONNECT, sock.namespace))
        else:
            _send_connect_error(server, client, sock.namespace, refusal)
        return
    if sock.state != CONNECTED:
        sock.open(_connect_packet(sock))
        client.cancel_timer()


def discard(server: Server, sock: Socket, reason: str) -> None:
    """Close and forget ``sock`` (acks aborted) without running a disconnect handler; seed
    mode uses it too, since its BaseNamespace layer runs ``recv_disconnect`` itself."""
    sock.state = CLOSED
    sock.close_reason = reason
    _forget(server, sock)
    sock.drop_buffer()
    if sock.acks is not None:
        sock.acks.abort_all(f"socket disconnected ({reason})")


def close_socket(server: Server, sock: Socket, reason: str, *, inline: bool) -> None:
    """Forget ``sock``; run its disconnect handler (here, or in a new greenlet) if it was open."""
    if sock.state == CLOSED:
        return
    was_connected = sock.state == CONNECTED
    discard(server, sock, reason)
    if not was_connected:
        return
    if inline:
        _run_disconnect_handler(server, sock, reason)
    else:
        # Not counted against the client's handler bound: the reader must never wait here.
        gevent.spawn(_run_disconnect_handler, server, sock, reason)


def _run_disconnect_handler(server: Server, sock: Socket, reason: str) -> None:
    handler = server._registry.get(sock.namespace).disconnect
    if handler is None:
        return
    try:
        handler(sock.namespace, sock.sid, reason)
    except Exception:
        server.logger.exception(
            "error in disconnect handler (sid %s, namespace %s)", sock.sid, sock.namespace
        )


def arm_timeout(server: Server, client: Client, seconds: float) -> None:
    """Close ``client`` if it has joined no namespace after ``seconds`` (Node's connectTimeout).

    A loop timer rather than a sleeping greenlet: it costs far less per pending connection.
    """
    timer = gevent.get_hub().loop.timer(seconds)
    client.timer = timer
    timer.start(_timeout_fired, server, client)


def _timeout_fired(server: Server, client: Client) -> None:
    client.cancel_timer()  # runs in the hub: only schedule work, never block here
    if client.closed or any(s.state == CONNECTED for s in client.sockets.values()):
        return
    server.logger.info("closing %s: no namespace joined in time", client.conn.sid)
    gevent.spawn(server.close_client, client, DisconnectReason.FORCED_SERVER_CLOSE)
