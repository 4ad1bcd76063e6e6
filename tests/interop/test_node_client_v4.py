"""The official socket.io-client 4.x (Engine.IO 4, Socket.IO 5) against our server, from Node."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

from tests.helpers.node import NodeClient, run_node
from tests.helpers.sio_clients import ROUND_TRIP, TRANSPORTS, V4, merged, transport_args

CLIENT = V4


@pytest.mark.parametrize("mode", sorted(TRANSPORTS))
def test_events_acks_binary_both_ways(app: Any, mode: str) -> None:
    url, _sio, rec = app()
    records = run_node(
        CLIENT
        + ROUND_TRIP
        + """
    const s = io(URL, { auth: { token: "good" }, transports: ARGS.transports, reconnection: false });
    s.on("question", (q, ack) => ack("answer to " + q));
    s.on("pushed", (...args) => out({ pushed: args.map((a) => Buffer.isBuffer(a) ? {buf: [...a]} : a) }));
    s.on("connect", () => {
      roundTrip(s);
    });
    s.on("pushed", () => setTimeout(() => {
      out({ transport: s.io.engine.transport.name });
      s.close(); done();
    }, ARGS.upgrade ? 300 : 0));
    """,
        url,
        args=transport_args(mode),
    )
    by_key = merged(records)
    assert by_key["echo"] == ["hi", 1, {"a": [1, 2]}]
    assert by_key["ask"] == {"client_said": "answer to life"}
    assert by_key["binary"] == {"len": 3, "reversed": [3, 2, 1], "meta": {"k": "v"}}
    assert by_key["pushed"] == ["text", {"buf": [9, 8]}]
    assert by_key["transport"] == ("polling" if mode == "polling" else "websocket")
    assert rec.connects[0][0] == "/" and rec.connects[0][2] == {"token": "good"}


def test_refused_connect_carries_data(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL, { auth: { token: "bad" }, reconnection: false });
    s.on("connect", () => fail("should have been refused"));
    s.on("connect_error", (err) => { out({ message: err.message, data: err.data }); done(); });
    """,
        url,
    )
    assert records == [
        {"message": "Connection rejected by server", "data": {"reason": "bad token", "code": 42}}
    ]


def test_connect_handler_returning_false_refuses(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL, { auth: { token: "false" }, reconnection: false });
    s.on("connect", () => fail("should have been refused"));
    s.on("connect_error", (err) => { out({ message: err.message }); done(); });
    """,
        url,
    )
    assert records[0]["message"]


def test_call_timeout_fires(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false });
    s.on("never_acked", () => {});   // receives, never acks
    s.on("connect", () => s.emit("ask_silent", (r) => { out({ r }); s.close(); done(); }));
    """,
        url,
    )
    assert records == [{"r": "timed out"}]


def test_rooms_broadcast_skip_sid(app: Any) -> None:
    url, _sio, _rec = app()
    script = (
        CLIENT
        + """
    const s = io(URL, { transports: ["websocket"], reconnection: false });
    s.on("shouted", (text) => out({ got: text }));
    s.on("connect", () => s.emit("join", "garden", (rooms) => out({ joined: rooms.length })));
    onLine((cmd) => {
      if (cmd.shout) s.emit("shout", "garden", cmd.shout);
      if (cmd.quit) { s.close(); done(); }
    });
    """
    )
    clients = [NodeClient(script, url) for _ in range(3)]
    try:
        for c in clients:
            assert c.expect("joined")["joined"] == 2  # own sid room + garden
        clients[0].send({"shout": "hello garden"})
        for c in clients[1:]:
            assert c.expect("got")["got"] == "hello garden"
        clients[1].send({"shout": "second"})
        # the first record the shouter's peers see next is "second"; the shouter never sees its own
        assert clients[0].expect("got")["got"] == "second"
        assert clients[2].expect("got")["got"] == "second"
        for c in clients:
            c.send({"quit": True})
    finally:
        for c in clients:
            c.close()


def test_server_disconnect_and_client_reconnect(app: Any) -> None:
    url, _sio, rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnectionDelay: 100, reconnectionDelayMax: 200 });
    let connects = 0;
    s.on("connect", () => {
      connects++;
      out({ connect: connects, id: s.id });
      if (connects === 1) s.emit("kick_me");
      if (connects === 2) { s.close(); done(); }
    });
    s.on("disconnect", (reason) => {
      out({ disconnect: reason });
      if (reason === "io server disconnect") s.connect();   // per the client docs: no auto-reconnect
    });
    """,
        url,
    )
    assert next(r for r in records if "disconnect" in r)["disconnect"] == "io server disconnect"
    ids = [r["id"] for r in records if "connect" in r]
    assert len(ids) == 2 and ids[0] != ids[1]
    reasons = [reason for nsp, _sid, reason in rec.disconnects if nsp == "/"]
    assert "server namespace disconnect" in reasons


def test_many_namespaces_on_one_connection(app: Any) -> None:
    url, _sio, rec = app()
    records = run_node(
        CLIENT
        + """
    const { Manager } = require("socket.io-client");
    const m = new Manager(URL, { transports: ["websocket"], reconnection: false });
    const names = ["/", "/chat", "/admin"];
    const sockets = names.map((n) => m.socket(n, { auth: { ns: n } }));
    let n = 0;
    sockets.forEach((s, i) => s.on("connect", () => {
      if (names[i] === "/") { if (++n === 3) finish(); return; }
      s.emit("where", (w) => { out({ where: w }); if (++n === 3) finish(); });
    }));
    const finish = () => { out({ engines: new Set(sockets.map((s) => s.io.engine.id)).size }); sockets.forEach((s) => s.close()); done(); };
    """,
        url,
    )
    assert sorted(r["where"] for r in records if "where" in r) == ["/admin", "/chat"]
    assert [r for r in records if "engines" in r] == [{"engines": 1}]
    assert {(nsp, repr(auth)) for nsp, _sid, auth in rec.connects} >= {
        ("/chat", repr({"ns": "/chat"})),
        ("/admin", repr({"ns": "/admin"})),
    }


def test_unknown_namespace_is_refused(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL + "/nowhere", { reconnection: false });
    s.on("connect", () => fail("connected to an unknown namespace"));
    s.on("connect_error", (err) => { out({ message: err.message }); done(); });
    """,
        url,
    )
    assert records == [{"message": "Invalid namespace"}]


def test_handler_exception_keeps_connection(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false });
    s.on("connect", () => {
      s.emit("boom");
      s.emit("echo", "still here", (r) => { out({ r, connected: s.connected }); s.close(); done(); });
    });
    """,
        url,
    )
    assert records == [{"r": "still here", "connected": True}]


def test_session_survives_between_events(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false });
    s.on("connect", () => {
      s.emit("remember", { x: 1 });
      s.emit("recall", (v) => { out({ v }); s.close(); done(); });
    });
    """,
        url,
    )
    assert records == [{"v": {"x": 1}}]


def test_client_disconnect_reaches_handler(app: Any) -> None:
    url, _sio, rec = app()
    run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false, transports: ["websocket"] });
    s.on("connect", () => { s.close(); setTimeout(done, 50); });
    """,
        url,
    )
    with gevent.Timeout(5):
        while not rec.disconnects:
            gevent.sleep(0.02)
    assert rec.disconnects[0][2] == "client namespace disconnect"
