"""compat/managed.py against fake connections: gevent-socketio's namespaces as a handler layer
of :class:`gsocketio.Server` (no sockets, no engine; bounded waits on events)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest
from gevent.event import Event

from gsocketio import socketio_manage
from gsocketio.compat import managed
from gsocketio.compat.managed import ManagedHandlers, managed_server
from gsocketio.namespace import BaseNamespace
from gsocketio.server import Server
from tests.helpers.sio_fakes import WAIT, FakeConn

SEEN: list[Any] = []


class Chat(BaseNamespace):
    def on_hello(self, *args: Any) -> Any:
        SEEN.append(("hello", self.ns_name, args))
        return ["hi", *args]

    def on_odd(self) -> Any:
        return object()  # cannot be encoded

    def on_ask(self) -> None:
        self.emit("question", callback=lambda *a: SEEN.append(("answer", a)))

    def recv_connect(self) -> None:
        SEEN.append(("connect", self.ns_name))

    def recv_disconnect(self) -> None:
        SEEN.append(("disconnect", self.ns_name))
        super().recv_disconnect()


GATE = Event()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    assert GATE.wait(WAIT)
    socketio_manage(environ, {"": Chat, "/chat": Chat})
    return []


def lazy_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return []  # never calls socketio_manage


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    SEEN.clear()
    GATE.set()
    yield
    GATE.set()


def wait_for(what: Callable[[], bool], label: str) -> None:
    with gevent.Timeout(WAIT, AssertionError(f"timed out waiting for {label}")):
        while not what():
            gevent.sleep(0.005)


def sid_of(reply: str | bytes, prefix: str) -> str:
    assert isinstance(reply, str) and reply.startswith(prefix), reply
    return str(json.loads(reply[len(prefix) :])["sid"])


def layer_of(sio: Server) -> ManagedHandlers:
    layer = sio.handlers
    assert isinstance(layer, ManagedHandlers)
    return layer


def test_messages_before_socketio_manage_wait_in_order() -> None:
    GATE.clear()
    sio = managed_server(app)
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    sio.engine_message(conn, "0/chat,")
    sio.engine_message(conn, '2/chat,5["hello",1]')
    gevent.sleep(0)
    assert conn.sent == []  # held until the app chose its codec
    assert layer_of(sio).get_socket(conn.sid) is not None  # gevent-socketio's server.sockets
    GATE.set()
    sid_of(conn.next(), "0")
    sid_of(conn.next(), "0/chat,")
    assert conn.next() == '3/chat,5[["hi",1]]'
    assert SEEN == [("connect", "/chat"), ("hello", "/chat", (1,))]
    # from now on the reader's events go straight to the loop
    sio.engine_message(conn, '27["hello"]')
    assert conn.next() == '37[["hi"]]'


def test_an_app_that_never_manages_is_refused() -> None:
    sio = managed_server(lazy_app)
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    wait_for(lambda: conn.closed, "close")
    assert conn.sent == ['4{"message":"Connection rejected by server"}']
    assert layer_of(sio).sockets == {}


def test_v4_client_is_in_root_and_unknown_namespaces_get_nodes_shape() -> None:
    sio = managed_server(app)
    conn = FakeConn(eio=3)
    sio.engine_connect(conn)
    assert conn.next() == "0"
    sio.engine_message(conn, "0/nope,")
    assert conn.next() == '4/nope,{"message":"Invalid namespace"}'
    sio.engine_message(conn, '21["hello"]')
    assert conn.next() == '31[["hi"]]'


def test_server_disconnect_reaches_recv_disconnect_and_sessions_are_shared() -> None:
    sio = managed_server(app)
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    root = sid_of(conn.next(), "0")
    sio.engine_message(conn, "0/chat,")
    chat = sid_of(conn.next(), "0/chat,")
    sio.save_session(chat, {"user": "ann"}, namespace="/chat")
    assert sio.get_session(root) == {"user": "ann"}  # one session per connection
    sio.disconnect(chat, namespace="/chat")
    assert conn.next() == "1/chat,"
    wait_for(lambda: ("disconnect", "/chat") in SEEN, "recv_disconnect")
    assert sio.sockets("/chat") == [] and sio.sockets("/") == [root]


def test_a_namespace_emit_callback_gets_the_clients_ack() -> None:
    sio = managed_server(app)
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    conn.next()
    sio.engine_message(conn, '2["ask"]')
    question = conn.next()
    assert isinstance(question, str) and question.startswith("2") and '["question"]' in question
    ack_id = question[1 : question.index("[")]
    sio.engine_message(conn, f'3{ack_id}["yes"]')
    wait_for(lambda: ("answer", ("yes",)) in SEEN, "the ack callback")


def test_unencodable_ack_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    sio = managed_server(app)
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    conn.next()
    with caplog.at_level(logging.ERROR, logger="gsocketio"):
        sio.engine_message(conn, '21["odd"]')
        wait_for(lambda: "cannot be encoded" in caplog.text, "the log line")
    assert "on_odd" in caplog.text
    sio.engine_message(conn, '22["hello"]')  # the loop goes on
    assert conn.next() == '32[["hi"]]'


def test_engine_close_runs_recv_disconnect_once() -> None:
    sio = managed_server(app)
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    conn.next()
    sio.engine_message(conn, "0/chat,")
    conn.next()
    wait_for(lambda: ("connect", "/chat") in SEEN, "recv_connect")
    sio.engine_disconnect(conn, "transport close")
    wait_for(lambda: ("disconnect", "/chat") in SEEN, "recv_disconnect")
    assert SEEN.count(("disconnect", "/chat")) == 1
    assert layer_of(sio).sockets == {} and sio._clients == {}
    assert managed.CLOSE_GRACE > 0
