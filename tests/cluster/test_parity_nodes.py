"""Node parity across two nodes on the Redis adapter: a dynamic parent's emit reaches its
children's sockets on every node, and a ``disconnecting`` handler's room broadcast (the socket
still in its rooms) reaches the other node. Clients: socket.io-client 4.8 from Node."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import gevent

import gsocketio
from gsocketio.adapters.redis import RedisAdapter
from gsocketio.exceptions import ClusterError
from tests.helpers.node import run_node

Serve = Callable[..., str]


def _node(key: str) -> tuple[gsocketio.Server, Any]:
    sio = gsocketio.Server(adapter=RedisAdapter(key=key, requests_timeout=3))
    parent = sio.of(re.compile(r"^/dyn-\d+$"))

    @parent.on("connect")
    def connect(sid: str) -> None:
        sio.enter_room(sid, "lobby", namespace="/dyn-1")

    @parent.on("ready")
    def ready(sid: str) -> str:
        return "ready"

    @parent.on("go")
    def go(sid: str) -> None:
        for _ in range(100):  # bounded: both nodes subscribed to the child's channels
            try:
                if sio.adapter.server_count("/dyn-1") >= 2:
                    break
            except ClusterError:
                pass
            gevent.sleep(0.05)
        parent.emit("hello", "from the parent")

    @parent.on("disconnecting")
    def disconnecting(sid: str, reason: str) -> None:
        rooms = sorted(r for r in sio.rooms(sid, namespace="/dyn-1") if r != sid)
        sio.emit("left", rooms, reason, to="lobby", skip_sid=sid, namespace="/dyn-1")

    return sio, parent


def test_parent_emit_and_disconnecting_across_nodes(redis_up: None, serve: Serve) -> None:
    key = f"parity-{uuid.uuid4().hex[:8]}"
    sio1, _ = _node(key)
    sio2, _ = _node(key)
    url1, url2 = serve(sio1.wsgi_app()), serve(sio2.wsgi_app())
    records = run_node(
        """
    const { io } = require("socket.io-client");
    const a = io(URL + "/dyn-1", { reconnection: false });
    const b = io(ARGS.url2 + "/dyn-1", { reconnection: false });
    let hellos = 0;
    for (const [name, s] of [["a", a], ["b", b]]) {
      s.on("hello", (v) => {
        out({ hello: name, v });
        if (++hellos === 2) b.close();  // b's disconnecting handler tells the lobby
      });
    }
    a.on("left", (rooms, reason) => { out({ left: rooms, reason }); a.close(); done(); });
    Promise.all([
      new Promise((r) => a.on("connect", () => a.emitWithAck("ready").then(r))),
      new Promise((r) => b.on("connect", () => b.emitWithAck("ready").then(r))),
    ]).then(() => a.emit("go"));
    """,
        url1,
        args={"url2": url2},
    )
    hellos = sorted((r["hello"], r["v"]) for r in records if "hello" in r)
    assert hellos == [("a", "from the parent"), ("b", "from the parent")]
    assert [r for r in records if "left" in r] == [
        {"left": ["lobby"], "reason": "client namespace disconnect"}
    ]
    sio1.adapter.close()
    sio2.adapter.close()
