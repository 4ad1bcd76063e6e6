"""``RoomsMixin`` and ``BroadcastMixin`` across several live sockets (python-socketio and Node
clients of different protocol versions in the same rooms)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.queue
import pytest
import socketio

from gsocketio import socketio_manage
from gsocketio.mixins import BroadcastMixin, RoomsMixin
from gsocketio.namespace import BaseNamespace
from tests.helpers.node import NodeClient

TIMEOUT = 5


class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    def on_join(self, room: str) -> list[str]:
        self.join(room)
        return sorted(self.session["rooms"])

    def on_leave(self, room: str) -> list[str]:
        self.leave(room)
        return sorted(self.session["rooms"])

    def on_say(self, room: str, msg: str) -> bool:
        self.emit_to_room(room, "said", room, msg)
        return True

    def on_shout(self, msg: str) -> bool:
        self.broadcast_event("shout", msg)
        return True

    def on_whisper(self, msg: str) -> bool:
        self.broadcast_event_not_me("whisper", msg)
        return True


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    socketio_manage(environ, {"/chat": ChatNamespace, "": ChatNamespace})
    return []


class Peer:
    """One python-socketio client on /chat recording what it receives."""

    def __init__(self, url: str) -> None:
        self.inbox: gevent.queue.Queue[tuple[str, Any]] = gevent.queue.Queue()
        self.client = socketio.Client(reconnection=False)
        for event in ("said", "shout", "whisper"):
            self.client.on(event, self._recorder(event), namespace="/chat")
        self.client.connect(url, namespaces=["/chat"], wait_timeout=TIMEOUT)

    def _recorder(self, event: str) -> Callable[..., None]:
        return lambda *args: self.inbox.put((event, list(args)))

    def call(self, event: str, *args: Any) -> Any:
        return self.client.call(event, args, namespace="/chat", timeout=TIMEOUT)

    def next(self) -> tuple[str, Any]:
        return self.inbox.get(timeout=TIMEOUT)  # type: ignore[no-any-return]

    def assert_quiet(self) -> None:
        # Every test ends with a synchronous call round trip on each peer, and the server
        # sends a broadcast before acking: anything for this peer would already be queued.
        assert self.inbox.empty(), list(self.inbox.queue)


@pytest.fixture
def peers(serve: Any) -> Iterator[tuple[Any, list[Peer]]]:
    url = serve(app)
    group = [Peer(url) for _ in range(3)]
    yield url, group
    for peer in group:
        peer.client.disconnect()


def test_rooms_exclude_the_sender_and_follow_leave(peers: tuple[Any, list[Peer]]) -> None:
    _url, (a, b, c) = peers
    assert a.call("join", "main") == ["/chat_main"]  # the seed's session['rooms'] naming
    assert b.call("join", "main") == ["/chat_main"]
    assert b.call("join", "other") == ["/chat_main", "/chat_other"]
    assert a.call("say", "main", "hello") is True
    assert b.next() == ("said", ["main", "hello"])
    assert b.call("say", "other", "nobody there") is True
    assert b.call("leave", "main") == ["/chat_other"]
    assert c.call("join", "main") == ["/chat_main"]
    assert c.call("say", "main", "after leave") is True
    assert a.next() == ("said", ["main", "after leave"])
    for peer in (a, b, c):
        peer.call("shout", "sync")
    for peer in (a, b, c):
        assert [peer.next() for _ in range(3)] == [("shout", ["sync"])] * 3
        peer.assert_quiet()


def test_broadcasts_include_or_skip_the_sender(peers: tuple[Any, list[Peer]]) -> None:
    _url, (a, b, c) = peers
    assert a.call("shout", "all") is True
    for peer in (a, b, c):
        assert peer.next() == ("shout", ["all"])
    assert a.call("whisper", "not me") is True
    assert b.next() == ("whisper", ["not me"])
    assert c.next() == ("whisper", ["not me"])
    for peer in (a, b, c):
        peer.call("join", "sync")
        peer.assert_quiet()


def test_rooms_live_in_the_adapter() -> None:
    from gsocketio.serve import SocketIOServer

    server = SocketIOServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        a, b = Peer(url), Peer(url)
        a.call("join", "lobby")
        seed = server.seed_server
        members = seed.adapter.sockets("/chat", _room("/chat_lobby"))
        assert members == {a.client.get_sid("/chat")}
        # the modern API reaches seed sockets through the same adapter
        seed.emit("said", "lobby", "from sio.emit", to="/chat_lobby", namespace="/chat")
        assert a.next() == ("said", ["lobby", "from sio.emit"])
        assert seed.sockets("/chat") == sorted(
            [a.client.get_sid("/chat"), b.client.get_sid("/chat")]
        )
        # the seed's server.sockets dict by sessid
        assert set(seed.handlers.sockets) == {a.client.sid, b.client.sid}
        b.call("shout", "sync")
        a.next()
        b.next()
        b.assert_quiet()
        for peer in (a, b):
            peer.client.disconnect()
    finally:
        server.stop(timeout=2)


def _room(name: str) -> Any:
    from gsocketio.adapters.base import BroadcastOptions

    return BroadcastOptions(rooms=frozenset((name,)))


def test_mixed_protocol_clients_share_rooms(serve: Any) -> None:
    url = serve(app)
    py = Peer(url)
    script_v4 = """
    const { io } = require("socket.io-client");
    const s = io(URL + "/chat", { reconnection: false });
    s.on("said", (room, msg) => out({ said: [room, msg] }));
    s.on("shout", (msg) => out({ shout: msg }));
    s.on("connect", () => s.emit("join", "mixed", (rooms) => out({ joined: rooms })));
    onLine((cmd) => { if (cmd.say) s.emit("say", "mixed", cmd.say, () => out({ sent: true })); });
    """
    script_v2 = script_v4.replace(
        'const { io } = require("socket.io-client");', 'const io = require("socket.io-client-v2");'
    ).replace("{ reconnection: false }", "{ reconnection: false, forceNew: true }")
    v4 = NodeClient(script_v4, url)
    v2 = NodeClient(script_v2, url)
    try:
        assert v4.expect("joined")["joined"] == ["/chat_mixed"]
        assert v2.expect("joined")["joined"] == ["/chat_mixed"]
        py.call("join", "mixed")
        v4.send({"say": "from v4"})
        assert v2.expect("said")["said"] == ["mixed", "from v4"]
        assert py.next() == ("said", ["mixed", "from v4"])
        v2.send({"say": "from v2"})
        assert v4.expect("said")["said"] == ["mixed", "from v2"]
        assert py.next() == ("said", ["mixed", "from v2"])
        py.call("shout", "everyone")
        assert v4.expect("shout")["shout"] == "everyone"
        assert v2.expect("shout")["shout"] == "everyone"
    finally:
        v4.close()
        v2.close()
        py.client.disconnect()
