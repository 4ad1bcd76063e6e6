"""Redis links killed under load, hostile messages on the channels, a frozen node."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from gsocketio.adapters import redis_requests as rq
from gsocketio.adapters import redis_wire as wire
from tests.cluster.conftest import Clients, events_until, eventually, redis_client

pytestmark = pytest.mark.service


def kill_links(key: str, uid: str, parts: tuple[str, ...] = ("pub", "sub")) -> int:
    """CLIENT KILL the adapter's own connections, found by the names it sets (CLIENT SETNAME)."""
    r = redis_client()
    killed = 0
    for client in r.client_list():
        if client["name"] in {f"gsio:{key}:{uid}:{p}" for p in parts}:
            r.client_kill_filter(_id=client["id"])
            killed += 1
    return killed


def seqs(client: Any, end: str = "burst-end") -> list[int]:
    return [r["args"][0] for r in events_until(client, end, timeout=20) if r["ev"] == "seq"]


def test_publisher_outage_is_replayed_from_the_outbox(
    py_nodes: Any, clients: Clients, key: str
) -> None:
    a, b = py_nodes(2)
    remote, _ = clients.start(b.url, "r", rooms=["room1"])
    local, _ = clients.start(a.url, "l", rooms=["room1"])
    uid = a.ctl("health")["uid"]
    n = 300
    a.ctl("burst", to=["room1"], n=n, interval=0.004)
    killed = 0
    for _ in range(3):  # three outages during the load
        eventually(lambda: a.ctl("health")["published"], lambda p: p > 0, tries=20)
        killed += kill_links(key, uid)
        eventually(lambda: a.ctl("health")["connected"], lambda c: c, tries=100)
    assert killed >= 3
    got_remote, got_local = seqs(remote), seqs(local)
    assert got_local == list(range(n))  # local clients never notice
    # Remote: everything sent arrives (at-least-once: a batch cut mid-flight may repeat).
    assert set(got_remote) == set(range(n)), f"lost {sorted(set(range(n)) - set(got_remote))}"
    assert len(got_remote) - n <= 256
    health = a.ctl("health")
    assert health["connected"] and health["dropped"] == 0 and health["outbox"] == 0
    log = a.stderr()
    assert "is unreachable" in log and "is reachable again" in log
    assert log.count("is unreachable") <= killed  # once per outage, not per message


def test_subscriber_reconnects_and_resubscribes(py_nodes: Any, clients: Clients, key: str) -> None:
    a, b = py_nodes(2)
    remote, _ = clients.start(b.url, "r", rooms=["room1"])
    uid_b = b.ctl("health")["uid"]
    assert kill_links(key, uid_b, ("sub",)) == 1
    health = eventually(lambda: b.ctl("health"), lambda h: h["reconnects"] >= 1 and h["connected"])
    assert health["reconnects"] >= 1 and health["connected"]
    # NUMSUB counts b again once re-subscribed: a request answered by both shows it.
    assert eventually(lambda: len(a.ctl("fetch")), lambda n: n == 1) == 1
    a.ctl("emit", to=["room1"], event="after", args=[1])
    a.ctl("emit", to=["room1"], event="end")
    assert [r["args"] for r in events_until(remote, "end") if r["ev"] == "after"] == [[1]]


def test_outbox_bound_drops_oldest_and_counts(py_nodes: Any, clients: Clients, key: str) -> None:
    """With Redis unreachable (a wrong port), emits are kept up to the bound, then counted."""
    from gsocketio import Server
    from gsocketio.adapters.redis import RedisAdapter

    adapter = RedisAdapter("redis://127.0.0.1:1/0", key=key, outbox_size=5)
    try:
        sio = Server(adapter=adapter)
        for i in range(12):
            sio.emit("e", i)
        health = eventually(adapter.health, lambda h: not h.connected)
        assert not health.connected and health.outbox == 5 and health.dropped == 7
        sio.volatile.emit("v")  # volatile is not kept during an outage
        assert adapter.health().dropped == 8
        from gsocketio import ClusterUnavailableError

        with pytest.raises(ClusterUnavailableError):
            sio.fetch_sockets()
    finally:
        adapter.close()


