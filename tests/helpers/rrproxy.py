"""A round-robin HTTP proxy for the any-process tests: no stickiness at all. Each request
goes to the next backend over a new upstream connection (``Connection: close`` both ways,
so a client's keep-alive cannot pin it to a worker); an upgrade is piped to the next one."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from typing import Any

import gevent
from gevent import socket
from gevent.server import StreamServer

MAX_HEAD = 64 * 1024
MAX_BODY = 2 * 1024 * 1024
IO_TIMEOUT = 90.0  # outlasts a long-poll


def _head(sock: Any, buf: bytearray) -> bytes | None:
    """Read one request head (bounded); the bytes after it stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            return None
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end])
    del buf[:end]
    return head


def _pipe(a: Any, b: Any) -> None:
    def copy(src: Any, dst: Any) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    gevent.joinall([gevent.spawn(copy, a, b), gevent.spawn(copy, b, a)], timeout=IO_TIMEOUT * 2)


class RoundRobinProxy:
    """Listens on 127.0.0.1 (ephemeral port); ``counts`` tallies requests per backend port."""

    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = list(backends)
        self._turn = itertools.count()
        self.counts: Counter[int] = Counter()
        self.upgrades = 0
        self.server = StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.stop(timeout=1)

    def remove(self, backend: tuple[str, int]) -> None:
        """Take a backend out of the rotation (what a load balancer's health check does)."""
        self.backends.remove(backend)

    def _handle(self, client: Any, _address: Any) -> None:
        client.settimeout(IO_TIMEOUT)
        try:
            self._serve(client)
        except OSError:
            pass
        finally:
            client.close()

    def _serve(self, client: Any) -> None:
        buf = bytearray()
        head = _head(client, buf)
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = [ln for ln in lines[1:] if ln]
        names = {ln.split(":", 1)[0].strip().lower(): ln.split(":", 1)[1].strip() for ln in headers}
        backend = self.backends[next(self._turn) % len(self.backends)]
        self.counts[backend[1]] += 1
        upstream = socket.create_connection(backend, timeout=5)
        upstream.settimeout(IO_TIMEOUT)
        try:
            if names.get("upgrade", "").lower() == "websocket":
                self.upgrades += 1
                upstream.sendall(head + bytes(buf))
                _pipe(client, upstream)
                return
            length = int(names.get("content-length", "0"))
            if length > MAX_BODY:
                return
            while len(buf) < length:
                data = client.recv(65536)
                if not data:
                    return
                buf += data
            kept = [ln for ln in headers if ln.split(":", 1)[0].strip().lower() != "connection"]
            out = "\r\n".join([lines[0], *kept, "Connection: close"]) + "\r\n\r\n"
            upstream.sendall(out.encode("latin-1") + bytes(buf[:length]))
            while data := upstream.recv(65536):  # the backend closes after its answer
                client.sendall(data)
        finally:
            upstream.close()
