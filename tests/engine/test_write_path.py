"""The batched, non-blocking WebSocket write path of the engine, against real sockets.

Messages are written by one hub callback per loop iteration, without blocking; a full socket
buffer hands the rest to a writer greenlet. What must hold whatever path a write takes: every
message arrives, in order, and text frames shared between v3 and v4 clients (framed once per
flush) are right for both. Clients are websocket-client connections speaking Engine.IO by hand.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
import websocket

from gsocketio.engine import EngineConnection, EngineServer
from gsocketio.wsgi import WSGIApp

TIMEOUT = 5.0
BIG = "b" * 50_000


class Handler:
    """``flood:N``: N numbered 50 kB messages at once; ``fanout``: one str object and one
    bytes object to every connection in the same loop iteration; anything else is echoed."""

    def __init__(self) -> None:
        self.engine: EngineServer | None = None

    def engine_connect(self, conn: EngineConnection) -> None:
        pass

    def engine_message(self, conn: EngineConnection, data: str | bytes) -> None:
        if data == "fanout":
            assert self.engine is not None
            text, blob = "shared ✓ " * 20, bytes(range(256))
            for other in list(self.engine.connections.values()):
                other.send(text)
                other.send(blob)
        elif isinstance(data, str) and data.startswith("flood:"):
            for i in range(int(data[6:])):
                conn.send(f"{i}:{BIG}")
        else:
            conn.send(data)

    def engine_disconnect(self, conn: EngineConnection, reason: str) -> None:
        pass


def start(serve: Callable[..., str], **server_options: Any) -> tuple[str, EngineServer]:
    handler = Handler()
    # Pings far apart: a flood that takes seconds on a loaded machine must not meet one.
    engine = EngineServer(handler, ping_interval=60, ping_timeout=60)
    handler.engine = engine
    return serve(WSGIApp(engine), **server_options) + "/socket.io/", engine


@pytest.fixture
def url(serve: Callable[..., str]) -> Iterator[str]:
    base, engine = start(serve)
    yield base.replace("http://", "ws://")
    engine.close()


def connect(url: str, eio: int, **options: Any) -> websocket.WebSocket:
    ws = websocket.create_connection(
        f"{url}?EIO={eio}&transport=websocket", timeout=TIMEOUT, **options
    )
    opened = ws.recv()
    assert isinstance(opened, str) and opened.startswith("0")
    assert json.loads(opened[1:])["sid"]
    return ws


def test_a_flood_to_a_slow_reader_arrives_whole_and_in_order(url: str) -> None:
    ws = connect(url, 4, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)])
    try:
        ws.send("4flood:100")  # 5 MB (under the 10 MB queue bound), far over the socket buffers
        gevent.sleep(0.3)  # the client is not reading: the server's writer has to wait
        for i in range(100):
            assert ws.recv() == f"4{i}:{BIG}"
        ws.send("4after")  # the writer is gone again; the batched path answers
        assert ws.recv() == "4after"
    finally:
        ws.close()


def test_frames_shared_by_v3_and_v4_clients(url: str) -> None:
    v3 = connect(url, 3)
    v4 = connect(url, 4)
    try:
        v4.send("4fanout")
        for client, binary in ((v3, b"\x04" + bytes(range(256))), (v4, bytes(range(256)))):
            assert client.recv() == "4" + "shared ✓ " * 20
            opcode, data = client.recv_data()
            assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, binary)
    finally:
        v3.close()
        v4.close()


def test_many_messages_in_one_iteration_keep_their_order(url: str) -> None:
    ws = connect(url, 4)
    try:
        for i in range(300):  # sent back to back: many of them reach the server in one read
            ws.send(f"4m{i}")
        assert [ws.recv() for _ in range(300)] == [f"4m{i}" for i in range(300)]
    finally:
        ws.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_connections_are_written_through_tls(serve: Callable[..., str], tmp_path: Path) -> None:
    """Over TLS the socket is gevent's SSLSocket: the raw-socket shortcuts must not be used
    (they would put plaintext on the wire); everything still arrives, in order."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    base, engine = start(serve, ssl_context=context)
    try:
        url = base.replace("http://", "wss://")
        ws = connect(url, 4, sslopt={"cert_reqs": ssl.CERT_NONE})
        try:
            for i in range(50):
                ws.send(f"4m{i}")
            assert [ws.recv() for _ in range(50)] == [f"4m{i}" for i in range(50)]
            ws.send("4flood:20")
            for i in range(20):
                assert ws.recv() == f"4{i}:{BIG}"
        finally:
            ws.close()
    finally:
        engine.close()


def test_compressed_connections_take_the_protocol_path(serve: Callable[..., str]) -> None:
    """With permessage-deflate negotiated, frames are built (and compressed) by websockets
    per connection; broadcasts and floods still arrive intact and in order."""
    from websockets.sync.client import connect as ws_connect

    handler = Handler()
    engine = EngineServer(handler, ping_interval=10, ping_timeout=10, websocket_compression=True)
    handler.engine = engine
    url = serve(WSGIApp(engine)).replace("http://", "ws://") + "/socket.io/"
    try:
        with ws_connect(
            f"{url}?EIO=4&transport=websocket", compression="deflate", open_timeout=TIMEOUT
        ) as ws:
            assert ws.protocol.extensions  # deflate was negotiated
            assert str(ws.recv(timeout=TIMEOUT)).startswith("0")
            ws.send("4fanout")
            assert ws.recv(timeout=TIMEOUT) == "4" + "shared ✓ " * 20
            assert ws.recv(timeout=TIMEOUT) == bytes(range(256))
            ws.send("4flood:30")
            for i in range(30):
                assert ws.recv(timeout=TIMEOUT) == f"4{i}:{BIG}"
    finally:
        engine.close()
