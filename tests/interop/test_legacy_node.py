"""The real socket.io-client 0.9.16 (Node build: websocket and xhr-polling) against our server.

The legacy endpoint is bridged to the same ``gsocketio.Server`` (tests/helpers/chat_app.py)
the modern clients' tests use, so every check here is also a check that 0.9 clients reach the
same handlers and rooms. In Node the client is ``require("socket.io-client-legacy")`` bound to a
name other than ``io``: its modules probe ``typeof io`` for the browser global.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest

import gsocketio
from gsocketio.legacy import LegacyServer
from tests.helpers.chat_app import Recorder, build
from tests.helpers.node import NodeClient, run_node

LEGACY = """
const lio = require("socket.io-client-legacy");
const OPTS = { transports: ARGS.transports, "force new connection": true, reconnect: false };
// While a POST is in flight the client buffers packets, and disconnect() drops that buffer:
// wait (bounded) until it is flushed, so the "0::" of a disconnect really goes out.
const flushed = (socket, fn, tries = 100) =>
  (!socket.doBuffer || tries <= 0) ? fn() : setTimeout(() => flushed(socket, fn, tries - 1), 20);
"""

TRANSPORTS = ["websocket", "xhr-polling"]

Started = tuple[str, gsocketio.Server, Recorder, LegacyServer, list[Any]]


@pytest.fixture
def legacy_app(serve: Callable[..., str]) -> Iterator[Callable[..., Started]]:
    """The chat app with a legacy endpoint and a few 0.9-specific handlers."""
    started: list[LegacyServer] = []

    def _start(**options: Any) -> Started:
        sio, rec = build(cors_allowed_origins="*")
        messages: list[Any] = []

        @sio.on("message")
        def message(sid: str, data: Any) -> str:
            messages.append(data)
            return f"got {data!r}"

        @sio.on("push_messages")
        def push_messages(sid: str) -> None:
            sio.send("text from server", to=sid)
            sio.send({"n": 1}, to=sid)

        @sio.use
        def refuse_bad_token(sid: str, environ: dict[str, Any], auth: Any, nsp: str) -> None:
            if "token=bad" in environ.get("QUERY_STRING", ""):
                raise gsocketio.ConnectionRefusedError("bad token")

        options.setdefault("polling_duration", 2)
        # With jsonp-polling on, the handshake lists all five transports, which these tests were
        # written against: the 0.9.16 client intersects its ``transports`` option with the
        # server's list in the order of the shorter one (util.intersect), so a four-name list
        # would make a Node client given ["xhr-polling"] pick websocket instead.
        options.setdefault("jsonp", True)
        legacy = LegacyServer(sio, **options)
        started.append(legacy)
        return serve(legacy.wsgi_app()), sio, rec, legacy, messages

    yield _start
    for legacy in started:
        legacy.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout, AssertionError("condition not met in time")):
        while not predicate():
            gevent.sleep(0.02)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_events_acks_and_messages_both_ways(legacy_app: Any, transport: str) -> None:
    url, _sio, rec, _legacy, messages = legacy_app()
    records = run_node(
        LEGACY
        + """
    const s = lio.connect(URL, OPTS);
    let received = 0;
    s.on("question", (q, ack) => ack("answer to " + q));
    s.on("message", (m) => {
      out({ message: m });
      if (++received === 2) flushed(s.socket, () => { s.disconnect(); done(); });
    });
    s.on("connect", () => {
      s.emit("echo", "hi", 1, { a: [1, 2] }, (...args) => {
        out({ echo: args });
        s.emit("ask", "life", (reply) => {
          out({ ask: reply });
          s.send("plain text", () => {       // an ack on receipt, from the server itself
            out({ sent: true });
            s.json.send({ k: "v" });
            s.emit("push_messages");
          });
        });
      });
    });
    s.on("error", (e) => fail("error: " + e));
    """,
        url,
        args={"transports": [transport]},
    )
    assert records == [
        {"echo": ["hi", 1, {"a": [1, 2]}]},
        {"ask": {"client_said": "answer to life"}},
        {"sent": True},
        {"message": "text from server"},
        {"message": {"n": 1}},
    ]
    assert messages == ["plain text", {"k": "v"}]
    assert rec.connects[0][0] == "/"
    wait_for(lambda: bool(rec.disconnects))
    assert rec.disconnects == [("/", rec.connects[0][1], "client namespace disconnect")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_namespaces(legacy_app: Any, transport: str) -> None:
    url, _sio, rec, _legacy, _messages = legacy_app()
    records = run_node(
        LEGACY
        + """
    const chat = lio.connect(URL + "/chat", OPTS);
    const admin = chat.socket.of("/admin");
    const nowhere = chat.socket.of("/nowhere");
    const seen = {};
    const check = () => {
      if (seen.chat && seen.admin && seen.nowhere) {
        out(seen);
        flushed(chat.socket, () => { chat.socket.disconnect(); done(); });
      }
    };
    chat.on("connect", () => chat.emit("where", (w) => { seen.chat = w; check(); }));
    admin.on("connect", () => admin.emit("where", (w) => { seen.admin = w; check(); }));
    nowhere.on("connect", () => fail("connected to an unknown namespace"));
    nowhere.on("connect_failed", (reason) => { seen.nowhere = reason; check(); });
    """,
        url,
        args={"transports": [transport]},
    )
    assert records == [{"chat": "/chat", "admin": "/admin", "nowhere": "unauthorized"}]
    root_sid = next(sid for nsp, sid, _auth in rec.connects if nsp == "/")
    assert ("/chat", f"/chat#{root_sid}", None) in rec.connects
    wait_for(lambda: len(rec.disconnects) == 3)
    assert {nsp for nsp, _sid, _reason in rec.disconnects} == {"/", "/chat", "/admin"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_room_broadcasts_reach_legacy_and_modern_clients(legacy_app: Any, transport: str) -> None:
    url, sio, _rec, legacy, _messages = legacy_app()
    old = NodeClient(
        LEGACY
        + """
    const s = lio.connect(URL, OPTS);
    s.on("shouted", (text) => out({ got: text }));
    s.on("connect", () => s.emit("join", "garden", (rooms) => out({ joined: rooms.length })));
    onLine((cmd) => {
      if (cmd.shout) s.emit("shout", "garden", cmd.shout);
      if (cmd.quit) flushed(s.socket, () => { s.disconnect(); done(); });
    });
    """,
        url,
        args={"transports": [transport]},
    )
    new = NodeClient(
        """
    const { io } = require("socket.io-client");
    const s = io(URL, { transports: ["websocket"], reconnection: false });
    s.on("shouted", (text) => out({ got: text }));
    s.on("connect", () => s.emit("join", "garden", (rooms) => out({ joined: rooms.length })));
    onLine((cmd) => {
      if (cmd.shout) s.emit("shout", "garden", cmd.shout);
      if (cmd.quit) { s.close(); done(); }
    });
    """,
        url,
    )
    try:
        assert old.expect("joined")["joined"] == 2
        assert new.expect("joined")["joined"] == 2
        # each socket is encoded in its connection's own wire format (once per broadcast)
        wires = [sock.wire for sock in sio._sockets["/"].values()]
        assert sum(wire is legacy.wire for wire in wires) == 1
        assert sum(wire is sio._wire for wire in wires) == 1
        new.send({"shout": "from 4.x"})
        assert old.expect("got")["got"] == "from 4.x"
        old.send({"shout": "from 0.9"})
        assert new.expect("got")["got"] == "from 0.9"
        old.send({"quit": True})
        new.send({"quit": True})
        old.expect("done")
        new.expect("done")
    finally:
        old.close()
        new.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_kick_boots_the_client(legacy_app: Any, transport: str) -> None:
    url, _sio, rec, _legacy, _messages = legacy_app()
    records = run_node(
        LEGACY
        + """
    const s = lio.connect(URL, OPTS);
    s.on("connect", () => s.emit("kick_me"));
    s.on("disconnect", (reason) => { out({ disconnect: reason }); setTimeout(done, 100); });
    """,
        url,
        args={"transports": [transport]},
    )
    assert records == [{"disconnect": "booted"}]  # "booted": the client will not reconnect
    wait_for(lambda: bool(rec.disconnects))
    assert rec.disconnects[0][2] == "server namespace disconnect"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reconnects_after_heartbeat_timeout(legacy_app: Any, transport: str) -> None:
    url, _sio, rec, _legacy, _messages = legacy_app(
        heartbeat_interval=0.2, heartbeat_timeout=0.8, close_timeout=2, polling_duration=0.5
    )
    records = run_node(
        LEGACY
        + """
    const answer = lio.Transport.prototype.onHeartbeat;
    let mute = true;   // the first session never answers heartbeats: the server must drop it
    lio.Transport.prototype.onHeartbeat = function () { if (!mute) answer.apply(this, arguments); };
    const s = lio.connect(URL + "/chat", { transports: ARGS.transports, "force new connection": true,
      reconnect: true, "reconnection delay": 100, "max reconnection attempts": 20 });
    let connects = 0;
    s.on("connect", () => {
      connects++;
      s.emit("where", (w) => {
        out({ connect: connects, where: w });
        if (connects === 2) {
          s.socket.options.reconnect = false;
          flushed(s.socket, () => { s.socket.disconnect(); done(); });
        }
      });
    });
    s.socket.on("disconnect", () => { mute = false; out({ dropped: true }); });
    s.socket.on("reconnect", (transport) => out({ reconnect: transport }));
    """,
        url,
        args={"transports": [transport]},
        timeout=30,
    )
    first, second = {"connect": 1, "where": "/chat"}, {"connect": 2, "where": "/chat"}
    assert records[0] == first
    # dropped, reconnected (the client connects /chat again by itself), usable again
    order = [records.index(r) for r in ({"dropped": True}, {"reconnect": transport}, second)]
    assert order == sorted(order)
    reasons = [reason for nsp, _sid, reason in rec.disconnects if nsp == "/"]
    assert reasons[0] == "ping timeout"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refused_root_namespace(legacy_app: Any, transport: str) -> None:
    url, _sio, rec, legacy, _messages = legacy_app()
    records = run_node(
        LEGACY
        + """
    const s = lio.connect(URL + "?token=bad", OPTS);
    s.on("connect", () => fail("connected although refused"));
    s.on("connect_failed", (reason) => { out({ failed: reason }); setTimeout(done, 200); });
    """,
        url,
        args={"transports": [transport]},
    )
    assert records == [{"failed": "unauthorized"}]
    wait_for(lambda: not legacy.connections)
    assert rec.disconnects == []  # the connect handler never accepted it


def test_client_disconnect_and_manual_reconnect(legacy_app: Any) -> None:
    url, _sio, rec, _legacy, _messages = legacy_app()
    records = run_node(
        LEGACY
        + """
    const s = lio.connect(URL, OPTS);
    let connects = 0;
    s.on("connect", () => {
      connects++;
      out({ connect: connects, sid: s.socket.sessionid });
      if (connects === 1) { s.socket.disconnect(); setTimeout(() => s.socket.connect(), 50); }
      else { s.socket.disconnect(); done(); }
    });
    """,
        url,
        args={"transports": ["websocket"]},
    )
    assert [r["connect"] for r in records] == [1, 2]
    assert records[0]["sid"] != records[1]["sid"]
    wait_for(lambda: len(rec.disconnects) == 2)
    assert [reason for _nsp, _sid, reason in rec.disconnects] == ["client namespace disconnect"] * 2


class Shop(gsocketio.Namespace):
    """A class-based namespace: 0.9 clients reach its ``on_`` methods like modern ones."""

    def on_connect(self, sid: str, environ: dict[str, Any]) -> None:
        self.enter_room(sid, "customers")

    def on_buy(self, sid: str, item: str) -> str:
        self.emit("sold", item, to="customers", skip_sid=sid)
        return f"bought {item}"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_class_based_namespace_shared_with_modern_clients(legacy_app: Any, transport: str) -> None:
    url, sio, _rec, _legacy, _messages = legacy_app()
    sio.register_namespace(Shop("/shop"))
    modern = NodeClient(
        """
    const { io } = require("socket.io-client");
    const s = io(URL + "/shop", { transports: ["websocket"], reconnection: false });
    s.on("connect", () => out({ ready: true }));
    s.on("sold", (item) => { out({ sold: item }); s.close(); done(); });
    """,
        url,
    )
    try:
        modern.expect("ready")
        records = run_node(
            LEGACY
            + """
        const shop = lio.connect(URL + "/shop", OPTS);
        shop.on("connect", () => shop.emit("buy", "tea", (reply) => {
          out({ reply });
          flushed(shop.socket, () => { shop.socket.disconnect(); done(); });
        }));
        """,
            url,
            args={"transports": [transport]},
        )
        assert records == [{"reply": "bought tea"}]
        assert modern.expect("sold")["sold"] == "tea"
    finally:
        modern.close()


def test_default_server_without_jsonp_serves_the_09_client(legacy_app: Any) -> None:
    """jsonp-polling is off by default (issue 9): the handshake does not offer it, and the real
    client connects over what is offered and round-trips an ack."""
    url, _sio, rec, legacy, _messages = legacy_app(jsonp=None)
    assert "jsonp-polling" not in legacy.transports
    records = run_node(
        LEGACY
        + """
    const s = lio.connect(URL, { "force new connection": true, reconnect: false });
    s.on("connect", () => s.emit("echo", "hi", (...args) => {
      out({ echo: args, transport: s.socket.transport.name });
      flushed(s.socket, () => { s.disconnect(); done(); });
    }));
    s.on("error", (e) => fail("error: " + e));
    """,
        url,
    )
    assert records == [{"echo": ["hi"], "transport": "websocket"}]
    wait_for(lambda: bool(rec.disconnects))
