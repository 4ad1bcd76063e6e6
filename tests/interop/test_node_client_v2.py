"""The official socket.io-client 2.x (Engine.IO 3, Socket.IO protocol 4) against our server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.node import NodeClient, run_node
from tests.helpers.sio_clients import ROUND_TRIP, TRANSPORTS, V2, merged, transport_args

CLIENT = V2


@pytest.mark.parametrize("mode", sorted(TRANSPORTS))
def test_events_acks_binary_both_ways(app: Any, mode: str) -> None:
    url, _sio, rec = app()
    records = run_node(
        CLIENT
        + ROUND_TRIP
        + """
    const s = io(URL, { transports: ARGS.transports, reconnection: false, forceNew: true });
    s.on("question", (q, ack) => ack("answer to " + q));
    s.on("pushed", (...args) => {
      out({ pushed: args.map((a) => Buffer.isBuffer(a) ? {buf: [...a]} : a) });
      setTimeout(() => { out({ transport: s.io.engine.transport.name }); s.close(); done(); },
                 ARGS.upgrade ? 300 : 0);
    });
    s.on("connect", () => {
      out({ id: s.id, engine: s.io.engine.id });
      roundTrip(s);
    });
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
    assert rec.connects[0][0] == "/"
    # Socket.IO protocol 4: the "/" socket id is the Engine.IO session id
    assert by_key["id"] == by_key["engine"]


def test_refused_connect_reaches_error_event(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const s = io(URL + "/nowhere", { reconnection: false });
    s.on("connect", () => fail("connected to an unknown namespace"));
    s.on("error", (err) => { out({ err }); done(); });
    """,
        url,
    )
    # What socket.io 4 (allowEIO3) sends a 2.x client for an unknown namespace (issue 9)
    assert records == [{"err": {"message": "Invalid namespace"}}]


def test_namespaces_share_one_engine(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        CLIENT
        + """
    const root = io(URL, { transports: ["websocket"], reconnection: false });
    const chat = io(URL + "/chat?x=1", { transports: ["websocket"], reconnection: false });
    chat.on("connect", () => chat.emit("where", (w) => {
      out({ where: w, id: chat.id, same: root.io === chat.io });
      root.close(); chat.close(); done();
    }));
    """,
        url,
    )
    assert records[0]["where"] == "/chat"
    assert records[0]["same"] is True
    assert records[0]["id"].startswith("/chat#")


def test_v2_and_v4_clients_share_a_room(app: Any) -> None:
    url, _sio, _rec = app()
    v2 = NodeClient(
        CLIENT
        + """
    const s = io(URL, { transports: ["websocket"], reconnection: false });
    s.on("shouted", (text) => out({ got: text }));
    s.on("connect", () => s.emit("join", "mixed", () => out({ joined: true })));
    onLine((cmd) => { if (cmd.shout) s.emit("shout", "mixed", cmd.shout); if (cmd.quit) { s.close(); done(); } });
    """,
        url,
    )
    v4 = NodeClient(
        'const { io } = require("socket.io-client");\n'
        + """
    const s = io(URL, { reconnection: false });
    s.on("shouted", (text) => out({ got: text }));
    s.on("connect", () => s.emit("join", "mixed", () => out({ joined: true })));
    onLine((cmd) => { if (cmd.shout) s.emit("shout", "mixed", cmd.shout); if (cmd.quit) { s.close(); done(); } });
    """,
        url,
    )
    try:
        v2.expect("joined")
        v4.expect("joined")
        v2.send({"shout": "from v2"})
        assert v4.expect("got")["got"] == "from v2"
        v4.send({"shout": "from v4"})
        assert v2.expect("got")["got"] == "from v4"
    finally:
        v2.close()
        v4.close()
