"""The Engine.IO server: parses each request into a :class:`Request`, verifies it in the Node
server's order with its error codes (:meth:`EngineServer._verify`), then routes it to a
handshake, its connection's long-polling GET/POST, or a WebSocket (new session or upgrade).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    CorsPolicy,
    Headers,
    StartResponse,
    cookie_attributes,
    format_cookie,
    respond_error,
)
from gsocketio.engine.options import EngineOptions
from gsocketio.engine.reaper import Reaper
from gsocketio.engine.websocket import close_quietly
from gsocketio.exceptions import SessionError, WebSocketHandshakeError
from gsocketio.node_id import new_session_id
from gsocketio.protocol.engineio_session import Session, SessionConfig
from gsocketio.protocol.limits import Limits
from gsocketio.websocket.connection import WebSocket, accept_websocket, is_websocket_request
from gsocketio.websocket.handshake import DETACH_KEY

__all__ = ["EngineServer", "Request"]

log = get_logger("gsocketio.engine")


@dataclass(slots=True)
class Request:
    """One Engine.IO request, parsed once; ``headers`` collects the response's headers."""

    environ: dict[str, Any]
    start_response: StartResponse
    method: str
    query: dict[str, str]
    headers: Headers
    transport: str | None
    sid: str | None
    upgrade: bool  # transport=websocket with "Upgrade: websocket"
    jsonp: int | None  # the JSONP index (``j``); -1 when unusable
    conn: EngineConnection | None = None  # the session of ``sid`` (set by _verify)
    eio: int = 4  # the revision (set by _verify)


