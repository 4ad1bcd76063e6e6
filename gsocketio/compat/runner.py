"""``SocketIOServer`` and the seed's runners (``make_server``, ``serve``, ``serve_paste``).

:class:`SocketIOServer` is :class:`gsocketio.http.WSGIServer` with gevent-socketio's
constructor: ``resource``, ``transports``, ``policy_server``/``policy_listener``,
``heartbeat_interval``/``heartbeat_timeout``, ``close_timeout`` (kept in :attr:`config`), and
``http_timeout`` (every HTTP deadline, default 60 s). Strings are accepted where the seed
accepted them (values from a paste ``.ini``: ``heartbeat_interval="5"``).

Its *mode* says who routes ``/<resource>/``:

``"modern"``
    the application does (``sio.wsgi_app(...)``, possibly inside WSGI middleware);
``"seed"``
    the server does, as gevent-socketio did: ``/<resource>/`` goes to a
    :func:`gsocketio.compat.managed.managed_server` that runs the application once per Socket.IO
    connection (its view calls ``socketio_manage``), the 0.9 protocol is served at
    ``/<resource>/1/``, and the Flash policy server starts with the server when
    ``policy_server`` is true and ``flashsocket`` is enabled (a port already taken is a
    warning, not fatal). The :class:`gsocketio.Server` options in :data:`SERVER_OPTIONS`
    configure that server;
``"auto"`` (default)
    modern when :func:`find_socketio_app` finds a :class:`gsocketio.wsgi.WSGIApp` in the
    application or the middleware around it, seed otherwise.

A contradiction fails at construction with :class:`gsocketio.exceptions.ServerConfigError`
(``mode="seed"`` for an application that routes Socket.IO itself, Server options for a modern
application: ``TypeError``), and a modern application that seed mode runs anyway (middleware
the walk cannot see through) refuses the connection with an error in the log instead of
leaving the handshake hanging. See docs/deployment.md ("Server modes").
"""

from __future__ import annotations

import functools
import logging
import types
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gsocketio._logging import get_logger
from gsocketio.compat.managed import ManagedHandlers, ManagedSocket, managed_server
from gsocketio.compat.options import modern_transports
from gsocketio.exceptions import ServerConfigError
from gsocketio.http import DEFAULT_HTTP_LIMITS, HTTPLimits, WSGIServer
from gsocketio.legacy.endpoint import LegacyServer
from gsocketio.legacy.policy import DEFAULT_POLICY_PORT
from gsocketio.legacy.transports import ALL_TRANSPORTS
from gsocketio.wsgi import WSGIApp as SocketIOWSGIApp

__all__ = [
    "DEFAULT_HTTP_TIMEOUT",
    "MODES",
    "SERVER_OPTIONS",
    "SocketIOServer",
    "find_socketio_app",
    "make_server",
    "serve",
    "serve_paste",
]

logger = get_logger("gsocketio.serve")

DEFAULT_HTTP_TIMEOUT = 60.0
"""Seconds for a whole request head, a whole body, and a whole response (see HTTPLimits)."""
MODES = frozenset({"auto", "modern", "seed"})

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

SERVER_OPTIONS = frozenset(
    {
        "adapter",
        "allow_upgrades",
        "compression_threshold",
        "connect_timeout",
        "cookie",
        "cors_allowed_origins",
        "http_compression",
        "json",
        "manage_timeout",
        "max_http_buffer_size",
        "websocket_compression",
    }
)
"""Keywords of :class:`SocketIOServer` that configure the seed-mode Socket.IO server."""

_TRUE = frozenset({"true", "enable", "enabled", "yes", "on", "1"})
_FALSE = frozenset({"false", "disable", "disabled", "no", "off", "0", ""})
_WRAPPER_ATTRS = ("app", "application", "wsgi_app", "wrapped", "wrapped_app", "_app", "__wrapped__")
_WALK_DEPTH = 8
_WALK_NODES = 256


def find_socketio_app(application: Any) -> Any:
    """The :class:`gsocketio.wsgi.WSGIApp` in ``application`` or behind its middleware, or None.

    Walks, without calling anything or triggering properties: instance attributes that
    middleware keep their inner app in (``app``, ``application``, ``wsgi_app`` as Flask
    patterns set it, ``__wrapped__``...), werkzeug's ``DispatcherMiddleware.mounts``,
    ``functools.partial``, bound methods and the closures of function middleware. An object
    with ``gsocketio_app = True`` counts as one too.
    """
    seen: set[int] = set()
    queue: deque[tuple[Any, int]] = deque([(application, 0)])
    while queue and len(seen) < _WALK_NODES:
        obj, depth = queue.popleft()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, SocketIOWSGIApp):
            return obj
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict) and attributes.get("gsocketio_app") is True:
            return obj
        if depth >= _WALK_DEPTH:
            continue
        queue.extend((child, depth + 1) for child in _children(obj, attributes))
    return None


