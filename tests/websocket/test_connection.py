"""The WebSocket transport and SocketIOServer against real sockets and independent clients.

Byte-exact frames are the examples of RFC 6455 (§1.3 accept key, §5.7 frames) and RFC 7692
(§7.2.3.1 compressed "Hello"); everything else is checked through the `websocket-client`
package or a raw socket that builds frames by hand. Every client socket has a timeout.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import gevent
import gevent.queue
import gevent.socket
import pytest
import requests
import websocket
from websockets.protocol import Protocol, Side, State

from gsocketio.exceptions import WebSocketError, WebSocketHandshakeError
from gsocketio.websocket.connection import (
    SOCKET_KEY,
    WEBSOCKET_KEY,
    WebSocket,
    accept_websocket,
    is_websocket_request,
)
from gsocketio.websocket.framing import SEEN, SHARE_FROM, FrameCache, frame_message

TIMEOUT = 5.0

# RFC 6455 §1.3
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
# RFC 6455 §5.7
RFC_MASK = bytes([0x37, 0xFA, 0x21, 0x3D])
RFC_MASKED_HELLO = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
RFC_UNMASKED_HELLO = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
RFC_FRAGMENT_HEL = bytes([0x01, 0x03, 0x48, 0x65, 0x6C])
RFC_FRAGMENT_LO = bytes([0x80, 0x02, 0x6C, 0x6F])
RFC_PING_HELLO = bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
RFC_PONG_HELLO = bytes([0x8A, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
# RFC 7692 §7.2.3.1: "Hello" compressed in one DEFLATE block, as an unmasked frame with RSV1.
RFC7692_HELLO = bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


# --- the app under test ----------------------------------------------------------------------


class EchoApp:
    """Echoes WebSocket messages on /ws; a few text commands exercise server-side behaviour."""

    def __init__(self) -> None:
        self.events: gevent.queue.Queue[tuple[Any, ...]] = gevent.queue.Queue()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/plain":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
            return [b"plain"]
        if path == "/nodelay":
            value = environ[SOCKET_KEY].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            body = str(int(bool(value))).encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        qs = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            ws = accept_websocket(
                environ,
                max_message_size=int(qs.get("max", ["1000000"])[0]),
                compression="compress" in qs,
                close_timeout=float(qs.get("close_timeout", ["5"])[0]),
                send_timeout=float(qs.get("send_timeout", ["60"])[0]),
            )
        except WebSocketHandshakeError as exc:
            body = str(exc).encode()
            start_response("400 Bad Request", [("Content-Length", str(len(body)))])
            return [body]
        self.events.put(("open", ws.compressed))
        if "raise" in qs:
            raise RuntimeError("application failure after the upgrade")
        if "flood" in qs:
            return self._flood(ws)
        while (message := ws.receive()) is not None:
            if message == "close-me":
                ws.close(1000, "bye")
            elif message == "close-soon":
                gevent.spawn(ws.close, 4000, "soon")
            elif message == "burst":
                senders = [gevent.spawn(_burst, ws, g) for g in range(4)]
                gevent.joinall(senders, timeout=TIMEOUT, raise_error=True)
            else:
                ws.send(message)
        self.events.put(("closed", ws.close_code, ws.close_reason))
        return []

    def _flood(self, ws: WebSocket) -> list[bytes]:
        """Send until the never-reading client's buffers fill and the send timeout fires."""
        chunk = b"f" * 65536
        for sent in range(2000):  # 128 MiB at most; kernel buffers hold a few MiB
            try:
                ws.send(chunk)
            except WebSocketError as exc:
                self.events.put(("send-failed", type(exc).__name__, sent > 0, ws.closed))
                break
        return []

    def next_event(self) -> tuple[Any, ...]:
        event: tuple[Any, ...] = self.events.get(timeout=TIMEOUT)
        return event


