"""What an idle WebSocket connection keeps alive (issue #14), pinned over real connections.

python-socketio's client connects over WebSocket to the real server; once it is idle, the
connection's parked reader greenlet must save a shallow C stack (the read parks on the watcher
without gevent's Waiter, the server calls the WSGI app and its handler without C-level
recursion), and the connection must hold no llhttp parser, no request header list, no send
timer and no received message. The figures these buy are in docs/benchmarks.md.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest
import socketio
from greenlet import greenlet  # type: ignore[import-untyped]

import gsocketio
from gsocketio.http.connection import HTTPConnection
from gsocketio.http.parser import RequestHead
from gsocketio.http.server import direct_call
from gsocketio.websocket.connection import WebSocket

WAIT = 10.0
# Bytes of C stack a parked reader saves: 4,072 before #14's changes, 2,008 after (CPython
# 3.11, x86-64). The bound leaves room for another build, not for a C-level recursion.
MAX_SAVED_STACK = 3000


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
        if isinstance(obj, greenlet) and obj.gr_frame is not None:
            frame = obj.gr_frame
            while frame is not None and frame.f_code.co_name != "_park":
                frame = frame.f_back
            if frame is not None:
                found.append(obj)
    return found


def _idle_connections(
    serve: Callable[..., str], clients: list[socketio.Client], count: int
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

    url = serve(sio.wsgi_app())
    for _ in range(count):
        c = socketio.Client(reconnection=False)
        clients.append(c)
        c.connect(url, transports=["websocket"], wait_timeout=5)
    assert connected.wait(WAIT)
    for c in clients:  # a round trip each: every reader is parked again afterwards
        assert c.call("noop", timeout=WAIT) == 1
    return sio, int(url.rsplit(":", 1)[1])


def test_an_idle_reader_saves_a_shallow_stack(
    serve: Callable[..., str], clients: list[socketio.Client]
) -> None:
    _idle_connections(serve, clients, 3)
    readers: list[Any] = []
    for _ in range(100):  # bounded: the readers park right after the last round trip
        readers = _parked_readers()
        if len(readers) >= 3:
            break
        gevent.sleep(0.05)
    assert len(readers) >= 3
    for reader in readers:
        assert 0 < reader._stack_saved <= MAX_SAVED_STACK, reader._stack_saved


def test_an_idle_connection_holds_no_parser_headers_timer_or_message(
    serve: Callable[..., str], clients: list[socketio.Client]
) -> None:
    sio, port = _idle_connections(serve, clients, 2)
    gc.collect()
    http = [
        o
        for o in gc.get_objects()
        if isinstance(o, HTTPConnection) and o.server.server_port == port
    ]
    assert len(http) == 2
    assert all(conn._parser._parser is None for conn in http)
    # The heads of their requests, in the frames serving them: the environ holds the values.
    heads = []
    for reader in _parked_readers():
        frame = reader.gr_frame
        while frame is not None:
            if frame.f_code.co_name == "_serve" and frame.f_locals.get("self") in http:
                heads.append(frame.f_locals["head"])
            frame = frame.f_back
    assert len(heads) == 2
    assert all(isinstance(head, RequestHead) and head.headers == [] for head in heads)
    for client in sio._clients.values():
        ws = client.conn._io.ws  # type: ignore[attr-defined]  # the WebSocketIO's
        assert isinstance(ws, WebSocket)
        assert ws._send_timer is None  # no write had to wait
        assert ws._messages == [] and ws._taken == 0


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
