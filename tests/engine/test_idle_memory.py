"""What an idle WebSocket connection keeps alive (issue #14), pinned over real connections.

python-socketio's client connects over WebSocket to the real server. Once idle, a connection
parks with no greenlet at all (its read watcher starts a reader when bytes arrive), its request
is gone (no HTTP connection object, parser or head), and it holds no send timer and no received
message. Where the server cannot detach a WebSocket from its request (gunicorn's workers, TLS),
the request's greenlet parks in the read: it must save a shallow C stack (the read parks on the
watcher without gevent's Waiter; the server calls the WSGI app and its handler without C-level
recursion). The figures these buy are in docs/benchmarks.md.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import gevent
import gevent.event
import pytest
import socketio
from greenlet import greenlet  # type: ignore[import-untyped]

import gsocketio
from gsocketio.http import connection as http_connection
from gsocketio.http.connection import HTTPConnection
from gsocketio.http.parser import RequestHead
from gsocketio.http.server import direct_call
from gsocketio.websocket import connection as ws_connection
from gsocketio.websocket.connection import DETACH_KEY, WebSocket

WAIT = 10.0


# Bytes of C stack a parked reader saves: 4,072 before #14's changes, 2,008 after (CPython
# 3.11, x86-64). The bound leaves room for another build, not for a C-level recursion. Built
# with mypyc (scripts/test_compiled.sh), the compiled functions' C frames are on that stack
# too (pure Python calls between Python functions use none): 5,880 measured.
def _compiled(module: ModuleType) -> bool:
    return not str(module.__file__).endswith(".py")


MAX_SAVED_STACK = 7000 if _compiled(ws_connection) else 3000


@pytest.fixture
def clients() -> Iterator[list[socketio.Client]]:
    made: list[socketio.Client] = []
    yield made
    for c in made:
        c.disconnect()


def _parked_readers() -> list[Any]:
    """Greenlets parked in the WebSocket read (``PlainIO._park``)."""
    found = []
    for obj in gc.get_objects():
        if issubclass(type(obj), greenlet) and obj.gr_frame is not None:
            frame = obj.gr_frame
            while frame is not None and frame.f_code.co_name != "_park":
                frame = frame.f_back
            if frame is not None:
                found.append(obj)
    return found


def _idle_connections(
    serve: Callable[..., str],
    clients: list[socketio.Client],
    count: int,
    detachable: bool = True,
) -> tuple[gsocketio.Server, int]:
    sio = gsocketio.Server()
    connected = gevent.event.Event()

    @sio.event
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        if len(sio._clients) >= count:
            connected.set()

    @sio.on("noop")
    def noop(sid: str) -> int:
        return 1

    app = sio.wsgi_app()

    def no_detach(environ: dict[str, Any], start_response: Any) -> Any:
        del environ[DETACH_KEY]  # as under gunicorn: the request's greenlet reads
        return app(environ, start_response)

    url = serve(app if detachable else no_detach)
    for _ in range(count):
        c = socketio.Client(reconnection=False)
        clients.append(c)
        c.connect(url, transports=["websocket"], wait_timeout=5)
    assert connected.wait(WAIT)
    for c in clients:  # a round trip each: every reader is parked again afterwards
        assert c.call("noop", timeout=WAIT) == 1
    return sio, int(url.rsplit(":", 1)[1])


def _reading_greenlets(port: int) -> list[Any]:
    """Greenlets (other than the test's) with a frame of the server's read loop."""
    found = []
    for obj in gc.get_objects():
        if issubclass(type(obj), greenlet) and obj.gr_frame is not None:
            frame = obj.gr_frame
            while frame is not None and frame.f_code.co_name not in ("_read", "_serve"):
                frame = frame.f_back
            if frame is not None:
                found.append(obj)
    return found


def test_an_idle_connection_parks_with_no_greenlet_and_no_request(
    serve: Callable[..., str], clients: list[socketio.Client]
) -> None:
    sio, port = _idle_connections(serve, clients, 3)
    sockets: list[WebSocket] = []
    for _ in range(100):  # bounded: each reader parks right after its last round trip
        gc.collect()
        sockets = [client.conn._io.ws for client in sio._clients.values()]  # type: ignore[attr-defined]
        if not _reading_greenlets(port) and all(ws._wake is not None for ws in sockets):
            break
        gevent.sleep(0.05)
    assert _reading_greenlets(port) == []
    assert len(sockets) == 3 and all(ws._wake is not None for ws in sockets)  # parked
    objects = gc.get_objects()
    assert not [o for o in objects if type(o) is HTTPConnection and o.server.server_port == port]
    for ws in sockets:
        assert isinstance(ws, WebSocket)
        assert ws._send_timer is None  # no write had to wait
        assert ws._messages == [] and ws._taken == 0
    # Parked, they still answer: each reading starts on a recycled greenlet.
    for c in clients:
        assert c.call("noop", timeout=WAIT) == 1


def test_a_reader_parked_in_its_request_saves_a_shallow_stack(
    serve: Callable[..., str], clients: list[socketio.Client]
) -> None:
    _idle_connections(serve, clients, 3, detachable=False)
    readers: list[Any] = []
    for _ in range(100):  # bounded: the readers park right after the last round trip
        readers = _parked_readers()
        if len(readers) >= 3:
            break
        gevent.sleep(0.05)
    assert len(readers) >= 3
    for reader in readers:
        assert 0 < reader._stack_saved <= MAX_SAVED_STACK, reader._stack_saved


def test_a_request_parked_in_its_read_holds_no_parser_or_headers(
    serve: Callable[..., str], clients: list[socketio.Client]
) -> None:
    _sio, port = _idle_connections(serve, clients, 2, detachable=False)
    gc.collect()
    http = [
        o for o in gc.get_objects() if type(o) is HTTPConnection and o.server.server_port == port
    ]
    assert len(http) == 2
    assert all(conn._parser._parser is None for conn in http)
    # The heads of their requests (the serving frames' locals; every head alive, as compiled
    # code has no frames): the environ holds the values.
    heads = [o for o in gc.get_objects() if type(o) is RequestHead]
    serving = 0
    for reader in _parked_readers():
        frame = reader.gr_frame
        while frame is not None:
            if frame.f_code.co_name == "_serve" and frame.f_locals.get("self") in http:
                assert any(head is frame.f_locals["head"] for head in heads)
                serving += 1
            frame = frame.f_back
    assert serving == (0 if _compiled(http_connection) else 2)
    assert len(heads) == 2
    assert all(head.headers == [] for head in heads)


class _App:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        self.calls.append((environ, start_response))
        return [b"ok"]


class _SubApp(_App):
    pass


def _function_app(environ: Any, start_response: Any) -> list[bytes]:
    return [b"f"]


def test_direct_call_calls_what_the_call_slot_calls() -> None:
    app = _SubApp()
    call = direct_call(app)
    assert call is not app and call("e", "s") == [b"ok"] and app.calls == [("e", "s")]
    app.__dict__["__call__"] = lambda *a: [b"instance"]  # the slot ignores it: so do we
    assert direct_call(app)("e", "s") == app("e", "s") == [b"ok"]
    assert direct_call(_function_app) is _function_app
    assert direct_call(_App) is _App  # a class: type's own call slot


def _parked(sio: gsocketio.Server, count: int) -> list[WebSocket]:
    """The WebSockets of ``sio``, once ``count`` of them are parked without a greenlet."""
    sockets: list[WebSocket] = []
    for _ in range(100):  # bounded: each parks LINGER after its last bytes
        sockets = [client.conn._io.ws for client in sio._clients.values()]  # type: ignore[attr-defined]
        if len(sockets) >= count and all(ws._wake is not None for ws in sockets):
            break
        gevent.sleep(0.05)
    assert len(sockets) == count and all(ws._wake is not None for ws in sockets)
    return sockets


def _socket_closed(ws: WebSocket) -> bool:
    for _ in range(200):  # bounded: the reader that ends the connection closes its socket
        if ws._sock._sock.fileno() == -1:
            return True
        gevent.sleep(0.05)
    return False


def test_a_parked_connection_closed_by_the_client_is_released(
    serve: Callable[..., str], clients: list[socketio.Client]
) -> None:
    sio, _port = _idle_connections(serve, clients, 2)
    gone = gevent.event.Event()
    sio.on("disconnect", lambda sid, reason: gone.set())
    first, _second = _parked(sio, 2)
    sid = next(s for s, client in sio._clients.items() if client.conn._io.ws is first)  # type: ignore[attr-defined]
    client = next(c for c in clients if c.eio.sid == sid)
    client.disconnect()
    assert gone.wait(WAIT)
    assert _socket_closed(first)  # no request greenlet left to close it: its reader did
    assert first._plain_io is not None and first._plain_io._watcher is None


def test_a_parked_connection_closed_by_the_server_is_released(
    serve: Callable[..., str], clients: list[socketio.Client]
) -> None:
    sio, _port = _idle_connections(serve, clients, 1)
    (ws,) = _parked(sio, 1)
    ended = gevent.event.Event()
    clients[0].on("disconnect", lambda *args: ended.set())
    sio.disconnect(next(iter(sio._clients.values())).sockets["/"].sid)
    assert ended.wait(WAIT)
    assert _socket_closed(ws)
