"""Instructions the gsocketio server spends per long-polling echo round trip (callgrind).

Wall-clock and CPU-time figures move by ±10 % on this shared machine, more than most single
changes to the polling path buy; an instruction count does not move with the load. The bench
echo server (``bench/servers/gsocketio_echo.py``) runs under ``valgrind --tool=callgrind``
while one plain-Python client drives ``--small`` and then ``--large`` round trips over one
keep-alive connection (POST ``42<id>["echo",32 B]``, GET the ``43<id>`` ack); the difference of
the two totals over the difference of the counts is the cost of one round trip (two requests
and one event), start-up and the handshake cancel out.

``bench/instructions.py`` counts the WebSocket echo and broadcast the same way with the lean
load generator (instrumentation toggled around its measured window); this script drives one
plain client over long-polling, so it needs no toggling.

Caveat: under valgrind the server runs ~50x slower than the client, so the next request has
always arrived when the server reads; code whose cost depends on that (waiting for
readability before ``recv``) is not measured as it runs. Counts repeat within ~1-3 %.

    .venv/bin/python bench/polling_instructions.py [--tree DIR] [--direct 0]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness import HERE, free_port

SERVER = HERE / "servers" / "gsocketio_echo.py"


class Client:
    """One keep-alive connection speaking just enough Engine.IO 4 polling."""

    def __init__(self, port: int, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:  # valgrind takes a while to start the server
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method: str, query: str, body: bytes = b"") -> bytes:
        head = f"{method} /socket.io/?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n"
        if method == "POST":
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)
        for _ in range(10_000):
            if b"\r\n\r\n" in self.buf:
                break
            self.buf += self.sock.recv(65536)
        raw_head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        found = re.search(rb"content-length: (\d+)", raw_head, re.IGNORECASE)
        length = int(found.group(1)) if found else 0
        for _ in range(10_000):
            if len(self.buf) >= length:
                break
            self.buf += self.sock.recv(65536)
        answer, self.buf = self.buf[:length], self.buf[length:]
        return answer

    def run(self, rounds: int) -> None:
        sid = json.loads(self.request("GET", "EIO=4&transport=polling&t=h")[1:])["sid"]
        query = f"EIO=4&transport=polling&sid={sid}"
        self.request("POST", query, b"40")
        self.request("GET", query)
        for i in range(rounds):
            self.request("POST", f"{query}&t={i}", f'42{i}["echo","{"x" * 32}"]'.encode())
            answer = self.request("GET", f"{query}&t={i}g")
            if not answer.startswith(f"43{i}".encode()):
                raise RuntimeError(f"unexpected answer {answer[:80]!r}")


def instructions(tree: Path, rounds: int, direct: str, wait: float) -> int:
    """Instructions the server executed, start-up and ``rounds`` round trips included."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    env["GSOCKETIO_BENCH_DIRECT"] = direct
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    server = subprocess.Popen(
        [*cmd, sys.executable, str(SERVER), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        Client(port, wait).run(rounds)
    finally:
        server.terminate()  # callgrind reports on SIGTERM
        _, err = server.communicate(timeout=120)
    found = re.search(r"Collected : (\d+)", err)
    if found is None:
        raise RuntimeError(f"no callgrind total: {err[-500:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", default=str(HERE.parent), help="gsocketio source tree")
    parser.add_argument("--direct", default="1", help="0: the HTTP server's direct route off")
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--wait", type=float, default=300, help="seconds for start-up")
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    small = instructions(tree, args.small, args.direct, args.wait)
    large = instructions(tree, args.large, args.direct, args.wait)
    per_round = (large - small) / (args.large - args.small)
    print(f"{tree} direct={args.direct}: {per_round:,.0f} instructions per round trip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