def _burst(ws: WebSocket, group: int) -> None:
    for n in range(50):
        ws.send(f"g{group}-{n}")
        if n % 10 == 0:
            gevent.sleep(0)  # let the other senders interleave between messages


@pytest.fixture
def echo(serve: Callable[..., str]) -> Iterator[tuple[EchoApp, int]]:
    app = EchoApp()
    url = serve(app)
    yield app, int(url.rsplit(":", 1)[1])


# --- a raw client ----------------------------------------------------------------------------


def mask_frame(frame: bytes, key: bytes = RFC_MASK) -> bytes:
    """Turn an unmasked frame (payload < 126 bytes) into the masked frame a client sends."""
    length = frame[1] & 0x7F
    assert length < 126 and len(frame) == 2 + length
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(frame[2:]))
    return bytes([frame[0], 0x80 | length]) + key + payload


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    head = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", head, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", head, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", head, 0x80 | 127, n)
    masked = bytes(b ^ RFC_MASK[i % 4] for i, b in enumerate(payload))
    return header + RFC_MASK + masked


class RawClient:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""

    def handshake(
        self,
        path: str = "/ws",
        *,
        key: str | None = RFC_KEY,
        version: str = "13",
        method: str = "GET",
        extra: str = "",
        trailing: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Version: {version}",
        ]
        if key is not None:
            lines.append(f"Sec-WebSocket-Key: {key}")
        request = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
        self.sock.sendall(request.encode() + trailing)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = self.read_exact(int(headers["content-length"]))
        return int(status_line.split()[1]), headers, body

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk
        assert len(self.buf) < 1 << 20, "unbounded reply"

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_frame(self) -> tuple[bool, bool, int, bytes]:
        """(fin, rsv1, opcode, payload) of the next server frame (servers never mask)."""
        b0, b1 = self.read_exact(2)
        assert not b1 & 0x80, "a server must not mask its frames"
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        return bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, self.read_exact(length)

    def read_close(self) -> tuple[int, str]:
        fin, _rsv1, opcode, payload = self.read_frame()
        assert fin and opcode == OP_CLOSE, (opcode, payload)
        (code,) = struct.unpack("!H", payload[:2])
        return code, payload[2:].decode()

    def expect_eof(self) -> None:
        for _ in range(100):  # bounded: a few frames at most before EOF
            if self.buf:
                self.buf = b""
            chunk = self.sock.recv(65536)
            if not chunk:
                return
            self.buf += chunk
        raise AssertionError("no EOF")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(echo: tuple[EchoApp, int]) -> Iterator[Callable[[], RawClient]]:
    clients: list[RawClient] = []

    def _make() -> RawClient:
        client = RawClient(echo[1])
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


def ws_url(port: int, query: str = "") -> str:
    return f"ws://127.0.0.1:{port}/ws" + (f"?{query}" if query else "")


# --- handshake and framing (RFC examples) ----------------------------------------------------


