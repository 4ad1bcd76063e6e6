"""Three gsocketio processes on one Redis, Node socket.io-client 4 clients on each."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.conftest import Clients, PyNode, events_until, eventually

pytestmark = pytest.mark.service


def _names(records: list[dict[str, Any]], event: str) -> list[Any]:
    return [r["args"] for r in records if r["ev"] == event]


def test_room_broadcast_from_every_node_reaches_each_member_once(
    py_nodes: Any, clients: Clients
) -> None:
    nodes: list[PyNode] = py_nodes(3)
    members = [clients.start(n.url, f"m{i}", rooms=["room1"]) for i, n in enumerate(nodes)]
    outsiders = [clients.start(n.url, f"o{i}", rooms=["other"]) for i, n in enumerate(nodes)]
    for i, node in enumerate(nodes):
        assert node.ctl("emit", to=["room1"], event="msg", args=[f"from{i}", i]) == "ok"
    for node in nodes:  # the end marker follows on the same channels, from every node
        node.ctl("emit", to=["room1"], event="end", args=[])
        node.ctl("emit", to=["other"], event="end", args=[])
    for client, _sid in members:
        got = []
        for _ in range(3):
            got.extend(events_until(client, "end"))
        assert sorted(a[0] for a in _names(got, "msg")) == ["from0", "from1", "from2"]
    for client, _sid in outsiders:
        got = []
        for _ in range(3):
            got.extend(events_until(client, "end"))
        assert _names(got, "msg") == []


def test_except_and_skip_sid_hold_across_nodes(py_nodes: Any, clients: Clients) -> None:
    nodes: list[PyNode] = py_nodes(3)
    a = clients.start(nodes[0].url, "a", rooms=["room1"])
    b = clients.start(nodes[1].url, "b", rooms=["room1", "vip"])
    c = clients.start(nodes[2].url, "c", rooms=["room1"])
    nodes[0].ctl("emit", to=["room1"], **{"except": ["vip"]}, event="msg", args=["no-vip"])  # type: ignore[arg-type]
    nodes[2].ctl("legacy_emit", to="room1", skip_sid=c[1], event="msg", args=["skip-c"])
    nodes[1].ctl("legacy_emit", skip_sid=[a[1]], event="msg", args=["all-but-a"])
    for node in nodes:
        node.ctl("emit", event="end")
    seen = {}
    for name, (client, _sid) in zip("abc", (a, b, c), strict=True):
        got = []
        for _ in range(3):
            got.extend(events_until(client, "end"))
        seen[name] = sorted(x[0] for x in _names(got, "msg"))
    assert seen == {
        "a": ["no-vip", "skip-c"],
        "b": ["all-but-a", "skip-c"],
        "c": ["all-but-a", "no-vip"],
    }


def test_fetch_sockets_and_remote_socket_actions(py_nodes: Any, clients: Clients) -> None:
    nodes: list[PyNode] = py_nodes(3)
    made = [
        clients.start(n.url, f"c{i}", rooms=["room1"], data={"user": f"u{i}"})
        for i, n in enumerate(nodes)
    ]
    clients.start(nodes[0].url, "x", rooms=["elsewhere"])
    found = nodes[1].ctl("fetch", to=["room1"])
    assert sorted(s["id"] for s in found) == sorted(sid for _c, sid in made)
    by_id = {s["id"]: s for s in found}
    for i, (_c, sid) in enumerate(made):
        assert by_id[sid]["rooms"] == sorted([sid, "room1"])
        assert by_id[sid]["data"] == {"user": f"u{i}"}
        hs = by_id[sid]["handshake"]
        assert hs["auth"] == {"name": f"c{i}"} and hs["query"]["EIO"] == "4"
        assert isinstance(hs["headers"], dict) and isinstance(hs["issued"], int)
    assert len(nodes[2].ctl("fetch")) == 4
    # RemoteSocket.emit / join / leave / disconnect from a node that does not own the socket
    nodes[2].ctl("remote", to=["room1"], method="emit", args=["direct", 1])
    nodes[2].ctl("remote", to=["room1"], method="join", args=["joined"])
    eventually(lambda: nodes[0].ctl("fetch", to=["joined"]), lambda r: len(r) == 3)
    nodes[0].ctl("emit", to=["joined"], event="in-joined")
    for client, _sid in made:
        got = events_until(client, "in-joined")
        assert _names(got, "direct") == [[1]]
    nodes[0].ctl("remote", to=["joined"], method="leave", args=["room1"])
    assert eventually(lambda: nodes[1].ctl("fetch", to=["room1"]), lambda r: r == []) == []
    nodes[1].ctl("remote", to=["joined"], method="disconnect", args=[])
    for client, _sid in made:
        assert client.expect("disconnected")["disconnected"] == "io server disconnect"
    assert len(eventually(lambda: nodes[0].ctl("fetch"), lambda r: len(r) == 1)) == 1


def test_sockets_join_leave_disconnect_across_nodes(py_nodes: Any, clients: Clients) -> None:
    nodes: list[PyNode] = py_nodes(3)
    made = [
        clients.start(n.url, f"c{i}", rooms=["a"] if i != 1 else ["b"]) for i, n in enumerate(nodes)
    ]
    nodes[1].ctl("sockets_join", to=["a"], rooms=["joined"])
    # the join is applied on each node when its request arrives: fetch until it shows (bounded)
    ids = sorted(made[i][1] for i in (0, 2))
    found = eventually(
        lambda: nodes[0].ctl("fetch", to=["joined"]), lambda r: sorted(s["id"] for s in r) == ids
    )
    assert sorted(s["id"] for s in found) == ids
    assert sorted(nodes[2].ctl("all_rooms")) == sorted(
        {"a", "b", "joined", *(sid for _c, sid in made)}
    )
    nodes[0].ctl("sockets_leave", to=["joined"], rooms=["a"])
    assert eventually(lambda: nodes[1].ctl("fetch", to=["a"]), lambda r: r == []) == []
    nodes[2].ctl("disconnect_sockets", **{"except": ["b"]}, close=True)  # type: ignore[arg-type]
    for i in (0, 2):
        assert (
            made[i][0].expect("disconnected")["disconnected"] == "io server disconnect"
        )  # as Node: DISCONNECT, then close
    left = eventually(lambda: nodes[0].ctl("fetch"), lambda r: len(r) == 1)
    assert [s["id"] for s in left] == [made[1][1]]


def test_server_side_emit_with_and_without_acks(py_nodes: Any) -> None:
    nodes: list[PyNode] = py_nodes(3)
    assert nodes[0].ctl("server_side_emit", event="hello", args=["x", 1]) == "ok"
    result = nodes[1].ctl("server_side_call", event="hello", args=["y"])
    assert sorted(r["node"] for r in result["replies"]) == ["py0", "py2"]
    assert all(r["args"] == ["y"] for r in result["replies"])
    assert nodes[1].ctl("server_events") == [["x", 1]]
    assert nodes[0].ctl("server_events") == [["y"]]  # never its own emit
    assert sorted(map(tuple, nodes[2].ctl("server_events"))) == [("x", 1), ("y",)]


def test_broadcast_with_acks_collects_every_reply(py_nodes: Any, clients: Clients) -> None:
    nodes: list[PyNode] = py_nodes(3)
    for i, node in enumerate(nodes):
        clients.start(node.url, f"r{i}", rooms=["room1"])
        clients.start(node.url, f"s{i}", rooms=["room2"])
    result = nodes[0].ctl("call", to=["room1"], event="ask", args=[1], timeout=5)
    assert sorted(result["replies"]) == ["r0", "r1", "r2"] and "error" not in result
    everyone = nodes[2].ctl("call", event="ask", args=[2], timeout=5)
    assert len(everyone["replies"]) == 6


def test_broadcast_with_acks_times_out_with_partial_replies(
    py_nodes: Any, clients: Clients
) -> None:
    nodes: list[PyNode] = py_nodes(2)
    clients.start(nodes[0].url, "r0", rooms=["room1"])
    silent = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ["websocket"], reconnection: false });
s.on("connect", async () => { await s.emitWithAck("join", "room1"); out({ ready: s.id }); });
s.on("ask", () => {});  // never acks
"""
    from tests.helpers.node import NodeClient

    mute = NodeClient(silent, nodes[1].url, timeout=30)
    clients.started.append(mute)
    mute.expect("ready")
    result = nodes[0].ctl("call", to=["room1"], event="ask", args=[0], timeout=1)
    assert result["replies"] == ["r0"] and "timed out" in result["error"]
