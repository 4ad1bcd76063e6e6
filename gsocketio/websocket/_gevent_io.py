"""The only code that touches gevent's private socket internals (``sock._sock``, the wrapped
non-blocking OS socket; ``sock._read_event`` and ``sock._wait``, its read watcher): one
non-blocking send, and a read that waits for readability first instead of failing with
``EAGAIN``. ``tests/websocket/test_contract.py`` fails loudly when gevent changes them."""

from __future__ import annotations

from typing import Any

import gevent.socket

__all__ = ["is_plain", "recv", "send_some"]


def is_plain(sock: Any) -> bool:
    """Exactly gevent's plain socket: a subclass may wrap the stream (TLS: gevent's
    ``SSLSocket``), and then the wrapped socket carries ciphertext."""
    return type(sock) is gevent.socket.socket


def send_some(sock: Any, data: bytes | memoryview) -> int:
    """One non-blocking ``send`` on a plain socket: bytes written, 0 when its buffer is full.
    Raises :class:`OSError` when the socket failed."""
    try:
        sent: int = sock._sock.send(data)
    except BlockingIOError:
        return 0
    return sent


def recv(sock: Any, size: int, wait_first: bool) -> bytes:
    """Up to ``size`` bytes from a plain socket, waiting (cooperatively) while none are there;
    ``wait_first``: the last read found the buffer empty, so wait before asking. ``b""`` on
    EOF or when another greenlet closed the socket; raises :class:`OSError` on failure."""
    if wait_first:
        event = sock._read_event
        if event is None:  # closed by another greenlet
            return b""
        sock._wait(event)
    while True:
        try:
            data: bytes = sock._sock.recv(size)
            return data
        except BlockingIOError:
            event = sock._read_event
            if event is None:
                return b""
            sock._wait(event)
