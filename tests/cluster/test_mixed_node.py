"""A mixed cluster: Node socket.io 4.8 + @socket.io/redis-adapter 8.3 beside gsocketio servers
in one Redis; @socket.io/redis-emitter 5.1 and gsocketio.Emitter reaching both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from gsocketio import Emitter
from tests.cluster.conftest import REDIS_URL, Clients, events_until, eventually
from tests.helpers.node import NodeClient

pytestmark = pytest.mark.service

NODE_SERVER = """
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");
(async () => {
  const pub = createClient({ url: "redis://127.0.0.1:6379" });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const adapter = ARGS.sharded
    ? createShardedAdapter(pub, sub, { channelPrefix: ARGS.key })
    : createAdapter(pub, sub, { key: ARGS.key, requestsTimeout: 3000 });
  const io = new Server(httpServer, { adapter });
  const emitter = new Emitter(pub, { key: ARGS.key });
  io.on("connection", (s) => {
    s.on("join", (room, cb) => { s.join(room); cb("ok"); });
    s.on("setdata", (d, cb) => { Object.assign(s.data, d); cb("ok"); });
  });
  io.on("hello", (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out({ sse: args });
    if (cb) cb({ node: "js", args });
  });
  const reply = (id, result) => out({ result, id });
  onLine(async (c) => {
    const target = io.of(c.nsp || "/").to(c.to || []).except(c.except || []);
    if (c.op === "emit") { target.emit(c.event, ...(c.args || [])); reply(c.id, "ok"); }
    else if (c.op === "fetch") {
      const found = await target.fetchSockets();
      reply(c.id, found.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, handshake: s.handshake })));
    } else if (c.op === "sse") { io.serverSideEmit(c.event, ...(c.args || [])); reply(c.id, "ok"); }
    else if (c.op === "sse_ack") {
      try { reply(c.id, { err: null, replies: await io.serverSideEmitWithAck(c.event, ...(c.args || [])) }); }
      catch (err) { reply(c.id, { err: err.message, replies: null }); }
    } else if (c.op === "call") {
      target.timeout(3000).emit(c.event, ...(c.args || []), (err, replies) => reply(c.id, { err: err && err.message, replies }));
    } else if (c.op === "emitter") {
      emitter.of(c.nsp || "/").to(c.to || []).except(c.except || []).emit(c.event, ...(c.args || []));
      reply(c.id, "ok");
    } else if (c.op === "emitter_join") { emitter.in(c.to).socketsJoin(c.rooms); reply(c.id, "ok"); }
    else if (c.op === "emitter_sse") { emitter.serverSideEmit(c.event, ...(c.args || [])); reply(c.id, "ok"); }
    else if (c.op === "emitter_disconnect") { emitter.in(c.to).disconnectSockets(); reply(c.id, "ok"); }
    else if (c.op === "disconnect") { target.disconnectSockets(!!c.close); reply(c.id, "ok"); }
    else if (c.op === "leave") { target.socketsLeave(c.rooms); reply(c.id, "ok"); }
    else if (c.op === "emit_bin") { io.emit("bin", Buffer.from([1, 2, 255])); reply(c.id, "ok"); }
    else if (c.op === "quit") { io.close(); await pub.quit(); await sub.quit(); done(); }
  });
  httpServer.listen(0, "127.0.0.1", () => out({ port: httpServer.address().port }));
})().catch((e) => fail(e.stack));
"""


class JsNode:
    def __init__(self, key: str, sharded: bool = False) -> None:
        self.proc = NodeClient(NODE_SERVER, "", args={"key": key, "sharded": sharded}, timeout=90)
        self.url = f"http://127.0.0.1:{self.proc.expect('port', timeout=15)['port']}"
        self.next_id = 0
        self.sse: list[Any] = []

    def cmd(self, op: str, **body: Any) -> Any:
        self.next_id += 1
        self.proc.send({"op": op, "id": self.next_id, **body})
        for _ in range(100):
            rec = self._record()
            if "sse" in rec:
                self.sse.append(rec["sse"])
            elif rec.get("id") == self.next_id:
                return rec["result"]
        raise AssertionError("no result")

    def _record(self, timeout: float = 10) -> dict[str, Any]:
        """The next result or sse record of the Node server (both kept, in order)."""
        stdout = self.proc.proc.stdout
        assert stdout is not None
        with gevent.Timeout(timeout, AssertionError("Node server did not answer")):
            for _ in range(1000):
                line = stdout.readline()
                if not line:
                    raise AssertionError(
                        f"Node server exited: {self.proc.proc.stderr.read() if self.proc.proc.stderr else ''}"
                    )
                if not line.startswith("{"):
                    continue
                rec: dict[str, Any] = json.loads(line)
                if "error" in rec:
                    raise AssertionError(f"Node server error: {rec['error']}")
                if "result" in rec or "sse" in rec:
                    return rec
        raise AssertionError("no record")

    def next_sse(self) -> Any:
        if self.sse:
            return self.sse.pop(0)
        for _ in range(100):
            rec = self._record()
            if "sse" in rec:
                return rec["sse"]
        raise AssertionError("no sse")


@pytest.fixture
def js_node(key: str) -> Iterator[JsNode]:
    node = JsNode(key)
    yield node
    node.proc.close()


def _msgs(records: list[dict[str, Any]]) -> list[Any]:
    return sorted(r["args"][0] for r in records if r["ev"] == "msg")


def test_broadcasts_both_ways(py_nodes: Any, js_node: JsNode, clients: Clients) -> None:
    (py,) = py_nodes(1)
    on_py, _ = clients.start(py.url, "p", rooms=["room1"])
    on_js, _ = clients.start(js_node.url, "j", rooms=["room1"])
    other, _ = clients.start(js_node.url, "o", rooms=["elsewhere"])
    py.ctl("emit", to=["room1"], event="msg", args=["from-py", {"n": 1}, [1.5, None, True]])
    js_node.cmd("emit", to=["room1"], event="msg", args=["from-js", {"n": 2}])
    py.ctl("emit", event="end")
    js_node.cmd("emit", event="end")
    for client in (on_py, on_js):
        got = events_until(client, "end") + events_until(client, "end")
        assert _msgs(got) == ["from-js", "from-py"]
        (py_msg,) = [r["args"] for r in got if r["args"][0] == "from-py"]
        assert py_msg == ["from-py", {"n": 1}, [1.5, None, True]]
    got = events_until(other, "end") + events_until(other, "end")
    assert _msgs(got) == []


def test_binary_both_ways(py_nodes: Any, js_node: JsNode, clients: Clients) -> None:
    (py,) = py_nodes(1)
    script = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ["websocket"], reconnection: false });
s.on("bin", (b) => out({ bin: Buffer.from(b).toString("hex") }));
s.on("connect", () => out({ ready: s.id }));
"""
    on_py = NodeClient(script, py.url, timeout=30)
    on_js = NodeClient(script, js_node.url, timeout=30)
    clients.started.extend((on_py, on_js))
    on_py.expect("ready")
    on_js.expect("ready")
    # A Node Buffer crosses Redis as msgpack bin and reaches a gsocketio client as binary ...
    js_node.cmd("emit_bin")
    assert on_py.expect("bin")["bin"] == "0102ff"
    assert on_js.expect("bin")["bin"] == "0102ff"
    # ... and Python bytes reach Node's clients as a Buffer.
    py.ctl("emit_bin")
    assert on_js.expect("bin")["bin"] == "0a0b"
    assert on_py.expect("bin")["bin"] == "0a0b"


