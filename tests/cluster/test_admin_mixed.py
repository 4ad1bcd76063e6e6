"""The Admin UI in a mixed cluster: a Node socket.io 4.8 server instrumented by
``@socket.io/admin-ui`` 0.5.1 itself, beside a gsocketio node with ``sio.instrument()``, on
one Redis. An admin on either node must see both servers and both nodes' sockets, and its
commands must reach a socket on the other implementation."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.cluster.conftest import Clients, PyNode
from tests.helpers.admin_ui import admin_client, wait_event
from tests.helpers.node import NodeClient

pytestmark = pytest.mark.service

NODE_ADMIN_SERVER = """
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { instrument } = require("@socket.io/admin-ui");
const { createClient } = require("redis");
(async () => {
  const pub = createClient({ url: "redis://127.0.0.1:6379" });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { key: ARGS.key, requestsTimeout: 3000 }) });
  io.on("connection", (s) => { s.on("join", (room, cb) => { s.join(room); cb("ok"); }); });
  instrument(io, { auth: false, serverId: "js", mode: "development" });
  onLine(async (c) => {
    if (c.op === "rooms") {
      const found = await io.fetchSockets();
      out({ rooms: found.map((s) => [s.id, [...s.rooms].sort()]) });
    } else if (c.op === "quit") { io.close(); await pub.quit(); await sub.quit(); done(); }
  });
  httpServer.listen(0, "127.0.0.1", () => out({ port: httpServer.address().port }));
})().catch((e) => fail(e.stack));
"""


@pytest.fixture
def js_admin_node(key: str) -> Iterator[tuple[NodeClient, str]]:
    proc = NodeClient(NODE_ADMIN_SERVER, "", args={"key": key}, timeout=90)
    url = f"http://127.0.0.1:{proc.expect('port', timeout=15)['port']}"
    yield proc, url
    proc.close()


def _servers(admin: NodeClient, want: set[str]) -> set[str]:
    seen: set[str] = set()
    for _ in range(60):
        seen.add(wait_event(admin, "server_stats")[0]["serverId"])
        if seen >= want:
            break
    return seen


def test_admins_on_both_implementations(
    py_nodes: Callable[..., list[PyNode]],
    js_admin_node: tuple[NodeClient, str],
    clients: Clients,
) -> None:
    js, js_url = js_admin_node
    [py] = py_nodes(1, admin=True)
    on_js, js_sid = clients.start(js_url, "on-js")
    on_py, py_sid = clients.start(py.url, "on-py")

    # An admin on the gsocketio node: Node's stats and sockets too.
    py_admin = admin_client(py.url, None)
    clients.started.append(py_admin)
    listed = {s["id"]: s for s in wait_event(py_admin, "all_sockets")[0]}
    assert listed[js_sid]["transport"] == "websocket"  # from Node's socket.data._admin
    assert listed[py_sid]["transport"] == "websocket"
    assert _servers(py_admin, {"js", "py0"}) >= {"js", "py0"}

    # An admin on the Node server: our stats, and our sockets serialized by Node's code.
    js_admin = admin_client(js_url, None)
    clients.started.append(js_admin)
    listed = {s["id"]: s for s in wait_event(js_admin, "all_sockets")[0]}
    assert listed[py_sid]["transport"] == "websocket"
    assert isinstance(listed[py_sid]["clientId"], str) and len(listed[py_sid]["clientId"]) == 12
    assert _servers(js_admin, {"js", "py0"}) >= {"js", "py0"}

    # Commands across: our admin joins Node's socket to a room; Node's admin disconnects ours.
    py_admin.send({"emit": ["join", "/", "mixed", js_sid]})
    joined = wait_event(py_admin, "room_joined", lambda a: a[1] == "mixed")
    assert joined[:3] == ["/", "mixed", js_sid]  # Node's notification, through our node
    js.send({"op": "rooms"})
    assert [js_sid, sorted([js_sid, "mixed"])] in js.expect("rooms")["rooms"]

    js_admin.send({"emit": ["_disconnect", "/", False, py_sid]})
    assert on_py.expect("disconnected")["disconnected"] == "io server disconnect"
    gone = wait_event(js_admin, "socket_disconnected", lambda a: a[1] == py_sid)
    assert gone[0] == "/"
    on_js.send({"quit": True})
    assert "malformed" not in py.stderr()  # Node's admin broadcasts (Dates) all decoded
