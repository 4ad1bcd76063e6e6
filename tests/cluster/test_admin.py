"""The Admin UI across two gsocketio processes on real Redis: an admin logged in on one node
sees both nodes' ``server_stats``, the other node's sockets (``all_sockets`` and
``socket_connected``) and room changes, and its commands reach a client of the other node."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cluster.conftest import Clients, PyNode, eventually
from tests.helpers.admin_ui import admin_client, wait_event

pytestmark = pytest.mark.service


def test_admin_sees_and_drives_the_other_node(
    py_nodes: Callable[..., list[PyNode]], clients: Clients
) -> None:
    a, b = py_nodes(2, admin=True)
    early, early_sid = clients.start(b.url, "early")  # before the admin: all_sockets lists it

    admin = admin_client(a.url, None)
    clients.started.append(admin)
    listed = wait_event(admin, "all_sockets")[0]
    assert {(s["nsp"], s["id"]) for s in listed} >= {("/", early_sid)}
    [from_b] = [s for s in listed if s["id"] == early_sid]
    assert from_b["transport"] == "websocket" and from_b["rooms"] == [early_sid]

    servers: set[str] = set()
    for _ in range(50):  # both nodes' stats reach the admin on node a
        stats = wait_event(admin, "server_stats")[0]
        servers.add(stats["serverId"])
        if servers == {"py0", "py1"}:
            break
    assert servers == {"py0", "py1"}

    client, sid = clients.start(b.url, "late")
    connected = wait_event(admin, "socket_connected", lambda args: args[0]["id"] == sid)
    assert connected[0]["nsp"] == "/"

    admin.send({"emit": ["join", "/", "vip", sid]})  # a REMOTE_JOIN applied by node b
    assert wait_event(admin, "room_joined", lambda args: args[2] == sid)[:2] == ["/", "vip"]
    fetched = eventually(lambda: a.ctl("fetch", to=["vip"]), lambda f: len(f) == 1)
    assert [s["id"] for s in fetched] == [sid]

    admin.send({"emit": ["emit", "/", "vip", "news", "for vip"]})
    assert client.expect("ev") == {"ev": "news", "args": ["for vip"]}

    admin.send({"emit": ["leave", "/", "vip", sid]})
    assert wait_event(admin, "room_left", lambda args: args[2] == sid)[:2] == ["/", "vip"]

    admin.send({"emit": ["_disconnect", "/", True, sid]})
    assert client.expect("disconnected")["disconnected"] == "io server disconnect"
    gone = wait_event(admin, "socket_disconnected", lambda args: args[1] == sid)
    assert gone[0] == "/"
    assert b.ctl("local_sockets") == [early_sid]
    early.send({"quit": True})