def _children(obj: Any, attributes: Any) -> list[Any]:
    children: list[Any] = []
    if isinstance(attributes, dict):
        children.extend(attributes[name] for name in _WRAPPER_ATTRS if name in attributes)
        mounts = attributes.get("mounts")
        if isinstance(mounts, dict):
            children.extend(mounts.values())
    if isinstance(obj, functools.partial):
        children.extend((obj.func, *obj.args, *obj.keywords.values()))
    elif isinstance(obj, types.MethodType):
        children.append(obj.__self__)
    elif isinstance(obj, types.FunctionType) and obj.__closure__:
        for cell in obj.__closure__:
            try:
                children.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
    return children


def _number(name: str, value: Any) -> float:
    """The seed took numbers from paste ``.ini`` strings: convert, name the option if not."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, not {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, not {value!r}") from None


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise TypeError(f"{name} must be true or false, not {value!r}")
    return bool(value)


def _transport_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return list(value)


class SocketIOServer(WSGIServer):
    """The seed's server class (see the module docstring for modes and options).

    Other keyword arguments are :class:`gsocketio.http.WSGIServer`'s (``log``, ``error_log``,
    ``spawn``, ``backlog``, ``environ``, ``limits``, TLS). Access and error logs default to the
    ``gsocketio.serve`` logger instead of stderr.
    """

    def __init__(
        self,
        listener: Any,
        application: WSGIApp | None = None,
        resource: str = "socket.io",
        *,
        mode: str = "auto",
        transports: Sequence[str] | str | None = None,
        policy_server: bool | str = True,
        policy_listener: tuple[str, int] | None = None,
        heartbeat_interval: float | str = 25,
        heartbeat_timeout: float | str = 60,
        close_timeout: float | str = 60,
        http_timeout: float | str | None = DEFAULT_HTTP_TIMEOUT,
        limits: HTTPLimits | None = None,
        **kwargs: Any,
    ) -> None:
        if mode not in MODES:
            raise ServerConfigError(f"mode must be one of {sorted(MODES)}, not {mode!r}")
        if "namespace" in kwargs:  # the seed's old name for resource (deprecated there too)
            warnings.warn("SocketIOServer(namespace=) is resource=", DeprecationWarning, 2)
            resource = kwargs.pop("namespace")
        kwargs.setdefault("log", logger)
        kwargs.setdefault("error_log", logger)
        kwargs.pop("handler_class", None)  # pywsgi's; gunicorn passes it
        if isinstance(kwargs.get("backlog"), str):
            kwargs["backlog"] = int(kwargs["backlog"])
        timeout = None if http_timeout is None else _number("http_timeout", http_timeout)
        self.http_timeout = timeout
        limits = (limits or DEFAULT_HTTP_LIMITS).with_timeout(timeout)
        options = {key: kwargs.pop(key) for key in SERVER_OPTIONS if key in kwargs}
        self.resource = resource.strip("/")
        if policy_listener is None:
            host = listener[0] if isinstance(listener, tuple) else "0.0.0.0"
            policy_listener = (host, DEFAULT_POLICY_PORT)
        self.config: dict[str, Any] = {
            "resource": self.resource,
            "transports": _transport_list(transports),
            "policy_server": _flag("policy_server", policy_server),
            "policy_listener": policy_listener,
            "heartbeat_interval": _number("heartbeat_interval", heartbeat_interval),
            "heartbeat_timeout": _number("heartbeat_timeout", heartbeat_timeout),
            "close_timeout": _number("close_timeout", close_timeout),
        }
        self.seed_server: Any = None
        self.legacy_server: Any = None
        self.policy_server: Any = None  # the running Flash policy server, if any
        self.mode = self._choose_mode(mode, application)
        if self.mode == "seed" and application is not None:
            application = self._seed_mode(application, options)
        elif options:
            raise TypeError(
                f"{sorted(options)} configure the seed-mode server; this application already "
                "routes Socket.IO (configure its gsocketio.Server instead)"
            )
        super().__init__(listener, application, limits=limits, **kwargs)

    @staticmethod
    def _choose_mode(mode: str, application: Any) -> str:
        if application is None:
            return "modern" if mode == "auto" else mode
        found = find_socketio_app(application)
        if mode == "auto":
            return "modern" if found is not None else "seed"
        if mode == "seed" and found is not None:
            raise ServerConfigError(
                f"mode='seed' but the application routes Socket.IO itself ({found!r} inside "
                "it): seed mode would run it once per connection and the handshake would hang; "
                "use mode='modern' (or leave mode='auto')"
            )
        return mode

    # --- seed mode -----------------------------------------------------------------------------

    def _seed_mode(self, application: WSGIApp, options: dict[str, Any]) -> Any:
        options.setdefault("ping_interval", self.config["heartbeat_interval"])
        options.setdefault("ping_timeout", self.config["heartbeat_timeout"])
        transports = modern_transports(self.config["transports"])
        if transports is not None:
            options["transports"] = transports
        self.seed_server = managed_server(
            application, resource=self.resource, config=self.config, **options
        )
        self.legacy_server = self._legacy_endpoint(self.seed_server)
        return self.seed_server.wsgi_app(application, self.resource, legacy_app=self.legacy_server)

    def _legacy_endpoint(self, handler: Any) -> Any:
        """The 0.9 endpoint (``/<resource>/1/``) over the seed-mode server; the seed's
        heartbeat and close timeouts configure it."""
        transports = self.config["transports"]
        if transports is not None:
            transports = [name for name in transports if name in ALL_TRANSPORTS]
        return LegacyServer(
            handler,
            resource=self.resource,
            transports=transports,
            heartbeat_interval=self.config["heartbeat_interval"],
            heartbeat_timeout=self.config["heartbeat_timeout"],
            close_timeout=self.config["close_timeout"],
        )

    @property
    def seed_handlers(self) -> ManagedHandlers | None:
        """The handler layer of the seed-mode server (None in modern mode)."""
        layer = self.seed_server.handlers if self.seed_server is not None else None
        return layer if isinstance(layer, ManagedHandlers) else None

    @property
    def transports(self) -> list[str] | None:
        """The seed's ``transports`` option as given (None: all)."""
        transports: list[str] | None = self.config["transports"]
        return transports

    @property
    def sockets(self) -> dict[str, ManagedSocket]:
        """The seed's ``server.sockets``: live virtual sockets by sessid (seed mode; else {})."""
        layer = self.seed_handlers
        return layer.sockets if layer is not None else {}

    def get_socket(self, sessid: str = "") -> ManagedSocket | None:
        """The seed's ``server.get_socket(sessid)``: a live virtual socket, or None."""
        layer = self.seed_handlers
        return layer.get_socket(sessid) if layer is not None else None

    # --- lifecycle -----------------------------------------------------------------------------

    def start_accepting(self) -> None:
        super().start_accepting()
        if self.policy_server is None and self._wants_policy_server():
            self._start_policy_server()

    def _wants_policy_server(self) -> bool:
        """As the seed: with ``policy_server=True`` (default), whenever 0.9 clients may use
        ``flashsocket`` — i.e. in seed mode with that transport enabled."""
        if not self.config["policy_server"] or self.legacy_server is None:
            return False
        transports = self.config["transports"]
        return transports is None or "flashsocket" in transports

    def _start_policy_server(self) -> None:
        listener = self.config["policy_listener"]
        server = self.legacy_server.policy_server(listener, ports=[self.server_port])
        try:
            server.start()
        except OSError as exc:
            # Another process (often a second app on the same host) has the port: the app
            # still serves everything but Flash clients, so say so instead of failing.
            logger.warning("Flash policy server not started on %s:%s: %s", *listener, exc)
            return
        self.policy_server = server
        logger.info("Flash policy server on %s:%s", *server.address[:2])

    def stop(self, timeout: float | None = None) -> None:
        if self.policy_server is not None:
            self.policy_server.stop()
            self.policy_server = None
        super().stop(timeout)


