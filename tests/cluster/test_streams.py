"""The Redis Streams adapter on real Redis: broadcasts between nodes, and connection state
recovery across nodes, gsocketio to gsocketio and gsocketio to Node's socket.io with
``@socket.io/redis-streams-adapter`` 0.3.1 and back (same stream, same session keys).

The client (socket.io-client 4.8) drops its transport, is pointed at another node
(``s.io.uri``) and reconnects on command, so each step is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest
from gevent.event import Event

import gsocketio
from gsocketio.adapters.redis_streams import RedisStreamsAdapter
from tests.cluster.conftest import REDIS_URL, redis_client
from tests.helpers.node import NodeClient

pytestmark = pytest.mark.service

CLIENT = """
const { io } = require("socket.io-client");
const s = io(ARGS.urls[0], { transports: ["websocket"], reconnection: false });
s.on("connect", () => out({ r: 1, connected: s.id, recovered: s.recovered }));
s.on("disconnect", (reason) => out({ r: 1, disconnected: reason }));
s.on("ev", (...args) => out({ r: 1, ev: args }));
onLine((cmd) => {
  if (cmd.drop) s.io.engine.close();
  if (cmd.move !== undefined) { s.io.uri = ARGS.urls[cmd.move]; s.connect(); }
  if (cmd.quit) { s.close(); done(); }
});
"""

NODE_SERVER = """
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient } = require("redis");
(async () => {
  const redis = createClient({ url: "redis://127.0.0.1:6379" });
  await redis.connect();
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(redis, { streamName: ARGS.stream, channelPrefix: ARGS.key,
                                    sessionKeyPrefix: ARGS.key + ":session:" }),
    connectionStateRecovery: { maxDisconnectionDuration: 60000 },
  });
  io.on("connection", (s) => {
    if (!s.recovered) { s.join("garden"); s.data.user = "ada"; }
    out({ conn: s.id, recovered: s.recovered, rooms: [...s.rooms].sort(), data: s.data });
    s.on("disconnect", (reason) => out({ disc: reason }));
  });
  onLine((c) => {
    if (c.op === "emit") { io.to(c.to).emit("ev", ...c.args); out({ emitted: true }); }
    if (c.op === "quit") { io.close(); redis.quit(); done(); }
  });
  httpServer.listen(0, "127.0.0.1", () => out({ port: httpServer.address().port }));
})().catch((e) => fail(e.stack));
"""


@dataclass
class PyStreamsNode:
    sio: gsocketio.Server
    url: str
    connects: list[tuple[str, bool, list[str], dict[str, Any]]] = field(default_factory=list)
    connected: Event = field(default_factory=Event)
    disconnected: Event = field(default_factory=Event)


@pytest.fixture
def stream_nodes(key: str, serve: Callable[..., str]) -> Iterator[Callable[[], PyStreamsNode]]:
    adapters: list[RedisStreamsAdapter] = []

    def start() -> PyStreamsNode:
        adapter = RedisStreamsAdapter(
            REDIS_URL, stream=f"{key}:stream", channel_prefix=key,
            session_key_prefix=f"{key}:session:", block_time=1.0,
        )  # fmt: skip
        adapters.append(adapter)
        assert adapter.ready.wait(5)
        sio = gsocketio.Server(
            adapter=adapter, connection_state_recovery={"max_disconnection_duration": 60}
        )
        node = PyStreamsNode(sio, "")

        @sio.on("connect")
        def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            recovered = sio.is_recovered(sid)
            data = sio.get_data(sid)
            if not recovered:
                sio.enter_room(sid, "garden")
                data["user"] = "ada"
            node.connects.append((sid, recovered, sorted(sio.rooms(sid)), dict(data)))
            node.connected.set()

        @sio.on("disconnect")
        def disconnect(sid: str, reason: str) -> None:
            node.disconnected.set()

        node.url = serve(sio.wsgi_app())
        return node

    yield start
    for adapter in adapters:
        adapter.close()
    r = redis_client()
    r.delete(f"{key}:stream")
    for session_key in r.scan_iter(match=f"{key}:session:*", count=100):
        r.delete(session_key)


def _wait(event: Event) -> None:
    assert event.wait(10), "timed out"
    event.clear()


class Client:
    """The client's records in order: events that arrive before ``connect`` (Node writes
    missed packets before its CONNECT reply; the client emits them right after) are kept."""

    def __init__(self, urls: list[str], script: str = CLIENT, **args: Any) -> None:
        self.node = NodeClient(script, "", args={"urls": urls, **args}, timeout=40)
        self.pending: list[Any] = []

    def expect(self, key: str) -> dict[str, Any]:
        for _ in range(1000):
            rec = self.node.expect("r")
            if key in rec:
                rec.pop("r")
                return rec
            if "ev" in rec:
                self.pending.append(rec["ev"][0])
        raise AssertionError(f"no {key}")

    def evs(self, n: int) -> list[Any]:
        while len(self.pending) < n:
            self.pending.append(self.expect("ev")["ev"][0])
        got, self.pending = self.pending[:n], self.pending[n:]
        return got

    def send(self, cmd: dict[str, Any]) -> None:
        self.node.send(cmd)

    def close(self) -> None:
        self.node.close()


def test_broadcasts_between_nodes_and_recovery_on_another_node(
    stream_nodes: Callable[[], PyStreamsNode],
) -> None:
    a, b = stream_nodes(), stream_nodes()
    client = Client([a.url, b.url])
    try:
        assert client.expect("connected")["recovered"] is False
        _wait(a.connected)
        sid = a.connects[0][0]
        b.sio.emit("ev", 1, to="garden")  # from the other node, through the stream
        a.sio.emit("ev", 2, to=sid)
        assert client.evs(2) == [1, 2]

        client.send({"drop": True})
        _wait(a.disconnected)
        a.sio.emit("ev", 3, to="garden")
        b.sio.emit("ev", 4, to=sid)
        b.sio.emit("ev", "not-for-it", to="elsewhere")
        client.send({"move": 1})
        assert client.expect("connected") == {"connected": sid, "recovered": True}
        _wait(b.connected)
        assert b.connects[0] == (sid, True, sorted([sid, "garden"]), {"user": "ada"})
        a.sio.emit("ev", 5, to="garden")
        assert client.evs(3) == [3, 4, 5]
        client.send({"quit": True})
        client.expect("disconnected")
    finally:
        client.close()


def test_recovery_to_a_node_server_and_back(
    stream_nodes: Callable[[], PyStreamsNode], key: str
) -> None:
    a = stream_nodes()
    js = NodeClient(NODE_SERVER, "", args={"stream": f"{key}:stream", "key": key}, timeout=60)
    try:
        js_url = f"http://127.0.0.1:{js.expect('port', timeout=15)['port']}"
        client = Client([a.url, js_url])
        try:
            client.expect("connected")
            _wait(a.connected)
            sid = a.connects[0][0]
            a.sio.emit("ev", 1, to="garden")
            assert client.evs(1) == [1]

            client.send({"drop": True})  # gsocketio -> Node
            _wait(a.disconnected)
            a.sio.emit("ev", 2, to="garden")
            a.sio.emit("ev", 3, to=sid)
            client.send({"move": 1})
            conn = js.expect("conn")
            assert conn == {
                "conn": sid, "recovered": True, "rooms": sorted([sid, "garden"]),
                "data": {"user": "ada"},
            }  # fmt: skip
            assert client.expect("connected") == {"connected": sid, "recovered": True}
            js.send({"op": "emit", "to": "garden", "args": [4]})
            assert client.evs(3) == [2, 3, 4]

            client.send({"drop": True})  # Node -> gsocketio
            assert js.expect("disc")["disc"] == "transport close"
            js.send({"op": "emit", "to": "garden", "args": [5]})
            js.expect("emitted")
            js.send({"op": "emit", "to": sid, "args": [6]})
            js.expect("emitted")
            client.send({"move": 0})
            assert client.expect("connected") == {"connected": sid, "recovered": True}
            _wait(a.connected)
            assert a.connects[1] == (sid, True, sorted([sid, "garden"]), {"user": "ada"})
            a.sio.emit("ev", 7, to="garden")
            assert client.evs(3) == [5, 6, 7]
            client.send({"quit": True})
            client.expect("disconnected")
        finally:
            client.close()
        js.send({"op": "quit"})
    finally:
        js.close()


def _until(check: Callable[[], bool]) -> None:
    with gevent.Timeout(10, AssertionError("condition not reached")):
        while not check():
            gevent.sleep(0.02)


def test_cluster_operations_through_stream_and_pubsub(
    stream_nodes: Callable[[], PyStreamsNode],
) -> None:
    a, b = stream_nodes(), stream_nodes()
    heard: list[list[Any]] = []

    def hello(*args: Any) -> Any:
        heard.append(list(args))
        return {"from": "a", "args": list(args)}

    a.sio.on_server_side("hello", hello)

    client = Client([a.url, b.url])
    try:
        client.expect("connected")
        _wait(a.connected)
        sid = a.connects[0][0]
        assert b.sio.adapter.server_count("/") == 2
        found = b.sio.fetch_sockets(timeout=5)
        assert [(s.id, s.rooms) for s in found] == [(sid, {sid, "garden"})]
        b.sio.in_("garden").sockets_join("extra")  # SOCKETS_JOIN through the stream
        _until(lambda: "extra" in a.sio.rooms(sid))
        b.sio.in_("garden").sockets_leave("extra")
        _until(lambda: "extra" not in a.sio.rooms(sid))
        b.sio.server_side_emit("hello", 1)
        _until(lambda: heard == [[1]])
        assert b.sio.server_side_call("hello", 2, timeout=5) == [{"from": "a", "args": [2]}]
        b.sio.emit("ev", b"\x01\x02", to="garden")  # binary: base64 msgpack in the stream
        assert client.expect("ev")["ev"][0] == {"type": "Buffer", "data": [1, 2]}
        b.sio.local.emit("ev", "local only")  # nobody on b: not stored, not delivered
        b.sio.disconnect_sockets()  # DISCONNECT_SOCKETS through the stream
        assert client.expect("disconnected")["disconnected"] == "io server disconnect"
        _wait(a.disconnected)
        client.send({"quit": True})
    finally:
        client.close()
