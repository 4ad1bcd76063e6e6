"""Node API parity through a real socket.io-client 4.8: manual acks, packet middlewares,
catch-all listeners both ways, ``disconnecting`` and Node's disconnect reasons."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

import gsocketio
from tests.helpers.node import run_node
from tests.helpers.sio_clients import V4

CLIENT = V4

Serve = Callable[..., str]


def _url(serve: Serve, sio: gsocketio.Server) -> str:
    return serve(sio.wsgi_app())


def test_manual_ack_later_never_and_returned(serve: Serve) -> None:
    sio = gsocketio.Server()

    @sio.on("later")
    def later(sid: str, x: int, *, ack: Callable[..., None]) -> None:
        gevent.spawn_later(0.05, ack, x * 2, "late")  # answered from another greenlet

    @sio.on("never")
    def never(sid: str, ack: Callable[..., None]) -> None:
        return None  # no answer at all: the client's timeout fires

    @sio.on("returned")
    def returned(sid: str, *, ack: Callable[..., None]) -> str:
        return "from return"

    @sio.on("plain")
    def plain(sid: str) -> None:
        return None  # unchanged behaviour: an empty ack

    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false });
    s.on("connect", async () => {
      out({ later: await s.emitWithAck("later", 21) });
      try { await s.timeout(300).emitWithAck("never"); out({ never: "answered" }); }
      catch (e) { out({ never: e.message }); }
      out({ returned: await s.emitWithAck("returned") });
      out({ plain: String(await s.timeout(2000).emitWithAck("plain")) });
      s.close(); done();
    });
    """,
        _url(serve, sio),
    )
    assert records == [
        {"later": 42},
        {"never": "operation has timed out"},
        {"returned": "from return"},
        {"plain": "undefined"},  # an empty ack, answered at once
    ]


def test_packet_middleware_changes_and_refuses(serve: Serve) -> None:
    sio = gsocketio.Server()
    errors: list[str] = []
    refused = gevent.event.Event()

    def middleware(sid: str, packet: list[Any], namespace: str) -> Any:
        if packet[0] == "forbidden":
            raise gsocketio.hooks.PacketRefusedError("not allowed")
        if packet[0] == "echo":
            packet[1] = packet[1].upper()
        return None

    sio.use_packet(middleware)

    @sio.on("echo")
    def echo(sid: str, text: str) -> str:
        return text

    @sio.on("forbidden")
    def forbidden(sid: str) -> str:
        return "must not run"

    @sio.on("error")
    def on_error(sid: str, exc: Exception) -> None:
        errors.append(str(exc))
        refused.set()

    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false });
    s.on("error", (e) => out({ clientError: String(e) }));
    s.on("connect", async () => {
      out({ echo: await s.emitWithAck("echo", "hi") });
      try { await s.timeout(300).emitWithAck("forbidden"); out({ forbidden: "answered" }); }
      catch (e) { out({ forbidden: e.message }); }
      s.close(); done();
    });
    """,
        _url(serve, sio),
    )
    assert records == [{"echo": "HI"}, {"forbidden": "operation has timed out"}]
    assert refused.wait(2) and errors == ["not allowed"]


def test_on_any_both_ways_with_prepend(serve: Serve) -> None:
    sio = gsocketio.Server()
    seen: list[tuple[str, ...]] = []

    sio.on_any(lambda event, sid, *args: seen.append(("in", event, *args)))
    sio.prepend_any(lambda event, sid, *args: seen.append(("in-first", event)))
    sio.on_any_outgoing(lambda event, sid, *args: seen.append(("out", event, *args)))

    @sio.on("hello")
    def hello(sid: str, who: str) -> None:
        sio.emit("direct", who, to=sid)
        sio.to(sid).emit("operator", 2)
        sio.emit("everyone", 1)

    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false });
    s.on("connect", () => { s.emit("unhandled", 7); s.emit("hello", "bob"); });
    s.on("everyone", (n) => { out({ everyone: n }); s.close(); done(); });
    """,
        _url(serve, sio),
    )
    assert records == [{"everyone": 1}]
    assert seen == [
        ("in-first", "unhandled"),
        ("in", "unhandled", 7),
        ("in-first", "hello"),
        ("in", "hello", "bob"),
        ("out", "direct", "bob"),
        ("out", "operator", 2),
        ("out", "everyone", 1),
    ]