def test_handshake_and_hello_match_rfc_examples(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    status, headers, _ = c.handshake()
    assert status == 101
    assert headers["sec-websocket-accept"] == RFC_ACCEPT
    assert headers["upgrade"].lower() == "websocket"
    assert "sec-websocket-extensions" not in headers
    assert app.next_event() == ("open", False)
    c.send(RFC_MASKED_HELLO)
    assert c.read_exact(len(RFC_UNMASKED_HELLO)) == RFC_UNMASKED_HELLO


def test_fragmented_message_with_interleaved_ping(raw: Any) -> None:
    c = raw()
    assert c.handshake()[0] == 101
    c.send(mask_frame(RFC_FRAGMENT_HEL))
    c.send(mask_frame(RFC_PING_HELLO))  # control frames may come between fragments (§5.4)
    c.send(mask_frame(RFC_FRAGMENT_LO))
    assert c.read_exact(len(RFC_PONG_HELLO)) == RFC_PONG_HELLO
    assert c.read_exact(len(RFC_UNMASKED_HELLO)) == RFC_UNMASKED_HELLO


def test_ping_gets_pong(raw: Any) -> None:
    c = raw()
    assert c.handshake()[0] == 101
    c.send(mask_frame(RFC_PING_HELLO))
    assert c.read_exact(len(RFC_PONG_HELLO)) == RFC_PONG_HELLO


@pytest.mark.parametrize(
    ("size", "header"),
    [(256, bytes([0x82, 0x7E, 0x01, 0x00])), (65536, bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]))],
)
def test_binary_lengths_match_rfc_examples(raw: Any, size: int, header: bytes) -> None:
    c = raw()
    assert c.handshake()[0] == 101
    payload = bytes(range(256)) * (size // 256)
    c.send(client_frame(OP_BINARY, payload))
    assert c.read_exact(len(header)) == header
    assert c.read_exact(size) == payload


def test_frame_pipelined_behind_the_handshake(raw: Any) -> None:
    c = raw()
    status, _, _ = c.handshake(trailing=RFC_MASKED_HELLO)
    assert status == 101
    assert c.read_exact(len(RFC_UNMASKED_HELLO)) == RFC_UNMASKED_HELLO


# --- independent client: websocket-client -----------------------------------------------------


def test_text_and_binary_echo(echo: tuple[EchoApp, int]) -> None:
    app, port = echo
    ws = websocket.create_connection(ws_url(port), timeout=TIMEOUT)
    try:
        for text in ["hello", "", "héllo ✓ 𝄞", "x" * 70_000]:
            ws.send(text)
            assert ws.recv() == text
        for blob in [b"\x00\xff\x80", b"", bytes(range(256)) * 300]:
            ws.send_binary(blob)
            opcode, data = ws.recv_data()
            assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, blob)
        ws.ping(b"are you there")
        opcode, data = ws.recv_data(control_frame=True)
        assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    finally:
        ws.close(timeout=TIMEOUT)
    assert app.next_event() == ("open", False)
    assert app.next_event() == ("closed", 1000, "")


