"""Hostile input against the real server's 0.9 endpoint (``/socket.io/1/``) and policy server.

Same rules as :mod:`tests.hostile.test_hostile_modern` (whose helpers and fixtures this
module uses): a python-socketio client, and in some tests the real socket.io-client 0.9.16,
stay in the room ``lobby`` while a raw attacker speaks broken 0.9; each test asserts the
answer the attacker gets (the 0.9 error packets ``7:::1+0``/``7:::0``, the farewell ``0::``,
HTTP 400/413, WebSocket close codes, a closed socket) and that the good clients still get every
broadcast and their acks. Expected strings are the socket.io-spec README's and the 0.9
server's, written out by hand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import gevent
import pytest
import requests

from gsocketio.websocket.connection import DEFAULT_CLOSE_TIMEOUT
from tests.helpers.node import NodeClient
from tests.helpers.rawhttp import closed_by_server
from tests.hostile import test_hostile_modern as modern
from tests.hostile.test_hostile_modern import (
    DEEP,
    LATENCY,
    LOBBY,
    PAD,
    TIMEOUT,
    RawWS,
    Target,
    frame,
    http,
    wait_until,
)

# The modern module's fixtures, used here too (the autouse crash check included).
target = modern.target
good = modern.good
raw = modern.raw
no_crash = modern.no_crash

F = "\ufffd"
PROLOGUE = (
    "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
    + " " * 173
)
FAST = {"polling_duration": 0.5, "close_timeout": 1.0, "jsonp": True}  # jsonp: opt-in


# --- clients -----------------------------------------------------------------------------------

NODE_LEGACY = """
const lio = require("socket.io-client-legacy");
const s = lio.connect(URL, { transports: ARGS.transports, "force new connection": true,
                             reconnect: false });