def test_disconnecting_sees_rooms_and_node_reasons(serve: Serve) -> None:
    sio = gsocketio.Server()
    events: list[tuple[str, str, list[str]]] = []
    finished = gevent.event.Event()

    @sio.on("connect")
    def connect(sid: str) -> None:
        sio.enter_room(sid, "lobby")

    @sio.on("disconnecting")
    def disconnecting(sid: str, reason: str) -> None:
        events.append(("disconnecting", reason, sorted(r for r in sio.rooms(sid) if r != sid)))

    @sio.on("disconnect")
    def disconnect(sid: str, reason: str) -> None:
        events.append(("disconnect", reason, []))
        if len(events) == 6:
            finished.set()

    @sio.on("kick")
    def kick(sid: str) -> None:
        sio.disconnect(sid)

    run_node(
        CLIENT
        + """
    const a = io(URL, { reconnection: false, forceNew: true });
    a.on("connect", () => a.disconnect());  // client namespace disconnect
    const b = io(URL, { reconnection: false, forceNew: true });
    b.on("connect", () => b.emit("kick"));  // server namespace disconnect
    const c = io(URL, { reconnection: false, forceNew: true, transports: ["websocket"] });
    c.on("connect", () => c.io.engine.close());  // transport close
    let left = 3;
    for (const s of [a, b, c]) s.on("disconnect", () => { if (--left === 0) done(); });
    """,
        _url(serve, sio),
    )
    assert finished.wait(5)
    reasons = sorted(reason for kind, reason, _ in events if kind == "disconnect")
    assert reasons == [
        "client namespace disconnect",
        "server namespace disconnect",
        "transport close",
    ]
    assert all(rooms == ["lobby"] for kind, _, rooms in events if kind == "disconnecting")
    assert sorted(r for k, r, _ in events if k == "disconnecting") == reasons
    assert sio.adapter.sockets("/") == set()


def test_dynamic_namespaces_share_handlers_middlewares_and_parent_emit(serve: Serve) -> None:
    sio = gsocketio.Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(re.compile(r"^/dyn-\d+$"))
    gated: list[str] = []
    emptied = gevent.event.Event()

    @parent.use
    def gate(sid: str, environ: dict[str, Any], auth: Any, namespace: str) -> bool:
        gated.append(namespace)
        return auth.get("ok") is True

    @parent.on("where")
    def where(sid: str) -> str:
        return "handled"

    readies: list[str] = []

    @parent.on("ready")
    def ready(sid: str) -> None:
        readies.append(sid)
        if len(readies) == 2:  # both children exist: one emit from the parent reaches both
            parent.emit("to-children", "all")

    @parent.on("disconnect")
    def gone(sid: str, reason: str) -> None:
        if not parent.children:
            emptied.set()

    records = run_node(
        CLIENT
        + """
    const names = ["/dyn-1", "/dyn-2"];
    const bad = io(URL + "/dyn-3", { reconnection: false, auth: { ok: false } });
    bad.on("connect_error", (e) => out({ refused: e.message }));
    const other = io(URL + "/other", { reconnection: false });
    other.on("connect_error", (e) => out({ unknown: e.message }));
    let got = 0;
    const socks = names.map((n) => io(URL + n, { reconnection: false, auth: { ok: true } }));
    socks.forEach((s, i) => {
      s.on("connect", async () => {
        out({ ns: names[i], where: await s.emitWithAck("where") });
        s.emit("ready");
      });
      s.on("to-children", (v) => {
        out({ child: names[i], v });
        if (++got === 2) setTimeout(() => { socks.forEach((x) => x.close()); done(); }, 100);
      });
    });
    """,
        _url(serve, sio),
    )
    flat = sorted(json.dumps(r, sort_keys=True) for r in records)
    assert flat == sorted(
        json.dumps(r, sort_keys=True)
        for r in [
            {"refused": "Connection rejected by server"},
            {"unknown": "Invalid namespace"},
            {"ns": "/dyn-1", "where": "handled"},
            {"ns": "/dyn-2", "where": "handled"},
            {"child": "/dyn-1", "v": "all"},
            {"child": "/dyn-2", "v": "all"},
        ]
    )
    assert sorted(gated) == ["/dyn-1", "/dyn-2", "/dyn-3"]
    assert emptied.wait(5)
    assert parent.children == set()


def test_dynamic_namespace_by_function_sees_the_handshake(serve: Serve) -> None:
    sio = gsocketio.Server()
    asked: list[str] = []

    def matcher(name: str, environ: dict[str, Any]) -> bool:
        asked.append(name)
        return name.startswith("/org-") and "member=1" in environ.get("QUERY_STRING", "")

    parent = sio.of(matcher)

    @parent.on("whoami")
    def whoami(sid: str) -> str:
        return "child"

    records = run_node(
        CLIENT
        + """
    const ok = io(URL + "/org-7", { reconnection: false, forceNew: true, query: { member: 1 } });
    ok.on("connect", async () => {
      out({ whoami: await ok.emitWithAck("whoami") });
      const no = io(URL + "/org-8", { reconnection: false, forceNew: true });
      no.on("connect_error", (e) => { out({ refused: e.message }); ok.close(); done(); });
    });
    """,
        _url(serve, sio),
    )
    assert records == [{"whoami": "child"}, {"refused": "Invalid namespace"}]
    assert parent.children == {"/org-7"}  # the refused name was never made a child
    assert asked == ["/org-7", "/org-8"]