def test_fragmented_messages_from_client(echo: tuple[EchoApp, int]) -> None:
    _app, port = echo
    ws = websocket.create_connection(ws_url(port), timeout=TIMEOUT)
    try:
        text = "fragmented ✓ " * 20
        raw = text.encode()  # split inside the 3-byte "✓" on purpose
        assert raw[11:14] == "✓".encode()
        ws.send_frame(websocket.ABNF.create_frame(raw[:12], websocket.ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame(raw[12:100], websocket.ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame(raw[100:], websocket.ABNF.OPCODE_CONT, fin=1))
        assert ws.recv() == text
        blob = bytes(range(200))
        ws.send_frame(websocket.ABNF.create_frame(blob[:50], websocket.ABNF.OPCODE_BINARY, fin=0))
        ws.send_frame(websocket.ABNF.create_frame(blob[50:], websocket.ABNF.OPCODE_CONT, fin=1))
        assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, blob)
    finally:
        ws.close(timeout=TIMEOUT)


def test_concurrent_senders_never_interleave_frames(echo: tuple[EchoApp, int]) -> None:
    _app, port = echo
    ws = websocket.create_connection(ws_url(port), timeout=TIMEOUT)
    try:
        ws.send("burst")
        received = [str(ws.recv()) for _ in range(200)]
    finally:
        ws.close(timeout=TIMEOUT)
    for group in range(4):
        assert [m for m in received if m.startswith(f"g{group}-")] == [
            f"g{group}-{n}" for n in range(50)
        ]


# --- closing ---------------------------------------------------------------------------------


def test_client_initiated_close_handshake(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    assert c.handshake()[0] == 101
    app.next_event()
    c.send(client_frame(OP_CLOSE, struct.pack("!H", 1001) + b"going"))
    assert c.read_close() == (1001, "going")
    c.expect_eof()
    assert app.next_event() == ("closed", 1001, "going")


def test_server_initiated_close_handshake(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    assert c.handshake()[0] == 101
    app.next_event()
    c.send(client_frame(OP_TEXT, b"close-me"))
    assert c.read_close() == (1000, "bye")
    c.send(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
    c.expect_eof()
    assert app.next_event() == ("closed", 1000, "bye")


def test_close_is_bounded_when_the_peer_never_answers(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    assert c.handshake("/ws?close_timeout=0.3")[0] == 101
    app.next_event()
    c.send(client_frame(OP_TEXT, b"close-soon"))
    assert c.read_close() == (4000, "soon")
    with gevent.Timeout(3):  # close_timeout is 0.3 s; the reader must be woken up
        c.expect_eof()
        assert app.next_event() == ("closed", 4000, "soon")


def test_application_error_after_upgrade_writes_no_http_response(
    echo: tuple[EchoApp, int], raw: Any
) -> None:
    c = raw()
    assert c.handshake("/ws?raise=1&close_timeout=0.5")[0] == 101
    assert c.read_close()[0] == 1000  # finish() closes cleanly; no "HTTP/1.1 500" follows
    c.send(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
    c.expect_eof()


def test_send_is_bounded_when_the_peer_never_reads(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    assert c.handshake("/ws?flood=1&send_timeout=0.3&close_timeout=0.3")[0] == 101
    app.next_event()
    with gevent.Timeout(10):
        assert app.next_event() == ("send-failed", "WebSocketError", True, True)


# --- compression -----------------------------------------------------------------------------


def test_permessage_deflate_negotiated(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    status, headers, _ = c.handshake(
        "/ws?compress=1", extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"
    )
    assert status == 101
    assert headers["sec-websocket-extensions"].startswith("permessage-deflate")
    assert app.next_event() == ("open", True)
    c.send(mask_frame(RFC7692_HELLO))
    fin, rsv1, opcode, payload = c.read_frame()
    assert (fin, rsv1, opcode) == (True, True, OP_TEXT)
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == b"Hello"
    # A compressible message comes back compressed and intact.
    text = ("compress me " * 1000).encode()
    compressor = zlib.compressobj(wbits=-15)
    body = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
    c.send(client_frame(OP_TEXT, body[:-4], rsv1=True))
    fin, rsv1, opcode, payload = c.read_frame()
    assert (fin, rsv1, opcode) == (True, True, OP_TEXT)
    assert len(payload) < len(text) // 10


def test_permessage_deflate_refused_when_disabled(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    status, headers, _ = c.handshake(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
    assert status == 101
    assert "sec-websocket-extensions" not in headers
    app.next_event()
    c.send(mask_frame(RFC7692_HELLO))  # RSV1 without a negotiated extension
    assert c.read_close()[0] == 1002
    c.expect_eof()
    assert app.next_event()[:2] == ("closed", 1002)


def test_websocket_client_without_compression_on_compressing_server(
    echo: tuple[EchoApp, int],
) -> None:
    _app, port = echo
    ws = websocket.create_connection(ws_url(port, "compress=1"), timeout=TIMEOUT)
    try:
        ws.send("plain")
        assert ws.recv() == "plain"
    finally:
        ws.close(timeout=TIMEOUT)


# --- bad frames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames",
    [
        [client_frame(OP_BINARY, b"x" * 2000)],
        [
            client_frame(OP_TEXT, b"y" * 600, fin=False),
            client_frame(0x0, b"y" * 600, fin=True),
        ],
    ],
    ids=["one-frame", "fragments"],
)
def test_oversize_message_closes_1009(
    echo: tuple[EchoApp, int], raw: Any, frames: list[bytes]
) -> None:
    app, _port = echo
    c = raw()
    assert c.handshake("/ws?max=1024")[0] == 101
    app.next_event()
    for frame in frames:
        c.send(frame)
    assert c.read_close()[0] == 1009
    c.expect_eof()
    assert app.next_event()[:2] == ("closed", 1009)


def test_oversize_compressed_message_closes_1009(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, _port = echo
    c = raw()
    extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    assert c.handshake("/ws?max=1024&compress=1", extra=extra)[0] == 101
    app.next_event()
    compressor = zlib.compressobj(wbits=-15)
    body = compressor.compress(b"z" * 100_000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    c.send(client_frame(OP_BINARY, body[:-4], rsv1=True))  # small on the wire, big inflated
    assert c.read_close()[0] == 1009
    c.expect_eof()
    assert app.next_event()[:2] == ("closed", 1009)


@pytest.mark.parametrize(
    "frames",
    [
        [client_frame(OP_TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")],
        [client_frame(OP_TEXT, b"ok \xff", fin=False)],  # fails before the message ends
        [client_frame(OP_TEXT, b"\xce", fin=False), client_frame(0x0, b"\x41", fin=True)],
    ],
    ids=["surrogate", "first-fragment", "split-sequence"],
)
def test_invalid_utf8_text_closes_1007(
    echo: tuple[EchoApp, int], raw: Any, frames: list[bytes]
) -> None:
    app, _port = echo
    c = raw()
    assert c.handshake()[0] == 101
    app.next_event()
    for frame in frames:
        c.send(frame)
    assert c.read_close()[0] == 1007
    c.expect_eof()
    assert app.next_event()[:2] == ("closed", 1007)


@pytest.mark.parametrize(
    "data",
    [
        RFC_UNMASKED_HELLO,  # clients must mask
        client_frame(0x3, b""),  # reserved opcode
        client_frame(OP_PING, b"p" * 126),  # control frame over 125 bytes
        client_frame(OP_PING, b"p", fin=False),  # fragmented control frame
        client_frame(0x0, b"orphan"),  # continuation without a start
    ],
    ids=["unmasked", "reserved-opcode", "long-ping", "fragmented-ping", "orphan-continuation"],
)
def test_protocol_violation_closes_1002(echo: tuple[EchoApp, int], raw: Any, data: bytes) -> None:
    app, _port = echo
    c = raw()
    assert c.handshake()[0] == 101
    app.next_event()
    c.send(data)
    assert c.read_close()[0] == 1002
    c.expect_eof()
    assert app.next_event()[:2] == ("closed", 1002)


def test_server_survives_misbehaving_clients(echo: tuple[EchoApp, int], raw: Any) -> None:
    app, port = echo
    half = raw()
    assert half.handshake()[0] == 101
    half.send(client_frame(OP_TEXT, b"never finished")[:6])
    garbage = raw()
    assert garbage.handshake()[0] == 101
    garbage.send(b"\xff" * 64)
    vanished = raw()
    assert vanished.handshake()[0] == 101
    vanished.send(client_frame(OP_BINARY, b"q" * 100_000)[:30_000])
    vanished.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    vanished.close()  # RST in the middle of a frame
    assert garbage.read_close()[0] == 1002
    # The half-sent frame keeps its reader waiting, and nothing else is disturbed.
    ws = websocket.create_connection(ws_url(port), timeout=TIMEOUT)
    try:
        ws.send("still here")
        assert ws.recv() == "still here"
    finally:
        ws.close(timeout=TIMEOUT)
    half.close()
    events = [app.next_event() for _ in range(8)]
    closed_codes = sorted(e[1] for e in events if e[0] == "closed")
    assert closed_codes == [1000, 1002, 1006, 1006]


# --- plain HTTP and bad upgrades -------------------------------------------------------------


def test_plain_http_on_the_same_server(echo: tuple[EchoApp, int]) -> None:
    _app, port = echo
    with requests.Session() as session:  # keep-alive: two requests on one connection
        for _ in range(2):
            response = session.get(f"http://127.0.0.1:{port}/plain", timeout=TIMEOUT)
            assert (response.status_code, response.content) == (200, b"plain")


def test_tcp_nodelay_is_set(echo: tuple[EchoApp, int]) -> None:
    _app, port = echo
    response = requests.get(f"http://127.0.0.1:{port}/nodelay", timeout=TIMEOUT)
    assert response.text == "1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": None},
        {"key": "c2hvcnQ="},  # decodes to 5 bytes, not 16
        {"version": "8"},
        {"method": "POST", "extra": "Content-Length: 0\r\n"},
        {"extra": "Content-Length: 4\r\n"},  # a body would sit before the first frame
    ],
    ids=["missing-key", "short-key", "version-8", "post", "with-body"],
)
def test_bad_upgrade_gets_400(echo: tuple[EchoApp, int], raw: Any, kwargs: Any) -> None:
    c = raw()
    status, _headers, body = c.handshake(**kwargs)
    assert status == 400, body
    if "Content-Length: 4" in kwargs.get("extra", ""):
        return  # the next 4 bytes are that request's body: no follow-up request to frame
    # The connection still speaks HTTP afterwards.
    c.send(f"GET /plain HTTP/1.1\r\nHost: 127.0.0.1:{c.port}\r\n\r\n".encode())
    assert _read_response(c) == (200, b"plain")


def _read_response(c: RawClient) -> tuple[int, bytes]:
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    head, c.buf = c.buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(":", 1) for line in lines[1:])
    length = int(headers["content-length"])
    return int(lines[0].split()[1]), c.read_exact(length)


def test_server_logs_and_keeps_seed_options(caplog: pytest.LogCaptureFixture) -> None:
    from gsocketio.serve import SocketIOServer

    app = EchoApp()
    server = SocketIOServer(
        ("127.0.0.1", 0),
        app,
        resource="/io/",
        transports=["websocket", "xhr-polling"],
        policy_server=False,
        heartbeat_interval=5,
        heartbeat_timeout=15,
        close_timeout=20,
        spawn=100,  # a pywsgi option passes through
    )
    assert server.resource == "io"
    assert server.config == {
        "resource": "io",
        "transports": ["websocket", "xhr-polling"],
        "policy_server": False,
        "policy_listener": ("127.0.0.1", 10843),
        "heartbeat_interval": 5,
        "heartbeat_timeout": 15,
        "close_timeout": 20,
    }
    server.start()
    try:
        with caplog.at_level("INFO", logger="gsocketio.serve"):
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{server.server_port}/ws", timeout=TIMEOUT
            )
            ws.send("x")
            assert ws.recv() == "x"
            ws.close(timeout=TIMEOUT)
            assert app.next_event()[0] == "open"
            assert app.next_event()[0] == "closed"
            requests.get(f"http://127.0.0.1:{server.server_port}/plain", timeout=TIMEOUT)
    finally:
        server.stop(timeout=2)
    access = [r.getMessage() for r in caplog.records if r.name == "gsocketio.serve"]
    assert any('"GET /ws HTTP/1.1" 101' in line for line in access), access
    assert any('"GET /plain HTTP/1.1" 200' in line for line in access), access


def test_missing_upgrade_header_is_not_a_websocket_request() -> None:
    assert not is_websocket_request({"REQUEST_METHOD": "GET"})
    assert not is_websocket_request({"HTTP_UPGRADE": "h2c"})
    assert is_websocket_request({"HTTP_UPGRADE": "WebSocket"})
    with pytest.raises(WebSocketHandshakeError):
        accept_websocket({"REQUEST_METHOD": "GET", "HTTP_CONNECTION": "Upgrade"})


def test_no_raw_socket_is_a_handshake_error() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": RFC_KEY,
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
    }
    with pytest.raises(WebSocketHandshakeError, match="no raw socket"):
        accept_websocket(environ)
    assert WEBSOCKET_KEY not in environ


def _recv_at_least(sock: socket.socket, size: int) -> bytes:
    """What ``sock`` (with a timeout) received until ``size`` bytes came, in bounded reads: the
    bytes may arrive in pieces."""
    received = b""
    for _ in range(100):
        received += sock.recv(65536)
        if len(received) >= size:
            break
    return received


def test_send_nowait_caches_a_large_message_from_its_second_sighting() -> None:
    """A large text message is framed without being kept the first time (FrameCache.SEEN),
    cached from the second, and every peer gets the general path's frame; a marker left by
    another object of the same id frames the new object, not a stale frame."""
    big = "é" + "x" * SHARE_FROM
    payload = big.encode()
    expected = struct.pack("!BBH", 0x81, 126, len(payload)) + payload
    general: list[bytes] = []
    frame_message(general, big)
    assert b"".join(general) == expected
    pairs = [gevent.socket.socketpair() for _ in range(3)]
    try:
        sockets = [WebSocket(a, Protocol(Side.SERVER, state=State.OPEN)) for a, _b in pairs]
        cache = FrameCache()
        assert sockets[0].send_nowait([big], cache) is True
        assert list(cache.values()) == [SEEN]  # holds nothing
        for ws in sockets[1:]:
            assert ws.send_nowait([big], cache) is True
        assert list(cache.values()) == [(big, general)]
        other = "y" * SHARE_FROM
        cache[id(other)] = SEEN  # as if ``other`` had taken a freed message's id
        assert sockets[0].send_nowait([other], cache) is True
        assert cache[id(other)][0] is other
        for index, (_a, b) in enumerate(pairs):
            b.settimeout(TIMEOUT)
            want = expected
            if index == 0:
                want += struct.pack("!BBH", 0x81, 126, len(other)) + other.encode()
            assert _recv_at_least(b, len(want)) == want
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_send_nowait_frames_a_shared_message_once_per_cache() -> None:
    """Two connections, one FrameCache (one flush): a text message object is framed once and
    both peers get exactly the RFC frame; bytes and other objects are framed each time."""
    pairs = [gevent.socket.socketpair() for _ in range(2)]
    try:
        sockets = [WebSocket(a, Protocol(Side.SERVER, state=State.OPEN)) for a, _b in pairs]
        cache = FrameCache()
        hello = "Hello"
        for ws in sockets:
            assert ws.send_nowait([hello, b"\x01"], cache) is True
        assert list(cache.values()) == [(hello, [RFC_UNMASKED_HELLO])]
        for _a, b in pairs:
            b.settimeout(TIMEOUT)
            expected = RFC_UNMASKED_HELLO + b"\x82\x01\x01"
            assert _recv_at_least(b, len(expected)) == expected
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_every_blocking_write_gets_the_whole_send_timeout() -> None:
    """The send timer is made once and reused: each write that has to wait still gets all of
    ``send_timeout`` (a restarted libev timer kept only the time left: writes that waited
    0.25 s each were aborted on the third with a 0.6 s timeout), and one that waits longer
    is still aborted."""
    a, b = gevent.socket.socketpair()
    try:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws = WebSocket(a, Protocol(Side.SERVER, state=State.OPEN), send_timeout=0.6)
        big = b"x" * 1_000_000
        frame_size = len(big) + 10  # 64-bit length form: 2 + 8 header bytes

        def drain_after(delay: float) -> None:
            gevent.sleep(delay)
            got = 0
            while got < frame_size:  # bounded by the frame; recv blocks at most TIMEOUT
                got += len(b.recv(65536))

        b.settimeout(TIMEOUT)
        for _ in range(4):  # 4 x 0.25 s waits: past 0.6 s in all from the third on
            reader = gevent.spawn(drain_after, 0.25)
            ws.send(big)
            reader.get(timeout=TIMEOUT)
        assert not ws.closed
        start = gevent.get_hub().loop.now()
        with pytest.raises(WebSocketError, match="timed out"):
            ws.send(big)  # nobody reads
        assert gevent.get_hub().loop.now() - start >= 0.5
    finally:
        a.close()
        b.close()