# --- the seed's runner entry points (``serve``; ``serve_paste`` for paste.deploy ini files) ---


def make_server(app: WSGIApp, **kw: Any) -> SocketIOServer:
    """The :class:`SocketIOServer` that :func:`serve` runs, from keyword options that may all be
    strings (as a paste ``[server:main]`` section gives them): ``host`` (127.0.0.1), ``port``
    (6543), ``resource``, ``transports`` ("websocket, xhr-polling"), ``policy_server``
    (off unless true/yes/on/1), ``policy_listener_host``/``policy_listener_port`` (10843), the
    seed's timeouts; the rest go to :class:`SocketIOServer` unchanged."""
    host = str(kw.pop("host", "127.0.0.1"))
    port = int(kw.pop("port", 6543))
    policy = kw.pop("policy_server", False)
    policy_server = policy is True or str(policy).strip().lower() in _TRUE
    policy_host = str(kw.pop("policy_listener_host", host))
    policy_port = int(kw.pop("policy_listener_port", DEFAULT_POLICY_PORT))
    return SocketIOServer(
        (host, port),
        app,
        resource=str(kw.pop("resource", "socket.io")),
        transports=_transport_list(kw.pop("transports", None)),
        policy_server=policy_server,
        policy_listener=(policy_host, policy_port),
        **kw,
    )


def serve(app: WSGIApp, **kw: Any) -> None:
    """Serve ``app`` until interrupted, as the seed's ``socketio.server.serve`` did; options as
    :func:`make_server` (``_quiet=True`` leaves logging alone)."""
    if not kw.pop("_quiet", False):
        logging.basicConfig()  # a no-op when the app configured logging already
    server = make_server(app, **kw)
    server.init_socket()
    logger.info("serving on http://%s:%s", server.server_host, server.server_port)
    server.serve_forever()


def serve_paste(app: WSGIApp, global_conf: dict[str, Any], **kw: Any) -> int:
    """paste.deploy server runner (``use = egg:gsocketio#paster`` in ``[server:main]``)."""
    serve(app, **kw)
    return 0