s.on("bulletin", (n) => out({ news: typeof n === "object" ? n.n : n }));
s.on("connect", () => s.emit("join", "lobby", (rooms) => out({ joined: rooms })));
s.on("disconnect", () => out({ error: "disconnected" }));
s.on("error", (e) => out({ error: "error: " + e }));
onLine((cmd) => s.emit("echo", cmd.token, (token) => out({ echoed: token })));
"""


class LegacyGood:
    """The real 0.9.16 client in the lobby: every ``bulletin`` broadcast, in order, and acks."""

    def __init__(self, t: Target, transport: str = "websocket") -> None:
        self.t = t
        self.node = NodeClient(NODE_LEGACY, t.url, args={"transports": [transport]}, timeout=90)
        assert LOBBY in self.node.expect("joined")["joined"]
        self.sent = 0
        self.received = 0

    def drain(self, sent: int) -> None:
        with gevent.Timeout(LATENCY + 2, AssertionError("the 0.9 client missed broadcasts")):
            while self.received < sent:
                assert self.node.expect("news")["news"] == self.received
                self.received += 1
        self.sent = max(self.sent, sent)

    def check(self, burst: int = 10) -> None:
        for _ in range(burst):
            self.t.sio.emit("bulletin", self.sent, to=LOBBY)
            self.sent += 1
        self.drain(self.sent)
        token = f"legacy-{self.sent}"
        self.node.send({"token": token})
        assert self.node.expect("echoed")["echoed"] == token

    def close(self) -> None:
        self.node.close()


@pytest.fixture
def legacy_good(raw: list[Any]) -> Any:
    def _make(t: Target, transport: str = "websocket") -> LegacyGood:
        client = LegacyGood(t, transport)
        raw.append(client)
        return client

    return _make


def base(t: Target) -> str:
    return f"{t.url}/socket.io/1"


def handshake(t: Target) -> str:
    reply = requests.get(f"{base(t)}/?t=1", timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    sid, _heartbeat, _close, _transports = reply.text.split(":")
    return sid


def opened(t: Target, transport: str = "xhr-polling") -> str:
    """A handshaken session whose first GET got ``1::`` (connected to "/")."""
    sid = handshake(t)
    reply = requests.get(f"{base(t)}/{transport}/{sid}", params={"i": "0"}, timeout=TIMEOUT)
    assert reply.text in ("1::", 'io.j[0]("1::");'), reply.text
    return sid


def legacy_ws(t: Target, sid: str, transport: str = "websocket") -> RawWS:
    ws = RawWS(t, f"/socket.io/1/{transport}/{sid}")
    assert ws.status == 101, (ws.status, ws.body)
    return ws


def recv_skipping_heartbeats(ws: RawWS) -> str | bytes:
    for _ in range(100):
        message = ws.recv()
        if message != "2::":
            return message
    raise AssertionError("only heartbeats")


def joined_ws(t: Target) -> tuple[str, RawWS]:
    """A 0.9 WebSocket session in the lobby."""
    sid = handshake(t)
    ws = legacy_ws(t, sid)
    assert recv_skipping_heartbeats(ws) == "1::"
    ws.send('5:1+::{"name":"join","args":["lobby"]}')
    for _ in range(1000):
        message = recv_skipping_heartbeats(ws)
        if isinstance(message, str) and message.startswith("6:::1+"):
            return sid, ws
    raise AssertionError("no ack for join")


def disconnected(t: Target, sid: str, reason: str) -> None:
    wait_until(lambda: ("/", sid, reason) in t.rec.disconnects, f"{sid} to disconnect")
    assert sid not in t.sio.sockets()


# --- unknown sids and transports, bad URLs -----------------------------------------------------


def test_unknown_sid_in_every_transport(target: Any, good: Any, raw: list[Any]) -> None:
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        for sid in ("nope", "x" * 5000, "%3Cscript%3E"):
            url = f"{base(t)}/xhr-polling/{sid}"
            assert requests.get(url, timeout=TIMEOUT).text == "7:::1+0"
            assert requests.post(url, data=b"3:::hi", timeout=TIMEOUT).text == "7:::1+0"
            jsonp = requests.get(f"{base(t)}/jsonp-polling/{sid}?i=3", timeout=TIMEOUT)
            assert jsonp.text == 'io.j[3]("7:::1+0");'
            html = requests.get(f"{base(t)}/htmlfile/{sid}", timeout=TIMEOUT)
            assert html.text == PROLOGUE + '<script>_("7:::1+0");</script>'
            for transport in ("websocket", "flashsocket"):
                ws = RawWS(t, f"/socket.io/1/{transport}/{sid}")
                raw.append(ws)
                assert ws.status == 101
                messages, code = ws.until_close()
                assert (messages, code) == (["7:::1+0"], 1000)
    assert not t.legacy.connections


def test_unknown_transports_and_bad_paths(target: Any, good: Any) -> None:
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        sid = handshake(t)
        for transport in ("bogus", "x" * 5000, "XHR-POLLING", "%00"):
            reply = requests.get(f"{base(t)}/{transport}/{sid}", timeout=TIMEOUT)
            assert (reply.status_code, reply.text) == (200, "7:::0")
        for path in (f"xhr-polling/{sid}/extra", "xhr-polling/", "/" * 50, "a/b/c/d"):
            assert requests.get(f"{base(t)}/{path}", timeout=TIMEOUT).status_code == 400
        for method in ("PUT", "DELETE", "PATCH"):
            reply = requests.request(method, f"{base(t)}/xhr-polling/{sid}", timeout=TIMEOUT)
            assert reply.status_code == 405
        # None of it touched the session: it is still there, still unused.
        assert sid in t.legacy.connections
        assert requests.get(f"{base(t)}/xhr-polling/{sid}", timeout=TIMEOUT).text == "1::"


# --- malformed packets and payloads ------------------------------------------------------------

MALFORMED = [
    "garbage",
    "9::",  # unknown type
    "3",  # no separators
    "3:abc:",  # bad id
    "3:1++:",
    "5:::{bad json",
    '5:::{"args":[]}',  # no name
    '5:::{"name":1}',
    '5:::{"name":"x","args":{}}',
    "5:::" + '{"name":"x","args":' + "[" * DEEP + "]" * DEEP + "}",  # a nesting bomb
    "4:::" + "{" * DEEP,
    '5:::{"name":"x","args":[' + "1" * 5000 + "]}",  # past Python's int-string limit
    '5:::{"name":"x","args":[1e400]}',  # overflows to Infinity: cannot be sent back
    "4:::-1e400",
    "6:::x+[1]",  # ack of a non-numeric id
    "6:::1+[",
    "6:::1+{}",
    "2:::x",  # a heartbeat with data
    "0::/chat:x",  # a disconnect with data
    "7:::99",  # unknown error reason
    "3:" + "9" * 40 + "::too big an id",
    F + "5" + F + "3:::x",  # the frame says 5, the packet is 5 long: fine, then...
    F + "5" + F + "3:::hi",  # ...one too long
    F + "99999999999999999999" + F + "3:::x",  # a huge length prefix
    F + "x" + F + "3:::x",
    F + F + "3:::x",
    F + "3" + F + "3::" + F,  # a marker where the next frame should start
]


@pytest.mark.parametrize("body", MALFORMED, ids=lambda b: repr(b[:30]))
@pytest.mark.parametrize("transport", ["xhr-polling", "htmlfile"])
def test_malformed_post(target: Any, good: Any, transport: str, body: str) -> None:
    """400, the session closed; its next GET gets the farewell ``0::`` (nothing else, nothing
    half-delivered: a payload is decoded whole before anything is acted on)."""
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        sid = opened(t)
        url = f"{base(t)}/{transport}/{sid}"
        reply = requests.post(url, data=body.encode(), timeout=TIMEOUT)
        if body == F + "5" + F + "3:::x":  # the one valid payload in the list
            assert (reply.status_code, reply.text) == (200, "1")
            return
        assert (reply.status_code, reply.text) == (400, "Bad Request\n")
        assert requests.get(f"{base(t)}/xhr-polling/{sid}", timeout=TIMEOUT).text == "0::"
        assert requests.get(f"{base(t)}/xhr-polling/{sid}", timeout=TIMEOUT).text == "7:::1+0"
    disconnected(t, sid, "parse error")
    assert sid not in t.legacy.connections


@pytest.mark.parametrize(
    "body",
    [
        b"3:::\xff\xfe",
        b"d=%22%ff%22",
        b"d=3:::x",
        b'd="3:::x"&d="3:::y"',
        b"x=1",
        b"",
        b'd={"not":"a string"}',
        b"d=" + quote('"' + "[" * DEEP + '"').encode(),
    ],
)
def test_malformed_jsonp_post(target: Any, good: Any, body: bytes) -> None:
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        sid = opened(t, "jsonp-polling")
        reply = requests.post(
            f"{base(t)}/jsonp-polling/{sid}",
            data=body,
            timeout=TIMEOUT,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (reply.status_code, reply.text) == (400, "Bad Request\n")
    disconnected(t, sid, "parse error")


def test_huge_valid_payload_counts(target: Any, good: Any) -> None:
    """Thousands of tiny framed packets: bounded by max_packets (refused whole above it)."""
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        sid = opened(t)
        heartbeats = (F + "3" + F + "2::") * 10_001
        reply = requests.post(
            f"{base(t)}/xhr-polling/{sid}", data=heartbeats.encode(), timeout=TIMEOUT
        )
        assert (reply.status_code, reply.text) == (400, "Bad Request\n")
        sid = opened(t)
        heartbeats = (F + "3" + F + "2::") * 10_000
        reply = requests.post(
            f"{base(t)}/xhr-polling/{sid}", data=heartbeats.encode(), timeout=TIMEOUT
        )
        assert (reply.status_code, reply.text) == (200, "1")


# --- JSONP indexes and htmlfile ----------------------------------------------------------------

HOSTILE_INDEXES = [
    "0);alert(1);//",
    "</script><script>alert(1)</script>",
    "1e3",
    "-1",
    "\u0661",
    "9" * 20,
    "",
]
JSONP = re.compile(r'io\.j\[(\d+)\]\(("(?:[^"\\]|\\.)*")\);')


@pytest.mark.parametrize("index", HOSTILE_INDEXES)
def test_hostile_jsonp_index(target: Any, good: Any, index: str) -> None:
    """Only an all-digits ``i`` (or ``jsonp``) is ever written into the script, as in 0.9:
    anything else becomes 0 for a poll, and a plain-text handshake."""
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        shake = requests.get(f"{base(t)}/", params={"jsonp": index}, timeout=TIMEOUT)
        assert shake.status_code == 200
        assert shake.headers["Content-Type"].startswith("text/plain")
        sid = shake.text.split(":")[0]
        assert re.fullmatch(r"[\w-]+:60:1:[a-z,-]+", shake.text), shake.text
        reply = requests.get(f"{base(t)}/jsonp-polling/{sid}", params={"i": index}, timeout=TIMEOUT)
        match = JSONP.fullmatch(reply.text)
        assert match is not None, reply.text
        assert (match[1], json.loads(match[2])) == ("0", "1::")
        assert "alert" not in reply.text and "<" not in reply.text


def _chunks(sock: socket.socket, buf: bytes) -> Iterator[bytes]:
    """The chunks of a chunked response body (``buf``: what was read past the head)."""

    def fill() -> None:
        nonlocal buf
        data = sock.recv(65536)
        if not data:
            raise EOFError("closed mid-stream")
        buf += data

    for _ in range(10_000):
        while b"\r\n" not in buf:
            fill()
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line, 16)
        while len(buf) < size + 2:
            fill()
        chunk, buf = buf[:size], buf[size + 2 :]
        if not size:
            return
        yield chunk


def test_htmlfile_stream_with_garbage(target: Any, good: Any, raw: list[Any]) -> None:
    """A garbage POST on an htmlfile session: 400; the open stream gets the farewell script
    and ends properly (last chunk), nothing is left running."""
    t = target(legacy=FAST)
    g = good(t)
    host, port = t.address
    with g.steady():
        sid = handshake(t)
        status, headers, rest, sock = http(
            t,
            f"GET /socket.io/1/htmlfile/{sid}?i=%3C/script%3E HTTP/1.1\r\nHost: {host}:{port}",
            read_body=False,
        )
        raw.append(sock)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        sock.settimeout(TIMEOUT)
        chunks = _chunks(sock, rest)
        assert next(chunks) == PROLOGUE.encode()
        assert next(chunks) == b'<script>_("1::");</script>'
        reply = requests.post(
            f"{base(t)}/htmlfile/{sid}", data=b"\x00\xff garbage", timeout=TIMEOUT
        )
        assert reply.status_code == 400
        assert list(chunks) == [b'<script>_("0::");</script>']
    disconnected(t, sid, "parse error")
    assert sid not in t.legacy.connections


# --- WebSocket and flashsocket -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "code"),
    [
        (frame(0x1, b"3:::" + b"x" * 2000), 1009),
        (frame(0x1, b"", length=2**40), 1009),
        (frame(0x1, b"3:::\xff"), 1007),
        (frame(0x1, b"3:::hi", masked=False), 1002),
        (b"\xff" * 64, 1002),
    ],
)
@pytest.mark.parametrize("transport", ["websocket", "flashsocket"])
def test_legacy_websocket_bad_frames(
    target: Any,
    good: Any,
    legacy_good: Any,
    raw: list[Any],
    transport: str,
    attack: bytes,
    code: int,
) -> None:
    t = target(legacy=FAST, max_http_buffer_size=1000)
    g = good(t)
    old = legacy_good(t)
    with g.steady():
        sid, ws = joined_ws(t)
        raw.append(ws)
        ws.sock.sendall(attack)
        _messages, closed_with = ws.until_close()
        assert closed_with == code
    disconnected(t, sid, "transport close")
    old.check()


@pytest.mark.parametrize("message", ["garbage", "5:::{", b"\x00binary", "9::", "7:::9"])
def test_legacy_websocket_bad_packets(
    target: Any, good: Any, raw: list[Any], message: str | bytes
) -> None:
    """A malformed packet (or any binary frame: 0.9 is text only) ends the session with the
    farewell ``0::`` and a normal close."""
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        sid, ws = joined_ws(t)
        raw.append(ws)
        ws.send(message)
        messages, code = ws.until_close()
        assert messages[-1:] == ["0::"] and code == 1000
    disconnected(t, sid, "parse error")
    assert sid not in t.legacy.connections


# --- sizes -------------------------------------------------------------------------------------


def test_legacy_post_over_the_limit(target: Any, good: Any, raw: list[Any]) -> None:
    t = target(legacy=FAST, max_http_buffer_size=1000)
    g = good(t)
    host, port = t.address
    with g.steady():
        sid = opened(t)
        reply = requests.post(
            f"{base(t)}/xhr-polling/{sid}", data=b"3:::" + b"x" * 1000, timeout=TIMEOUT
        )
        assert (reply.status_code, reply.headers["Connection"]) == (413, "close")
        assert requests.get(f"{base(t)}/xhr-polling/{sid}", timeout=TIMEOUT).text == "0::"
        # Declared huge, and chunked without end: answered, closed, not drained.
        for headers, body in [
            (f"Content-Length: {10**12}", b"3:::x"),
            ("Transfer-Encoding: chunked", b"800\r\n" + b"x" * 0x800 + b"\r\n"),
        ]:
            sid = opened(t)
            status, _h, _b, sock = http(
                t,
                f"POST /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                + headers,
                body,
            )
            raw.append(sock)
            assert status == 413
            if "chunked" in headers:
                for _ in range(100):  # keep sending: the server must not keep reading
                    try:
                        sock.sendall(b"800\r\n" + b"x" * 0x800 + b"\r\n")
                    except OSError:
                        break
            assert closed_by_server(sock)
    wait_until(lambda: not t.legacy.connections, "the sessions to be dropped", TIMEOUT)


# --- abandoned and slow clients ----------------------------------------------------------------


def test_abandoned_handshakes_and_sessions(target: Any, good: Any, raw: list[Any]) -> None:
    """Handshakes never used, sessions whose transport went away, WebSockets that never send:
    all dropped within the 0.9 timeouts; the endpoint's table returns to empty."""
    t = target(
        legacy={
            "close_timeout": 3.0,  # longer than creating the 90 sessions takes on a busy machine
            "heartbeat_interval": 0.3,
            "heartbeat_timeout": 0.8,
            "polling_duration": 0.3,
        }
    )
    g = good(t)
    with g.steady():
        made: list[str] = []
        for _ in range(30):
            made.append(handshake(t))  # never used
            made.append(opened(t))  # one GET, then nothing
            made.append(handshake(t))
            ws = legacy_ws(t, made[-1])  # opened, then silent (it never reads either)
            raw.append(ws)
            # each was in the table when made (on a loaded machine the first ones may expire
            # before the last is made, so the whole 90 are not counted at one instant)
            assert all(sid in t.legacy.connections for sid in made[-3:]), made[-3:]
        assert len(set(made)) == 90
        wait_until(lambda: not t.legacy.connections, "the legacy sessions to expire", timeout=10)
        for ws in raw:
            if isinstance(ws, RawWS):
                assert closed_by_server(
                    ws.sock, within=DEFAULT_CLOSE_TIMEOUT + 3, max_bytes=1 << 16
                )
    assert t.sio.sockets() == [g.sid]
    assert t.legacy._pending == 0