def test_fetch_sockets_both_ways(py_nodes: Any, js_node: JsNode, clients: Clients) -> None:
    (py,) = py_nodes(1)
    _, py_sid = clients.start(py.url, "p", rooms=["room1"], data={"user": "alice"})
    _, js_sid = clients.start(js_node.url, "j", rooms=["room1"], data={"user": "bob"})
    seen_by_js = {s["id"]: s for s in js_node.cmd("fetch", to=["room1"])}
    assert set(seen_by_js) == {py_sid, js_sid}
    mine = seen_by_js[py_sid]
    assert sorted(mine["rooms"]) == sorted([py_sid, "room1"]) and mine["data"] == {"user": "alice"}
    assert mine["handshake"]["auth"] == {"name": "p"} and "host" in mine["handshake"]["headers"]
    seen_by_py = {s["id"]: s for s in py.ctl("fetch", to=["room1"])}
    assert set(seen_by_py) == {py_sid, js_sid}
    theirs = seen_by_py[js_sid]
    assert theirs["rooms"] == sorted([js_sid, "room1"]) and theirs["data"] == {"user": "bob"}
    assert theirs["handshake"]["auth"] == {"name": "j"}
    # and Node's allRooms vs ours
    assert {"room1", py_sid, js_sid} <= set(py.ctl("all_rooms"))


def test_server_side_emit_both_ways(py_nodes: Any, js_node: JsNode) -> None:
    (py,) = py_nodes(1)
    py.ctl("server_side_emit", event="hello", args=["from-py", 1])
    assert js_node.next_sse() == ["from-py", 1]
    js_node.cmd("sse", event="hello", args=["from-js"])
    assert eventually(lambda: py.ctl("server_events"), lambda r: r == [["from-js"]]) == [
        ["from-js"]
    ]
    result = py.ctl("server_side_call", event="hello", args=["ask-js"])
    assert result == {"replies": [{"node": "js", "args": ["ask-js"]}]}
    js_node.sse.clear()
    result = js_node.cmd("sse_ack", event="hello", args=["ask-py"])
    assert result == {"err": None, "replies": [{"node": "py0", "args": ["ask-py"]}]}


