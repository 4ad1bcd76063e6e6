"""The Engine.IO server: verifies each request, then hands it to its connection.

Request checks follow the official Node server's ``verify()`` in order, with its error codes:
unknown/disabled transport → 0; unknown sid → 1; handshake not a GET → 2; transport or
protocol mismatch on an existing sid, ``transport=websocket`` without an upgrade → 3;
``allow_request`` refusal → 403 code 4; an ``EIO`` other than ``4`` (or ``3`` when allowed) → 5.
Deviations, all safer for the same clients: an ``Origin`` refused by ``cors_allowed_origins`` and
an unsupported method on a session answer ``400 {"code":3,...}`` (Node: no check / HTTP 500); a
malformed POST body answers 400 and closes the session (Node: 200 "ok", then closes), like the
other servers the protocol test suite accepts. Transport-level faults answer as Node does, with
an empty body: a second concurrent GET or POST → 400, a POST above ``max_http_buffer_size``
→ 413; both close the session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from gsocketio._logging import get_logger
from gsocketio.engine.connection import EngineConnection, EngineHandler
from gsocketio.engine.http import (
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    FORBIDDEN,
    UNKNOWN_SID,
    UNKNOWN_TRANSPORT,
    UNSUPPORTED_PROTOCOL_VERSION,
    CookieSpec,
    CorsPolicy,
    Headers,
    OriginSpec,
    StartResponse,
    choose_encoding,
    compress,
    cookie_attributes,
    format_cookie,
    respond,
    respond_error,
)
from gsocketio.engine.polling import decode_post, encode_poll, read_body
from gsocketio.engine.reaper import Reaper
from gsocketio.exceptions import ProtocolError, SessionError, WebSocketHandshakeError
from gsocketio.node_id import new_session_id
from gsocketio.protocol.engineio import Packet
from gsocketio.protocol.engineio_session import Session, SessionConfig
from gsocketio.protocol.limits import Limits
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.websocket.connection import WebSocket, accept_websocket, is_websocket_request

__all__ = ["EngineServer"]

log = get_logger("gsocketio.engine")

_TRANSPORTS = ("polling", "websocket")


class EngineServer:
    """Engine.IO 4 and 3 over long-polling (XHR, JSONP) and WebSocket, for gevent.

    ``handler`` gets ``engine_connect``/``engine_message``/``engine_disconnect``. Times are in
    seconds. ``cors_allowed_origins``: see :mod:`gsocketio.engine.http` (default: same origin).
    ``cookie``: None/False (default, as upstream) sets none; a name or a mapping of attributes
    sets the sid cookie on the handshake. ``allow_request(environ) -> bool`` may refuse
    handshakes (403). ``websocket_compression`` defaults off, as in the Node server: deflate
    contexts cost memory on every socket. ``handle_request`` is the WSGI app for the engine
    path (:class:`gsocketio.wsgi.WSGIApp` routes ``path`` to it).
    """

    def __init__(
        self,
        handler: EngineHandler,
        *,
        ping_interval: float = 25,
        ping_timeout: float = 20,
        max_http_buffer_size: int = 1_000_000,
        cors_allowed_origins: OriginSpec = None,
        cors_credentials: bool = True,
        cookie: CookieSpec = None,
        transports: Iterable[str] | None = None,
        allow_upgrades: bool = True,
        websocket_compression: bool = False,
        http_compression: bool = True,
        compression_threshold: int = 1024,
        path: str = "/socket.io/",
        upgrade_timeout: float = 10,
        allow_eio3: bool = True,
        allow_request: Callable[[Mapping[str, Any]], bool] | None = None,
        max_buffered_packets: int = 10_000,
        max_buffered_bytes: int = 10_000_000,
    ) -> None:
        chosen = tuple(transports) if transports is not None else _TRANSPORTS
        unknown = set(chosen) - set(_TRANSPORTS)
        if unknown or not chosen:
            raise ValueError(f"transports must be a non-empty subset of {_TRANSPORTS}")
        self.handler = handler
        self.transports = frozenset(chosen)
        self.ping_interval = float(ping_interval)
        self.ping_timeout = float(ping_timeout)
        self.max_http_buffer_size = max_http_buffer_size
        self.websocket_compression = websocket_compression
        self.http_compression = http_compression
        self.compression_threshold = compression_threshold
        self.path = "/" + path.strip("/") + "/"
        self.allow_eio3 = allow_eio3
        self.allow_request = allow_request
        self.cors = CorsPolicy(cors_allowed_origins, cors_credentials)
        self.cookie = cookie_attributes(cookie)
        self.limits = Limits(max_payload=max_http_buffer_size)
        upgrades = ("websocket",) if allow_upgrades and "websocket" in self.transports else ()
        self.session_config = SessionConfig(
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            max_payload=max_http_buffer_size,
            upgrades=upgrades,
            upgrade_timeout=upgrade_timeout,
            max_buffered_packets=max_buffered_packets,
            max_buffered_bytes=max_buffered_bytes,
        )
        # A GET waits at most this long; by then a healthy v4 session has had a PING and a
        # v3 client has pinged.
        self.poll_timeout = self.ping_interval + self.ping_timeout
        self.reaper = Reaper()
        self._connections: dict[str, EngineConnection] = {}

    # --- public ---------------------------------------------------------------------------------

    @property
    def connections(self) -> Mapping[str, EngineConnection]:
        """Open connections by sid (read-only view)."""
        return self._connections

    def close(self) -> None:
        """Close every session and drop them at once (server shutdown); a pending GET or a
        WebSocket still gets the CLOSE packet."""
        for conn in list(self._connections.values()):
            conn.close()
        self._connections.clear()
        self.reaper.stop()

    def forget(self, conn: EngineConnection) -> None:
        """Drop a closed connection's sid (called by the connection)."""
        if self._connections.get(conn.sid) is conn:
            del self._connections[conn.sid]

    def handle_request(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """The WSGI application for the Engine.IO path."""
        method = environ.get("REQUEST_METHOD", "GET")
        cors = self.cors
        if not cors.is_allowed(environ):
            log.info("refused origin %r", environ.get("HTTP_ORIGIN"))
            return respond_error(start_response, BAD_REQUEST, [])
        headers = cors.headers(environ, preflight=method == "OPTIONS")
        if method == "OPTIONS" and cors.enabled:
            start_response("204 No Content", headers)
            return [b""]
        query = _parse_query(environ.get("QUERY_STRING", ""))
        transport = query.get("transport")
        if transport not in self.transports:
            return respond_error(start_response, UNKNOWN_TRANSPORT, headers)
        upgrade = transport == "websocket" and is_websocket_request(environ)
        if transport == "websocket" and not upgrade:
            return respond_error(start_response, BAD_REQUEST, headers)
        eio_param = query.get("EIO")
        sid = query.get("sid")
        if sid:
            conn = self._connections.get(sid)
            if conn is None:
                return respond_error(start_response, UNKNOWN_SID, headers)
            if (not upgrade and conn.transport != transport) or conn.eio != (
                4 if eio_param == "4" else 3
            ):
                return respond_error(start_response, BAD_REQUEST, headers)
            if upgrade:
                return self._upgrade(conn, environ, start_response, headers)
            if method == "GET":
                return self._poll(conn, query, environ, start_response, headers)
            if method == "POST":
                return self._post(conn, query, environ, start_response, headers)
            return respond_error(start_response, BAD_REQUEST, headers)
        if method != "GET":
            return respond_error(start_response, BAD_HANDSHAKE_METHOD, headers)
        if eio_param == "4":
            eio = 4
        elif eio_param == "3" and self.allow_eio3:
            eio = 3
        else:
            return respond_error(start_response, UNSUPPORTED_PROTOCOL_VERSION, headers)
        if self.allow_request is not None and not self.allow_request(environ):
            return respond_error(start_response, FORBIDDEN, headers)
        if upgrade:
            return self._open_websocket(eio, query, environ, start_response, headers)
        if is_websocket_request(environ):  # "Upgrade: websocket" on a polling handshake
            return respond_error(start_response, BAD_REQUEST, headers)
        return self._open_polling(eio, query, environ, start_response, headers)

    __call__ = handle_request

    # --- handshakes -----------------------------------------------------------------------------

    def _new_connection(
        self, eio: int, transport: str, query: Mapping[str, str], environ: dict[str, Any]
    ) -> EngineConnection:
        sid = new_session_id(self._connections)  # names this node when forwarding is on
        session = Session(
            sid, eio=eio, transport=transport, now=time.monotonic(), config=self.session_config
        )
        conn = EngineConnection(self, session, environ, b64=bool(query.get("b64")))
        self._connections[sid] = conn
        return conn

    def _open_polling(
        self,
        eio: int,
        query: Mapping[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
        headers: Headers,
    ) -> list[bytes]:
        jsonp = _jsonp_index(query)
        if jsonp == -1:
            return respond_error(start_response, BAD_REQUEST, headers)
        conn = self._new_connection(eio, "polling", query, environ)
        packets = conn.session.take_outgoing()  # the OPEN packet; later sends go to the next GET
        conn.connected()
        if self.cookie is not None:
            headers.append(("Set-Cookie", format_cookie(self.cookie, conn.sid)))
        return self._answer_poll(packets, conn, query, jsonp, environ, start_response, headers)

    def _open_websocket(
        self,
        eio: int,
        query: Mapping[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
        headers: Headers,
    ) -> list[bytes]:
        try:
            ws = self._accept(environ)
        except WebSocketHandshakeError as exc:
            log.info("websocket handshake refused: %s", exc)
            return respond_error(start_response, BAD_REQUEST, headers)
        conn = self._new_connection(eio, "websocket", query, environ)
        conn.attach_websocket(ws)
        conn.connected()
        conn.run_websocket(ws)
        return []

    def _accept(self, environ: dict[str, Any]) -> WebSocket:
        """Complete the WebSocket handshake with this server's size and deflate settings."""
        return accept_websocket(
            environ,
            max_message_size=self.max_http_buffer_size,
            compression=self.websocket_compression,
        )

    def _upgrade(
        self,
        conn: EngineConnection,
        environ: dict[str, Any],
        start_response: StartResponse,
        headers: Headers,
    ) -> list[bytes]:
        session = conn.session
        try:
            session.start_upgrade("websocket", time.monotonic())
        except SessionError as exc:
            log.info("%s: upgrade refused: %s", conn.sid, exc)
            return respond_error(start_response, BAD_REQUEST, headers)
        try:
            ws = self._accept(environ)
        except WebSocketHandshakeError as exc:
            log.info("%s: websocket handshake refused: %s", conn.sid, exc)
            session.abort_upgrade("websocket handshake failed")
            return respond_error(start_response, BAD_REQUEST, headers)
        if conn.run_probe(ws):
            conn.run_websocket(ws)
        return []

    # --- polling --------------------------------------------------------------------------------

    def _poll(
        self,
        conn: EngineConnection,
        query: Mapping[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
        headers: Headers,
    ) -> list[bytes]:
        jsonp = _jsonp_index(query)
        if jsonp == -1:
            return respond_error(start_response, BAD_REQUEST, headers)
        packets = conn.poll(self.poll_timeout)
        if packets is None:  # overlapping GET: the session is closed now
            return respond(start_response, 400, headers)
        return self._answer_poll(packets, conn, query, jsonp, environ, start_response, headers)

    def _answer_poll(
        self,
        packets: Sequence[Packet],
        conn: EngineConnection,
        query: Mapping[str, str],
        jsonp: int | None,
        environ: Mapping[str, Any],
        start_response: StartResponse,
        headers: Headers,
    ) -> list[bytes]:
        body, content_type = encode_poll(
            packets, eio=conn.eio, b64=bool(query.get("b64")), jsonp_index=jsonp
        )
        headers.append(("Content-Type", content_type))
        headers.append(("Cache-Control", "no-store"))
        if self.http_compression and len(body) >= self.compression_threshold:
            encoding = choose_encoding(environ.get("HTTP_ACCEPT_ENCODING"))
            if encoding is not None:
                body = compress(body, encoding)
                headers.append(("Content-Encoding", encoding))
                headers.append(("Vary", "Accept-Encoding"))
        return respond(start_response, 200, headers, body)

    def _post(
        self,
        conn: EngineConnection,
        query: Mapping[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
        headers: Headers,
    ) -> list[bytes]:
        if not conn.begin_post():  # overlapping POST: the session is closed now
            return respond(start_response, 400, headers)
        try:
            try:
                body = read_body(environ, self.max_http_buffer_size)
            except ProtocolError as exc:
                conn.fail(DisconnectReason.TRANSPORT_ERROR, str(exc))
                return respond_error(start_response, BAD_REQUEST, headers)
            except OSError as exc:  # the client went away mid-body
                conn.fail(DisconnectReason.TRANSPORT_ERROR, f"POST body not received: {exc}")
                return respond(start_response, 400, headers)
            if body is None:
                conn.fail(DisconnectReason.TRANSPORT_ERROR, "POST body over max_http_buffer_size")
                headers.append(("Connection", "close"))
                return respond(start_response, 413, headers)
            try:
                packets = decode_post(
                    body,
                    eio=conn.eio,
                    content_type=environ.get("CONTENT_TYPE", ""),
                    jsonp="j" in query,
                    limits=self.limits,
                )
            except ProtocolError as exc:
                log.info("%s: malformed payload: %s", conn.sid, exc)
                conn.fail(DisconnectReason.PARSE_ERROR, str(exc))
                return respond_error(start_response, BAD_REQUEST, headers)
            conn.receive_packets(packets)
        finally:
            conn.end_post()
        headers.append(("Content-Type", "text/html"))  # as upstream: no download dialog (GH-43)
        return respond(start_response, 200, headers, b"ok")


def _parse_query(text: str) -> dict[str, str]:
    """``dict(parse_qsl(text, keep_blank_values=True))``; a plain split when nothing needs
    unquoting (every request carries EIO, transport, t and sid: parse_qsl took ~2.5% of the
    server's CPU time under the long-polling benchmark)."""
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    query: dict[str, str] = {}
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            query[name] = value
    return query


def _jsonp_index(query: Mapping[str, str]) -> int | None:
    """The JSONP index from ``j`` (None: not JSONP; -1: unusable)."""
    raw = query.get("j")
    if raw is None:
        return None
    digits = "".join(ch for ch in raw if ch.isascii() and ch.isdigit())
    if not digits or len(digits) > 9:
        return -1
    return int(digits)
