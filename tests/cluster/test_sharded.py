"""The sharded variant (SPUBLISH/SSUBSCRIBE, Redis 7): gsocketio's RedisShardedAdapter beside
Node's createShardedAdapter (dynamic subscription mode, the default) in one Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.conftest import Clients, events_until, eventually, redis_client
from tests.cluster.test_mixed_node import JsNode, _msgs

pytestmark = pytest.mark.service


@pytest.fixture
def js_sharded(key: str) -> Iterator[JsNode]:
    node = JsNode(key, sharded=True)
    yield node
    node.proc.close()


def test_sharded_broadcasts_between_python_nodes_and_node(
    py_nodes: Any, js_sharded: JsNode, clients: Clients
) -> None:
    a, b = py_nodes(2, sharded=True)
    on_a, sid_a = clients.start(a.url, "a", rooms=["room1"])
    on_b, _ = clients.start(b.url, "b", rooms=["room1", "vip"])
    on_js, _ = clients.start(js_sharded.url, "j", rooms=["room1"])
    outsider, _ = clients.start(b.url, "o", rooms=["other"])
    a.ctl("emit", to=["room1"], event="msg", args=["py-room"])  # a room channel (dynamic)
    js_sharded.cmd("emit", to=["room1"], event="msg", args=["js-room"])
    b.ctl("emit", to=["room1"], **{"except": ["vip"]}, event="msg", args=["py-except"])
    a.ctl("emit", to=[sid_a], event="msg", args=["to-sid"])  # 20 chars: the main channel
    for sender in (a, b):
        sender.ctl("emit", event="end")
    js_sharded.cmd("emit", event="end")
    expected = {
        "a": ["js-room", "py-except", "py-room", "to-sid"],
        "b": ["js-room", "py-room"],
        "j": ["js-room", "py-except", "py-room"],
        "o": [],
    }
    for name, client in (("a", on_a), ("b", on_b), ("j", on_js), ("o", outsider)):
        got = (
            events_until(client, "end") + events_until(client, "end") + events_until(client, "end")
        )
        assert _msgs(got) == expected[name], name


def test_sharded_requests_both_ways(
    py_nodes: Any, js_sharded: JsNode, clients: Clients, key: str
) -> None:
    (py,) = py_nodes(1, sharded=True)
    _, py_sid = clients.start(py.url, "p", rooms=["room1"], data={"user": "alice"})
    _, js_sid = clients.start(js_sharded.url, "j", rooms=["room1"], data={"user": "bob"})
    seen = {s["id"]: s for s in js_sharded.cmd("fetch", to=["room1"])}
    assert set(seen) == {py_sid, js_sid} and seen[py_sid]["data"] == {"user": "alice"}
    seen = {s["id"]: s for s in py.ctl("fetch", to=["room1"])}
    assert set(seen) == {py_sid, js_sid} and seen[js_sid]["data"] == {"user": "bob"}
    # server-side emit both ways, with acks
    result = py.ctl("server_side_call", event="hello", args=["ask-js"])
    assert result == {"replies": [{"node": "js", "args": ["ask-js"]}]}
    js_sharded.sse.clear()
    result = js_sharded.cmd("sse_ack", event="hello", args=["ask-py"])
    assert result == {"err": None, "replies": [{"node": "py0", "args": ["ask-py"]}]}
    # broadcast acks both ways
    result = js_sharded.cmd("call", to=["room1"], event="ask", args=[1])
    assert result["err"] is None and sorted(result["replies"]) == ["j", "p"]
    result = py.ctl("call", to=["room1"], event="ask", args=[1], timeout=3)
    assert "error" not in result and sorted(result["replies"]) == ["j", "p"]
    # sockets_join from Python, seen by Node; disconnect from Node, applied by Python
    py.ctl("sockets_join", to=["room1"], rooms=["joined"])
    found = eventually(lambda: js_sharded.cmd("fetch", to=["joined"]), lambda r: len(r) == 2)
    assert sorted(s["id"] for s in found) == sorted([py_sid, js_sid])
    # dynamic mode: each server holds the room's channel while it has members there
    r = redis_client()

    def holders() -> int:
        return int(r.pubsub_shardnumsub(f"{key}#/#joined#")[0][1])

    assert eventually(holders, lambda n: n == 2) == 2
    js_sharded.cmd("emit", event="noop")
    py.ctl("sockets_leave", to=["joined"], rooms=["joined"])
    assert eventually(holders, lambda n: n == 0) == 0


def test_sharded_hostile_messages_are_dropped(py_nodes: Any, clients: Clients, key: str) -> None:
    a, b = py_nodes(2, sharded=True)
    member, _ = clients.start(a.url, "m", rooms=["room1"])
    uid = a.ctl("health")["uid"]
    r = redis_client()
    bad = [
        b"{", b"\xc1", b'{"type":99,"uid":"x","nsp":"/"}', b'{"type":3,"uid":"x","nsp":"/","data":{}}',
        b'{"type":3,"uid":"x","nsp":"/","data":{"packet":{"data":["e"]},"opts":{"rooms":"r"}}}',
        b'{"type":7,"uid":"x","nsp":"/","data":{"opts":{}}}',
        b'{"type":8,"uid":"x","nsp":"/","data":{"requestId":5}}',
        b'{"type":4,"uid":"x","nsp":"/","data":{"opts":{"rooms":[]},"rooms":[' + b",".join(b'"%d"' % i for i in range(20_000)) + b"]}}",
    ]  # fmt: skip
    for payload in bad:
        for channel in (f"{key}#/#", f"{key}#/#room1#", f"{key}#/#{uid}#"):
            r.execute_command("SPUBLISH", channel, payload)
    health = eventually(lambda: a.ctl("health"), lambda h: h["rejected"] >= 3 * len(bad))
    assert health["rejected"] >= 3 * len(bad), health
    b.ctl("emit", to=["room1"], event="still", args=["alive"])
    b.ctl("emit", to=["room1"], event="end")
    assert [x["args"] for x in events_until(member, "end") if x["ev"] == "still"] == [["alive"]]


V2_CLIENT = """
const io = require("socket.io-client-v2");
const s = io(URL + "/chat", { transports: ["websocket"], reconnection: false, forceNew: true });
s.on("connect", () => out({ ready: s.id }));
s.on("msg", (text) => out({ msg: text }));
s.on("ask", (arg, cb) => cb("v2-" + arg));
s.on("connect_error", (e) => fail("connect_error " + e));
onLine((cmd) => { if (cmd.quit) done(); });
"""


def test_sharded_reaches_a_socket_whose_id_is_not_20_characters(
    py_nodes: Any, clients: Clients
) -> None:
    """A socket.io 2 client's id in a namespace is ``/chat#<engine sid>``: in the dynamic mode
    senders (Node's rule) publish to such a sid on its own channel, which its owner must hold."""
    a, b = py_nodes(2, sharded=True)
    from tests.helpers.node import NodeClient

    v2 = NodeClient(V2_CLIENT, a.url, timeout=40)
    clients.started.append(v2)
    sid = v2.expect("ready", timeout=15)["ready"]
    assert sid.startswith("/chat#") and len(sid) != 20
    b.ctl("emit", nsp="/chat", to=[sid], event="msg", args=["to-v2-sid"])
    assert v2.expect("msg")["msg"] == "to-v2-sid"
    assert b.ctl("sid_call", nsp="/chat", sid=sid, event="ask", args=[1]) == {"reply": "v2-1"}
    assert b.ctl("sid_rooms", nsp="/chat", sid=sid) == [sid]


def test_sharded_per_sid_and_node_side_requests(
    py_nodes: Any, js_sharded: JsNode, clients: Clients
) -> None:
    """Beyond the first tests: per-sid calls each way, Node's socketsLeave and
    disconnectSockets applied by Python, serverSideEmit without acks each way."""
    (py,) = py_nodes(1, sharded=True)
    on_py, py_sid = clients.start(py.url, "p", rooms=["room1"])
    on_js, js_sid = clients.start(js_sharded.url, "j", rooms=["room1"])
    assert py.ctl("sid_call", sid=js_sid, event="ask", args=[1]) == {"reply": "j"}
    result = js_sharded.cmd("call", to=[py_sid], event="ask", args=[1])
    assert result == {"err": None, "replies": ["p"]}
    py.ctl("sid_emit", sid=js_sid, event="direct", args=["py-to-js"])
    py.ctl("sid_emit", sid=js_sid, event="end")
    got = [r["args"] for r in events_until(on_js, "end") if r["ev"] == "direct"]
    assert got == [["py-to-js"]]
    js_sharded.cmd("leave", to=[py_sid], rooms=["room1"])
    assert eventually(lambda: py.ctl("sid_rooms", sid=py_sid), lambda r: r == [py_sid]) == [py_sid]
    py.ctl("server_side_emit", event="hello", args=["no-ack"])
    assert js_sharded.next_sse() == ["no-ack"]
    js_sharded.cmd("sse", event="hello", args=["from-js"])
    assert eventually(lambda: py.ctl("server_events"), lambda r: r != []) == [["from-js"]]
    js_sharded.cmd("disconnect", to=[py_sid], close=True)
    assert on_py.expect("disconnected")["disconnected"] == "io server disconnect"
    assert [s["id"] for s in js_sharded.cmd("fetch")] == [js_sid]
