"""``sio.instrument()`` against the Admin UI's protocol, spoken by Node's socket.io-client 4.x.

An admin client logs in on ``/admin`` as the UI does and a plain client connects to ``/``;
the admin must see the server's stats, the socket list, the plain client's connection, its
events, its room changes and its disconnection, and each of the UI's commands (emit, join,
leave, _disconnect) must act on the real client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import gsocketio
from gsocketio.admin import Instrumentation
from tests.helpers.admin_ui import admin_client, app_client, wait_event
from tests.helpers.node import NodeClient, run_node

CREDENTIALS = {"username": "admin", "password": "s3cret"}


@pytest.fixture
def nodes() -> Iterator[list[NodeClient]]:
    started: list[NodeClient] = []
    yield started
    for client in started:
        client.close()


@pytest.fixture
def instrumented(
    serve: Callable[..., str],
) -> Iterator[tuple[str, gsocketio.Server, Instrumentation]]:
    sio = gsocketio.Server()

    @sio.on("hello")
    def hello(sid: str, text: str) -> str:
        return text.upper()

    admin = sio.instrument(auth=CREDENTIALS, server_stats_interval=0.3, server_id="node-a")
    url = serve(sio.wsgi_app())
    yield url, sio, admin
    admin.stop()


def test_wrong_password_is_refused(
    instrumented: tuple[str, gsocketio.Server, Instrumentation],
) -> None:
    url, _, _ = instrumented
    records = run_node(
        """
        const { io } = require("socket.io-client");
        const s = io(URL + "/admin", { transports: ["websocket"], reconnection: false,
                                       auth: { username: "admin", password: "wrong" } });
        s.on("connect", () => fail("connected with a wrong password"));
        s.on("connect_error", (e) => { out({ refused: e.message }); done(); });
        """,
        url,
    )
    assert records == [{"refused": "invalid credentials"}]


def test_admin_protocol_and_commands(
    instrumented: tuple[str, gsocketio.Server, Instrumentation], nodes: list[NodeClient]
) -> None:
    url, sio, _ = instrumented
    admin = admin_client(url, CREDENTIALS)
    nodes.append(admin)
    session = wait_event(admin, "session")[0]
    assert isinstance(session, str) and len(session) == 16
    config = wait_event(admin, "config")[0]
    assert set(config["supportedFeatures"]) >= {
        "EMIT", "JOIN", "LEAVE", "DISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS",
    }  # fmt: skip
    all_sockets = wait_event(admin, "all_sockets")[0]
    assert [s["nsp"] for s in all_sockets] == ["/admin"]  # the admin itself
    stats = wait_event(admin, "server_stats")[0]
    assert stats["serverId"] == "node-a"
    assert stats["clientsCount"] == 1 and stats["pollingClientsCount"] == 0
    assert {"name": "/admin", "socketsCount": 1} in stats["namespaces"]

    app, sid = app_client(url)
    nodes.append(app)
    connected = wait_event(admin, "socket_connected", lambda a: a[0]["id"] == sid)
    described: dict[str, Any] = connected[0]
    assert described["nsp"] == "/" and described["transport"] == "websocket"
    assert described["rooms"] == [sid] and described["data"] == {}
    assert described["handshake"]["address"] == "127.0.0.1"
    assert "auth" not in described["handshake"]
    assert isinstance(connected[1], str) and connected[1].endswith("Z")

    app.send({"emit": ["hello", "hi"]})
    received = wait_event(admin, "event_received", lambda a: a[1] == sid)
    assert received[0] == "/" and received[2] == ["hello", "hi"]
    stats = wait_event(admin, "server_stats", lambda a: a[0]["clientsCount"] == 2)[0]
    assert {"name": "/", "socketsCount": 1} in stats["namespaces"]

    # The UI's commands, each acting on the real client.
    admin.send({"emit": ["emit", "/", sid, "greet", "from the admin", 7]})
    assert app.expect("ev")["args"] == ["from the admin", 7]
    sent = wait_event(admin, "event_sent", lambda a: a[1] == sid)
    assert sent[0] == "/" and sent[2] == ["greet", "from the admin", 7]

    admin.send({"emit": ["join", "/", "lobby", sid]})
    assert wait_event(admin, "room_joined")[:3] == ["/", "lobby", sid]
    assert set(sio.rooms(sid)) == {sid, "lobby"}
    admin.send({"emit": ["leave", "/", "lobby", sid]})
    assert wait_event(admin, "room_left")[:3] == ["/", "lobby", sid]
    assert sio.rooms(sid) == [sid]

    admin.send({"emit": ["_disconnect", "/", False, sid]})
    assert app.expect("disconnected")["disconnected"] == "io server disconnect"
    gone = wait_event(admin, "socket_disconnected")
    assert gone[:3] == ["/", sid, "server namespace disconnect"]
    assert sio.sockets("/") == []


def test_session_login_and_read_only(serve: Callable[..., str], nodes: list[NodeClient]) -> None:
    """The ``session`` id logs in again without the password (the UI's reload); read-only
    offers no command and ignores one sent anyway."""
    sio = gsocketio.Server()
    admin_state = sio.instrument(auth=[CREDENTIALS], read_only=True, mode="development")
    try:
        url = serve(sio.wsgi_app())
        first = admin_client(url, CREDENTIALS)
        nodes.append(first)
        session = wait_event(first, "session")[0]
        again = admin_client(url, {"sessionId": session})
        nodes.append(again)
        config = wait_event(again, "config")[0]
        assert config["supportedFeatures"] == ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        app, sid = app_client(url)
        nodes.append(app)
        again.send({"emit": ["_disconnect", "/", True, sid]})
        again.send({"emit": ["emit", "/", sid, "after", 1]})  # ignored as well
        wait_event(again, "server_stats", lambda a: a[0]["clientsCount"] == 3, timeout=15)
        assert sio.sockets("/") == [sid]
        events = sio._registry.get("/admin").events
        assert not {"emit", "join", "leave", "_disconnect"} & set(events)
        bogus = admin_client(url, {"sessionId": "0123456789abcdef"})
        nodes.append(bogus)
        assert bogus.expect("refused")["refused"] == "invalid credentials"
    finally:
        admin_state.stop()


def test_transport_upgrade_is_reported(
    instrumented: tuple[str, gsocketio.Server, Instrumentation], nodes: list[NodeClient]
) -> None:
    """A client that starts on long-polling and upgrades: the UI hears of the upgrade
    (``socket_updated``), at the latest on the next stats tick."""
    url, _, _ = instrumented
    admin = admin_client(url, CREDENTIALS)
    nodes.append(admin)
    wait_event(admin, "config")
    app, sid = app_client(url, transports=("polling", "websocket"))
    nodes.append(app)
    connected = wait_event(admin, "socket_connected", lambda a: a[0]["id"] == sid)[0]
    if connected["transport"] == "polling":  # else it upgraded before it was accepted
        updated = wait_event(admin, "socket_updated", lambda a: a[0]["id"] == sid)[0]
        assert updated == {"id": sid, "nsp": "/", "transport": "websocket"}
