"""The 0.9 endpoint: a WSGI app for ``/<resource>/1/...`` bridged to a Socket.IO server.

Mount it next to the modern endpoint (``WSGIApp`` routes ``/<resource>/1/`` to it)::

    sio = gsocketio.Server(cors_allowed_origins="*")
    legacy = LegacyServer(sio)
    app = sio.wsgi_app(my_app, legacy_app=legacy)      # or: legacy.wsgi_app(my_app)

A 0.9 client's events then reach the same handlers as modern clients' (``@sio.on("chat")``,
class-based namespaces), and room broadcasts reach both (see
:mod:`gsocketio.protocol.legacy_bridge`).

Requests, with the 0.9 Node server's answers:

* ``GET|POST /<resource>/1/`` — handshake ``sid:heartbeat_timeout:close_timeout:transports``
  (``text/plain``; ``io.j[<n>]("...");`` with ``?jsonp=<n>``). Refusals: ``403 handshake bad
  origin``, ``403 handshake unauthorized`` (``allow_request``), ``500 handshake error``, and
  ``503 handshake refused`` past ``max_pending_handshakes`` unused sids (a JSONP handshake gets
  ``io.j[<n>](new Error("..."))`` with status 200, which is what the client can read).
* ``/<resource>/1/<transport>/<sid>`` — see :mod:`gsocketio.legacy.transports`. An unknown sid
  gets the error packet ``7:::1+0`` (not handshaken, reconnect) in that transport's framing; an
  unknown or disabled transport ``7:::0`` (transport not supported; the 0.9 server just dropped
  the connection); ``?disconnect`` ends the session and answers an empty 200.

CORS: the ``cors_allowed_origins`` policy of the Socket.IO server's engine (or the one given
here) decides; allowed requests with an ``Origin`` get it echoed with credentials, as 0.9 did.
A handshake without ``Origin`` is checked by its ``Referer`` (as the 0.9 server did) because a
JSONP handshake, a plain ``<script>``, carries no ``Origin``. Other refused requests get 403.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, urlsplit

from gsocketio.engine.http import CorsPolicy, OriginSpec
from gsocketio.engine.reaper import Reaper
from gsocketio.legacy.connection import LegacyConnection
from gsocketio.legacy.http import (
    JSONP_HANDSHAKE,
    TEXT,
    Headers,
    StartResponse,
    digits_param,
    respond,
)
from gsocketio.legacy.policy import DEFAULT_POLICY_PORT, FlashPolicyServer
from gsocketio.legacy.transports import (
    ALL_TRANSPORTS,
    NOT_HANDSHAKEN,
    TRANSPORT_NOT_SUPPORTED,
    Request,
    answer_without_session,
    serve,
)
from gsocketio.protocol.legacy import encode_handshake, encode_jsonp, encode_jsonp_error
from gsocketio.protocol.legacy_bridge import LegacyWire
from gsocketio.protocol.legacy_session import LegacyConfig, LegacySession
from gsocketio.protocol.limits import Limits

__all__ = ["LegacyHandler", "LegacyServer"]

log = logging.getLogger("gsocketio.legacy")

_UNSET: Final[Any] = object()


class LegacyHandler(Protocol):
    """The ``EngineHandler`` side (``gsocketio.Server``): gets :class:`LegacyConnection`\\ s."""

    def engine_connect(self, conn: Any) -> None: ...

    def engine_message(self, conn: Any, data: str | bytes) -> None: ...

    def engine_packet(self, conn: Any, packet: Any) -> None: ...

    def engine_disconnect(self, conn: Any, reason: str) -> None: ...


class LegacyServer:
    """Serves socket.io-client 0.9 (protocol revision 1) for an ``EngineHandler``.

    ``handler`` is a :class:`gsocketio.Server` (or any ``EngineHandler``). Times are seconds;
    defaults are the 0.9 server's. ``transports`` (default: all five) is what the handshake
    offers and what is served. ``max_http_buffer_size``, ``cors_allowed_origins`` and
    ``allow_request`` default to the handler's engine settings. Stop with :meth:`close`.
    """

    def __init__(
        self,
        handler: LegacyHandler,
        *,
        resource: str = "socket.io",
        transports: Iterable[str] | None = None,
        heartbeat_interval: float = 25,
        heartbeat_timeout: float = 60,
        close_timeout: float = 60,
        polling_duration: float = 20,
        max_http_buffer_size: int | None = None,
        cors_allowed_origins: OriginSpec = _UNSET,
        cors_credentials: bool = True,
        allow_request: Callable[[Mapping[str, Any]], bool] | None = _UNSET,
        max_pending_handshakes: int = 10_000,
        max_buffered_packets: int = 10_000,
        max_buffered_bytes: int = 10_000_000,
    ) -> None:
        chosen = tuple(transports) if transports is not None else ALL_TRANSPORTS
        unknown = set(chosen) - set(ALL_TRANSPORTS)
        if unknown or not chosen:
            raise ValueError(f"transports must be a non-empty subset of {ALL_TRANSPORTS}")
        engine = getattr(handler, "engine", None)
        if max_http_buffer_size is None:
            max_http_buffer_size = int(getattr(engine, "max_http_buffer_size", 1_000_000))
        if cors_allowed_origins is not _UNSET:
            self.cors = CorsPolicy(cors_allowed_origins, cors_credentials)
        else:
            engine_cors = getattr(engine, "cors", None)
            self.cors = (
                engine_cors
                if isinstance(engine_cors, CorsPolicy)
                else CorsPolicy(None, cors_credentials)
            )
        if allow_request is _UNSET:
            allow_request = getattr(engine, "allow_request", None)
        self.handler = handler
        self.resource = resource.strip("/")
        self.transports = chosen
        self.allow_request = allow_request
        self.max_pending_handshakes = max_pending_handshakes
        self.config = LegacyConfig(
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            close_timeout=close_timeout,
            polling_duration=polling_duration,
            max_buffered_packets=max_buffered_packets,
            max_buffered_bytes=max_buffered_bytes,
            limits=Limits(max_payload=max_http_buffer_size),
        )
        self.wire = LegacyWire()
        self.reaper = Reaper()
        self._prefix = f"/{self.resource}/1/"
        self._enabled = frozenset(chosen)
        self._conns: dict[str, LegacyConnection] = {}
        self._pending = 0  # handshaken sids no transport has used yet

    # --- public ---------------------------------------------------------------------------------

    @property
    def connections(self) -> Mapping[str, LegacyConnection]:
        """Live sessions by sid (read-only view)."""
        return self._conns

    def wsgi_app(self, other_app: Any = None, **kwargs: Any) -> Any:
        """A ``gsocketio.wsgi.WSGIApp`` serving the handler's modern endpoint, this one under
        ``/<resource>/1/`` and ``other_app`` for everything else."""
        from gsocketio.wsgi import WSGIApp

        return WSGIApp(self.handler, other_app, self.resource, legacy_app=self, **kwargs)

    def policy_server(
        self,
        listener: Any = ("0.0.0.0", DEFAULT_POLICY_PORT),
        *,
        ports: Iterable[int] | None = None,
        domain: str = "*",
        timeout: float = 10.0,
    ) -> FlashPolicyServer:
        """A Flash policy server (not started) for this endpoint's ``flashsocket`` clients;
        ``ports``: the ports Flash may connect to (the HTTP server's; None: any)."""
        return FlashPolicyServer(listener, ports=ports, domain=domain, timeout=timeout)

    def close(self) -> None:
        """Close every session (server shutdown); clients get ``0::``."""
        for conn in list(self._conns.values()):
            conn.close()
        self.reaper.stop()

    # --- used by connections --------------------------------------------------------------------

    def forget(self, conn: LegacyConnection) -> None:
        if self._conns.get(conn.sid) is conn:
            del self._conns[conn.sid]
            if not conn.opened:
                self._pending -= 1

    def opened(self, conn: LegacyConnection) -> None:
        if self._conns.get(conn.sid) is conn:
            self._pending -= 1

    # --- WSGI -----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        path: str = environ.get("PATH_INFO") or "/"
        if not path.startswith(self._prefix):
            return respond(start_response, 404, [], b"Not Found\n")
        rest = path[len(self._prefix) :]
        method = environ.get("REQUEST_METHOD", "GET")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        handshake = not rest
        if not self._origin_allowed(environ, handshake):
            log.info("legacy: refused origin %r", environ.get("HTTP_ORIGIN"))
            if handshake:
                return self._refuse(start_response, [], query, 403, "handshake bad origin")
            return respond(start_response, 403, [], b"Forbidden\n")
        headers = self.cors.headers(environ, preflight=method == "OPTIONS")
        if method == "OPTIONS":
            return respond(start_response, 204, headers)
        if method not in ("GET", "POST"):
            return respond(start_response, 405, headers, b"Method Not Allowed\n")
        if handshake:
            return self._handshake(environ, start_response, headers, query)
        parts = rest.split("/")
        if len(parts) == 3 and not parts[2]:
            parts.pop()  # a trailing slash
        if len(parts) != 2 or not parts[1]:
            return respond(start_response, 400, headers, b"Bad Request\n")
        transport, sid = parts
        return self._transport(transport, sid, environ, start_response, headers, query)

    def _origin_allowed(self, environ: Mapping[str, Any], handshake: bool) -> bool:
        if environ.get("HTTP_ORIGIN") or not handshake or not self.cors.enabled:
            return self.cors.is_allowed(environ)
        referer = environ.get("HTTP_REFERER")
        if not referer:
            return True
        parts = urlsplit(referer)
        host = parts.netloc.rpartition("@")[2]
        if parts.scheme not in ("http", "https") or not host:
            return False
        probe = dict(environ)
        probe["HTTP_ORIGIN"] = f"{parts.scheme}://{host}"
        return self.cors.is_allowed(probe)

    def _refuse(
        self,
        start_response: StartResponse,
        headers: Headers,
        query: Mapping[str, str],
        status: int,
        message: str,
    ) -> list[bytes]:
        jsonp = digits_param(query, "jsonp")
        if jsonp is not None:
            body = encode_jsonp_error(message, jsonp)
            return respond(start_response, 200, headers, body, JSONP_HANDSHAKE)
        return respond(start_response, status, headers, message, TEXT)

    def _handshake(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        headers: Headers,
        query: Mapping[str, str],
    ) -> list[bytes]:
        if self.allow_request is not None:
            try:
                allowed = self.allow_request(environ)
            except Exception:
                log.exception("legacy: allow_request failed")
                return self._refuse(start_response, headers, query, 500, "handshake error")
            if not allowed:
                return self._refuse(start_response, headers, query, 403, "handshake unauthorized")
        if self._pending >= self.max_pending_handshakes:
            log.warning("legacy: %d unused handshakes pending; refusing", self._pending)
            return self._refuse(start_response, headers, query, 503, "handshake refused")
        sid = secrets.token_urlsafe(15)
        while sid in self._conns:
            sid = secrets.token_urlsafe(15)
        session = LegacySession(sid, self.config, time.monotonic())
        conn = LegacyConnection(self, session, environ)
        self._conns[sid] = conn
        self._pending += 1
        self.reaper.schedule(session.next_deadline(), conn)
        reply = encode_handshake(
            sid,
            self.config.advertised_heartbeat_timeout,
            self.config.advertised_close_timeout,
            self.transports,
        )
        jsonp = digits_param(query, "jsonp")
        if jsonp is not None:
            return respond(
                start_response, 200, headers, encode_jsonp(reply, jsonp), JSONP_HANDSHAKE
            )
        return respond(start_response, 200, headers, reply, TEXT)

    def _transport(
        self,
        transport: str,
        sid: str,
        environ: dict[str, Any],
        start_response: StartResponse,
        headers: Headers,
        query: Mapping[str, str],
    ) -> Any:
        conn = self._conns.get(sid)
        if "disconnect" in query:
            if conn is not None:
                log.debug("%s: disconnect requested by URL", sid)
                conn.client_disconnect()
            return respond(start_response, 200, headers)
        if transport not in self._enabled:
            log.info("legacy: unsupported transport %r", transport[:32])
            return respond(start_response, 200, headers, TRANSPORT_NOT_SUPPORTED, TEXT)
        req = Request(transport, environ, start_response, headers, query)
        limits = self.config.limits
        if conn is None:
            log.info("legacy: unknown sid %r (%s)", sid[:32], transport)
            return answer_without_session(req, NOT_HANDSHAKEN, limits.max_payload)
        conn.open(transport)
        return serve(conn, req, limits=limits, polling_duration=self.config.polling_duration)
