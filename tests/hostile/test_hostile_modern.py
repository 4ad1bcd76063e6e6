"""Hostile input against the real server (Engine.IO 3/4, WebSocket, Socket.IO 4/5).

Every test keeps a well-behaved client (python-socketio, or the official Node 4.x client) in
the room ``lobby`` while a raw-socket attacker sends something hostile. Each test asserts the
specific answer the attacker gets (Engine.IO error JSON, 413, WebSocket close code, CONNECT_ERROR,
a closed connection) and that the good client still receives *every* broadcast, in order and in
time, and still gets its acks. An autouse fixture fails the test if any greenlet died with an
exception or anything logged at ERROR level: a crash anywhere in the server is a failure even
when the answers look right.

Expected bytes are the protocols' (engine.io-protocol and socket.io-protocol READMEs, RFC 6455
close codes), written out by hand. Waits are bounded (``gevent.Timeout``, socket timeouts,
bounded loops); no sleep is used for synchronisation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gevent
import gevent.event
import pytest
import requests
import socketio

import gsocketio
from gsocketio.legacy import LegacyServer
from gsocketio.websocket.connection import DEFAULT_CLOSE_TIMEOUT
from tests.helpers.chat_app import Recorder, build
from tests.helpers.engine import get_pending, post_pending
from tests.helpers.node import NodeClient
from tests.helpers.rawhttp import closed_by_server, open_raw, poll_head, read_response

TIMEOUT = 5.0
LOBBY = "lobby"
HTTP_TIMEOUT = 2.0  # SocketIOServer's http_timeout in these tests
LATENCY = 2.0  # a broadcast reaches the good client within this, whatever the attacker does
MASK = b"\x37\xfa\x21\x3d"
BAD_REQUEST = {"code": 3, "message": "Bad request"}
UNKNOWN_SID = {"code": 1, "message": "Session ID unknown"}


# --- the server under attack -------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    url: str
    sio: gsocketio.Server
    rec: Recorder
    legacy: LegacyServer

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    @property
    def eio_url(self) -> str:
        return self.url + "/socket.io/"

    def handshake_ok(self) -> None:
        """A fresh client can still open a session (the server is alive and accepting)."""
        reply = requests.get(
            self.eio_url, params={"EIO": "4", "transport": "polling"}, timeout=TIMEOUT
        )
        assert reply.status_code == 200 and reply.text.startswith('0{"sid":'), reply.text
        sid = json.loads(reply.text[1:])["sid"]
        requests.post(
            self.eio_url,
            params={"EIO": "4", "transport": "polling", "sid": sid},
            data=b"1",
            timeout=TIMEOUT,
        )


@pytest.fixture
def target(serve: Callable[..., str]) -> Iterator[Callable[..., Target]]:
    """Start the chat app (modern and 0.9 endpoints) with Server/LegacyServer options."""
    started: list[Target] = []

    def _start(
        legacy: dict[str, Any] | None = None, http_timeout: float = HTTP_TIMEOUT, **options: Any
    ) -> Target:
        options.setdefault("cors_allowed_origins", "*")
        sio, rec = build(**options)
        endpoint = LegacyServer(sio, **(legacy or {}))
        url = serve(sio.wsgi_app(legacy_app=endpoint), http_timeout=http_timeout)
        t = Target(url, sio, rec, endpoint)
        started.append(t)
        return t

    yield _start
    for t in started:
        t.legacy.close()
        t.sio.engine.close()


@pytest.fixture(autouse=True)
def no_crash(caplog: pytest.LogCaptureFixture) -> Iterator[list[Any]]:
    """Fail on any greenlet that died with an exception and on any ERROR log record."""
    hub = gevent.get_hub()
    crashes: list[Any] = []
    original = hub.handle_error

    def handle_error(context: Any, kind: Any, value: Any, tb: Any) -> Any:
        if kind is not None and not issubclass(kind, gevent.GreenletExit | SystemExit):
            crashes.append((context, value))
        return original(context, kind, value, tb)

    hub.handle_error = handle_error
    caplog.set_level(logging.INFO, logger="gsocketio")
    try:
        yield crashes
    finally:
        hub.handle_error = original
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, f"greenlets crashed: {crashes}"
    assert not errors, f"errors logged: {errors}"


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll a server-side condition; bounded in time and in iterations."""
    with gevent.Timeout(timeout, AssertionError(f"timed out waiting for {what}")):
        for _ in range(100_000):
            if predicate():
                return
            gevent.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


# --- the good clients --------------------------------------------------------------------------


class Good:
    """python-socketio's client in the lobby: proves the attack cost other clients nothing.

    :meth:`check` broadcasts once more and asserts every broadcast so far arrived, in order,
    each within :data:`LATENCY`, and that an ack round trip works.
    """

    def __init__(self, t: Target, transports: tuple[str, ...] = ("websocket",)) -> None:
        self.t = t
        self.sent_at: list[float] = []
        self.got_at: list[float] = []
        self.news: list[Any] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("news", self._on_news)
        self.client.connect(t.url, transports=list(transports), wait_timeout=TIMEOUT)
        assert LOBBY in self.client.call("join", LOBBY, timeout=TIMEOUT)
        self.sid = self.client.get_sid("/")

    def _on_news(self, n: Any) -> None:
        self.got_at.append(time.monotonic())
        self.news.append(n)

    def broadcast(self) -> None:
        self.sent_at.append(time.monotonic())
        self.t.sio.emit("news", len(self.sent_at) - 1, to=LOBBY)

    def check(self) -> None:
        self.broadcast()
        try:
            wait_until(lambda: len(self.news) >= len(self.sent_at), "broadcasts")
        except AssertionError:
            raise AssertionError(
                f"the good client got {self.news} of {len(self.sent_at)} broadcasts"
            ) from None
        assert self.news == list(range(len(self.sent_at))), "broadcasts lost or reordered"
        worst = max(got - sent for got, sent in zip(self.got_at, self.sent_at, strict=True))
        assert worst < LATENCY, f"a broadcast took {worst:.2f} s"
        token = f"ack-{len(self.sent_at)}"
        assert self.client.call("echo", token, timeout=TIMEOUT) == token
        assert self.client.connected
        self.t.handshake_ok()

    @contextmanager
    def steady(self, every: float = 0.01, limit: int = 3000) -> Iterator[None]:
        """Broadcast to the lobby all along the attack (paced, bounded); check afterwards."""
        stop = gevent.event.Event()

        def run() -> None:
            for _ in range(limit):
                self.broadcast()
                if stop.wait(every):
                    return

        pacer = gevent.spawn(run)
        try:
            yield
        finally:
            stop.set()
            pacer.join(TIMEOUT)
        self.check()

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def good() -> Iterator[Callable[..., Good]]:
    clients: list[Good] = []

    def _make(t: Target, **kwargs: Any) -> Good:
        client = Good(t, **kwargs)
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


