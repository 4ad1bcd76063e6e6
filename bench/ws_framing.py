"""Which sans-I/O WebSocket framing to use under gevent: wsproto or websockets' ServerProtocol.

Runs one gevent echo server per implementation, pinned to CPU 0, and a raw-socket load
generator (epoll, no WebSocket library) pinned to CPU 1: ``--clients`` connections each keep one
text message of ``--payload`` bytes in flight and send the next as soon as the echo arrives.
Every echo is checked byte for byte. Prints messages/s per implementation and the ratios.

Implementations:

``wsproto``       wsproto.WSConnection doing handshake and framing on a gevent StreamServer.
``websockets``    websockets.server.ServerProtocol (C speedups) on a gevent StreamServer.
``gsocketio``     the shipped transport: SocketIOServer + accept_websocket + WebSocket.

Usage: ``python bench/ws_framing.py [--seconds 5] [--clients 100] [--payload 32] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

IMPLEMENTATIONS = ("wsproto", "websockets", "gsocketio")
SERVER_CPU = 0
CLIENT_CPU = 1


# --- servers (each runs in its own process) --------------------------------------------------


def _nodelay(sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def wsproto_handler(sock: Any, _address: Any) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Message,
        Ping,
        Request,
        TextMessage,
    )

    _nodelay(sock)
    conn = WSConnection(ConnectionType.SERVER)
    while True:
        data = sock.recv(65536)
        conn.receive_data(data or None)
        out: list[bytes] = []
        closing = not data
        for event in conn.events():
            if isinstance(event, Request):
                out.append(conn.send(AcceptConnection()))
            elif isinstance(event, TextMessage | BytesMessage):
                message: Message[Any] = event
                out.append(conn.send(message))
            elif isinstance(event, Ping):
                out.append(conn.send(event.response()))
            elif isinstance(event, CloseConnection):
                out.append(conn.send(event.response()))
                closing = True
        if out:
            sock.sendall(b"".join(out))
        if closing:
            return


def websockets_handler(sock: Any, _address: Any) -> None:
    from websockets.frames import Frame, Opcode
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    _nodelay(sock)
    proto = ServerProtocol(max_size=1_000_000)
    while True:
        data = sock.recv(65536)
        if data:
            proto.receive_data(data)
        else:
            proto.receive_eof()
        for event in proto.events_received():
            if isinstance(event, Request):
                proto.send_response(proto.accept(event))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                proto.send_text(event.data)
            elif isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                proto.send_binary(event.data)
        out = proto.data_to_send()
        if out:
            sock.sendall(b"".join(out))
        if not data or (out and out[-1] == b""):
            return


def gsocketio_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    from gsocketio.websocket.connection import accept_websocket

    ws = accept_websocket(environ)
    while (message := ws.receive()) is not None:
        ws.send(message)
    return []


def serve(impl: str) -> None:
    """Child process: pin to the server CPU, print the port, serve until killed."""
    _pin(SERVER_CPU)
    from gevent.server import StreamServer

    server: Any
    if impl == "gsocketio":
        from gsocketio.serve import SocketIOServer

        server = SocketIOServer(("127.0.0.1", 0), gsocketio_app, log=None)
    elif impl == "wsproto":
        server = StreamServer(("127.0.0.1", 0), wsproto_handler)
    else:
        server = StreamServer(("127.0.0.1", 0), websockets_handler)
    server.start()
    sys.stdout.write(f"{server.server_port}\n")
    sys.stdout.flush()
    server.serve_forever()


# --- load generator --------------------------------------------------------------------------

MASK = b"\x12\x34\x56\x78"


def client_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + MASK + masked


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("handshake: connection closed")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:40]!r}")
    sock.setblocking(False)
    return sock


def load(port: int, clients: int, payload: bytes, warmup: float, seconds: float) -> dict[str, Any]:
    """Echo round trips from ``clients`` connections; returns counts for the measured window."""
    frame = client_frame(payload)
    expected = bytes([0x81, len(payload)]) + payload
    socks = [connect(port) for _ in range(clients)]
    by_fd = {s.fileno(): s for s in socks}
    buffers = dict.fromkeys(by_fd, b"")
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    for s in socks:
        s.send(frame)
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + seconds
    counted = errors = 0
    usage_start: Any = None
    now = start
    while now < end:
        for fd, _mask in poller.poll(0.5):
            data = by_fd[fd].recv(65536)
            if not data:
                raise ConnectionError("server closed a connection")
            buf = buffers[fd] + data
            n = len(expected)
            replies = 0
            while len(buf) >= n:
                if buf[:n] != expected:
                    errors += 1
                buf = buf[n:]
                replies += 1
            buffers[fd] = buf
            if replies:
                by_fd[fd].send(frame * replies)
                if now >= measure_from:
                    counted += replies
        now = time.perf_counter()
        if usage_start is None and now >= measure_from:
            usage_start = (now, resource.getrusage(resource.RUSAGE_SELF))
    usage_end = resource.getrusage(resource.RUSAGE_SELF)
    wall = now - usage_start[0]
    cpu = (usage_end.ru_utime + usage_end.ru_stime) - (
        usage_start[1].ru_utime + usage_start[1].ru_stime
    )
    for s in socks:
        s.close()
    poller.close()
    return {"rate": counted / wall, "errors": errors, "client_cpu": cpu / wall}


def _pin(cpu: int) -> None:
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {cpu})


def run(impl: str, args: argparse.Namespace) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", impl],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        payload = (b"0123456789abcdef" * 8)[: args.payload]
        return load(port, args.clients, payload, args.warmup, args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--payload", type=int, default=32, help="text payload bytes (< 126)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per implementation (median)")
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, action="append")
    parser.add_argument("--serve", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    cpus = len(os.sched_getaffinity(0))
    _pin(CLIENT_CPU)
    print(
        f"{args.clients} clients, {args.payload}-byte text echo, {args.seconds:.0f} s per run, "
        f"server on CPU {SERVER_CPU}, load generator on CPU {CLIENT_CPU} ({cpus} CPUs available)"
    )
    impls = args.impl or list(IMPLEMENTATIONS)
    runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    for _ in range(args.repeat):  # interleaved, so drift hits every implementation alike
        for impl in impls:
            runs[impl].append(run(impl, args))
    results: dict[str, float] = {}
    for impl in impls:
        rates = sorted(r["rate"] for r in runs[impl])
        results[impl] = statistics.median(rates)
        errors = sum(r["errors"] for r in runs[impl])
        client_cpu = max(r["client_cpu"] for r in runs[impl])
        print(
            f"{impl:>11}: {results[impl]:>9,.0f} messages/s (median of {len(rates)}: "
            f"{', '.join(f'{x:,.0f}' for x in rates)})   echo errors: {errors}   "
            f"load-generator CPU <= {client_cpu:.0%}"
        )
    if "wsproto" in results and "websockets" in results:
        ratio = results["websockets"] / results["wsproto"]
        print(f"websockets / wsproto: {ratio:.2f}x")
    if "websockets" in results and "gsocketio" in results:
        ratio = results["gsocketio"] / results["websockets"]
        print(f"gsocketio transport / bare websockets loop: {ratio:.2f}x")


if __name__ == "__main__":
    main()
