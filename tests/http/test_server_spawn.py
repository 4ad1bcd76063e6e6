"""``WSGIServer.do_handle`` (gevent's, without its ``handle(*args)``, see issue #14) over real
sockets: every ``spawn`` form serves and closes the connection, and a ``spawn`` that fails
closes the accepted socket instead of leaking it."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.pool
import pytest

from gsocketio.http.server import WSGIServer

TIMEOUT = 5.0


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture
def servers() -> Iterator[list[WSGIServer]]:
    made: list[WSGIServer] = []
    yield made
    for server in made:
        server.stop(timeout=2)


def _get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        for _ in range(100):  # bounded: the server closes after the response
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize("spawn", ["default", None, 10, "pool"])
def test_every_spawn_form_serves_and_closes(servers: list[WSGIServer], spawn: Any) -> None:
    if spawn == "pool":
        spawn = gevent.pool.Pool(4)
    server = WSGIServer(("127.0.0.1", 0), _app, spawn=spawn, log=None)
    server.start()
    servers.append(server)
    for _ in range(3):
        response = _get(server.server_port)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"hello")


def test_a_failing_spawn_closes_the_accepted_socket(servers: list[WSGIServer]) -> None:
    def spawn(*args: Any) -> None:
        raise RuntimeError("no greenlet for you")

    server = WSGIServer(("127.0.0.1", 0), _app, spawn=spawn, log=None)
    server._spawn = spawn  # gevent keeps a callable spawn as given; be explicit
    server.start()
    servers.append(server)
    gevent.get_hub().NOT_ERROR = (*gevent.get_hub().NOT_ERROR, RuntimeError)
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=TIMEOUT) as sock:
            assert sock.recv(4096) == b""  # closed by do_handle, nothing served
    finally:
        hub = gevent.get_hub()
        hub.NOT_ERROR = tuple(e for e in hub.NOT_ERROR if e is not RuntimeError)


def test_a_replaced_application_is_the_one_called(servers: list[WSGIServer]) -> None:
    class Other:
        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            start_response("200 OK", [])
            return [b"other"]

    server = WSGIServer(("127.0.0.1", 0), _app, log=None)
    server.application = Other()  # pywsgi's servers allow it; the direct call follows
    server.start()
    servers.append(server)
    assert isinstance(server.application, Other)
    assert _get(server.server_port).endswith(b"other")