def test_unused_handshakes_are_bounded(target: Any, good: Any) -> None:
    t = target(legacy={"max_pending_handshakes": 20, **FAST})
    g = good(t)
    with g.steady():
        for _ in range(20):
            handshake(t)
        refused = requests.get(f"{base(t)}/", timeout=TIMEOUT)
        assert (refused.status_code, refused.text) == (503, "handshake refused")
        refused = requests.get(f"{base(t)}/?jsonp=2", timeout=TIMEOUT)
        assert (refused.status_code, refused.text) == (
            200,
            'io.j[2](new Error("handshake refused"));',
        )
        wait_until(lambda: not t.legacy.connections, "the unused handshakes to expire")
        handshake(t)


def test_legacy_websocket_client_that_never_reads(
    target: Any, legacy_good: Any, raw: list[Any]
) -> None:
    """A 0.9 client that stops reading: bounded queue, "outgoing buffer full", its socket
    dropped at once; the real 0.9 client in the room gets every broadcast."""
    t = target(legacy={"max_buffered_bytes": 2_000_000, **FAST})
    old = legacy_good(t)
    sid, ws = joined_ws(t)
    raw.append(ws)
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    old.check()
    first = old.sent
    with gevent.Timeout(30, AssertionError("the greedy client was never cut off")):
        for n in range(first, first + 400):
            t.sio.emit("bulletin", {"n": n, "pad": PAD}, to=LOBBY)
            if t.legacy.connections.get(sid) is None or t.legacy.connections[sid].closed:
                break
            if n % 8 == 7:
                old.drain(n + 1)
        else:
            raise AssertionError("no disconnect with 'outgoing buffer full'")
    old.drain(n + 1)
    disconnected(t, sid, "outgoing buffer full")
    assert closed_by_server(ws.sock, within=1, max_bytes=8 << 20), "the greedy client is kept"
    old.check()


