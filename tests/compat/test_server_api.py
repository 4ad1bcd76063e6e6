"""The :class:`gsocketio.Server` API on seed-mode sockets, driven by real clients.

A gevent-socketio app (``socketio_manage`` + ``BaseNamespace``) runs under
:func:`gsocketio.compat.managed.managed_server` with the 0.9 endpoint bridged to it. While Node's
socket.io-client 4.x (websocket, polling) or the 0.9 client is connected, the test greenlet — a
server-side greenlet like any background task — uses ``rooms``, ``enter_room``/``leave_room``,
``emit(to=room)``, ``get_session``/``session``, ``call`` (answered, timed out, aborted),
``sockets`` and ``disconnect`` on the seed sockets; the namespaces see the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest

from gsocketio import CallTimeoutError, Server, socketio_manage
from gsocketio.compat.managed import ManagedHandlers, managed_server
from gsocketio.exceptions import CallAbortedError, UnknownSocketError
from gsocketio.legacy import LegacyServer
from gsocketio.mixins import RoomsMixin
from gsocketio.namespace import BaseNamespace
from tests.helpers.node import NodeClient

TIMEOUT = 5


class Recorder:
    def __init__(self) -> None:
        self.events: dict[str, gevent.event.AsyncResult] = {}

    def add(self, key: str, *value: Any) -> None:
        self.result(key).set(value)

    def result(self, key: str) -> gevent.event.AsyncResult:
        return self.events.setdefault(key, gevent.event.AsyncResult())

    def wait(self, key: str) -> Any:
        return self.result(key).get(timeout=TIMEOUT)


REC = Recorder()


class ChatNamespace(BaseNamespace, RoomsMixin):
    def on_join(self, room: str) -> list[str]:
        self.join(room)
        return sorted(self.session["rooms"])

    def on_login(self, user: str) -> bool:
        self.session["user"] = user
        return True

    def on_role(self) -> Any:
        return self.session.get("role")

    def on_my_sid(self) -> str | None:
        return self.socket.sid_of(self.ns_name)

    def on_ask_back(self, question: str) -> Any:
        # Server.call from a namespace method, i.e. from the connection's receiver loop.
        sio: Server = self.socket.server
        sid = self.socket.sid_of(self.ns_name)
        assert sid is not None
        return sio.call(
            "question", question, to=sid, namespace=self.ns_name or "/", timeout=TIMEOUT
        )

    def on_echo(self, *args: Any) -> Any:
        return args

    def recv_disconnect(self) -> None:
        self.disconnect(silent=True)
        REC.add("disconnect " + (self.ns_name or "/"))


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    socketio_manage(environ, {"": ChatNamespace, "/chat": ChatNamespace})
    return []


@pytest.fixture(autouse=True)
def fresh_recorder() -> Iterator[None]:
    global REC
    REC = Recorder()
    yield


@pytest.fixture
def seed(serve: Callable[..., str]) -> Iterator[tuple[Server, str]]:
    server = managed_server(app)
    legacy = LegacyServer(server)
    url = serve(legacy.wsgi_app(app))
    yield server, url
    legacy.close()


class Node:
    """A Node client of the seed app that replays commands and reports what it gets."""

    def __init__(self, script: str, url: str, args: dict[str, Any]) -> None:
        self.client = NodeClient(script, url, args=args)

    def emit(self, target: str, *args: Any) -> list[Any]:
        """Emit with an ack callback and return the ack's arguments."""
        self.client.send({"emit": [target, *args]})
        reply: list[Any] = self.client.expect("reply")["reply"]
        return reply

    def expect(self, key: str) -> Any:
        return self.client.expect(key)[key]


V4 = """
const { io } = require("socket.io-client");
const opts = { reconnection: false, transports: ARGS.transports };
const s = io(URL, opts);
const chat = io(URL + "/chat", opts);  // same Manager: one connection, two namespaces
"""

V2 = """
const io = require("socket.io-client-v2");
const opts = { reconnection: false, transports: ARGS.transports };
const s = io(URL, opts);
const chat = io(URL + "/chat", opts);  // ids: the engine sid, "/chat#<engine sid>"
"""

LEGACY = """
const lio = require("socket.io-client-legacy");
const s = lio.connect(URL, { "force new connection": true, reconnect: false,
                             transports: ARGS.transports });
const chat = s.socket.of("/chat");
"""

COMMON = """
let ready = 0;
const both = () => { if (++ready === 2) out({ connected: IDS() }); };
s.on("connect", both);
chat.on("connect", both);
chat.on("news", (x) => out({ news: x }));
chat.on("question", (q, ack) => { if (q !== "silent") ack("answer to " + q); });
chat.on("disconnect", (reason) => out({ chat_disconnect: reason || "none" }));
s.on("disconnect", (reason) => out({ root_disconnect: reason || "none" }));
onLine((cmd) => {
  const [target, ...args] = cmd.emit;
  (target === "chat" ? chat : s).emit(...args, (...r) => out({ reply: r }));
});
"""

V4_IDS = "const IDS = () => ({ root: s.id, chat: chat.id });\n"
LEGACY_IDS = (
    'const IDS = () => ({ root: s.socket.sessionid, chat: "/chat#" + s.socket.sessionid });\n'
)


