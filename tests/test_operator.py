"""The broadcast operator and cluster operations on one server (the memory adapter answers
the requests itself), with python-socketio clients over real sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.queue
import pytest
import socketio

import gsocketio
from gsocketio.exceptions import ClusterTimeoutError

TIMEOUT = 5


class Peer:
    def __init__(self, url: str, name: str, answer: bool = True) -> None:
        self.name = name
        self.inbox: gevent.queue.Queue[tuple[str, list[Any]]] = gevent.queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("msg", lambda *a: self.inbox.put(("msg", list(a))))
        self.client.on("end", lambda *a: self.inbox.put(("end", list(a))))
        self.disconnected = gevent.event.Event()
        self.client.on("disconnect", lambda *a: self.disconnected.set())
        if answer:
            self.client.on("ask", lambda *a: f"{name}:{a[0]}")
        else:
            self.client.on("ask", lambda *a: gevent.sleep(30))
        self.client.connect(url, transports=["websocket"], wait_timeout=TIMEOUT)
        self.sid = self.client.get_sid("/")

    def until_end(self) -> list[list[Any]]:
        got: list[list[Any]] = []
        for _ in range(100):
            kind, args = self.inbox.get(timeout=TIMEOUT)
            if kind == "end":
                return got
            got.append(args)
        raise AssertionError("no end")


@pytest.fixture
def one_server(serve: Callable[..., str]) -> Iterator[tuple[gsocketio.Server, Callable[..., Peer]]]:
    sio = gsocketio.Server()
    url = serve(sio.wsgi_app())
    peers: list[Peer] = []

    @sio.on("join")
    def join(sid: str, room: str) -> str:
        sio.enter_room(sid, room)
        return "ok"

    def make(name: str, rooms: tuple[str, ...] = (), answer: bool = True) -> Peer:
        peer = Peer(url, name, answer)
        for room in rooms:
            assert peer.client.call("join", room, timeout=TIMEOUT) == "ok"
        peers.append(peer)
        return peer

    yield sio, make
    for peer in peers:
        peer.client.disconnect()


def test_operator_selects_like_node(one_server: Any) -> None:
    sio, make = one_server
    a, b, c = make("a", ("r1",)), make("b", ("r1", "vip")), make("c", ("r2",))
    sio.to("r1").except_("vip").emit("msg", "r1-not-vip")
    sio.to("r1", "r2").except_(c.sid).emit("msg", "r1r2-not-c")
    sio.in_(["r2"]).emit("msg", "r2")
    sio.volatile.compress(False).emit("msg", "all-volatile")
    sio.local.to(b.sid).emit("msg", "b-only")
    sio.emit("end")
    assert a.until_end() == [["r1-not-vip"], ["r1r2-not-c"], ["all-volatile"]]
    assert b.until_end() == [["r1r2-not-c"], ["all-volatile"], ["b-only"]]
    assert c.until_end() == [["r2"], ["all-volatile"]]
    with pytest.raises(ValueError):
        sio.to("r1").emit("connect")


def test_call_collects_every_reply_or_times_out_with_the_partial_ones(one_server: Any) -> None:
    sio, make = one_server
    make("a", ("r",))
    make("b", ("r",))
    assert sorted(sio.to("r").timeout(TIMEOUT).call("ask", 1)) == ["a:1", "b:1"]
    make("mute", ("r",), answer=False)
    with pytest.raises(ClusterTimeoutError) as info:
        sio.to("r").timeout(0.5).call("ask", 2)
    assert sorted(info.value.replies) == ["a:2", "b:2"]
    done: gevent.event.AsyncResult = gevent.event.AsyncResult()
    sio.except_("r").timeout(TIMEOUT).emit(
        "ask", 3, callback=lambda err, replies: done.set((err, replies))
    )
    assert done.get(timeout=TIMEOUT) == (None, [])  # nobody outside r: done at once


def test_fetch_sockets_and_socket_data(one_server: Any) -> None:
    sio, make = one_server
    a, b = make("a", ("r",)), make("b")
    sio.get_data(a.sid)["user"] = "alice"
    (found,) = sio.in_("r").fetch_sockets()
    assert found.id == a.sid and found.rooms == {a.sid, "r"} and found.data == {"user": "alice"}
    hs = found.handshake
    assert hs["query"]["EIO"] == "4" and hs["address"] == "127.0.0.1" and hs["auth"] == {}
    assert hs["url"].startswith("/socket.io/?") and isinstance(hs["headers"], dict)
    found.join("joined")
    found.emit("msg", "direct")
    sio.to("joined").emit("msg", "to-joined")
    sio.emit("end")
    assert a.until_end() == [["direct"], ["to-joined"]]
    assert b.until_end() == []
    assert sio.all_rooms() == {a.sid, b.sid, "r", "joined"}
    found.leave("r")
    assert sio.in_("r").fetch_sockets() == []
    found.disconnect()
    assert a.disconnected.wait(TIMEOUT)
    assert [s.id for s in sio.fetch_sockets()] == [b.sid]


def test_sockets_join_leave_disconnect_and_server_side_emit(one_server: Any) -> None:
    sio, make = one_server
    a, b = make("a", ("r",)), make("b")
    sio.in_("r").sockets_join("x", "y")
    assert sio.rooms(a.sid) and set(sio.rooms(a.sid)) == {a.sid, "r", "x", "y"}
    sio.sockets_leave("y")
    assert set(sio.rooms(a.sid)) == {a.sid, "r", "x"}
    sio.sockets_join("everyone")
    assert "everyone" in sio.rooms(b.sid)
    sio.server_side_emit("hello", 1)  # no other server: nothing runs here (as in Node)
    assert sio.server_side_call("hello", 1) == []
    sio.in_("x").disconnect_sockets(close=True)
    assert a.disconnected.wait(TIMEOUT)
    assert sio.sockets() == [b.sid]
