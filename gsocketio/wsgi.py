"""WSGI routing: ``/<socketio_path>/`` to the Engine.IO server, everything else to the user's app.

:class:`WSGIApp` also serves the official browser client (``/socket.io/socket.io.js``, the
``.min.js``, ESM and msgpack builds and their source maps) the way the Node server does —
``ETag`` of the client version, ``304`` on a matching ``If-None-Match``, gzip when accepted —
so pages can use ``<script src="/socket.io/socket.io.js">`` without a CDN. The bundle is
looked up in ``gsocketio/static/client`` (put there when the wheel is built, see setup.py),
else in ``$GSOCKETIO_CLIENT_DIST`` (a directory holding the files), else in
``node_modules/socket.io-client/dist`` found by walking up from the working directory and from
this package's directory; when none is found one warning says so and the files answer 404 with
instructions (docs/operations.md, "Packaging").

WebSocket upgrades need the connection's raw socket and a server that writes nothing after
the application: :class:`gsocketio.SocketIOServer` (and the gunicorn workers of
:mod:`gsocketio.sgunicorn`) and gunicorn's stock gevent worker (``-k gevent``) qualify. Under
any other WSGI server the upgrade is refused (HTTP 400, one warning logged) and clients keep
long-polling, which works under any WSGI server. See ``docs/deployment.md``.
"""

from __future__ import annotations

import json
import mimetypes
import os
import posixpath
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import gevent.socket

from gsocketio._logging import get_logger
from gsocketio.engine import EngineHandler, EngineServer
from gsocketio.engine.hooks import EngineHooks
from gsocketio.engine.http import choose_encoding, compress
from gsocketio.exceptions import ServerConfigError
from gsocketio.forwarding import Forwarder, is_forwarded
from gsocketio.node_id import LocalIdentity, current
from gsocketio.protocol.forward import owner_of
from gsocketio.websocket.connection import (
    GUNICORN_SOCKET_KEY,
    SOCKET_KEY,
    WEBSOCKET_KEY,
    WebSocket,
    is_websocket_request,
)

__all__ = [
    "CLIENT_FILES",
    "PACKAGED_CLIENT_DIR",
    "SEED_MODE_ERROR",
    "ClientBundle",
    "WSGIApp",
    "find_client_dist",
]

log = get_logger("gsocketio.wsgi")

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
StaticFiles = Mapping[str, "str | Mapping[str, str]"]

CLIENT_FILES = frozenset(
    {
        "socket.io.js",
        "socket.io.js.map",
        "socket.io.min.js",
        "socket.io.min.js.map",
        "socket.io.esm.min.js",
        "socket.io.esm.min.js.map",
        "socket.io.msgpack.min.js",
        "socket.io.msgpack.min.js.map",
    }
)

NO_RAW_SOCKET_WARNING = (
    "WebSocket upgrades refused: this WSGI server does not hand over the raw socket, so "
    "clients stay on HTTP long-polling; serve with gsocketio.SocketIOServer, or under gunicorn "
    "with -k gsocketio.sgunicorn.GeventSocketIOWorker (see docs/deployment.md)"
)

SEED_ENVIRON_KEY = "gsocketio.original_path_info"
"""Set in the environ seed mode runs an application with (gsocketio.compat.managed)."""

SEED_MODE_ERROR = (
    "SocketIOServer runs this application in seed mode (gevent-socketio style), but it "
    "contains a gsocketio WSGIApp (sio.wsgi_app()) that routes Socket.IO itself, hidden by "
    "middleware SocketIOServer cannot see through: pass SocketIOServer(..., mode='modern')"
)

PACKAGED_CLIENT_DIR = Path(__file__).resolve().parent / "static" / "client"
"""Where a wheel carries the official client (absent in a checkout: node_modules serves it)."""

_NOT_INSTALLED = (
    b"The socket.io browser client is not installed: install gsocketio from a wheel (which "
    b"bundles it), run `npm install socket.io-client` in the project directory, or set "
    b"GSOCKETIO_CLIENT_DIST to a directory holding socket.io.js.\n"
)


class _RequestHandler(Protocol):
    def handle_request(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]: ...