class EngineServer:
    """Engine.IO 4 and 3 over long-polling (XHR, JSONP) and WebSocket, for gevent.

    ``handler`` gets ``engine_connect``/``engine_message``/``engine_disconnect``. Settings are
    an :class:`~gsocketio.engine.options.EngineOptions` (``options=``), or its keywords
    (``EngineServer(handler, ping_interval=5)``; with both, the keywords override).
    ``handle_request`` is the WSGI app for the engine path (:class:`gsocketio.wsgi.WSGIApp`
    routes ``options.path`` to it).
    """

    def __init__(
        self, handler: EngineHandler, options: EngineOptions | None = None, **settings: Any
    ) -> None:
        if options is None:
            options = EngineOptions(**settings)
        elif settings:
            options = dataclasses.replace(options, **settings)
        self.handler = handler
        self.options = options
        self.transports = frozenset(options.transports)
        self.ping_interval = options.ping_interval
        self.ping_timeout = options.ping_timeout
        self.max_http_buffer_size = options.max_http_buffer_size
        self.path = options.path
        self.cors = CorsPolicy(options.cors_allowed_origins, options.cors_credentials)
        self.cookie = cookie_attributes(options.cookie)
        self.limits = Limits(max_payload=options.max_http_buffer_size)
        upgrade = options.allow_upgrades and "websocket" in self.transports
        upgrades = ("websocket",) if upgrade else ()
        self.session_config = SessionConfig(
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            max_payload=options.max_http_buffer_size,
            upgrades=upgrades,
            upgrade_timeout=options.upgrade_timeout,
            max_buffered_packets=options.max_buffered_packets,
            max_buffered_bytes=options.max_buffered_bytes,
        )
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
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        parsed_query: dict[str, str] | None = None,
    ) -> Iterable[bytes]:
        """The WSGI application for the Engine.IO path (``parsed_query``: the query string
        already parsed, by :meth:`direct_query`)."""
        method = environ.get("REQUEST_METHOD", "GET")
        cors = self.cors
        headers: Headers = []
        if environ.get("HTTP_ORIGIN"):  # without one, CORS allows and adds nothing
            if not cors.is_allowed(environ):
                log.info("refused origin %r", environ.get("HTTP_ORIGIN"))
                return respond_error(start_response, BAD_REQUEST, [])
            headers = cors.headers(environ, preflight=method == "OPTIONS")
        if method == "OPTIONS" and cors.enabled:
            start_response("204 No Content", headers)
            return [b""]
        query = (
            parsed_query
            if parsed_query is not None
            else _parse_query(environ.get("QUERY_STRING", ""))
        )
        transport = query.get("transport")
        req = Request(
            environ,
            start_response,
            method,
            query,
            headers,
            transport,
            query.get("sid") or None,
            transport == "websocket" and is_websocket_request(environ),
            None if "j" not in query else _jsonp_index(query),
        )
        error = self._verify(req)
        if error is not None:
            return respond_error(start_response, error, headers)
        conn = req.conn
        if conn is None:
            return self._handshake(req)
        if req.upgrade:
            return self._upgrade(conn, req)
        polling = conn.polling  # _verify: the session's transport is polling
        if polling is None:
            return respond_error(start_response, BAD_REQUEST, headers)
        return polling.get(req) if method == "GET" else polling.post(req)

    __call__ = handle_request

    def direct_query(self, query_string: str) -> dict[str, str] | None:
        """The parsed query when a GET/POST with it may be answered from a lean environ (the
        request method, query, body and headers; see
        :func:`gsocketio.http.environ.lean_environ`), else None.

        Only for a request naming a session (a non-empty ``sid``, read as
        :meth:`handle_request` reads it): what answers it reads nothing else of the environ.
        A handshake keeps the full one, which its session and ``allow_request`` receive.
        """
        query = _parse_query(query_string)
        return query if query.get("sid") else None

    # --- verification ---------------------------------------------------------------------------

    def _verify(self, req: Request) -> int | None:
        """The Engine.IO error code refusing ``req``, or None (then ``req.conn``/``req.eio``
        are set). Order as Node's ``verify()``: transport, sid, handshake method, protocol
        revision, ``allow_request``; JSONP needs ``jsonp=True`` and an allowed page."""
        transport = req.transport
        if transport not in self.transports:
            return UNKNOWN_TRANSPORT
        if transport == "websocket" and not req.upgrade:
            return BAD_REQUEST
        if req.jsonp is not None:
            if req.jsonp < 0 or not self.options.jsonp:
                return BAD_REQUEST
            if not self.cors.allows_script(req.environ):
                log.info("refused JSONP from %r", req.environ.get("HTTP_REFERER"))
                return FORBIDDEN
        eio_param = req.query.get("EIO")
        if req.sid:
            conn = self._connections.get(req.sid)
            if conn is None:
                return UNKNOWN_SID
            if (not req.upgrade and conn.transport != transport) or conn.eio != (
                4 if eio_param == "4" else 3
            ):
                return BAD_REQUEST
            if not req.upgrade and req.method not in ("GET", "POST"):
                return BAD_REQUEST
            req.conn, req.eio = conn, conn.eio
            return None
        if req.method != "GET":
            return BAD_HANDSHAKE_METHOD
        if eio_param == "4":
            req.eio = 4
        elif eio_param == "3" and self.options.allow_eio3:
            req.eio = 3
        else:
            return UNSUPPORTED_PROTOCOL_VERSION
        allow_request = self.options.allow_request
        if allow_request is not None and not allow_request(req.environ):
            return FORBIDDEN
        if not req.upgrade and is_websocket_request(req.environ):
            return BAD_REQUEST  # "Upgrade: websocket" on a polling handshake
        return None

    # --- routes ---------------------------------------------------------------------------------

    def _handshake(self, req: Request) -> list[bytes]:
        if req.upgrade:
            ws = self._accept(req)
            if ws is None:
                return respond_error(req.start_response, BAD_REQUEST, req.headers)
            conn = self._new_connection(req, "websocket")
            io = conn.attach_websocket(ws)
            conn.connected()
            _detach(req, io.run(detachable=_detachable(req)))
            return []
        conn = self._new_connection(req, "polling")
        polling, packets = conn.open_polling()
        conn.connected()
        if self.cookie is not None:
            req.headers.append(("Set-Cookie", format_cookie(self.cookie, conn.sid)))
        return polling.answer(req, packets)

    def _upgrade(self, conn: EngineConnection, req: Request) -> list[bytes]:
        ws = self._accept(req)
        if ws is None:
            return respond_error(req.start_response, BAD_REQUEST, req.headers)
        try:
            probe = conn.start_upgrade(ws)
        except SessionError as exc:
            # As Node: a WebSocket for a session that cannot upgrade (already upgraded or
            # upgrading) is accepted, then closed; an HTTP error would be an unhandled error
            # in the client.
            log.info("%s: upgrade refused: %s", conn.sid, exc)
            close_quietly(ws)
            return []
        if probe.run_probe():
            _detach(req, probe.run(detachable=_detachable(req)))
        return []

    def _accept(self, req: Request) -> WebSocket | None:
        """Complete the WebSocket handshake with this server's size and deflate settings."""
        try:
            return accept_websocket(
                req.environ,
                max_message_size=self.options.max_http_buffer_size,
                compression=self.options.websocket_compression,
            )
        except WebSocketHandshakeError as exc:
            log.info("websocket handshake refused: %s", exc)
            return None

    def _new_connection(self, req: Request, transport: str) -> EngineConnection:
        sid = new_session_id(self._connections)  # names this node when forwarding is on
        session = Session(
            sid, eio=req.eio, transport=transport, now=time.monotonic(), config=self.session_config
        )
        conn = EngineConnection(self, session, req.environ, b64=bool(req.query.get("b64")))
        self._connections[sid] = conn
        return conn


def _detachable(req: Request) -> bool:
    """The HTTP server lets a WebSocket outlive its request (``DETACH_KEY``, see run)."""
    return req.environ.get(DETACH_KEY) is False


def _detach(req: Request, detached: bool) -> None:
    if detached:
        req.environ[DETACH_KEY] = True


def _parse_query(text: str) -> dict[str, str]:
    """``dict(parse_qsl(text, keep_blank_values=True))``; a plain split when nothing needs
    unquoting (every request carries EIO, transport, t and sid)."""
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
