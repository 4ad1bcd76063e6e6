"""The 0.9 endpoint: a WSGI app for ``/<resource>/1/...`` bridged to a Socket.IO server.

``LegacyServer(sio)`` (mounted by ``sio.wsgi_app(app, legacy_app=...)`` or its own
:meth:`~LegacyServer.wsgi_app`) answers the handshake ``sid:heartbeat:close:transports`` with
the 0.9 Node server's refusals (``403 handshake bad origin``/``unauthorized``, ``500 handshake
error``, ``503 handshake refused`` when the table of unused sids is full; a JSONP handshake gets
``io.j[<n>](new Error("..."))``), routes ``/<transport>/<sid>`` to
:mod:`gsocketio.legacy.transports` (``7:::1+0`` for an unknown sid, ``7:::0`` for a transport not
served) and applies the engine's CORS policy, checking a handshake without ``Origin`` by its
``Referer``. Unused handshakes expire after ``handshake_timeout`` and one client address holds
at most ``max_pending_per_address`` of them (its oldest is dropped), so no address locks others
out; jsonp-polling, readable by any page through a ``<script>``, is off unless ``jsonp=True``,
and then refused (403) to pages ``cors_allowed_origins`` does not allow.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import parse_qsl, urlsplit

from gsocketio._logging import get_logger
from gsocketio.engine.http import CorsPolicy, OriginSpec
from gsocketio.engine.options import EngineOptions
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
from gsocketio.protocol.legacy import encode_handshake
from gsocketio.protocol.legacy_bridge import LegacyWire
from gsocketio.protocol.legacy_http import encode_jsonp, encode_jsonp_error
from gsocketio.protocol.legacy_session import LegacyConfig, LegacySession
from gsocketio.protocol.limits import Limits

if TYPE_CHECKING:
    from gsocketio.engine.server import EngineServer

__all__ = ["LegacyHandler", "LegacyServer"]

log = get_logger("gsocketio.legacy")

_UNSET: Final[Any] = object()
JSONP_POLLING: Final = "jsonp-polling"
_JSONP_PREFIX: Final = JSONP_POLLING + "/"


class LegacyHandler(Protocol):
    """The ``EngineHandler`` side (``gsocketio.Server``): gets :class:`LegacyConnection`\\ s."""

    def engine_connect(self, conn: Any) -> None: ...

    def engine_message(self, conn: Any, data: str | bytes) -> None: ...

    def engine_packet(self, conn: Any, packet: Any) -> None: ...

    def engine_disconnect(self, conn: Any, reason: str) -> None: ...

    @property
    def engine(self) -> EngineServer: ...


def _page_origin(environ: Mapping[str, Any]) -> str:
    """The origin of the page behind a request: ``Origin``, else from ``Referer``, else
    ``"null"`` (also for a Referer that is not an http(s) URL)."""
    origin = environ.get("HTTP_ORIGIN")
    if origin:
        return str(origin)
    parts = urlsplit(str(environ.get("HTTP_REFERER") or ""))
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme not in ("http", "https") or not host:
        return "null"
    return f"{parts.scheme}://{host}"


class LegacyServer:
    """Serves socket.io-client 0.9 (protocol revision 1) for an ``EngineHandler``.

    ``handler`` is a :class:`gsocketio.Server` (or any ``EngineHandler``). Times are seconds;
    defaults are the 0.9 server's. ``transports`` (default: all five) is what the handshake
    offers and what is served; ``jsonp`` (default: the engine's ``jsonp``, or whether
    ``transports`` names ``jsonp-polling``) enables jsonp-polling and JSONP handshakes. The
    engine settings (``options``; default: the handler's ``engine.options``) are shared with
    the Engine.IO endpoint; ``max_http_buffer_size``, ``cors_allowed_origins`` and
    ``allow_request`` override them. ``max_pending_handshakes`` bounds the unused sids,
    ``max_pending_per_address`` those of one client address and ``handshake_timeout`` their
    life. Stop with :meth:`close`.
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
        max_pending_per_address: int = 64,
        handshake_timeout: float = 10.0,
        jsonp: bool | None = None,
        max_buffered_packets: int = 10_000,
        max_buffered_bytes: int = 10_000_000,
        options: EngineOptions | None = None,
    ) -> None:
        chosen = tuple(transports) if transports is not None else ALL_TRANSPORTS
        unknown = set(chosen) - set(ALL_TRANSPORTS)
        if unknown or not chosen:
            raise ValueError(f"transports must be a non-empty subset of {ALL_TRANSPORTS}")
        base = options if options is not None else handler.engine.options
        if jsonp is None:  # the engine's jsonp=True, or naming jsonp-polling, opts in
            jsonp = base.jsonp or (transports is not None and JSONP_POLLING in chosen)
        elif not jsonp and transports is not None and JSONP_POLLING in chosen:
            raise ValueError("transports names jsonp-polling but jsonp=False")
        if not jsonp:
            chosen = tuple(name for name in chosen if name != JSONP_POLLING)
            if not chosen:
                raise ValueError("jsonp-polling is the only transport but jsonp=False")
        if max_pending_per_address < 1 or handshake_timeout <= 0:
            raise ValueError("max_pending_per_address and handshake_timeout must be positive")
        overrides: dict[str, Any] = {"jsonp": jsonp} if jsonp != base.jsonp else {}
        if max_http_buffer_size is not None:
            overrides["max_http_buffer_size"] = max_http_buffer_size
        if cors_allowed_origins is not _UNSET:
            overrides["cors_allowed_origins"] = cors_allowed_origins
            overrides["cors_credentials"] = cors_credentials
        if allow_request is not _UNSET:
            overrides["allow_request"] = allow_request
        self.options = dataclasses.replace(base, **overrides) if overrides else base
        self.cors = CorsPolicy(self.options.cors_allowed_origins, self.options.cors_credentials)
        allow_request = self.options.allow_request
        max_http_buffer_size = self.options.max_http_buffer_size
        self.handler = handler
        self.resource = resource.strip("/")
        self.transports = chosen
        self.allow_request = allow_request
        self.max_pending_handshakes = max_pending_handshakes
        self.max_pending_per_address = max_pending_per_address
        self.handshake_timeout = handshake_timeout
        self.jsonp = jsonp
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
        # Handshaken sids no transport has used yet, oldest first: all, and per client address.
        # OrderedDict, not dict: popping the oldest stays O(1) (a dict's front fills with holes).
        self._unused: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._unused_by_address: dict[str, OrderedDict[str, None]] = {}

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
            self._used(conn.sid)

    def opened(self, conn: LegacyConnection) -> None:
        if self._conns.get(conn.sid) is conn:
            self._used(conn.sid)

    # --- unused handshakes ----------------------------------------------------------------------

    @property
    def _pending(self) -> int:
        """How many handshaken sids no transport has used yet."""
        return len(self._unused)

    def _used(self, sid: str) -> None:
        entry = self._unused.pop(sid, None)
        if entry is None:
            return
        same_address = self._unused_by_address[entry[1]]
        del same_address[sid]
        if not same_address:
            del self._unused_by_address[entry[1]]

    def _drop_unused(self, sid: str) -> None:
        conn = self._conns.get(sid)
        if conn is None:  # pragma: no cover - forget() keeps both tables in step
            self._used(sid)
            return
        conn.client_disconnect()  # never connected: the handler hears nothing; forget() runs
        self._used(sid)

    def _make_room(self, address: str, now: float) -> None:
        """Expire the unused handshakes older than ``handshake_timeout`` and, when ``address``
        holds ``max_pending_per_address`` of them, its oldest: one address cannot fill the
        table, and a client uses its handshake at once, so only idle sids are ever dropped."""
        expired = now - self.handshake_timeout
        for _ in range(len(self._unused)):
            sid, (created, _address) = next(iter(self._unused.items()))
            if created > expired:
                break
            self._drop_unused(sid)
        same_address = self._unused_by_address.get(address)
        if same_address is not None and len(same_address) >= self.max_pending_per_address:
            oldest = next(iter(same_address))
            log.info(
                "legacy: %s holds %d unused handshakes; dropping its oldest",
                address,
                len(same_address),
            )
            self._drop_unused(oldest)

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
        if (rest.startswith(_JSONP_PREFIX) if rest else "jsonp" in query) and self.jsonp:
            # A <script> reads JSONP from any page: only pages cors_allowed_origins names.
            if not self._script_origin_allowed(environ):
                log.info("legacy: refused JSONP from page %r", _page_origin(environ))
                if handshake:  # the 0.9 error script, as for a refused Origin: no sid in it
                    return self._refuse(start_response, [], query, 403, "handshake bad origin")
                return respond(start_response, 403, [], b"Forbidden\n")
        elif handshake and "jsonp" in query:
            return respond(start_response, 403, [], "handshake jsonp disabled", TEXT)
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
        if not environ.get("HTTP_REFERER"):
            return True
        origin = _page_origin(environ)
        return origin != "null" and self._as_origin(environ, origin)

    def _script_origin_allowed(self, environ: Mapping[str, Any]) -> bool:
        """Whether the page loading a JSONP script may: its ``Origin``, else its ``Referer``,
        else the opaque origin ``null`` (a script tag can suppress its Referer)."""
        return self._as_origin(environ, _page_origin(environ))

    def _as_origin(self, environ: Mapping[str, Any], origin: str) -> bool:
        probe = dict(environ)
        probe["HTTP_ORIGIN"] = origin
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
        now = time.monotonic()
        address = str(environ.get("REMOTE_ADDR") or "")
        self._make_room(address, now)
        if self._pending >= self.max_pending_handshakes:
            log.warning("legacy: %d unused handshakes pending; refusing", self._pending)
            return self._refuse(start_response, headers, query, 503, "handshake refused")
        sid = secrets.token_urlsafe(15)
        while sid in self._conns:
            sid = secrets.token_urlsafe(15)
        session = LegacySession(sid, self.config, now)
        conn = LegacyConnection(self, session, environ)
        self._conns[sid] = conn
        self._unused[sid] = (now, address)
        self._unused_by_address.setdefault(address, OrderedDict())[sid] = None
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
