"""python-socketio's client (an independent implementation) against our server."""

from __future__ import annotations

import json
from typing import Any

import gevent
import gevent.event
import pytest
import socketio
import websocket


@pytest.fixture
def client() -> Any:
    clients: list[socketio.Client] = []

    def _make(**kwargs: Any) -> socketio.Client:
        kwargs.setdefault("reconnection", False)
        c = socketio.Client(**kwargs)
        clients.append(c)
        return c

    yield _make
    for c in clients:
        c.disconnect()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_events_acks_binary(app: Any, client: Any, transports: list[str]) -> None:
    url, _sio, rec = app()
    c = client()
    pushed = gevent.event.AsyncResult()
    c.on("question", lambda q: f"answer to {q}")
    c.on("pushed", lambda *args: pushed.set(args))
    c.connect(url, auth={"token": "py"}, transports=transports, wait_timeout=5)
    assert c.call("echo", ("hi", 2, {"x": None}), timeout=5) == ("hi", 2, {"x": None})
    assert c.call("ask", "life", timeout=5) == {"client_said": "answer to life"}
    reply = c.call("binary", (b"\x00\x01\xff", [1]), timeout=5)
    assert reply == {"len": 3, "reversed": b"\xff\x01\x00", "meta": [1]}
    c.emit("push", ("pushed", b"bytes", {"nested": [b"\x01"]}))
    assert pushed.get(timeout=5) == (b"bytes", {"nested": [b"\x01"]})
    assert ("/", c.get_sid("/"), {"token": "py"}) in rec.connects


def test_refused_connect(app: Any, client: Any) -> None:
    url, _sio, _rec = app()
    c = client()
    refusal = gevent.event.AsyncResult()
    c.on("connect_error", lambda *data: refusal.set(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        c.connect(url, auth={"token": "bad"}, wait_timeout=5)
    assert refusal.get(timeout=5) == (
        {"message": "Connection rejected by server", "data": {"reason": "bad token", "code": 42}},
    )


def test_namespaces(app: Any, client: Any) -> None:
    url, _sio, _rec = app()
    c = client()
    c.connect(url, namespaces=["/", "/chat", "/admin"], wait_timeout=5)
    assert c.call("where", namespace="/chat", timeout=5) == "/chat"
    assert c.call("where", namespace="/admin", timeout=5) == "/admin"


def test_server_disconnect_then_reconnect(app: Any, client: Any) -> None:
    url, _sio, _rec = app()
    c = client()
    gone = gevent.event.Event()
    c.on("disconnect", lambda *reason: gone.set())
    c.connect(url, wait_timeout=5)
    first = c.get_sid()
    c.emit("kick_me")
    assert gone.wait(5)
    with gevent.Timeout(5, AssertionError("engine connection never finished closing")):
        while c.eio.state != "disconnected":
            gevent.sleep(0.02)
    c.connect(url, wait_timeout=5)
    assert c.get_sid() != first
    assert c.call("echo", "again", timeout=5) == "again"


def test_silent_client_hits_ping_timeout(app: Any) -> None:
    """A raw WebSocket client that never answers PING is closed by the server's deadline."""
    url, _sio, rec = app(ping_interval=0.2, ping_timeout=0.2)
    ws = websocket.create_connection(
        url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=5
    )
    try:
        opened = ws.recv()
        assert opened.startswith("0")  # type: ignore[arg-type]
        assert json.loads(opened[1:])["pingInterval"] == 200
        ws.send("40")
        assert ws.recv().startswith("40")  # type: ignore[arg-type]
        seen = []
        with gevent.Timeout(5, AssertionError("server never closed the silent client")):
            for _ in range(50):
                try:
                    frame = ws.recv()
                except websocket.WebSocketConnectionClosedException:
                    break
                if not frame:
                    break
                seen.append(frame)
        assert "2" in seen  # it was pinged, and did not answer
        with gevent.Timeout(5):
            while not rec.disconnects:
                gevent.sleep(0.02)
        assert rec.disconnects[0][2] == "ping timeout"
    finally:
        ws.close()