NODE_GOOD = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ARGS.transports, reconnection: false });
s.on("bulletin", (n) => out({ news: typeof n === "object" ? n.n : n }));
s.on("connect", () => s.emit("join", "lobby", (rooms) => out({ joined: rooms })));
s.on("disconnect", (reason) => out({ error: "disconnected: " + reason }));
onLine((cmd) => s.emit("echo", cmd.token, (token) => out({ echoed: token })));
"""


class NodeGood:
    """The official socket.io-client 4.x in the lobby (same checks as :class:`Good`, on the
    event ``bulletin`` so both can share the room)."""

    def __init__(self, t: Target, transports: tuple[str, ...] = ("polling", "websocket")) -> None:
        self.t = t
        self.node = NodeClient(NODE_GOOD, t.url, args={"transports": list(transports)}, timeout=90)
        assert LOBBY in self.node.expect("joined")["joined"]
        self.sent = 0
        self.received = 0

    def drain(self, sent: int) -> None:
        """Read broadcasts up to number ``sent`` (exclusive); all must arrive, in order."""
        with gevent.Timeout(LATENCY, AssertionError("node client missed broadcasts")):
            while self.received < sent:
                assert self.node.expect("news")["news"] == self.received
                self.received += 1
        self.sent = max(self.sent, sent)

    def check(self, burst: int = 20) -> None:
        for _ in range(burst):
            self.t.sio.emit("bulletin", self.sent, to=LOBBY)
            self.sent += 1
        self.drain(self.sent)
        token = f"node-{self.sent}"
        self.node.send({"token": token})
        assert self.node.expect("echoed")["echoed"] == token

    def close(self) -> None:
        self.node.close()


# --- raw clients -------------------------------------------------------------------------------


def http(
    t: Target,
    head: str,
    body: bytes = b"",
    *,
    read_body: bool = True,
    sock: socket.socket | None = None,
) -> tuple[int, dict[str, str], bytes, socket.socket]:
    """Send a raw request (``head`` without the final blank line); read the response."""
    if sock is None:
        sock = socket.create_connection(t.address, timeout=TIMEOUT)
    sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
    status, headers, data = read_response(sock, read_body=read_body)
    return status, headers, data, sock


def eio(t: Target, version: int = 4, **params: str) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"EIO": str(version), "transport": "polling", **params}.items()
    )
    return f"{t.eio_url}?{query}"


def open_polling(t: Target, version: int = 4) -> str:
    """Engine.IO polling handshake; returns the sid."""
    reply = requests.get(eio(t, version), timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    text = reply.text if version == 4 else reply.text.partition(":")[2]
    assert text.startswith("0{"), text
    sid: str = json.loads(text[1 : text.index("}") + 1])["sid"]
    return sid


def assert_error(reply: requests.Response, status: int, body: dict[str, Any]) -> None:
    assert reply.status_code == status, (reply.status_code, reply.text)
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == body


def mask(payload: bytes, key: bytes = MASK) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(
    opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True, length: int | None = None
) -> bytes:
    """One client frame; ``length`` may lie about the payload's size."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | opcode
    bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    return head + (MASK + mask(payload) if masked else payload)


class RawWS:
    """A WebSocket client on a raw socket, for frames no library would send."""

    def __init__(self, t: Target, path: str) -> None:
        self.sock = socket.create_connection(t.address, timeout=TIMEOUT)
        self.buf = b""
        head = (
            f"GET {path} HTTP/1.1\r\nHost: {t.address[0]}:{t.address[1]}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
        )
        self.sock.sendall(head.encode() + b"\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        response, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(response.split()[1])
        self.body = b""
        if self.status != 101:
            match = re.search(rb"content-length: *(\d+)", response, re.I)
            self.body = self._exact(int(match[1])) if match else b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("closed by the server")
        self.buf += chunk

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            self.sock.sendall(frame(0x1, data.encode()))
        else:
            self.sock.sendall(frame(0x2, data))

    def read_frame(self) -> tuple[int, bytes]:
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._exact(8))
        return b0 & 0x0F, self._exact(n)

    def recv(self) -> str | bytes:
        """The next data message; Engine.IO pings are answered on the way."""
        for _ in range(1000):
            opcode, payload = self.read_frame()
            if opcode == 0x1:
                text = payload.decode()
                if text == "2":
                    self.send("3")
                    continue
                return text
            if opcode == 0x2:
                return payload
            if opcode == 0x8:
                raise EOFError(f"close frame {payload!r}")
        raise AssertionError("no data message")

    def until_close(self) -> tuple[list[str | bytes], int | None]:
        """Messages, then the close code, until the server closes the connection."""
        messages: list[str | bytes] = []
        for _ in range(10_000):
            try:
                opcode, payload = self.read_frame()
            except (EOFError, ConnectionResetError):
                return messages, None
            if opcode == 0x8:
                return messages, self._closing(payload)
            if opcode in (0x1, 0x2):
                messages.append(payload.decode() if opcode == 0x1 else payload)
        raise AssertionError("too many frames before close")

    def _closing(self, payload: bytes) -> int:
        """Answer the server's close frame as RFC 6455 asks; the server must then close TCP."""
        code: int = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        with contextlib.suppress(OSError):  # it failed the connection, closed at once: fine
            self.sock.sendall(frame(0x8, payload[:2]))
        with gevent.Timeout(TIMEOUT, AssertionError("socket left open after close")):
            assert closed_by_server(self.sock)
        return code

    def until_close_without_pong(self) -> tuple[list[str | bytes], int | None]:
        """Like :meth:`until_close`, never answering a ping."""
        messages: list[str | bytes] = []
        for _ in range(10_000):
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                return messages, self._closing(payload)
            messages.append(payload.decode() if opcode == 0x1 else payload)
        raise AssertionError("too many frames before close")

    def close(self) -> None:
        self.sock.close()


class Attacker(RawWS):
    """An Engine.IO 4 / Socket.IO 5 session over a raw WebSocket, in the lobby by default."""

    def __init__(self, t: Target, *, join: bool = True, query: str = "") -> None:
        super().__init__(t, f"/socket.io/?EIO=4&transport=websocket{query}")
        assert self.status == 101, (self.status, self.body)
        opened = self.recv()
        assert isinstance(opened, str) and opened.startswith('0{"sid":'), opened
        self.sid = json.loads(opened[1:])["sid"]
        self.sio_sid = ""
        if join:
            self.send("40")
            reply = self.recv()
            assert isinstance(reply, str) and reply.startswith('40{"sid":'), reply
            self.sio_sid = json.loads(reply[2:])["sid"]
            self.send(f'420["join","{LOBBY}"]')
            self.drain_until_ack(0)

    def drain_until_ack(self, ack_id: int) -> str:
        """Skip broadcasts until the ack ``ack_id`` (they may interleave)."""
        for _ in range(10_000):
            message = self.recv()
            if isinstance(message, str) and message.startswith(f"43{ack_id}["):
                return message
        raise AssertionError(f"no ack {ack_id}")


