"""``SocketIOServer`` in seed mode: option mapping, routing, resource, refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
import pytest
import requests
import socketio

from gsocketio import SocketIOServer, socketio_manage
from gsocketio.compat.managed import ManagedHandlers
from gsocketio.compat.options import modern_transports
from gsocketio.namespace import BaseNamespace

TIMEOUT = 5


class Echo(BaseNamespace):
    def on_echo(self, *args: Any) -> Any:
        return args


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ["PATH_INFO"].startswith("/io/") or environ["PATH_INFO"].startswith("/socket.io/"):
        socketio_manage(environ, {"": Echo})
        return []
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"web " + environ["PATH_INFO"].encode()]


def test_transport_names_map_to_engineio() -> None:
    assert modern_transports(None) is None
    assert modern_transports(["websocket", "xhr-polling", "jsonp-polling"]) == [
        "websocket",
        "polling",
    ]
    assert modern_transports(["htmlfile", "flashsocket"]) == ["polling"]
    with pytest.raises(ValueError):
        modern_transports(["flashsocket"])  # nothing today's clients can use
    with pytest.raises(ValueError):
        modern_transports(["carrier-pigeon"])


def test_options_reach_the_seed_server() -> None:
    server = SocketIOServer(
        ("127.0.0.1", 0),
        echo_app,
        heartbeat_interval=7,
        heartbeat_timeout=9,
        transports=["xhr-polling"],
        max_http_buffer_size=1234,
        cors_allowed_origins=["http://a.example"],
        manage_timeout=3,
        log=None,
    )
    seed = server.seed_server
    assert isinstance(seed.handlers, ManagedHandlers)
    assert (seed.engine.ping_interval, seed.engine.ping_timeout) == (7, 9)
    assert seed.engine.transports == frozenset({"polling"})
    assert seed.engine.max_http_buffer_size == 1234
    assert seed.handlers.manage_timeout == 3
    assert server.legacy_server is not None
    with pytest.raises(TypeError):  # Server options make no sense for a modern app
        SocketIOServer(("127.0.0.1", 0), seed.wsgi_app(), cors_allowed_origins="*")


def test_custom_resource_and_web_routes(serve: Any) -> None:
    url = serve(echo_app, resource="io")
    assert requests.get(url + "/somewhere", timeout=TIMEOUT).text == "web /somewhere"
    c = socketio.Client(reconnection=False)
    try:
        c.connect(url, socketio_path="io", wait_timeout=TIMEOUT)
        assert c.call("echo", "x", timeout=TIMEOUT) == "x"
    finally:
        c.disconnect()


def test_slow_app_is_refused_after_manage_timeout(serve: Any) -> None:
    release = gevent.event.Event()

    def slow_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        release.wait(10)  # never calls socketio_manage in time
        return []

    url = serve(slow_app, manage_timeout=0.3)
    c = socketio.Client(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(url, wait_timeout=TIMEOUT)
    finally:
        release.set()
        c.disconnect()


def _policy_request(address: tuple[str, int]) -> bytes:
    import socket as pysocket

    with pysocket.create_connection(address, timeout=TIMEOUT) as conn:
        conn.sendall(b"<policy-file-request/>\0")
        chunks = []
        for _ in range(100):  # the server closes after its answer
            chunk = conn.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_seed_mode_starts_the_flash_policy_server_like_the_seed() -> None:
    server = SocketIOServer(("127.0.0.1", 0), echo_app, policy_listener=("127.0.0.1", 0))
    server.start()
    try:
        assert server.policy_server is not None
        answer = _policy_request(server.policy_server.address[:2])
        assert answer.endswith(b"\0")
        assert b"<cross-domain-policy>" in answer
        assert f'to-ports="{server.server_port}"'.encode() in answer
    finally:
        server.stop(timeout=2)
    assert server.policy_server is None


@pytest.mark.parametrize(
    "options", [{"policy_server": False}, {"transports": ["websocket", "xhr-polling"]}]
)
def test_no_policy_server_when_off_or_flashsocket_disabled(options: dict[str, Any]) -> None:
    server = SocketIOServer(("127.0.0.1", 0), echo_app, policy_listener=("127.0.0.1", 0), **options)
    server.start()
    try:
        assert server.policy_server is None
    finally:
        server.stop(timeout=2)


def test_policy_port_taken_is_a_warning_not_a_failure(caplog: Any) -> None:
    import socket as pysocket

    with pysocket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()
        server = SocketIOServer(("127.0.0.1", 0), echo_app, policy_listener=taken)
        with caplog.at_level("WARNING", logger="gsocketio.serve"):
            server.start()
        try:
            assert server.policy_server is None
            assert "Flash policy server not started" in caplog.text
            reply = requests.get(f"http://127.0.0.1:{server.server_port}/hello", timeout=TIMEOUT)
            assert reply.text == "web /hello"
        finally:
            server.stop(timeout=2)


def test_make_server_takes_paste_style_string_options() -> None:
    from gsocketio.serve import make_server

    server = make_server(
        echo_app,
        host="127.0.0.1",
        port="0",
        resource="io",
        transports="websocket, xhr-polling",
        policy_server="true",
        policy_listener_port="0",
        heartbeat_interval="5",
        heartbeat_timeout="7",
        close_timeout="9",
    )
    assert server.config["transports"] == ["websocket", "xhr-polling"]
    assert server.config["policy_server"] is True
    assert server.config["policy_listener"] == ("127.0.0.1", 0)
    assert (
        server.config["heartbeat_interval"],
        server.config["heartbeat_timeout"],
        server.config["close_timeout"],
    ) == (5.0, 7.0, 9.0)
    assert make_server(echo_app, port="0", policy_server="off").config["policy_server"] is False


def test_serve_paste_runs_the_app_for_a_real_client() -> None:
    """paste.deploy's runner (egg:gsocketio#paster) serves a seed app until stopped."""
    import socket as pysocket

    from gsocketio.serve import serve_paste

    with pysocket.socket() as probe:  # a free port; serve() binds it itself
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = gevent.spawn(serve_paste, echo_app, {}, host="127.0.0.1", port=str(port), _quiet=True)
    try:
        client = socketio.Client(reconnection=False)
        with gevent.Timeout(TIMEOUT):
            for _ in range(200):  # bounded: wait until the runner listens
                try:
                    pysocket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    gevent.sleep(0.02)
        client.connect(f"http://127.0.0.1:{port}", wait_timeout=TIMEOUT)
        assert client.call("echo", "via paste", timeout=TIMEOUT) == "via paste"
        client.disconnect()
    finally:
        runner.kill(timeout=2)
