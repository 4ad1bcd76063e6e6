"""Three gsocketio nodes on one Redis, Node socket.io-client 4 clients (WebSocket) on each.

Every scenario runs twice (the ``three_nodes`` fixture): on three ``tests.cluster.app``
processes, and on ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker -w 3`` serving the
same app, its clients connecting through gunicorn's one port (steered to a given worker).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.conftest import Clients, PyNode, events_until, eventually

pytestmark = pytest.mark.service


def _names(records: list[dict[str, Any]], event: str) -> list[Any]:
    return [r["args"] for r in records if r["ev"] == event]


def test_room_broadcast_from_every_node_reaches_each_member_once(
    three_nodes: list[PyNode], clients: Clients
) -> None:
    nodes = three_nodes
    members = [clients.start(n, f"m{i}", rooms=["room1"]) for i, n in enumerate(nodes)]
    outsiders = [clients.start(n, f"o{i}", rooms=["other"]) for i, n in enumerate(nodes)]
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


def test_except_and_skip_sid_hold_across_nodes(three_nodes: list[PyNode], clients: Clients) -> None:
    nodes = three_nodes
    a = clients.start(nodes[0], "a", rooms=["room1"])
    b = clients.start(nodes[1], "b", rooms=["room1", "vip"])
    c = clients.start(nodes[2], "c", rooms=["room1"])
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


def test_fetch_sockets_and_remote_socket_actions(
    three_nodes: list[PyNode], clients: Clients
) -> None:
    nodes = three_nodes
    made = [
        clients.start(n, f"c{i}", rooms=["room1"], data={"user": f"u{i}"})
        for i, n in enumerate(nodes)
    ]
    clients.start(nodes[0], "x", rooms=["elsewhere"])
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


def test_sockets_join_leave_disconnect_across_nodes(
    three_nodes: list[PyNode], clients: Clients
) -> None:
    nodes = three_nodes
    made = [
        clients.start(n, f"c{i}", rooms=["a"] if i != 1 else ["b"]) for i, n in enumerate(nodes)
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


def test_server_side_emit_with_and_without_acks(three_nodes: list[PyNode]) -> None:
    nodes = three_nodes
    assert nodes[0].ctl("server_side_emit", event="hello", args=["x", 1]) == "ok"
    result = nodes[1].ctl("server_side_call", event="hello", args=["y"])
    assert sorted(r["node"] for r in result["replies"]) == sorted([nodes[0].name, nodes[2].name])
    assert all(r["args"] == ["y"] for r in result["replies"])
    assert nodes[1].ctl("server_events") == [["x", 1]]
    assert nodes[0].ctl("server_events") == [["y"]]  # never its own emit
    assert sorted(map(tuple, nodes[2].ctl("server_events"))) == [("x", 1), ("y",)]


def test_broadcast_with_acks_collects_every_reply(
    three_nodes: list[PyNode], clients: Clients
) -> None:
    nodes = three_nodes
    for i, node in enumerate(nodes):
        clients.start(node, f"r{i}", rooms=["room1"])
        clients.start(node, f"s{i}", rooms=["room2"])
    result = nodes[0].ctl("call", to=["room1"], event="ask", args=[1], timeout=5)
    assert sorted(result["replies"]) == ["r0", "r1", "r2"] and "error" not in result
    everyone = nodes[2].ctl("call", event="ask", args=[2], timeout=5)
    assert len(everyone["replies"]) == 6


def test_broadcast_with_acks_times_out_with_partial_replies(
    three_nodes: list[PyNode], clients: Clients
) -> None:
    nodes = three_nodes
    clients.start(nodes[0], "r0", rooms=["room1"])
    clients.start(nodes[1], "mute", rooms=["room1"], mute=True)
    result = nodes[2].ctl("call", to=["room1"], event="ask", args=[0], timeout=1)
    assert result["replies"] == ["r0"] and "timed out" in result["error"]


def test_per_sid_methods_reach_a_socket_on_another_node(
    three_nodes: list[PyNode], clients: Clients
) -> None:
    """``sio.call(to=sid)``, ``emit(to=sid[, callback])``, ``enter_room``, ``leave_room``,
    ``rooms`` and ``disconnect`` on a sid that another node owns (Node's ``io.to(socketId)``)."""
    nodes = three_nodes
    a, sid_a = clients.start(nodes[0], "a", rooms=["room1"])
    b, sid_b = clients.start(nodes[1], "b")
    c, sid_c = clients.start(nodes[2], "c")
    _mute, sid_m = clients.start(nodes[1], "m", mute=True)
    assert nodes[2].ctl("sid_call", sid=sid_a, event="ask", args=[1]) == {"reply": "a"}
    assert nodes[0].ctl("sid_call", sid=sid_a, event="ask", args=[1]) == {"reply": "a"}  # owner
    assert nodes[1].ctl("sid_call", sid="nobody", event="ask") == {"error": "UnknownSocketError"}
    timed_out = nodes[0].ctl("sid_call", sid=sid_m, event="ask", timeout=1)
    assert timed_out == {"error": "CallTimeoutError"}
    nodes[1].ctl("sid_emit_cb", sid=sid_c, event="ask", args=[2])
    assert eventually(lambda: nodes[1].ctl("sid_acked"), lambda r: r != []) == [["c"]]
    # rooms: joined and left through the owner, seen from every node
    nodes[2].ctl("sid_enter", sid=sid_a, room="vip")
    want = sorted([sid_a, "room1", "vip"])
    assert eventually(lambda: nodes[1].ctl("sid_rooms", sid=sid_a), lambda r: r == want) == want
    assert nodes[0].ctl("sid_rooms", sid=sid_a) == want
    nodes[1].ctl("sid_emit", sid=sid_a, event="direct", args=["to-a"])
    nodes[1].ctl("emit", to=["vip"], event="in-vip")
    got = events_until(a, "in-vip")
    assert _names(got, "direct") == [["to-a"]]
    assert [x[0] for x in _names(got, "ask")] == [1, 1]  # the two calls (x[1]: the ack)
    nodes[1].ctl("sid_leave", sid=sid_a, room="room1")
    want = sorted([sid_a, "vip"])
    assert eventually(lambda: nodes[2].ctl("sid_rooms", sid=sid_a), lambda r: r == want) == want
    assert nodes[2].ctl("sid_rooms", sid="nobody") == {"error": "UnknownSocketError"}
    # disconnect: b's owner runs it; the others are untouched
    nodes[0].ctl("sid_disconnect", sid=sid_b)
    assert b.expect("disconnected")["disconnected"] == "io server disconnect"
    left = eventually(lambda: nodes[2].ctl("fetch"), lambda r: len(r) == 3)
    assert sorted(s["id"] for s in left) == sorted([sid_a, sid_c, sid_m])
    nodes[2].ctl("emit", event="end")
    assert [x[0] for x in _names(events_until(c, "end"), "ask")] == [2]
