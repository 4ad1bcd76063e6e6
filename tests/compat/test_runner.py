"""SocketIOServer's mode (who routes /socket.io/) and the seed's lenient constructor."""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import urllib3

import gsocketio
from gsocketio.exceptions import ServerConfigError
from gsocketio.serve import SocketIOServer, find_socketio_app
from gsocketio.wsgi import SEED_MODE_ERROR

TIMEOUT = 5


def seed_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"seed"]


class ClassMiddleware:  # werkzeug's ProxyFix, whitenoise, sentry... keep the app in .app
    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class Dispatcher:  # werkzeug's DispatcherMiddleware shape
    def __init__(self, app: Any, mounts: dict[str, Any]) -> None:
        self.app = app
        self.mounts = mounts

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class Opaque:  # a wrapper the walk cannot see into
    def __init__(self, app: Any) -> None:
        self._hidden = {"app": app}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._hidden["app"](environ, start_response)


def function_middleware(app: Any) -> Any:
    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        return app(environ, start_response)

    return middleware


def flask_style() -> tuple[Any, Any]:
    import flask

    web = flask.Flask(__name__)
    sio = gsocketio.Server()
    web.wsgi_app = sio.wsgi_app(web.wsgi_app)  # type: ignore[method-assign]
    return web, web.wsgi_app


def server(app: Any, **kwargs: Any) -> SocketIOServer:
    return SocketIOServer(("127.0.0.1", 0), app, log=None, **kwargs)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda app: app,
        ClassMiddleware,
        lambda app: ClassMiddleware(ClassMiddleware(function_middleware(app))),
        function_middleware,
        lambda app: functools.partial(lambda a, e, s: a(e, s), app),
        lambda app: Dispatcher(seed_app, {"/chat": app}),
        lambda app: ClassMiddleware(app).__call__,  # a bound method
    ],
    ids=["bare", "class", "nested", "function", "partial", "dispatcher", "method"],
)
def test_modern_apps_are_found_behind_middleware(wrap: Callable[[Any], Any]) -> None:
    inner = gsocketio.Server().wsgi_app()
    wrapped = wrap(inner)
    assert find_socketio_app(wrapped) is inner
    s = server(wrapped)
    assert s.mode == "modern" and s.seed_server is None


def test_flask_wsgi_app_pattern_is_modern() -> None:
    web, inner = flask_style()
    assert find_socketio_app(web) is inner
    assert server(web).mode == "modern"


def test_a_plain_wsgi_app_runs_in_seed_mode() -> None:
    assert find_socketio_app(seed_app) is None
    s = server(ClassMiddleware(seed_app))
    assert s.mode == "seed" and s.seed_server is not None


def test_misconfiguration_fails_at_construction() -> None:
    inner = gsocketio.Server().wsgi_app()
    with pytest.raises(ServerConfigError, match="mode='modern'"):
        server(ClassMiddleware(inner), mode="seed")
    with pytest.raises(ServerConfigError):
        server(seed_app, mode="sead")
    with pytest.raises(TypeError):  # seed-mode Server options for an app routing Socket.IO
        server(inner, cors_allowed_origins="*")
    with pytest.raises(TypeError):
        server(Opaque(inner), mode="modern", cors_allowed_origins="*")


def _connect(url: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["polling"], wait_timeout=TIMEOUT)
    return client


def test_explicit_modern_mode_serves_an_opaque_wrapper(serve: Callable[..., str]) -> None:
    sio = gsocketio.Server()
    sio.on("echo", lambda sid, x: x)
    url = serve(Opaque(sio.wsgi_app()), mode="modern")
    client = _connect(url)
    try:
        assert client.call("echo", "hi", timeout=TIMEOUT) == "hi"
    finally:
        client.disconnect()


def test_an_undetected_modern_app_fails_loudly_instead_of_hanging(
    serve: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    url = serve(Opaque(gsocketio.Server().wsgi_app()))  # auto: seed mode, wrongly
    with (
        caplog.at_level(logging.ERROR, logger="gsocketio.wsgi"),
        pytest.raises(socketio.exceptions.ConnectionError),
    ):
        _connect(url)
    assert SEED_MODE_ERROR in [r.getMessage() for r in caplog.records]


def test_seed_options_given_as_strings_are_converted() -> None:
    s = server(
        seed_app,
        heartbeat_interval="5",
        heartbeat_timeout="15.5",
        close_timeout="20",
        http_timeout="3",
        policy_server="false",
        transports="websocket, xhr-polling",
        backlog="64",
    )
    assert s.config["heartbeat_interval"] == 5.0
    assert s.config["heartbeat_timeout"] == 15.5
    assert s.config["close_timeout"] == 20.0
    assert s.config["policy_server"] is False
    assert s.config["transports"] == ["websocket", "xhr-polling"]
    assert s.http_timeout == 3.0 and s.limits.head_timeout == 3.0 and s.backlog == 64
    assert (s.seed_server.engine.ping_interval, s.seed_server.engine.ping_timeout) == (5, 15.5)
    with pytest.raises(TypeError, match="heartbeat_interval"):
        server(seed_app, heartbeat_interval="soon")
    with pytest.raises(TypeError, match="policy_server"):
        server(seed_app, policy_server="maybe")


def test_seed_sockets_and_get_socket() -> None:
    s = server(seed_app)
    assert s.sockets is s.seed_server.handlers.sockets and s.get_socket("nope") is None
    modern = server(gsocketio.Server().wsgi_app())
    assert modern.sockets == {} and modern.get_socket("x") is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_keywords_and_a_bounded_handshake(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pywsgi's keyfile/certfile keywords serve HTTPS; a client that connects and never
    completes the TLS handshake is dropped after http_timeout."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    schemes: list[str] = []
    inner = gsocketio.Server().wsgi_app()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        schemes.append(environ["wsgi.url_scheme"])
        return inner(environ, start_response)

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    s = server(app, mode="modern", keyfile=str(key), certfile=str(cert), http_timeout=1)
    s.start()
    try:
        reply = requests.get(
            f"https://127.0.0.1:{s.server_port}/socket.io/?EIO=4&transport=polling",
            verify=False,
            timeout=TIMEOUT,
        )
        assert reply.status_code == 200 and reply.text.startswith('0{"sid":')
        assert schemes == ["https"]
        silent = socket.create_connection(("127.0.0.1", s.server_port), timeout=TIMEOUT)
        try:
            started = time.monotonic()
            assert silent.recv(1) == b""  # closed by the server, not by our timeout
            assert time.monotonic() - started < 1 + 2
        finally:
            silent.close()
        plain = socket.create_connection(("127.0.0.1", s.server_port), timeout=TIMEOUT)
        try:  # plain HTTP on the TLS port: the handshake fails, the connection closes
            plain.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            # closed with our request unread: a reset is as good an answer
            with contextlib.suppress(ConnectionResetError):
                assert plain.recv(100) == b""
        finally:
            plain.close()
    finally:
        s.stop(timeout=2)