def test_broadcast_acks_both_ways(py_nodes: Any, js_node: JsNode, clients: Clients) -> None:
    (py,) = py_nodes(1)
    clients.start(py.url, "p1", rooms=["room1"])
    clients.start(py.url, "p2", rooms=["room1"])
    clients.start(js_node.url, "j1", rooms=["room1"])
    clients.start(js_node.url, "j2", rooms=["other"])
    result = js_node.cmd("call", to=["room1"], event="ask", args=[1])
    assert result["err"] is None and sorted(result["replies"]) == ["j1", "p1", "p2"]
    result = py.ctl("call", event="ask", args=[2], timeout=3)
    assert "error" not in result and sorted(result["replies"]) == ["j1", "j2", "p1", "p2"]


def test_emitters_reach_both(py_nodes: Any, js_node: JsNode, clients: Clients, key: str) -> None:
    (py,) = py_nodes(1)
    on_py, py_sid = clients.start(py.url, "p", rooms=["room1"])
    on_js, js_sid = clients.start(js_node.url, "j", rooms=["room1"])
    js_node.cmd("emitter", to=["room1"], event="msg", args=["node-emitter"])
    emitter = Emitter(REDIS_URL, key=key)
    emitter.to("room1").emit("msg", "py-emitter", {"deep": [1, 2]})
    emitter.to("room1").except_(js_sid).emit("msg", "py-emitter-except")
    emitter.volatile.compress(False).emit("msg", "py-volatile")
    emitter.emit("end")
    js_node.cmd("emitter", event="end")
    got_py = events_until(on_py, "end") + events_until(on_py, "end")
    got_js = events_until(on_js, "end") + events_until(on_js, "end")
    assert _msgs(got_py) == ["node-emitter", "py-emitter", "py-emitter-except", "py-volatile"]
    # Node's server drops a volatile packet while its WebSocket is still writing the previous
    # one (that is what volatile means), so it may or may not arrive there.
    assert [m for m in _msgs(got_js) if m != "py-volatile"] == ["node-emitter", "py-emitter"]
    # requests from both emitters: join, server-side emit, disconnect
    emitter.in_(py_sid).sockets_join("from-emitter")
    js_node.cmd("emitter_join", to=[js_sid], rooms=["from-node-emitter"])
    found = eventually(
        lambda: py.ctl("fetch", to=["from-emitter", "from-node-emitter"]),
        lambda r: len(r) == 2,
    )
    assert sorted(s["id"] for s in found) == sorted([py_sid, js_sid])
    emitter.server_side_emit("hello", "via-py-emitter")
    assert js_node.next_sse() == ["via-py-emitter"]
    js_node.cmd("emitter_sse", event="hello", args=["via-node-emitter"])
    events = eventually(lambda: py.ctl("server_events"), lambda r: len(r) == 2)
    assert sorted(map(tuple, events)) == [("via-node-emitter",), ("via-py-emitter",)]
    emitter.to(js_sid).disconnect_sockets()
    assert on_js.expect("disconnected")["disconnected"] == "io server disconnect"
    js_node.cmd("emitter_disconnect", to=[py_sid])
    assert on_py.expect("disconnected")["disconnected"] == "io server disconnect"


def test_per_sid_methods_reach_a_node_socket_and_back(
    py_nodes: Any, js_node: JsNode, clients: Clients
) -> None:
    """gsocketio's per-sid keyword API on a socket of a Node server (classic adapter), and
    Node's ``io.to(socketId)`` acks and socketsLeave on a gsocketio socket."""
    (py,) = py_nodes(1)
    _, py_sid = clients.start(py.url, "p", rooms=["room1"])
    on_js, js_sid = clients.start(js_node.url, "j", rooms=["room1"])
    assert py.ctl("sid_call", sid=js_sid, event="ask", args=[1]) == {"reply": "j"}
    assert js_node.cmd("call", to=[py_sid], event="ask", args=[1]) == {
        "err": None,
        "replies": ["p"],
    }
    py.ctl("sid_enter", sid=js_sid, room="vip")
    want = sorted([js_sid, "room1", "vip"])
    assert eventually(lambda: py.ctl("sid_rooms", sid=js_sid), lambda r: r == want) == want
    js_node.cmd("leave", to=[py_sid], rooms=["room1"])
    assert eventually(lambda: py.ctl("sid_rooms", sid=py_sid), lambda r: r == [py_sid]) == [py_sid]
    py.ctl("sid_disconnect", sid=js_sid)
    assert on_js.expect("disconnected")["disconnected"] == "io server disconnect"
    assert [s["id"] for s in js_node.cmd("fetch")] == [py_sid]