# --- the Flash policy server -------------------------------------------------------------------


@pytest.fixture
def policy(target: Any) -> Iterator[tuple[Target, tuple[str, int]]]:
    t = target(legacy=FAST)
    server = t.legacy.policy_server(("127.0.0.1", 0), ports=[t.address[1]], timeout=0.5)
    server.start()
    yield t, ("127.0.0.1", server.server_port)
    server.stop(timeout=1)


def _policy_answer(address: tuple[str, int], data: bytes) -> tuple[bytes, float]:
    """What the policy server answers ``data`` with, and how long until it closed."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        with contextlib.suppress(OSError):  # it may close before taking it all: the point
            sock.sendall(data)
        answer = b""
        for _ in range(1000):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    return answer, time.monotonic() - started


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # garbage: closed at once, no answer
        b"\x00",
        b"<policy-file-request/>",  # no NUL: waits for the rest, then times out
        b"<policy-file-request/>\x00\x00extra",  # the request, then more: answered once
        b"x" * 10_000_000,  # huge: read 64 bytes at most, then closed
        b"",  # nothing at all: closed after the timeout
    ],
    ids=["http", "nul", "partial", "extra", "huge", "nothing"],
)
def test_policy_server_input(policy: Any, good: Any, data: bytes) -> None:
    t, address = policy
    g = good(t)
    with g.steady():
        answer, took = _policy_answer(address, data)
        if data.startswith(b"<policy-file-request/>\x00"):
            assert answer.startswith(b"<?xml") and answer.endswith(b"</cross-domain-policy>\x00")
        else:
            assert answer == b""
        assert took < 0.5 + 1.5
        # The next well-behaved Flash client is served.
        answer, _ = _policy_answer(address, b"<policy-file-request/>\x00")
        assert b'to-ports="%d"' % t.address[1] in answer


def test_policy_server_many_silent_clients(policy: Any, good: Any) -> None:
    t, address = policy
    g = good(t)
    with g.steady():
        sockets = [socket.create_connection(address, timeout=TIMEOUT) for _ in range(100)]
        try:
            answer, _ = _policy_answer(address, b"<policy-file-request/>\x00")
            assert answer.endswith(b"</cross-domain-policy>\x00")  # served meanwhile
            with gevent.Timeout(TIMEOUT, AssertionError("silent policy clients kept")):
                for sock in sockets:
                    assert closed_by_server(sock, within=2)
        finally:
            for sock in sockets:
                sock.close()


# --- handshake flooding from one address (issue 9) ---------------------------------------------


def shake_from(t: Target, source: str, count: int) -> list[str]:
    """``count`` handshakes on one keep-alive raw socket bound to the address ``source``."""
    sock = socket.create_connection(t.address, timeout=TIMEOUT, source_address=(source, 0))
    sids: list[str] = []
    try:
        for n in range(count):
            status, _headers, body, _ = modern.http(
                t, f"GET /socket.io/1/?t={n} HTTP/1.1\r\nHost: x", sock=sock
            )
            assert status == 200, (status, body)
            sids.append(body.decode().split(":")[0])
    finally:
        sock.close()
    return sids


def test_one_address_flooding_handshakes_locks_nobody_out(
    target: Any, good: Any, legacy_good: Any
) -> None:
    """An attacker on 127.0.0.2 handshakes far more than the whole table holds and never uses
    the sids: it is never refused (its own oldest sids make room), its share stays bounded, and
    the real 0.9.16 client (on 127.0.0.1) still connects and gets every broadcast."""
    bounds = {"max_pending_handshakes": 100, "max_pending_per_address": 20}
    # Long timeouts: only the per-address bound may drop a sid here, never a slow machine.
    t = target(legacy={**FAST, **bounds, "close_timeout": 30, "handshake_timeout": 60})
    g = good(t)
    with g.steady():
        sids = shake_from(t, "127.0.0.2", 300)
        assert t.legacy._pending <= 20
        assert set(sids[-20:]) <= set(t.legacy.connections)
        assert not set(sids[:-20]) & set(t.legacy.connections)
        reply = requests.get(f"{base(t)}/xhr-polling/{sids[0]}", timeout=TIMEOUT)
        assert reply.text == "7:::1+0"  # dropped: not handshaken
        old = legacy_good(t, "xhr-polling")
        old.check()
        assert requests.get(f"{base(t)}/xhr-polling/{sids[-1]}", timeout=TIMEOUT).text == "1::"
    assert not any(sid in t.sio.sockets() for sid in sids[:-1])


# --- JSONP is opt-in and same-page only (issue 9) ----------------------------------------------


def test_cross_site_jsonp_reads_are_refused(target: Any, good: Any) -> None:
    """A page cors_allowed_origins does not name cannot read a session through <script>: its
    JSONP polls and posts get 403 (with or without a Referer); the session is untouched."""
    t = target(
        legacy={**FAST, "cors_allowed_origins": ["http://good.example"], "close_timeout": 30}
    )
    g = good(t)
    with g.steady():
        sid = opened(t)
        for headers in ({"Referer": "http://evil.example/x"}, {}):
            poll = requests.get(
                f"{base(t)}/jsonp-polling/{sid}?i=0", headers=headers, timeout=TIMEOUT
            )
            assert (poll.status_code, poll.text) == (403, "Forbidden\n")
            post = requests.post(
                f"{base(t)}/jsonp-polling/{sid}",
                data={"d": '"3:::x"'},
                headers=headers,
                timeout=TIMEOUT,
            )
            assert (post.status_code, post.text) == (403, "Forbidden\n")
        ok = requests.get(
            f"{base(t)}/jsonp-polling/{sid}?i=0",
            headers={"Referer": "http://good.example/chat"},
            timeout=TIMEOUT,
        )
        assert (ok.status_code, ok.text) == (200, 'io.j[0]("8::");')


def test_jsonp_is_refused_when_not_enabled(target: Any, good: Any) -> None:
    t = target(legacy={"polling_duration": 0.5, "close_timeout": 1.0})
    g = good(t)
    with g.steady():
        shake = requests.get(f"{base(t)}/", params={"jsonp": "0"}, timeout=TIMEOUT)
        assert (shake.status_code, shake.text) == (403, "handshake jsonp disabled")
        sid = handshake(t)
        poll = requests.get(f"{base(t)}/jsonp-polling/{sid}?i=0", timeout=TIMEOUT)
        assert (poll.status_code, poll.text) == (200, "7:::0")


# --- client data cannot forge log lines (issue 9) ----------------------------------------------

FORGED = "\nERROR gsocketio.server forged line\r\x1b[31m"


def test_client_strings_cannot_forge_log_lines(
    target: Any, good: Any, raw: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Namespace and event names with newlines and escape sequences, from a 4.x and a 0.9
    raw client: each gets its exact answer, and every log record's formatted message holds
    the name escaped, never a raw control character."""
    caplog.set_level(logging.DEBUG, logger="gsocketio")
    t = target(legacy=FAST)
    g = good(t)
    with g.steady():
        a = modern.Attacker(t)
        raw.append(a)
        a.send(f"40/a{FORGED},")
        refused = a.recv()
        assert refused == f'44/a{FORGED},{{"message":"Invalid namespace"}}'
        a.send(json.dumps(["x" + FORGED], separators=(",", ":")).join(["427", ""]))
        a.send('428["echo","still here"]')
        assert a.drain_until_ack(8) == '438["still here"]'
        _sid, ws = joined_ws(t)
        raw.append(ws)
        ws.send(f"1::/b{FORGED}")
        for _ in range(1000):  # the witness's steady broadcasts may arrive first
            message = recv_skipping_heartbeats(ws)
            if not (isinstance(message, str) and message.startswith("5:::")):
                break
        assert message == f"7::/b{FORGED}:2"  # unauthorized
        ws.send('5:9+::{"name":"echo","args":["ok"]}')
        for _ in range(1000):
            message = recv_skipping_heartbeats(ws)
            if isinstance(message, str) and message.startswith("6:::9+"):
                assert message == '6:::9+["ok"]'
                break
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("gsocketio")]
    control = re.compile("[\x00-\x1f\x7f-\x9f]")
    assert not [m for m in messages if control.search(m)]
    escaped = "\\nERROR gsocketio.server forged line\\r\\x1b[31m"
    assert any(f"/a{escaped}" in m for m in messages), messages
    assert any(f"/b{escaped}" in m for m in messages), messages
