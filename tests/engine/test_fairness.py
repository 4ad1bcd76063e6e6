"""WebSocket fairness: a few clients flooding events as fast as they can must not stall the
server for everyone else (issue 9).

Four raw-socket clients in separate processes (so they flood truly concurrently) send
events back to back for a few seconds, two of them an event nobody handles (no handler
greenlet, so the Socket.IO layer's per-client handler bound never makes the reader wait); a witness client in the same process
sends an event with an ack every 100 ms and answers the server's pings. Every ack and every
ping must arrive within 1 s. Before the WebSocket reader yielded after a bounded burst, a
reader that kept finding data held the hub for as long as its socket had bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import websocket

import gsocketio

FLOOD_SECONDS = 3.0
CLIENT = r"""
import base64, json, os, socket, struct, sys, threading, time

host, port, seconds, first = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
MASK = b"\x01\x02\x03\x04"


def frame(text):
    payload = text.encode()
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    head = bytes((0x81, 0x80 | size)) if size < 126 else struct.pack("!BBH", 0x81, 0xFE, size)
    return head + MASK + masked


def read_frame(sock, buf):
    while True:
        if len(buf) >= 2:
            size = buf[1] & 0x7F
            start = 2
            if size == 126:
                if len(buf) < 4:
                    size = None
                else:
                    size, start = struct.unpack("!H", bytes(buf[2:4]))[0], 4
            elif size == 127:
                if len(buf) < 10:
                    size = None
                else:
                    size, start = struct.unpack("!Q", bytes(buf[2:10]))[0], 10
            if size is not None and len(buf) >= start + size:
                opcode, data = buf[0] & 0x0F, bytes(buf[start:start + size])
                del buf[:start + size]
                return opcode, data
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("server closed")
        buf += chunk


def connect():
    sock = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    buf = bytearray()
    opcode, data = read_frame(sock, buf)  # OPEN
    assert data.startswith(b"0{"), data
    sock.sendall(frame("40"))
    while True:
        opcode, data = read_frame(sock, buf)
        if data.startswith(b"40"):
            return sock, buf


def flood(stop, counts, index):
    slot = 0
    sock, _buf = connect()
    event = "flood" if index % 2 else "nobody-listens"  # handled or not
    burst = b"".join(frame('42["%s",%d]' % (event, i)) for i in range(2000))
    sent = 0
    try:
        while time.monotonic() < stop:
            sock.sendall(burst)
            sent += 2000
    except OSError:
        pass
    counts[slot] = sent
    sock.close()


stop = time.monotonic() + seconds
counts = [0]
flood(stop, counts, first)
print(json.dumps({"sent": counts}))
"""


def test_flooding_websockets_do_not_stall_a_witness(serve: Callable[..., str]) -> None:
    sio = gsocketio.Server(ping_interval=0.5, ping_timeout=5)
    flooded = [0]

    @sio.on("flood")
    def flood(sid: str, n: int) -> None:
        flooded[0] += 1

    @sio.on("ping")
    def ping(sid: str) -> str:
        return "pong"

    url = serve(sio.wsgi_app())
    host, port = url.removeprefix("http://").split(":")
    witness = websocket.create_connection(
        f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket", timeout=5
    )
    try:
        assert str(witness.recv()).startswith("0{")
        witness.send("40")
        assert str(witness.recv()).startswith("40")
        flooders = [
            gevent.spawn(
                subprocess.run,
                [sys.executable, "-c", CLIENT, host, port, str(FLOOD_SECONDS), str(index)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            for index in range(4)
        ]
        gevent.sleep(0.5)  # the floods are running
        acks: list[float] = []
        ping_gaps: list[float] = []
        last_ping = time.monotonic()
        for ack_id in range(1, 26):  # 2.5 s of witness traffic, bounded
            sent_at = time.monotonic()
            witness.send(f'42{ack_id}["ping"]')
            while True:
                message = str(witness.recv())
                now = time.monotonic()
                if message == "2":
                    ping_gaps.append(now - last_ping)
                    last_ping = now
                    witness.send("3")
                elif message == f'43{ack_id}["pong"]':
                    acks.append(now - sent_at)
                    break
            gevent.sleep(max(0.0, 0.1 - (time.monotonic() - sent_at)))
        sent = []
        for flooder in flooders:
            result: Any = flooder.get(timeout=60)
            assert result.returncode == 0, result.stderr
            sent += json.loads(result.stdout)["sent"]
    finally:
        witness.close()
        sio.engine.close()
    assert min(sent) > 0 and flooded[0] > 1000  # the floods reached the server
    assert len(acks) == 25
    assert max(acks) < 1.0, f"an ack took {max(acks):.2f} s: {sorted(acks)[-5:]}"
    assert ping_gaps and max(ping_gaps) < 0.5 + 1.0, f"pings delayed: {ping_gaps}"