@pytest.fixture
def raw() -> Iterator[list[Any]]:
    """Closes whatever raw sockets a test leaves open."""
    opened: list[Any] = []
    yield opened
    for item in opened:
        item.close()


# --- Engine.IO long-polling ----------------------------------------------------------------------

GARBAGE_V4 = ["zzz", "", "4hello\x1e", "\x1e\x1e", "b!!!!", "9nine", "4a\x1e\x1e4b"]
GARBAGE_V3 = [
    "5:4hi",  # the prefix overruns the body
    "x:4hi",
    ":4hi",
    "4hi",  # no prefix at all
    "99999999999999999999:4hi",  # a declared length far above max_http_buffer_size
    "3:4hi3:4",  # a valid packet, then a truncated one
    "1:9",  # unknown packet type
    "-1:4",
    "2:4\U0001f600",  # the length (UTF-16 units) ends inside the emoji's surrogate pair
]


@pytest.mark.parametrize(
    ("version", "body"), [(4, b) for b in GARBAGE_V4] + [(3, b) for b in GARBAGE_V3]
)
def test_polling_garbage_payload(target: Any, good: Any, version: int, body: str) -> None:
    t = target()
    g = good(t)
    with g.steady():
        sid = open_polling(t, version)
        reply = requests.post(eio(t, version, sid=sid), data=body.encode(), timeout=TIMEOUT)
        assert_error(reply, 400, BAD_REQUEST)
        assert_error(requests.get(eio(t, version, sid=sid), timeout=TIMEOUT), 400, UNKNOWN_SID)
    assert sid not in t.sio.engine.connections
    if version == 3:  # a v3 client is in "/" from the start: its disconnect handler ran
        wait_until(lambda: ("/", sid, "parse error") in t.rec.disconnects, "v3 disconnect")
    t.handshake_ok()


@pytest.mark.parametrize(
    ("version", "body", "content_type"),
    [
        (4, b"4\xff\xfe", "text/plain;charset=UTF-8"),
        (4, b"4ok\x1e4\xc3\x28", "text/plain;charset=UTF-8"),
        (3, b"3:4\xff", "text/plain;charset=UTF-8"),
        (3, b"\x00\x03\xff4\xff\xfe", "application/octet-stream"),  # binary payload, bad UTF-8
        (3, b"\x00" + b"\x09" * 12 + b"\xff4", "application/octet-stream"),  # huge length
        (3, b"\x07\x01\xff4", "application/octet-stream"),  # bad marker byte
        (4, b"4binary", "application/octet-stream"),  # v4 never posts binary
    ],
)
def test_polling_invalid_bytes(
    target: Any, good: Any, version: int, body: bytes, content_type: str
) -> None:
    t = target()
    g = good(t)
    with g.steady():
        sid = open_polling(t, version)
        reply = requests.post(
            eio(t, version, sid=sid),
            data=body,
            headers={"Content-Type": content_type},
            timeout=TIMEOUT,
        )
        assert_error(reply, 400, BAD_REQUEST)
    assert sid not in t.sio.engine.connections


def test_polling_body_over_the_limit(target: Any, good: Any, raw: list[Any]) -> None:
    t = target(max_http_buffer_size=1000)
    g = good(t)
    with g.steady():
        sid = open_polling(t)
        reply = requests.post(eio(t, sid=sid), data=b"4" + b"x" * 1000, timeout=TIMEOUT)
        assert (reply.status_code, reply.content) == (413, b"")
        assert reply.headers["Connection"] == "close"
        assert_error(requests.get(eio(t, sid=sid), timeout=TIMEOUT), 400, UNKNOWN_SID)
        # Exactly at the limit is fine.
        sid = open_polling(t)
        reply = requests.post(eio(t, sid=sid), data=b"4" + b"x" * 999, timeout=TIMEOUT)
        assert (reply.status_code, reply.text) == (200, "ok")


@pytest.mark.parametrize("known_sid", [True, False])
def test_huge_declared_content_length_is_not_drained(
    target: Any, good: Any, raw: list[Any], known_sid: bool
) -> None:
    """A body announced as a terabyte: answered at once, and the connection is closed instead
    of reading (or discarding) what the client says will follow."""
    t = target()
    g = good(t)
    with g.steady():
        sid = open_polling(t) if known_sid else "bogus"
        status, _headers, body, sock = http(
            t,
            poll_head(t.address, "POST", sid)
            + f"\r\nContent-Type: text/plain\r\nContent-Length: {10**12}",
            b"4hello",
        )
        raw.append(sock)
        if known_sid:
            assert (status, body) == (413, b"")
        else:
            assert (status, json.loads(body)) == (400, UNKNOWN_SID)
        assert closed_by_server(sock), "the server keeps reading a body it refused"