HOSTILE = [
    b"",
    b"\xc1\xc1",
    b"not msgpack at all",
    wire.pack({"not": "an array"}),
    wire.pack(["uid", "packet", "opts"]),
    wire.pack(["uid", {"type": 2, "data": [1]}, {}]),
    wire.pack(["uid", {"type": 2, "data": ["ev"]}, {"rooms": list(range(20_000)), "except": []}]),
    wire.pack(["uid", {"type": 2, "data": ["ev"]}, {"rooms": [{"a": 1}], "except": []}]),
    b"\x93" + b"\xdd\xff\xff\xff\xff",  # claims a 4-billion-element array
    b"\x91" * 100_000,  # deep nesting
]
HOSTILE_REQUESTS = [
    b"{",
    b'{"type": 99}',
    b'{"type": "5", "requestId": "x"}',
    b'{"type": 5}',
    b'{"type": 2, "opts": {"rooms": "r"}, "rooms": ["x"]}',
    b'{"type": 6, "data": {}}',
    b'{"type": 7, "requestId": "r", "packet": 3}',
    rq.encode_join_request(None, [], [], [str(i) for i in range(20_000)]),
    b'{"type":1,"requestId":"' + b"x" * 100 + b'","uid":5}',
    b"[" * 50_000,
]


def test_hostile_messages_are_dropped_and_the_server_keeps_serving(
    py_nodes: Any, clients: Clients, key: str
) -> None:
    a, b = py_nodes(2)
    member, sid = clients.start(a.url, "m", rooms=["room1"])
    r = redis_client()
    for payload in HOSTILE:
        r.publish(f"{key}#/#", payload)
        r.publish(f"{key}#/#room1#", payload)
    for payload in HOSTILE_REQUESTS:
        r.publish(f"{key}-request#/#", payload)
        r.publish(f"{key}-response#/#", payload)
    r.publish(f"{key}-response#/#", b'{"requestId": 5}')
    expected = 2 * len(HOSTILE) + 2 * len(HOSTILE_REQUESTS) + 1
    health = eventually(lambda: a.ctl("health"), lambda h: h["rejected"] >= expected - 2)
    # Every malformed message was rejected (a few valid-looking responses are simply unmatched).
    assert health["rejected"] >= expected - 2, health
    b.ctl("emit", to=["room1"], event="still", args=["alive"])
    b.ctl("emit", to=["room1"], event="end")
    assert [x["args"] for x in events_until(member, "end") if x["ev"] == "still"] == [["alive"]]
    assert [s["id"] for s in b.ctl("fetch", to=["room1"])] == [sid]
    log = a.stderr()
    assert "dropped a malformed" in log and "Traceback" not in log


def test_a_frozen_node_makes_requests_time_out_cleanly(py_nodes: Any, clients: Clients) -> None:
    a, _b, c = py_nodes(3)
    clients.start(a.url, "x", rooms=["room1"])
    os.kill(c.proc.pid, signal.SIGSTOP)
    try:
        answer = a.ctl("fetch", http_timeout=10)
        assert "ClusterTimeoutError" in answer["cluster_error"]
        result = a.ctl("server_side_call", event="hello", args=[1])
        assert [r["node"] for r in result["replies"]] == ["py1"] and "timeout" in result["error"]
        result = a.ctl("call", event="ask", args=[1], timeout=1)
        assert result["replies"] == ["x"] and "timed out" in result["error"]
    finally:
        os.kill(c.proc.pid, signal.SIGKILL)
    # A dead node's connection closes, NUMSUB forgets it, and requests complete again.
    found = eventually(lambda: a.ctl("fetch"), lambda r: isinstance(r, list))
    assert isinstance(found, list) and len(found) == 1
