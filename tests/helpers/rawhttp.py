"""Raw HTTP/1.1 over plain TCP sockets, for the tests that send what no client library would
(smuggling attempts, broken framing, pipelining, trickled bytes, floods) and check the exact
answer: opening a socket the test's teardown closes, the Host header and Engine.IO polling
request line, and reading one response or several pipelined ones, bounded.
"""

from __future__ import annotations

import socket
import time
from typing import Any

__all__ = [
    "TIMEOUT",
    "Responses",
    "closed_by_server",
    "host_header",
    "open_raw",
    "parse_head",
    "poll_head",
    "read_response",
    "request",
]

TIMEOUT = 5.0  # a socket's read timeout, and how long closed_by_server waits by default

Address = tuple[str, int]


def open_raw(address: Address, opened: list[Any], timeout: float = TIMEOUT) -> socket.socket:
    """A new connection to ``address``, appended to ``opened`` (a fixture closes them)."""
    sock = socket.create_connection(address, timeout=timeout)
    opened.append(sock)
    return sock


def host_header(address: Address) -> str:
    return f"Host: {address[0]}:{address[1]}"


def poll_head(address: Address, method: str = "GET", sid: str | None = None) -> str:
    """An Engine.IO 4 polling request line and its Host header, without a final CRLF:
    ``GET /socket.io/?EIO=4&transport=polling[&sid=...] HTTP/1.1``."""
    query = "EIO=4&transport=polling" + (f"&sid={sid}" if sid is not None else "")
    return f"{method} /socket.io/?{query} HTTP/1.1\r\n{host_header(address)}"


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """A response head (without its blank line): the status code and lower-cased headers."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def read_response(
    sock: socket.socket, *, read_body: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers, and the body (its Content-Length, or what came with the
    head when ``read_body`` is false)."""
    buf = b""
    for _ in range(10_000):
        if b"\r\n\r\n" in buf:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed before a response head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    length = int(headers.get("content-length", "0"))
    while read_body and len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


def request(sock: socket.socket, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (without the final blank line) and ``body``; read the response."""
    sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
    return read_response(sock)


class Responses:
    """Reads consecutive responses off one socket (pipelined answers arrive together)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(f"closed with {self.buf[:80]!r} unread")
        self.buf += data

    def next(self) -> tuple[int, dict[str, str], bytes]:
        for _ in range(10_000):
            if b"\r\n\r\n" in self.buf:
                break
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status, headers = parse_head(head)
        length = int(headers.get("content-length", "0"))
        for _ in range(10_000):
            if len(self.buf) >= length:
                break
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body


def closed_by_server(
    sock: socket.socket, within: float = TIMEOUT, max_bytes: int = 1 << 30
) -> bool:
    """True when the server closes ``sock`` within ``within`` seconds, having sent at most
    ``max_bytes`` more (read and dropped)."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    received = 0
    try:
        for _ in range(100_000):
            data = sock.recv(65536)
            if not data:
                return True
            received += len(data)
            if time.monotonic() > deadline or received > max_bytes:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False
