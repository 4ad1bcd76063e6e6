"""``Server(serializer="msgpack")`` against socket.io-client 4.8.4 with socket.io-msgpack-parser
3.0.2, from Node; and the codec checked byte for byte against the npm parser itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import gevent.event
import pytest
import socketio

from gsocketio.legacy import LegacyServer
from gsocketio.protocol.msgpack_parser import decode, encode
from gsocketio.protocol.socketio import Packet, PacketType
from tests.helpers.chat_app import build
from tests.helpers.node import run_node
from tests.helpers.sio_clients import ROUND_TRIP, TRANSPORTS, merged, transport_args

CLIENT = """
const { io } = require("socket.io-client");
const parser = require("socket.io-msgpack-parser");
const connect = (opts = {}) => io(URL, { parser, reconnection: false, forceNew: true,
                                         transports: ARGS.transports, ...opts });
const show = (v) => Buffer.isBuffer(v) ? {buf: [...v]} : (v instanceof ArrayBuffer ? {ab: [...new Uint8Array(v)]}
  : (v instanceof Date ? {date: v.toISOString()} : v));
"""


@pytest.mark.parametrize("mode", sorted(TRANSPORTS))
def test_events_acks_binary_both_ways(app: Any, mode: str) -> None:
    url, _sio, rec = app(serializer="msgpack")
    records = run_node(
        CLIENT
        + ROUND_TRIP
        + """
    const s = connect({ auth: { token: "good" } });
    s.on("question", (q, ack) => ack("answer to " + q));
    s.on("pushed", (...args) => {
      out({ pushed: args.map(show) });
      setTimeout(() => { out({ transport: s.io.engine.transport.name }); s.close(); done(); },
                 ARGS.upgrade ? 300 : 0);
    });
    s.on("connect", () => {
      roundTrip(s, { echo: ["hi", 1, 2.5, null, true, { a: [1, 2], "é": "ü" }],
                     push: [new Date(Date.UTC(2026, 11, 1))] });
    });
    """,
        url,
        args=transport_args(mode),
    )
    by_key = merged(records)
    assert by_key["echo"] == ["hi", 1, 2.5, None, True, {"a": [1, 2], "é": "ü"}]
    assert by_key["ask"] == {"client_said": "answer to life"}
    assert by_key["binary"] == {"len": 3, "reversed": [3, 2, 1], "meta": {"k": "v"}}
    assert by_key["pushed"] == ["text", {"buf": [9, 8]}, {"date": "2026-12-01T00:00:00.000Z"}]
    assert by_key["transport"] == ("polling" if mode == "polling" else "websocket")
    assert rec.connects[0][0] == "/" and rec.connects[0][2] == {"token": "good"}


def test_namespaces_refusal_and_rooms(app: Any) -> None:
    url, _sio, _rec = app(serializer="msgpack")
    records = run_node(
        CLIENT
        + """
    const refused = connect({ auth: { token: "bad" } });
    refused.on("connect_error", (err) => {
      out({ refused: err.message, data: err.data });
      const [a, b, c] = [connect(), connect(), connect()];
      let up = 0;
      const got = { b: [], c: [] };
      b.on("shouted", (t) => got.b.push(t));
      c.on("shouted", (t) => { got.c.push(t); out({ got }); a.close(); b.close(); c.close(); done(); });
      a.on("shouted", (t) => fail("the shouter got its own shout"));
      const ready = () => {
        if (++up < 3) return;
        a.emit("shout", "r", "one", () => a.emit("shout", "other", "two"));
      };
      a.emit("join", "r", (rooms) => { out({ rooms: rooms.length }); ready(); });
      b.emit("join", "r", ready);
      c.emit("join", "other", ready);
    });
    """,
        url,
        args={"transports": ["websocket"]},
    )
    assert records[0] == {
        "refused": "Connection rejected by server",
        "data": {"reason": "bad token", "code": 42},
    }
    assert records[1] == {"rooms": 2}  # its sid room and "r"
    assert records[2] == {"got": {"b": ["one"], "c": ["two"]}}


def test_namespace_and_disconnect_reason(app: Any) -> None:
    url, _sio, rec = app(serializer="msgpack")
    records = run_node(
        CLIENT
        + """
    const manager = new (require("socket.io-client").Manager)(URL, { parser, reconnection: false,
                                                                     transports: ["websocket"] });
    const chat = manager.socket("/chat", { auth: { who: "me" } });
    chat.on("connect", () => chat.emit("where", (nsp) => {
      out({ where: nsp });
      const root = manager.socket("/");
      root.on("connect", () => root.emit("kick_me"));
      root.on("disconnect", (reason) => { out({ reason }); manager.engine.close(); done(); });
    }));
    """,
        url,
    )
    assert records == [{"where": "/chat"}, {"reason": "io server disconnect"}]
    assert ("/chat", rec.connects[0][1], {"who": "me"}) in rec.connects


def test_a_json_client_is_refused_by_a_msgpack_server(app: Any) -> None:
    url, _sio, rec = app(serializer="msgpack")
    records = run_node(
        """
    const { io } = require("socket.io-client");
    const s = io(URL, { reconnection: false, transports: ["websocket"], timeout: 3000 });
    s.on("connect", () => fail("a JSON client connected to a msgpack server"));
    s.io.on("open", () => s.io.engine.on("close", (reason) => { out({ closed: reason }); done(); }));
    """,
        url,
    )
    assert records[-1]["closed"] in ("transport close", "transport error")
    assert rec.connects == []


NODE_CODEC = """
const parser = require("socket.io-msgpack-parser");
const encoder = new parser.Encoder();
const ours = ARGS.ours.map((hex) => {
  const decoder = new parser.Decoder();
  let packet = null;
  decoder.on("decoded", (p) => { packet = p; });
  try { decoder.add(Buffer.from(hex, "hex")); } catch (e) { return { error: e.message }; }
  return JSON.parse(JSON.stringify(packet, (k, v) => (v && v.type === "Buffer") ? {buf: v.data} : v));
});
const theirs = [
  { type: 2, nsp: "/", data: ["ev", 1, -7, 2.5, null, "é", { k: [true, false] }] },
  { type: 2, nsp: "/chat", data: ["bin", Buffer.from([0, 255])], id: 12 },
  { type: 3, nsp: "/", data: [undefined, "x"], id: 0 },
  { type: 0, nsp: "/", data: undefined },
  { type: 0, nsp: "/a", data: { token: "t" } },
  { type: 1, nsp: "/" },
  { type: 2, nsp: "/", data: ["big", 2 ** 40, -(2 ** 40), 4294967295], options: { compress: true } },
].map((p) => encoder.encode(p)[0].toString("hex"));
out({ ours, theirs });
done();
"""


def test_codec_against_the_npm_parser() -> None:
    """Our encoder's bytes decode in the npm parser; the npm encoder's bytes decode here."""
    ours = [
        Packet(PacketType.EVENT, "/", ["ev", 1, 2.5, None, {"k": [True]}, "é"]),
        Packet(PacketType.EVENT, "/chat", ["bin", b"\x00\xff"], 5),
        Packet(PacketType.BINARY_ACK, "/", [b"\x01"], 6),
        Packet(PacketType.CONNECT, "/", {"sid": "abc"}),
        Packet(PacketType.CONNECT_ERROR, "/", {"message": "no", "data": {"code": 1}}),
        Packet(PacketType.DISCONNECT, "/x"),
        Packet(PacketType.EVENT, "/", ["date", datetime(2026, 12, 1, tzinfo=UTC)]),
    ]
    hexes = [encode(p)[0].hex() for p in ours]
    (record,) = run_node(NODE_CODEC, "http://unused", args={"ours": hexes})
    assert record["ours"] == [
        {"type": 2, "nsp": "/", "data": ["ev", 1, 2.5, None, {"k": [True]}, "é"]},
        {"type": 2, "nsp": "/chat", "data": ["bin", {"buf": [0, 255]}], "id": 5},
        {"type": 3, "nsp": "/", "data": [{"buf": [1]}], "id": 6},
        {"type": 0, "nsp": "/", "data": {"sid": "abc"}},
        {"type": 4, "nsp": "/", "data": {"message": "no", "data": {"code": 1}}},
        {"type": 1, "nsp": "/x"},
        {"type": 2, "nsp": "/", "data": ["date", "2026-12-01T00:00:00.000Z"]},
    ]
    theirs = [decode(bytes.fromhex(h)) for h in record["theirs"]]
    assert theirs == [
        Packet(PacketType.EVENT, "/", ["ev", 1, -7, 2.5, None, "é", {"k": [True, False]}]),
        Packet(PacketType.EVENT, "/chat", ["bin", b"\x00\xff"], 12),
        Packet(PacketType.ACK, "/", [None, "x"], 0),
        Packet(PacketType.CONNECT, "/"),
        Packet(PacketType.CONNECT, "/a", {"token": "t"}),
        Packet(PacketType.DISCONNECT, "/"),
        Packet(PacketType.EVENT, "/", ["big", 2**40, -(2**40), 4294967295]),
    ]
    assert json.dumps(record)  # plain data all through


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_python_socketio_msgpack_client(app: Any, transports: list[str]) -> None:
    """python-socketio's own msgpack packets (an independent implementation) work too."""
    url, _sio, rec = app(serializer="msgpack")
    client = socketio.Client(serializer="msgpack", reconnection=False)
    pushed = gevent.event.AsyncResult()
    client.on("question", lambda q: f"answer to {q}")
    client.on("pushed", lambda *args: pushed.set(args))
    try:
        client.connect(url, auth={"token": "py"}, transports=transports, wait_timeout=5)
        assert client.call("echo", ("hi", 2, {"x": None}), timeout=5) == ("hi", 2, {"x": None})
        assert client.call("ask", "life", timeout=5) == {"client_said": "answer to life"}
        reply = client.call("binary", (b"\x00\x01\xff", [1]), timeout=5)
        assert reply == {"len": 3, "reversed": b"\xff\x01\x00", "meta": [1]}
        client.emit("push", ("pushed", b"bytes", {"nested": [b"\x01"]}))
        assert pushed.get(timeout=5) == (b"bytes", {"nested": [b"\x01"]})
        assert ("/", client.get_sid("/"), {"token": "py"}) in rec.connects
    finally:
        client.disconnect()


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_legacy_clients_share_rooms_with_msgpack_clients(
    serve: Callable[..., str], transport: str
) -> None:
    """0.9 clients keep their protocol on a msgpack server; broadcasts reach both kinds."""
    sio, _rec = build(serializer="msgpack")
    legacy = LegacyServer(sio, polling_duration=2)
    try:
        url = serve(legacy.wsgi_app())
        records = run_node(
            CLIENT
            + """
        const lio = require("socket.io-client-legacy");
        const old = lio.connect(URL, { transports: [ARGS.transport], "force new connection": true,
                                       reconnect: false });
        const now = connect();
        let joined = 0;
        const both = () => { if (++joined === 2) now.emit("shout", "garden", "from msgpack"); };
        old.on("connect", () => old.emit("join", "garden", both));
        now.on("connect", () => now.emit("join", "garden", both));
        old.on("shouted", (text) => { out({ old: text }); old.emit("shout", "garden", "from 0.9"); });
        now.on("shouted", (text) => { out({ now: text }); now.close(); done(); });
        """,
            url,
            args={"transport": transport, "transports": ["websocket"]},
        )
    finally:
        legacy.close()
    assert records == [{"old": "from msgpack"}, {"now": "from 0.9"}]
