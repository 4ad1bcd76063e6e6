"""The per-sid keyword API on a socket of another node, in-process: two ``gsocketio.Server``
on one Redis (each its own RedisAdapter and port), python-socketio clients over WebSocket.
The three-process and gunicorn runs of the same are in test_three_nodes.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent
import pytest
import socketio
from gevent.event import Event

import gsocketio
from gsocketio.adapters.redis import RedisAdapter
from gsocketio.exceptions import CallTimeoutError, ClusterUnavailableError, UnknownSocketError
from gsocketio.serve import SocketIOServer
from tests.cluster.conftest import REDIS_URL, eventually

pytestmark = pytest.mark.service


class Node:
    def __init__(self, key: str) -> None:
        self.adapter = RedisAdapter(REDIS_URL, key=key, requests_timeout=3)
        self.sio = gsocketio.Server(adapter=self.adapter)
        self.server = SocketIOServer(("127.0.0.1", 0), self.sio.wsgi_app(), log=None)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def servers(self) -> int:
        try:
            return self.adapter.server_count("/")
        except ClusterUnavailableError:
            return 0

    def close(self) -> None:
        self.sio.close()
        self.server.stop(timeout=1)


class Peer:
    """A python-socketio client; ``ask`` answers its name, ``mute`` ones only after 3 s
    (python-socketio acks even an event it has no handler for)."""

    def __init__(self, url: str, name: str, mute: bool = False) -> None:
        self.client = socketio.Client(reconnection=False)
        self.gone = Event()
        self.got: list[Any] = []
        self.client.on("ask", (lambda *args: gevent.sleep(3)) if mute else (lambda *args: name))
        self.client.on("direct", lambda *args: self.got.append(list(args)))
        self.client.on("disconnect", lambda *args: self.gone.set())
        self.client.connect(url, transports=["websocket"], wait_timeout=10)
        self.sid = str(self.client.get_sid("/"))


@pytest.fixture
def two(key: str) -> Iterator[tuple[Node, Node, list[Peer]]]:
    a, b = Node(key), Node(key)
    peers: list[Peer] = []
    try:
        assert eventually(a.servers, lambda n: n == 2) == 2
        assert eventually(b.servers, lambda n: n == 2) == 2
        yield a, b, peers
    finally:
        for peer in peers:
            peer.client.disconnect()
        a.close()
        b.close()


def test_call_emit_rooms_disconnect_on_another_nodes_socket(
    two: tuple[Node, Node, list[Peer]],
) -> None:
    a, b, peers = two
    p = Peer(a.url, "p")
    mute = Peer(a.url, "m", mute=True)
    peers.extend([p, mute])
    assert b.sio.call("ask", 1, to=p.sid, timeout=5) == "p"
    with pytest.raises(UnknownSocketError):
        b.sio.call("ask", to="nobody", timeout=5)
    with pytest.raises(CallTimeoutError):
        b.sio.call("ask", to=mute.sid, timeout=1)
    acked: list[Any] = []
    done = Event()

    def on_ack(*args: Any) -> None:
        acked.append(args)
        done.set()

    b.sio.emit("ask", 2, to=p.sid, callback=on_ack)
    assert done.wait(10) and acked == [("p",)]
    b.sio.emit("direct", "hi", to=p.sid)
    assert eventually(lambda: p.got, lambda got: got != []) == [["hi"]]
    b.sio.enter_room(p.sid, "vip")
    assert eventually(lambda: sorted(a.sio.rooms(p.sid)), lambda r: "vip" in r) == sorted(
        [p.sid, "vip"]
    )
    assert sorted(b.sio.rooms(p.sid)) == sorted([p.sid, "vip"])
    b.sio.leave_room(p.sid, "vip")
    assert eventually(lambda: b.sio.rooms(p.sid), lambda r: r == [p.sid]) == [p.sid]
    with pytest.raises(UnknownSocketError):
        b.sio.rooms("nobody")
    b.sio.disconnect(p.sid)
    assert p.gone.wait(10)
    assert eventually(lambda: a.sio.sockets(), lambda s: s == [mute.sid]) == [mute.sid]


def test_emit_callbacks_for_another_node_that_fail_are_logged(
    two: tuple[Node, Node, list[Peer]], caplog: pytest.LogCaptureFixture
) -> None:
    """No socket anywhere: the callback never runs and the miss is logged; a callback that
    raises is logged too (the greenlet that waited for the ack does not die silently)."""
    a, b, peers = two
    p = Peer(a.url, "p")
    peers.append(p)
    called: list[Any] = []
    caplog.set_level("INFO", logger="gsocketio.cluster")
    b.sio.emit("ask", to="nobody", callback=called.append)

    def broken(*args: Any) -> None:
        raise RuntimeError("callback bug")

    b.sio.emit("ask", to=p.sid, callback=broken)

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "gsocketio.cluster"]

    logged = eventually(messages, lambda m: len(m) >= 2)
    assert any("no ack for 'ask' from nobody" in m for m in logged), logged
    assert any("error in ack callback for 'ask'" in m for m in logged), logged
    assert called == []


def test_without_a_cluster_an_unknown_sid_is_still_an_error() -> None:
    sio = gsocketio.Server()
    with pytest.raises(UnknownSocketError):
        sio.call("ask", to="nobody", timeout=1)
    with pytest.raises(UnknownSocketError):
        sio.emit("ask", to="nobody", callback=lambda *a: None)
    with pytest.raises(UnknownSocketError):
        sio.enter_room("nobody", "room")
    with pytest.raises(UnknownSocketError):
        sio.rooms("nobody")
    sio.leave_room("nobody", "room")  # no-ops, as before
    sio.disconnect("nobody")
    gevent.sleep(0)