def _exercise(seed: Server, node: Node, *, v09: bool) -> None:
    ids = node.expect("connected")
    root, chat = ids["root"], ids["chat"]
    assert seed.sockets("/chat") == [chat]
    assert seed.sockets("/") == [root]

    # rooms: the mixin's join and the Server API see the same adapter state
    assert node.emit("chat", "join", "lobby") == [["/chat_lobby"]]
    assert set(seed.rooms(chat, namespace="/chat")) == {chat, "/chat_lobby"}
    seed.enter_room(chat, "vip", namespace="/chat")
    assert set(seed.rooms(chat, namespace="/chat")) == {chat, "/chat_lobby", "vip"}
    seed.emit("news", "for vips", to="vip", namespace="/chat")
    assert node.expect("news") == "for vips"
    seed.leave_room(chat, "vip", namespace="/chat")
    assert "vip" not in seed.rooms(chat, namespace="/chat")
    assert node.emit("chat", "my_sid") == [chat]

    # session: the seed's per-connection dict, shared with the namespaces
    assert node.emit("chat", "login", "alice") == [True]
    assert seed.get_session(chat, namespace="/chat")["user"] == "alice"
    assert seed.get_session(root) is seed.get_session(chat, namespace="/chat")
    with seed.session(chat, namespace="/chat") as session:
        session["role"] = "admin"
    assert node.emit("", "role") == ["admin"]
    seed.save_session(root, {"user": "bob", "role": "guest"})
    assert node.emit("chat", "role") == ["guest"]

    # call: answered, timed out, from a namespace method, and emit(callback=)
    assert seed.call("question", "life", to=chat, namespace="/chat", timeout=TIMEOUT) == (
        "answer to life"
    )
    with pytest.raises(CallTimeoutError):
        seed.call("question", "silent", to=chat, namespace="/chat", timeout=0.3)
    assert node.emit("chat", "ask_back", "why") == ["answer to why"]
    acked = gevent.event.AsyncResult()
    seed.emit("question", "cb", to=chat, namespace="/chat", callback=acked.set)
    assert acked.get(timeout=TIMEOUT) == "answer to cb"

    # disconnect one namespace: recv_disconnect runs, the connection stays for "/"
    seed.disconnect(chat, namespace="/chat")
    assert node.expect("chat_disconnect") == ("none" if v09 else "io server disconnect")
    REC.wait("disconnect /chat")
    assert seed.sockets("/chat") == []
    with pytest.raises(UnknownSocketError):
        seed.rooms(chat, namespace="/chat")
    assert node.emit("", "echo", 1, "x") == [1, "x"]

    # disconnect the last one: the connection closes, as the seed did with its last namespace
    seed.disconnect(root)
    assert node.expect("root_disconnect") == ("booted" if v09 else "io server disconnect")
    REC.wait("disconnect /")
    assert seed.sockets("/") == []
    layer = seed.handlers
    assert isinstance(layer, ManagedHandlers)
    assert dict(layer.sockets) == {}


@pytest.mark.parametrize(
    ("client", "transports"),
    [("v4", ["websocket"]), ("v4", ["polling"]), ("v2", ["polling", "websocket"])],
)
def test_server_api_on_seed_sockets_node(
    seed: tuple[Server, str], client: str, transports: list[str]
) -> None:
    server, url = seed
    script = (V4 if client == "v4" else V2) + V4_IDS + COMMON
    node = Node(script, url, {"transports": transports})
    try:
        _exercise(server, node, v09=False)
    finally:
        node.client.close()


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_server_api_on_seed_sockets_legacy_09(seed: tuple[Server, str], transport: str) -> None:
    server, url = seed
    node = Node(LEGACY + LEGACY_IDS + COMMON, url, {"transports": [transport]})
    try:
        _exercise(server, node, v09=True)
    finally:
        node.client.close()


def test_call_aborts_when_the_seed_client_goes_away(seed: tuple[Server, str]) -> None:
    server, url = seed
    node = Node(
        V4
        + """
    chat.on("connect", () => out({ connected: chat.id }));
    chat.on("unanswered", () => out({ got: true }));  // never acks
    """,
        url,
        {"transports": ["websocket"]},
    )
    try:
        sid = node.expect("connected")
        pending = gevent.spawn(server.call, "unanswered", to=sid, namespace="/chat", timeout=30)
        assert node.expect("got") is True
        node.client.close()  # the process dies: the transport just goes away
        with gevent.Timeout(TIMEOUT), pytest.raises(CallAbortedError):
            pending.get()
        REC.wait("disconnect /chat")
        assert server.sockets("/chat") == []
    finally:
        node.client.close()


def test_unknown_or_gone_seed_sids(seed: tuple[Server, str]) -> None:
    server, _url = seed
    server.disconnect("nobody", namespace="/chat")  # a no-op, as for modern sockets
    with pytest.raises(UnknownSocketError):
        server.call("x", to="nobody", timeout=0.1)
    with pytest.raises(UnknownSocketError):
        server.get_session("nobody")