def test_unread_bodies_are_skipped_only_when_small(target: Any, good: Any, raw: list[Any]) -> None:
    """A refused POST whose body the server never needed: a small one is skipped and the
    keep-alive connection serves the next request; a big one closes the connection."""
    t = target()
    g = good(t)
    post = poll_head(t.address, "POST", "bogus") + "\r\nContent-Length: {}"
    with g.steady():
        status, _h, body, sock = http(t, post.format(1000), b"4" * 1000)
        raw.append(sock)
        assert (status, json.loads(body)) == (400, UNKNOWN_SID)
        status, _h, body, _sock = http(t, poll_head(t.address), sock=sock)
        assert status == 200 and body.startswith(b'0{"sid":')
        size = 1_000_000
        sock = open_raw(t.address, raw)

        def send_all() -> None:
            with contextlib.suppress(OSError):  # the server may close before taking it all
                sock.sendall(post.format(size).encode() + b"\r\n\r\n" + b"4" * size)

        sender = gevent.spawn(send_all)
        status, _h, body = read_response(sock)
        assert (status, json.loads(body)) == (400, UNKNOWN_SID)
        assert closed_by_server(sock, max_bytes=0)
        sender.join(TIMEOUT)


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        ("Content-Length: abc", b"4x"),
        ("Content-Length: -1", b"4x"),
        ("Content-Length: 2\r\nContent-Length: 3", b"4xy"),  # which one? (smuggling)
        ("Transfer-Encoding: gzip, chunked", b"2\r\n4x\r\n0\r\n\r\n"),
        ("Transfer-Encoding: identity\r\nContent-Length: 2", b"4x"),
        ("Transfer-Encoding: chunked", b"zz\r\n4x\r\n0\r\n\r\n"),  # not a chunk size
        ("Transfer-Encoding: chunked", b"f" * 40 + b"\r\n"),  # a chunk size over 64 bits
        ("Transfer-Encoding: chunked", b"2;" + b"e" * 20_000 + b"\r\n4x\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked", b"2\r\n4xNOCRLF0\r\n\r\n"),
    ],
    ids=[
        "length-abc",
        "length-negative",
        "two-lengths",
        "te-gzip",
        "te-identity",
        "chunk-size",
        "chunk-huge",
        "chunk-extension",
        "chunk-crlf",
    ],
)
def test_broken_body_framing(
    target: Any, good: Any, raw: list[Any], framing: str, body: bytes
) -> None:
    """Bodies whose HTTP framing is broken: a 400 (from the server or the engine), the
    connection closed (it cannot be resynchronised), the session closed if it was reached."""
    t = target()
    g = good(t)
    host, port = t.address
    with g.steady():
        sid = open_polling(t)
        status, _h, _b, sock = http(
            t,
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n{framing}",
            body,
        )
        raw.append(sock)
        assert status == 400
        assert closed_by_server(sock)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_chunked_body_over_the_limit_is_bounded(target: Any, good: Any, raw: list[Any]) -> None:
    """Transfer-Encoding: chunked, no Content-Length, and it never ends: the server reads at
    most the limit, answers 413 and closes; the attacker's writes then fail."""
    t = target(max_http_buffer_size=10_000)
    g = good(t)
    with g.steady():
        sid = open_polling(t)
        sock = open_raw(t.address, raw)
        sock.sendall(
            (
                poll_head(t.address, "POST", sid)
                + "\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
            + _chunk(b"4")
        )
        sent = 0

        def flood() -> None:
            nonlocal sent
            piece = _chunk(b"x" * 4096)
            for _ in range(25_000):  # 100 MB at most
                try:
                    sock.sendall(piece)
                except OSError:
                    return
                sent += len(piece)

        flooder = gevent.spawn(flood)
        status, _headers, body = read_response(sock)
        assert (status, body) == (413, b"")
        assert closed_by_server(sock)
        flooder.join(TIMEOUT)
        assert flooder.dead, "the server is still reading the chunked body"
        assert sent < 20_000_000, f"the server read {sent} bytes of a refused body"
    assert_error(requests.get(eio(t, sid=sid), timeout=TIMEOUT), 400, UNKNOWN_SID)


def test_slow_chunked_body_is_bounded_in_time(target: Any, serve: Any, raw: list[Any]) -> None:
    """A body that trickles forever (each piece under the limit) cannot hold a request open
    past the server's read timeout."""
    t = target()
    sid = open_polling(t)
    sock = open_raw(t.address, raw)
    sock.sendall(
        (poll_head(t.address, "POST", sid) + "\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        + _chunk(b"4a")
    )
    with gevent.Timeout(TIMEOUT, AssertionError("a trickling body holds the request open")):
        assert closed_by_server(sock, within=HTTP_TIMEOUT + 2)


def test_concurrent_gets_on_one_sid(target: Any, good: Any) -> None:
    t = target()
    g = good(t)
    with g.steady():
        sid = open_polling(t)
        first = gevent.spawn(requests.get, eio(t, sid=sid), timeout=TIMEOUT)
        wait_until(lambda: get_pending(t.sio.engine.connections[sid]), "the first GET to wait")
        second = requests.get(eio(t, sid=sid), timeout=TIMEOUT)
        assert (second.status_code, second.content) == (400, b"")
        released = first.get(timeout=TIMEOUT)
        assert (released.status_code, released.text) == (200, "1")  # CLOSE
    assert sid not in t.sio.engine.connections


def test_concurrent_posts_on_one_sid(target: Any, good: Any, raw: list[Any]) -> None:
    t = target()
    g = good(t)
    with g.steady():
        sid = open_polling(t)
        # The first POST announces 10 bytes and sends 1: it stays in progress.
        sock = open_raw(t.address, raw)
        sock.sendall(
            (poll_head(t.address, "POST", sid) + "\r\nContent-Length: 10\r\n\r\n4").encode()
        )
        wait_until(lambda: post_pending(t.sio.engine.connections[sid]), "the first POST")
        second = requests.post(eio(t, sid=sid), data=b"4x", timeout=TIMEOUT)
        assert (second.status_code, second.content) == (400, b"")
        assert sid not in t.sio.engine.connections


@pytest.mark.parametrize("version", [4, 3])
def test_unknown_sid(target: Any, good: Any, version: int) -> None:
    t = target()
    g = good(t)
    with g.steady():
        for sid in ("bogus", "x" * 2000, "%00%ff", g.sid):  # g.sid: a Socket.IO id, not a sid
            url = eio(t, version, sid=sid)
            assert_error(requests.get(url, timeout=TIMEOUT), 400, UNKNOWN_SID)
            assert_error(requests.post(url, data=b"1:6", timeout=TIMEOUT), 400, UNKNOWN_SID)


@pytest.mark.parametrize(
    ("method", "query", "body"),
    [
        ("GET", "EIO=5&transport=polling", {"code": 5, "message": "Unsupported protocol version"}),
        ("GET", "EIO=&transport=polling", {"code": 5, "message": "Unsupported protocol version"}),
        (
            "GET",
            "EIO=4.0&transport=polling",
            {"code": 5, "message": "Unsupported protocol version"},
        ),
        ("GET", "transport=polling", {"code": 5, "message": "Unsupported protocol version"}),
        ("GET", "EIO=4&transport=flashsocket", {"code": 0, "message": "Transport unknown"}),
        ("GET", "EIO=4", {"code": 0, "message": "Transport unknown"}),
        ("GET", "EIO=4&transport=polling&transport=", {"code": 0, "message": "Transport unknown"}),
        ("GET", "EIO=4&transport=websocket", BAD_REQUEST),  # no Upgrade header
        ("PUT", "EIO=4&transport=polling", {"code": 2, "message": "Bad handshake method"}),
        ("POST", "EIO=4&transport=polling", {"code": 2, "message": "Bad handshake method"}),
        ("DELETE", "EIO=4&transport=polling", {"code": 2, "message": "Bad handshake method"}),
    ],
)
def test_bad_handshakes(
    target: Any, good: Any, method: str, query: str, body: dict[str, Any]
) -> None:
    t = target()
    g = good(t)
    with g.steady():
        reply = requests.request(method, f"{t.eio_url}?{query}", timeout=TIMEOUT)
        assert_error(reply, 400, body)
    assert list(t.sio.engine.connections) == [g.client.eio.sid]


def test_bad_requests_on_a_session(target: Any, good: Any) -> None:
    t = target()
    g = good(t)
    with g.steady():
        sid = open_polling(t)
        for method, url in [
            ("PUT", eio(t, sid=sid)),
            ("DELETE", eio(t, sid=sid)),
            ("GET", eio(t, 3, sid=sid)),  # the session speaks EIO 4
            ("GET", eio(t, 4, sid=sid).replace("polling", "websocket")),  # no Upgrade header
        ]:
            assert_error(requests.request(method, url, timeout=TIMEOUT), 400, BAD_REQUEST)
        # None of that hurt the session.
        assert requests.post(eio(t, sid=sid), data=b"40", timeout=TIMEOUT).text == "ok"
        assert requests.get(eio(t, sid=sid), timeout=TIMEOUT).text.startswith('40{"sid":')


JSONP_REPLY = re.compile(r'___eio\[(\d+)\]\(("(?:[^"\\]|\\.)*")\);')


@pytest.mark.parametrize(
    ("j", "index"),
    [
        ("abc", None),
        ("", None),
        ("1234567890", None),  # longer than any index a client counts to
        ("-1", 1),
        ("1);alert(document.cookie);//", 1),
        ("0](alert(1))//", 1),  # the digits 0 and 1
        ("\u0661\u0662", None),  # Arabic-Indic digits: not ASCII
        ("</script><script>alert(1)</script>", 1),
    ],
)
def test_jsonp_index_never_reaches_the_script(
    target: Any, good: Any, j: str, index: int | None
) -> None:
    """Only the ASCII digits of ``j`` are used (as the Node server does); with none, 400."""
    t = target(jsonp=True)
    g = good(t)
    with g.steady():
        for version in (4, 3):
            reply = requests.get(eio(t, version), params={"j": j}, timeout=TIMEOUT)
            if index is None:
                assert_error(reply, 400, BAD_REQUEST)
                continue
            assert reply.status_code == 200
            assert reply.headers["Content-Type"] == "text/javascript; charset=UTF-8"
            match = JSONP_REPLY.fullmatch(reply.text)
            assert match is not None, reply.text
            assert int(match[1]) == index
            payload = json.loads(match[2])
            assert payload.startswith("0{" if version == 4 else "")
            assert "alert" not in reply.text and "<" not in reply.text


def test_header_bombs(target: Any, good: Any, raw: list[Any]) -> None:
    t = target()
    g = good(t)
    host, port = t.address
    start = f"GET /socket.io/?EIO=4&transport=polling&{{}} HTTP/1.1\r\nHost: {host}:{port}"
    with g.steady():
        # A request line longer than the server reads: 414, then closed.
        status, _h, _b, sock = http(t, start.format("q=" + "a" * 100_000))
        raw.append(sock)
        assert status == 414
        assert closed_by_server(sock)
        # A long query string under the line limit, with thousands of parameters: served.
        status, _h, body, sock = http(t, start.format("&".join(f"p{i}=v" for i in range(1000))))
        raw.append(sock)
        assert status == 200 and body.startswith(b'0{"sid":')
        # Too many header lines, and one header line that never ends: 400, closed.
        many = "".join(f"\r\nX-H{i}: v" for i in range(500))
        status, _h, _b, sock = http(t, start.format("a=1") + many)
        raw.append(sock)
        assert status == 400
        assert closed_by_server(sock)
        status, _h, _b, sock = http(t, start.format("a=1") + "\r\nX-Long: " + "v" * 200_000)
        raw.append(sock)
        assert status == 400
        assert closed_by_server(sock)


# --- WebSocket -----------------------------------------------------------------------------------


def _transport_error(t: Target, a: Attacker) -> None:
    """The attacker's session ended as a transport error and its socket left the lobby."""
    wait_until(
        lambda: ("/", a.sio_sid, "transport error") in t.rec.disconnects,
        "the attacker's disconnect",
    )
    assert a.sid not in t.sio.engine.connections
    assert a.sio_sid not in t.sio.sockets()


@pytest.mark.parametrize(
    ("attack", "code"),
    [
        (frame(0x1, b"4" + b"x" * 2000), 1009),  # a text message over max_http_buffer_size
        (frame(0x2, b"\x00" * 2000), 1009),
        (frame(0x1, b"", length=2**40), 1009),  # announces a terabyte, sends nothing
        (frame(0x1, b"4" + b"x" * 600, fin=False) + frame(0x0, b"x" * 600), 1009),  # fragments
        (frame(0x1, b"4\xff\xfe"), 1007),  # invalid UTF-8
        (frame(0x1, b"4\xe2\x82", fin=False) + frame(0x0, b"\x28"), 1007),  # split, still bad
        (frame(0x1, b"4hello", masked=False), 1002),  # clients must mask
        (b"\xff" * 64, 1002),  # binary garbage: reserved opcode and RSV bits
        (frame(0x0, b"orphan"), 1002),  # a continuation with nothing to continue
        (frame(0x9, b"p" * 200), 1002),  # a control frame over 125 bytes
        (frame(0x8, b"\x03\xe8" + b"\xff"), 1007),  # a close reason that is not UTF-8
    ],
)
def test_websocket_bad_frames(
    target: Any, good: Any, raw: list[Any], attack: bytes, code: int
) -> None:
    t = target(max_http_buffer_size=1000)
    g = good(t)
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        a.sock.sendall(attack)
        _messages, closed_with = a.until_close()
        assert closed_with == code
    _transport_error(t, a)


@pytest.mark.parametrize("packet", ["", "x", "9", "b!!!", "\x00"])
def test_websocket_bad_engine_packets(target: Any, good: Any, raw: list[Any], packet: str) -> None:
    """Well-formed frames carrying no Engine.IO packet: CLOSE ("1"), then a normal close."""
    t = target()
    g = good(t)
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        a.send(packet)
        messages, code = a.until_close()
        assert messages[-1:] == ["1"] and code == 1000
    wait_until(lambda: ("/", a.sio_sid, "parse error") in t.rec.disconnects, "disconnect")
    assert a.sid not in t.sio.engine.connections


def test_websocket_binary_garbage_on_eio4(target: Any, good: Any, raw: list[Any]) -> None:
    """A binary frame is a binary MESSAGE in v4: with no attachment pending, Socket.IO's parse
    error closes the session."""
    t = target()
    g = good(t)
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        a.send(bytes(range(256)))
        messages, code = a.until_close()
        assert messages[-1:] == ["1"] and code == 1000
    wait_until(lambda: ("/", a.sio_sid, "parse error") in t.rec.disconnects, "disconnect")


def test_silent_websocket_is_closed_by_the_ping_timeout(
    target: Any, good: Any, raw: list[Any]
) -> None:
    t = target(ping_interval=0.3, ping_timeout=0.3)
    g = good(t)
    with g.steady():
        a = Attacker(t)  # joins, then never answers a ping
        raw.append(a)
        started = time.monotonic()
        with gevent.Timeout(TIMEOUT, AssertionError("a silent client was never closed")):
            messages, code = a.until_close_without_pong()
        assert "2" in messages and code == 1000
        assert time.monotonic() - started < 0.3 + 0.3 + 1.5
    wait_until(lambda: ("/", a.sio_sid, "ping timeout") in t.rec.disconnects, "disconnect")
    assert a.sid not in t.sio.engine.connections


def test_websocket_that_never_sends_a_byte(target: Any, good: Any, raw: list[Any]) -> None:
    """101 done, then nothing at all, not even reading: the session still ends by ping timeout
    and the server closes the socket."""
    t = target(ping_interval=0.3, ping_timeout=0.3)
    g = good(t)
    with g.steady():
        a = RawWS(t, "/socket.io/?EIO=4&transport=websocket")
        raw.append(a)
        assert a.status == 101
        wait_until(lambda: len(t.sio.engine.connections) == 2, "the silent session")
        wait_until(lambda: len(t.sio.engine.connections) == 1, "the ping timeout", 3)
        # A close frame went out; with no answer the socket goes after the close timeout.
        assert closed_by_server(a.sock, within=DEFAULT_CLOSE_TIMEOUT + 3)


# --- upgrades ----------------------------------------------------------------------------------


def _polling_socket(t: Target) -> str:
    """A polling session connected to "/" (its CONNECT answer read); returns the engine sid."""
    sid = open_polling(t)
    assert requests.post(eio(t, sid=sid), data=b"40", timeout=TIMEOUT).text == "ok"
    assert requests.get(eio(t, sid=sid), timeout=TIMEOUT).text.startswith('40{"sid":')
    return sid


def test_upgrade_with_an_unknown_sid(target: Any, good: Any, raw: list[Any]) -> None:
    t = target()
    g = good(t)
    with g.steady():
        ws = RawWS(t, "/socket.io/?EIO=4&transport=websocket&sid=bogus")
        raw.append(ws)
        assert (ws.status, json.loads(ws.body)) == (400, UNKNOWN_SID)
        # g's session is WebSocket already: as Node (issue 9), accepted (101), then closed.
        ws = RawWS(t, f"/socket.io/?EIO=4&transport=websocket&sid={g.client.eio.sid}")
        raw.append(ws)
        assert ws.status == 101
        assert ws.until_close() == ([], 1000)


def test_double_upgrade(target: Any, good: Any, raw: list[Any]) -> None:
    t = target()
    g = good(t)
    with g.steady():
        sid = _polling_socket(t)
        path = f"/socket.io/?EIO=4&transport=websocket&sid={sid}"
        first = RawWS(t, path)
        raw.append(first)
        assert first.status == 101
        # A WebSocket for a session that cannot upgrade (now) is accepted and closed, as Node
        # does (issue 9: an HTTP error there is an unhandled error in the clients).
        second = RawWS(t, path)  # while the first one probes
        raw.append(second)
        assert second.status == 101
        assert second.until_close() == ([], 1000)
        first.send("2probe")
        assert first.recv() == "3probe"
        first.send("5")
        third = RawWS(t, path)  # after the upgrade
        raw.append(third)
        assert third.status == 101
        assert third.until_close() == ([], 1000)
        assert_error(requests.get(eio(t, sid=sid), timeout=TIMEOUT), 400, BAD_REQUEST)
        first.send('421["echo","still here"]')
        assert first.recv() == '431["still here"]'
        assert t.sio.engine.connections[sid].transport == "websocket"


def test_upgrade_without_probe(target: Any, good: Any, raw: list[Any]) -> None:
    """ "5" straight away: accepted, as the reference server does; the GET left on polling is
    released with NOOP and what was queued goes out on the WebSocket: nothing is lost."""
    t = target()
    g = good(t)
    with g.steady():
        sid = _polling_socket(t)
        pending = gevent.spawn(requests.get, eio(t, sid=sid), timeout=TIMEOUT)
        wait_until(lambda: get_pending(t.sio.engine.connections[sid]), "the pending GET")
        ws = RawWS(t, f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
        raw.append(ws)
        ws.send("5")
        assert pending.get(timeout=TIMEOUT).text == "6"
        wait_until(lambda: t.sio.engine.connections[sid].transport == "websocket", "upgrade")
        ws.send('421["echo","upgraded"]')
        assert ws.recv() == '431["upgraded"]'


@pytest.mark.parametrize("probe", ["4hello", "zz", "2notprobe", "0", "1", "", "3probe"])
def test_bad_probe_keeps_the_session_on_polling(
    target: Any, good: Any, raw: list[Any], probe: str
) -> None:
    t = target()
    g = good(t)
    with g.steady():
        sid = _polling_socket(t)
        ws = RawWS(t, f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
        raw.append(ws)
        ws.send(probe)
        _messages, code = ws.until_close()
        assert code == 1000
        # The polling session carries on.
        conn = t.sio.engine.connections[sid]
        assert conn.transport == "polling" and not conn.closed
        assert requests.post(eio(t, sid=sid), data=b'421["echo","ok"]', timeout=TIMEOUT).ok
        assert requests.get(eio(t, sid=sid), timeout=TIMEOUT).text == '431["ok"]'


def test_probe_that_never_finishes(target: Any, good: Any, raw: list[Any]) -> None:
    t = target()
    t.sio.engine.session_config = dataclasses.replace(
        t.sio.engine.session_config, upgrade_timeout=0.3
    )
    g = good(t)
    with g.steady():
        sid = _polling_socket(t)
        ws = RawWS(t, f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
        raw.append(ws)
        ws.send("2probe")
        assert ws.recv() == "3probe"
        with gevent.Timeout(TIMEOUT, AssertionError("the probe outlived the upgrade timeout")):
            _messages, code = ws.until_close()
        assert code == 1000
        conn = t.sio.engine.connections[sid]
        assert conn.transport == "polling" and not conn.closed
        assert requests.post(eio(t, sid=sid), data=b'421["echo","ok"]', timeout=TIMEOUT).ok
        assert requests.get(eio(t, sid=sid), timeout=TIMEOUT).text == '431["ok"]'


# --- Socket.IO packets -------------------------------------------------------------------------

DEEP = 100_000
MALFORMED = [
    "2[",  # bad JSON
    '2["x",]',
    "2NaN",
    '2["x",NaN]',  # JSON.parse refuses NaN
    "2{}",  # an EVENT must be an array...
    "2[]",  # ...starting with a name
    "2[1]",
    '2["connect"]',  # reserved event names
    '2["disconnect","bye"]',
    '2["connect_error",{}]',
    '2["newListener"]',
    '5999999-["x",{"_placeholder":true,"num":0}]',  # an attachment count bomb
    '5257-["x",{"_placeholder":true,"num":0}]',  # just over the bound
    '50-["x"]',
    '5-["x"]',
    '2["x",' + "[" * DEEP + "]" * DEEP + "]",  # nesting bombs
    '2["x",' + '{"a":' * DEEP + "1" + "}" * DEEP + "]",
    '2["x","' + "[" * 50 + '",' + "[" * 150 + "]" * 150 + "]",
    "9",  # unknown packet type
    "x",
    '4{"message":"a client never sends CONNECT_ERROR"}',
    "3",  # ACK without id, without data
    "31",
    "3x",
    '31"not an array"',
    '32000000000000000["too long an id"]',
    "0",  # a second CONNECT to "/"
    '1{"data":1}',  # DISCONNECT with data
    '0/admin,1{"ack id on CONNECT":1}',
    '2["x",' + "1" * 5000 + "]",  # past Python's int-string limit (JavaScript: Infinity)
    '21["x",' + "9" * 5000 + "]",
    '2["x",1e400]',  # overflows to Infinity, which cannot be sent back
    '2["x",{"a":-1e400}]',
]


@pytest.mark.parametrize("packet", MALFORMED, ids=lambda p: p[:40])
def test_malformed_socketio_packet(target: Any, good: Any, raw: list[Any], packet: str) -> None:
    """The attacker is told its session is over (Engine.IO CLOSE, then close code 1000); its
    socket leaves the lobby and its disconnect handler runs with "parse error"."""
    t = target()
    g = good(t)
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        a.send("4" + packet)  # one Engine.IO MESSAGE
        messages, code = a.until_close()
        assert messages[-1:] == ["1"] and code == 1000
    wait_until(lambda: ("/", a.sio_sid, "parse error") in t.rec.disconnects, "disconnect")
    assert a.sio_sid not in t.sio.sockets()
    assert a.sid not in t.sio._clients


@pytest.mark.parametrize(
    "messages",
    [
        [b"\x01\x02\x03"],  # a binary message with no binary packet pending
        ['51-["x",{"_placeholder":true,"num":7}]', b"\x01"],  # placeholder out of range
        ['51-["x",{"_placeholder":true,"num":-1}]', b"\x01"],
        ['51-["x",{"_placeholder":true,"num":"0"}]', b"\x01"],
        ['52-["x",{"_placeholder":true,"num":0}]', b"\x01", '2["x"]'],  # text mid-attachments
        ['61-["x",{"_placeholder":true,"num":0}]'],  # BINARY_ACK without an id
    ],
    ids=["orphan", "num7", "num-1", "num-str", "interleaved", "binary-ack-no-id"],
)
def test_malformed_binary_packets(
    target: Any, good: Any, raw: list[Any], messages: list[str | bytes]
) -> None:
    t = target()
    g = good(t)
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        for message in messages:
            a.send("4" + message if isinstance(message, str) else message)
        received, code = a.until_close()
        assert received[-1:] == ["1"] and code == 1000
    wait_until(lambda: ("/", a.sio_sid, "parse error") in t.rec.disconnects, "disconnect")


def test_connect_to_many_namespaces(target: Any, good: Any, raw: list[Any]) -> None:
    """Each unknown namespace is refused with CONNECT_ERROR and nothing is kept for it; the
    connection itself stays usable."""
    t = target()
    g = good(t)
    count = 500
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        for i in range(count):
            a.send(f"40/ns{i},")
        refused = 0
        for _ in range(count * 10):
            message = a.recv()
            if isinstance(message, str) and message.startswith("44/ns"):
                assert message == f'44/ns{refused},{{"message":"Invalid namespace"}}'
                refused += 1
                if refused == count:
                    break
        assert refused == count
        assert set(t.sio._sockets) == {"/"}
        a.send('421["echo","still fine"]')
        assert a.drain_until_ack(1) == '431["still fine"]'
        # A namespace that exists, joined twice: that is a protocol error.
        a.send("40/chat,")
        a.send("40/chat,")
        messages, code = a.until_close()
        assert messages[-1:] == ["1"] and code == 1000


def test_namespaces_per_connection_are_bounded(target: Any, good: Any, raw: list[Any]) -> None:
    """With every namespace accepted, one connection still cannot make the server keep more
    than MAX_NAMESPACES_PER_CLIENT sockets: past it, CONNECT_ERROR "Too many namespaces"."""
    from gsocketio.protocol.socketio_session import MAX_NAMESPACES_PER_CLIENT

    t = target(namespaces="*")
    g = good(t)
    with g.steady():
        a = Attacker(t)  # in "/" already: one of its namespaces
        raw.append(a)
        extra = 50
        for i in range(MAX_NAMESPACES_PER_CLIENT - 1 + extra):
            a.send(f"40/ns{i},")
        accepted = refused = 0
        for _ in range(10 * (MAX_NAMESPACES_PER_CLIENT + extra)):
            message = a.recv()
            assert isinstance(message, str)
            if message.startswith("40/ns"):
                accepted += 1
            elif message.startswith("44/ns"):
                assert message.endswith(',{"message":"Too many namespaces"}')
                refused += 1
            if accepted + refused == MAX_NAMESPACES_PER_CLIENT - 1 + extra:
                break
        assert (accepted, refused) == (MAX_NAMESPACES_PER_CLIENT - 1, extra)
        assert len(t.sio._clients[a.sid].sockets) == MAX_NAMESPACES_PER_CLIENT
        # Leaving one makes room for another.
        a.send("41/ns0,")
        a.send("40/again,")
        for _ in range(1000):
            message = a.recv()
            if isinstance(message, str) and message.startswith("40/again,"):
                break
        else:
            raise AssertionError("no room made by leaving a namespace")


def test_acks_that_were_never_issued(target: Any, good: Any, raw: list[Any]) -> None:
    t = target()
    g = good(t)
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        for i in range(2000):
            a.send(f'43{i}["unsolicited"]')
        a.send('43/chat,5["for a namespace it is not in"]')
        a.send(f'43{10**15 - 1}["the largest id"]')
        a.send('421["echo","after the junk"]')
        assert a.drain_until_ack(1) == '431["after the junk"]'
    assert a.sio_sid in t.sio.sockets()
    assert not [d for d in t.rec.disconnects if d[1] == a.sio_sid]


def test_events_for_a_namespace_not_joined(target: Any, good: Any, raw: list[Any]) -> None:
    """After a CONNECT, a packet for another namespace is a benign race (ignored); before
    any CONNECT it breaks the protocol (closed)."""
    t = target()
    g = good(t)
    with g.steady():
        a = Attacker(t)
        raw.append(a)
        a.send('42/admin,["where"]')
        a.send('421["echo","ignored it"]')
        assert a.drain_until_ack(1) == '431["ignored it"]'
        b = Attacker(t, join=False)
        raw.append(b)
        b.send('42["echo","before CONNECT"]')
        messages, code = b.until_close()
        assert messages[-1:] == ["1"] and code == 1000


# --- slow and greedy clients -------------------------------------------------------------------

PAD = "p" * 65536


def test_websocket_client_that_never_reads(target: Any, raw: list[Any]) -> None:
    """Broadcasts pile up for a client that stops reading: its queue is bounded, the session
    closes with "outgoing buffer full" and its socket is released, while the official client in
    the same room gets every broadcast in time."""
    t = target()
    node = NodeGood(t, transports=("websocket",))
    raw.append(node)
    a = Attacker(t)
    raw.append(a)
    a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    node.check()
    limit = t.sio.engine.session_config.max_buffered_bytes
    conn = t.sio.engine.connections[a.sid]
    first = node.sent
    with gevent.Timeout(30, AssertionError("the greedy client was never cut off")):
        for n in range(first, first + 3 * limit // len(PAD)):
            t.sio.emit("bulletin", {"n": n, "pad": PAD}, to=LOBBY)
            if conn.closed:
                break
            if n % 16 == 15:
                node.drain(n + 1)  # the good client keeps up, and is never held back
        else:
            raise AssertionError("no disconnect with 'outgoing buffer full'")
    node.drain(n + 1)
    wait_until(
        lambda: ("/", a.sio_sid, "outgoing buffer full") in t.rec.disconnects,
        "the disconnect handler",
    )
    assert a.sid not in t.sio.engine.connections
    assert a.sio_sid not in t.sio.sockets()
    # Dropped at once: what the attacker can still read is what its socket buffers held.
    assert closed_by_server(a.sock, within=1, max_bytes=8 << 20), "greedy client kept"
    node.check()


def test_polling_client_that_never_polls(target: Any, good: Any) -> None:
    t = target()
    g = good(t)
    # A small bound for the sessions opened from now on (the attacker's, not the good one's).
    t.sio.engine.session_config = dataclasses.replace(
        t.sio.engine.session_config, max_buffered_packets=100
    )
    with g.steady(limit=0):  # no pacer: the count below is exact
        sid = _polling_socket(t)
        sio_sid = t.sio._clients[sid].sockets["/"].sid
        assert (
            requests.post(
                eio(t, sid=sid), data=f'420["join","{LOBBY}"]'.encode(), timeout=TIMEOUT
            ).text
            == "ok"
        )
        conn = t.sio.engine.connections[sid]
        sent = 0
        while sent < 1000 and not conn.closed:
            g.broadcast()
            sent += 1
        assert sent == 100  # the ack of "join" and 99 broadcasts fill it; one more is too many
        wait_until(
            lambda: ("/", sio_sid, "outgoing buffer full") in t.rec.disconnects,
            "the disconnect handler",
        )
        # The last GET gets the CLOSE packet (the queue was dropped: it could not be sent).
        assert requests.get(eio(t, sid=sid), timeout=TIMEOUT).text == "1"
    assert sid not in t.sio.engine.connections


def test_abandoned_handshakes_leave_nothing_behind(target: Any, good: Any, raw: list[Any]) -> None:
    """Sessions and connections given up at every step of the handshake: the server's tables
    return to the good client alone, and every half-open socket is closed by the server."""
    t = target(ping_interval=0.4, ping_timeout=0.4, connect_timeout=0.6)
    g = good(t)
    host, port = t.address
    count = 40
    with g.steady():
        for _ in range(count):
            open_polling(t, 4)  # handshake, then silence
            open_polling(t, 3)
            sid = open_polling(t, 4)  # handshake and CONNECT, then silence
            requests.post(eio(t, sid=sid), data=b"40", timeout=TIMEOUT)
            ws = Attacker(t, join=False)  # WebSocket session, no CONNECT, no pong
            raw.append(ws)
        sockets = []
        for i in range(count):
            sock = socket.create_connection(t.address, timeout=TIMEOUT)  # says nothing
            raw.append(sock)
            sockets.append(sock)
            sock = socket.create_connection(t.address, timeout=TIMEOUT)  # half a request head
            raw.append(sock)
            sock.sendall(
                f"GET /socket.io/?EIO=4&transport=websocket&t={i} HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nUpgrade: websocket\r\n".encode()
            )
            sockets.append(sock)
        wait_until(
            lambda: list(t.sio.engine.connections) == [g.client.eio.sid],
            "the engine's sessions to expire",
            timeout=TIMEOUT,
        )
        assert list(t.sio._clients) == [g.client.eio.sid]
        assert t.sio.sockets() == [g.sid]
        with gevent.Timeout(HTTP_TIMEOUT + TIMEOUT, AssertionError("half-open sockets kept")):
            for sock in sockets:
                assert closed_by_server(sock, within=HTTP_TIMEOUT + 2)
    assert t.sio.adapter.rooms_of("/", g.sid) >= {LOBBY}


@pytest.mark.parametrize(
    "body",
    [b"", b"x=1", b"d=4a&d=4b", b"d=%ff%fe", b"d=" + b"%" * 100, b"&" * 100 + b"d=4a"],
)
def test_jsonp_post_garbage(target: Any, good: Any, body: bytes) -> None:
    t = target(jsonp=True)
    g = good(t)
    with g.steady():
        sid = open_polling(t)
        reply = requests.post(
            eio(t, sid=sid, j="0"),
            data=body,
            timeout=TIMEOUT,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_error(reply, 400, BAD_REQUEST)
    assert sid not in t.sio.engine.connections


@pytest.mark.parametrize("message", [b"", b"\x09junk", b"\x01close with data", "b4!!!", "b9AA"])
def test_eio3_websocket_garbage(
    target: Any, good: Any, raw: list[Any], message: str | bytes
) -> None:
    """Engine.IO 3 frames (binary frames start with a packet type byte) that decode to
    nothing: CLOSE, then a normal close; the v3 client's "/" socket is disconnected."""
    t = target()
    g = good(t)
    with g.steady():
        ws = RawWS(t, "/socket.io/?EIO=3&transport=websocket")
        raw.append(ws)
        assert ws.status == 101
        opened = ws.recv()
        assert isinstance(opened, str) and opened.startswith('0{"sid":')
        sid = json.loads(opened[1:])["sid"]
        assert ws.recv() == "40"  # v3: the server connects "/" itself
        ws.send(message)
        messages, code = ws.until_close()
        assert messages[-1:] == ["1"] and code == 1000
    wait_until(lambda: ("/", sid, "parse error") in t.rec.disconnects, "the v3 disconnect")