def test_engine_headers_and_connection_error(serve: Serve) -> None:
    sio = gsocketio.Server(cors_allowed_origins="*")
    errors: list[tuple[int, str]] = []

    @sio.on_engine("initial_headers")
    def initial(headers: list[tuple[str, str]], environ: dict[str, Any]) -> None:
        headers.append(("Set-Cookie", "team=blue; Path=/"))

    @sio.on_engine("headers")
    def every(headers: list[tuple[str, str]], environ: dict[str, Any]) -> None:
        headers.append(("X-Served-By", "gsocketio"))

    sio.on_engine("connection_error", lambda err: errors.append((err.code, err.message)))

    url = _url(serve, sio)
    records = run_node(
        CLIENT
        + """
    const http = require("http");
    const get = (path, post) => new Promise((resolve) => {
      const req = http.request(URL + path, { method: post ? "POST" : "GET" }, (res) => {
        let body = ""; res.on("data", (c) => body += c);
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
      req.end(post);
    });
    (async () => {
      const hs = await get("/socket.io/?EIO=4&transport=polling");
      const sid = JSON.parse(hs.body.slice(1)).sid;
      out({ handshake: [hs.headers["set-cookie"], hs.headers["x-served-by"]] });
      const post = await get("/socket.io/?EIO=4&transport=polling&sid=" + sid, "40");
      out({ post: [post.headers["set-cookie"] || null, post.headers["x-served-by"]] });
      const bad = await get("/socket.io/?EIO=4&transport=nope");
      out({ bad: [bad.status, bad.headers["x-served-by"] || null] });
      await get("/socket.io/?EIO=4&transport=polling&sid=unknown");
      const s = io(URL, { transports: ["websocket"], reconnection: false });
      s.on("connect", () => { s.close(); done(); });  // the hooks do not get in its way
    })();
    """,
        url,
    )
    assert records == [
        {"handshake": [["team=blue; Path=/"], "gsocketio"]},
        {"post": [None, "gsocketio"]},
        {"bad": [400, None]},
    ]
    assert errors == [(0, "Transport unknown"), (1, "Session ID unknown")]


def test_engine_headers_on_websocket_upgrade(serve: Serve) -> None:
    sio = gsocketio.Server()
    sio.on_engine("headers", lambda headers, environ: headers.append(("X-WS", "yes")))
    url = _url(serve, sio)
    records = run_node(
        """
    const net = require("net");
    const u = new (require("url").URL)(URL);
    const c = net.connect(Number(u.port), u.hostname, () => {
      c.write("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\\r\\nHost: x\\r\\n" +
        "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n");
    });
    let head = "";
    c.on("data", (d) => {
      head += d.toString("latin1");
      if (head.includes("\\r\\n\\r\\n")) {
        out({ status: head.split("\\r\\n")[0], xws: /\\r\\nX-WS: yes\\r\\n/i.test(head) });
        c.destroy(); done();
      }
    });
    """,
        url,
    )
    assert records == [{"status": "HTTP/1.1 101 Switching Protocols", "xws": True}]


def test_ping_timeout_and_shutdown_reasons(serve: Serve) -> None:
    sio = gsocketio.Server(ping_interval=0.2, ping_timeout=0.2)
    reasons: list[str] = []
    gone = gevent.event.Event()
    connected = gevent.event.Event()

    @sio.on("connect")
    def connect(sid: str) -> None:
        connected.set()

    @sio.on("disconnect")
    def disconnect(sid: str, reason: str) -> None:
        reasons.append(reason)
        gone.set()

    url = _url(serve, sio)
    # A client that stops answering pings: Node's engine "ping timeout".
    run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false, transports: ["websocket"] });
    s.on("connect", () => {
      s.io.engine._sendPacket = () => {};  // no more pongs
      s.io.engine._resetPingTimeout = () => {};  // nor does it time out on its side
      s.on("disconnect", () => done());  // the server gave up on it
    });
    """,
        url,
    )
    assert gone.wait(5) and reasons == ["ping timeout"]
    gone.clear()
    connected.clear()

    # io.close(): "server shutting down" for every socket, the client sees its transport close.
    def shut_down_when_connected() -> None:
        if connected.wait(10):
            sio.close()

    closer = gevent.spawn(shut_down_when_connected)
    records = run_node(
        CLIENT
        + """
    const s = io(URL, { reconnection: false, transports: ["websocket"] });
    s.on("disconnect", (reason) => { out({ client: reason }); done(); });
    """,
        url,
    )
    closer.join(5)
    assert gone.wait(5) and reasons == ["ping timeout", "server shutting down"]
    assert records == [{"client": "transport close"}]