def _text(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _owner(rest: str, environ: dict[str, Any]) -> str | None:
    """The node a request's sid names: ``?sid=`` (Engine.IO) or ``1/<transport>/<sid>`` (0.9)."""
    if rest.startswith("1/"):
        parts = rest.split("/", 3)
        return owner_of(parts[2]) if len(parts) > 2 and parts[2] else None
    query = str(environ.get("QUERY_STRING", ""))
    at = query.find("sid=")
    if at < 0 or (at > 0 and query[at - 1] != "&"):
        return None
    end = query.find("&", at)
    return owner_of(query[at + 4 : end if end >= 0 else None])


def find_client_dist() -> Path | None:
    """Directory of the ``socket.io-client`` browser bundle: packaged, explicit, or npm's."""
    if (PACKAGED_CLIENT_DIR / "socket.io.js").is_file():
        return PACKAGED_CLIENT_DIR
    explicit = os.environ.get("GSOCKETIO_CLIENT_DIST")
    if explicit:
        path = Path(explicit)
        return path if (path / "socket.io.js").is_file() else None
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for directory in (start, *start.parents):
            candidate = directory / "node_modules" / "socket.io-client" / "dist"
            if (candidate / "socket.io.js").is_file():
                return candidate
    return None


def _bundle_version(directory: Path) -> str:
    """The version from the bundle's package.json (in it when packaged, beside it in npm's
    layout), else the script's mtime: only an ETag needs it."""
    for package in (directory / "package.json", directory.parent / "package.json"):
        try:
            return str(json.loads(package.read_text())["version"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return str(int((directory / "socket.io.js").stat().st_mtime))


class ClientBundle:
    """Serves the official client files with the Node server's caching headers."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._version: str | None = None
        self._cache: dict[tuple[str, str | None], bytes] = {}
        self._warned = False

    def describe(self) -> str | None:
        """``"socket.io-client <version> from <directory>"``, or None when there is no bundle."""
        directory = self._locate()
        return None if directory is None else f"socket.io-client {self._version} from {directory}"

    def _locate(self) -> Path | None:
        directory = self._directory
        if directory is None:
            directory = self._directory = find_client_dist()
        if directory is not None and self._version is None:
            self._version = _bundle_version(directory)
        return directory

    def serve(
        self, filename: str, environ: Mapping[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        """Answer one client file (``filename`` must be in :data:`CLIENT_FILES`)."""
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", b"Method Not Allowed\n")
        directory = self._locate()
        if directory is None or not (directory / filename).is_file():
            if not self._warned:
                self._warned = True
                log.warning(
                    "/%s answers 404: no socket.io-client bundle (not in the installed "
                    "package, GSOCKETIO_CLIENT_DIST nor node_modules; see docs/operations.md)",
                    filename,
                )
            return _text(start_response, "404 Not Found", _NOT_INSTALLED)
        etag = f'"{self._version}"'
        if environ.get("HTTP_IF_NONE_MATCH") in (etag, "W/" + etag):
            start_response("304 Not Modified", [("ETag", etag)])
            return [b""]
        encoding = choose_encoding(environ.get("HTTP_ACCEPT_ENCODING"))
        key = (filename, encoding)
        body = self._cache.get(key)
        if body is None:
            raw = (directory / filename).read_bytes()
            body = compress(raw, encoding) if encoding else raw
            self._cache[key] = body
        kind = "json" if filename.endswith(".map") else "javascript"
        headers = [
            ("Content-Type", f"application/{kind}; charset=utf-8"),
            ("Cache-Control", "public, max-age=0"),
            ("ETag", etag),
            ("Vary", "Accept-Encoding"),
            ("Content-Length", str(len(body))),
        ]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        start_response("200 OK", headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _gunicorn_already_handled() -> Any:
    """gunicorn's marker for "the app wrote the response itself" (async workers), or None."""
    try:
        from gunicorn.workers.base_async import ALREADY_HANDLED
    except ImportError:
        return None
    return ALREADY_HANDLED


def _resolve_engine(target: object) -> _RequestHandler:
    """Accept an EngineServer, an object holding one (``gsocketio.Server``), or a bare handler."""
    if isinstance(target, EngineServer):
        return target
    for name in ("engine", "eio"):
        candidate = getattr(target, name, None)
        if isinstance(candidate, EngineServer):
            return candidate
    if callable(getattr(target, "handle_request", None)):
        return target  # type: ignore[return-value]
    if all(
        callable(getattr(target, name, None))
        for name in ("engine_connect", "engine_message", "engine_disconnect")
    ):
        handler: EngineHandler = target  # type: ignore[assignment]
        return EngineServer(handler)
    raise TypeError(f"{target!r} is neither a gsocketio.Server, an EngineServer nor a handler")


class WSGIApp:
    """The WSGI application: Socket.IO endpoint, client bundle, static files, then ``other_app``.

    ``static_files`` maps URL paths to files or directories (``{"/": "index.html",
    "/static": "./public"}``); a value may also be ``{"filename": ..., "content_type": ...}``.
    ``legacy_app`` (optional) receives ``/<socketio_path>/1/...``, the 0.9 protocol's URLs.
    """

    def __init__(
        self,
        sio_or_engine_handler: object,
        other_app: WSGIApplication | None = None,
        socketio_path: str = "socket.io",
        static_files: StaticFiles | None = None,
        *,
        serve_client: bool = True,
        legacy_app: WSGIApplication | None = None,
    ) -> None:
        self.engine = _resolve_engine(sio_or_engine_handler)
        hooks = getattr(sio_or_engine_handler, "engine_hooks", None)
        self.engine_hooks: EngineHooks | None = hooks if isinstance(hooks, EngineHooks) else None
        self.other_app = other_app
        self.legacy_app = legacy_app
        self.prefix = "/" + socketio_path.strip("/") + "/"
        self.client = ClientBundle() if serve_client else None
        self.static_files = dict(static_files or {})
        self._warned_upgrade = False
        self._forwarder: Forwarder | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO") or "/"
        if path.startswith(self.prefix):
            if SEED_ENVIRON_KEY in environ:
                return self._run_by_seed_mode(environ, start_response)
            rest = path[len(self.prefix) :]
            if rest and self.client is not None and rest in CLIENT_FILES:
                return self.client.serve(rest, environ, start_response)
            if self.legacy_app is not None and rest.startswith("1/"):
                target: WSGIApplication = self.legacy_app
            else:
                target = self.engine.handle_request
                hooks = self.engine_hooks
                if hooks is not None and hooks.active:
                    target = partial(hooks.serve, target)
            identity = current()
            if identity is not None and not is_forwarded(environ):
                owner = _owner(rest, environ)
                if owner is not None and owner != identity.node:
                    forwarded = self._forwarding(identity).forward(owner, environ, start_response)
                    if forwarded is not None:
                        return forwarded
            if SOCKET_KEY not in environ and is_websocket_request(environ):
                return self._foreign_upgrade(target, environ, start_response)
            return target(environ, start_response)
        if self.static_files:
            served = self._serve_static(path, environ, start_response)
            if served is not None:
                return served
        if self.other_app is not None:
            return self.other_app(environ, start_response)
        return _text(start_response, "404 Not Found", b"Not Found\n")

    def direct_route(self, path: str, query: str) -> WSGIApplication | None:
        """The engine endpoint, when a request may skip the full environ and this routing.

        :class:`gsocketio.http.WSGIServer` asks this of the application it serves itself
        (never of one wrapped in middleware, which must see every request): for a polling
        GET/POST of an existing session (``?sid=``) on the exact engine path, while no engine
        hook is registered and this process is not a node that forwards requests, the answer
        is the engine's and nothing here would change it. None sends the request the general
        way (``__call__``). ``tests/engine/test_direct_path.py`` pins both to the same bytes.
        """
        if path != self.prefix:
            return None
        hooks = self.engine_hooks
        if hooks is not None and hooks.listeners:  # hooks.active, without its call
            return None
        engine = self.engine
        if not isinstance(engine, EngineServer) or current() is not None:
            return None
        parsed = engine.direct_query(query)
        if parsed is None:
            return None
        return partial(engine.handle_request, parsed_query=parsed)

    def _forwarding(self, identity: LocalIdentity) -> Forwarder:
        """The forwarder of this process's node, bounded by the engine's options: a
        forwarded long-poll may last ``ping_interval``, a body ``max_http_buffer_size``."""
        forwarder = self._forwarder
        if forwarder is None or forwarder.identity is not identity:
            engine = self.engine
            wait = float(getattr(engine, "ping_interval", 25)) + float(
                getattr(engine, "ping_timeout", 20)
            )
            max_body = int(getattr(engine, "max_http_buffer_size", 1_000_000))
            forwarder = Forwarder(identity, timeout=wait + 10, max_body=max_body)
            self._forwarder = forwarder
        return forwarder

    def _run_by_seed_mode(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """Seed mode ran this application for a Socket.IO connection: it routes Socket.IO
        itself, so it must be served in modern mode. Say so loudly; the connection fails."""
        log.error(SEED_MODE_ERROR)
        raise ServerConfigError(SEED_MODE_ERROR)

    def _foreign_upgrade(
        self, target: WSGIApplication, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """A WebSocket upgrade on a WSGI server other than :class:`gsocketio.SocketIOServer`.

        gunicorn's own gevent worker (``-k gevent``) gives the raw socket
        (``environ['gunicorn.socket']``) and writes no response of its own for an app that
        returns its ``ALREADY_HANDLED`` marker: the upgrade is served, then the closing
        handshake finished here, as :mod:`gsocketio.http` does after the app. Other servers
        (``-k gevent_pywsgi``, whose pywsgi handler would still log and answer after the app;
        thread or sync workers; servers without a raw socket) get the upgrade refused with
        HTTP 400, which clients take as "stay on long-polling", and one warning saying why.
        """
        raw = environ.get(GUNICORN_SOCKET_KEY)
        handled = _gunicorn_already_handled() if raw is not None else None
        if handled is None or not isinstance(raw, gevent.socket.socket):
            if not self._warned_upgrade:
                self._warned_upgrade = True
                log.warning(NO_RAW_SOCKET_WARNING)
            hidden = {key: value for key, value in environ.items() if key != GUNICORN_SOCKET_KEY}
            return target(hidden, start_response)
        result = target(environ, start_response)
        ws = environ.get(WEBSOCKET_KEY)
        if not isinstance(ws, WebSocket):  # refused for another reason: a normal response
            return result
        close = getattr(result, "close", None)
        if close is not None:
            close()
        ws.finish()
        return handled  # type: ignore[no-any-return]

    def _serve_static(
        self, path: str, environ: Mapping[str, Any], start_response: StartResponse
    ) -> list[bytes] | None:
        target = self._static_target(path)
        if target is None:
            return None
        filename, content_type = target
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", b"Method Not Allowed\n")
        try:
            body = Path(filename).read_bytes()
        except OSError:
            return _text(start_response, "404 Not Found", b"Not Found\n")
        content_type = (
            content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        start_response(
            "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _static_target(self, path: str) -> tuple[str, str | None] | None:
        """Map a URL path to (filename, content type): an exact entry, else the longest
        directory entry it lies under; the path cannot climb out of that directory."""
        entry = self.static_files.get(path)
        rest = ""
        if entry is None:
            best: str | None = None
            for key in self.static_files:
                base = key.rstrip("/")
                if path.startswith(base + "/") and (best is None or len(base) > len(best)):
                    best = base
            if best is None:
                return None
            entry = self.static_files.get(best) or self.static_files[best + "/"]
            rest = path[len(best) + 1 :]
        if isinstance(entry, Mapping):
            filename, content_type = entry["filename"], entry.get("content_type")
        else:
            filename, content_type = entry, None
        if "\x00" in rest:
            return None
        if os.path.isdir(filename):
            rest = posixpath.normpath("/" + rest).lstrip("/")  # "/.." normalises to "/"
            full = os.path.join(filename, rest) if rest else filename
            if os.path.isdir(full):
                full = os.path.join(full, "index.html")
        elif rest:
            return None  # a file entry serves its own path only
        else:
            full = filename
        return (full, content_type) if os.path.isfile(full) else None
