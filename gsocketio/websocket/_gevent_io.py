"""The only code that touches gevent's private socket internals (``sock._sock``, the wrapped
non-blocking OS socket; ``sock._read_event`` and ``sock._wait``, its read watcher): one
non-blocking send, and a read that waits for readability first instead of failing with
``EAGAIN`` (:class:`PlainIO`). ``tests/websocket/test_contract.py`` fails loudly when gevent
changes them."""

from __future__ import annotations

from typing import Any

import gevent.socket
from greenlet import getcurrent  # type: ignore[import-untyped]

__all__ = ["PlainIO", "is_plain"]


def is_plain(sock: Any) -> bool:
    """Exactly gevent's plain socket: a subclass may wrap the stream (TLS: gevent's
    ``SSLSocket``), and then the wrapped socket carries ciphertext."""
    return type(sock) is gevent.socket.socket


class PlainIO:
    """Non-blocking I/O on one plain gevent socket, its internals looked up once.

    gevent's socket class defines ``__getattr__``, which makes every attribute read on it take
    CPython's slow path: the wrapped socket's ``recv``/``send`` and ``_wait`` are bound here
    once per connection instead of per message. ``_read_event`` is still read each time, as
    it is how a close by another greenlet shows (it becomes None). Once gevent closed the
    socket the wrapped one is closed too, so the bound methods fail with :class:`OSError`.
    """

    __slots__ = ("_hub", "_recv", "_send", "_sock")

    def __init__(self, sock: Any) -> None:
        raw = sock._sock
        self._sock = sock
        self._recv = raw.recv
        self._send = raw.send
        self._hub = sock.hub

    def send_some(self, data: bytes | memoryview) -> int:
        """One non-blocking ``send``: bytes written, 0 when the socket's buffer is full.
        Raises :class:`OSError` when the socket failed."""
        try:
            sent: int = self._send(data)
        except BlockingIOError:
            return 0
        return sent

    def recv(self, size: int, wait_first: bool) -> bytes:
        """Up to ``size`` bytes, waiting (cooperatively) while none are there; ``wait_first``:
        the last read found the buffer empty, so wait before asking. ``b""`` on EOF or when
        another greenlet closed the socket; raises :class:`OSError` on failure."""
        if wait_first:
            event = self._sock._read_event
            if event is None:  # closed by another greenlet
                return b""
            self._park(event)
        while True:
            try:
                data: bytes = self._recv(size)
                return data
            except BlockingIOError:
                event = self._sock._read_event
                if event is None:
                    return b""
                self._park(event)

    def _park(self, event: Any) -> None:
        """Wait until ``event`` (the read watcher) fires: gevent's ``_wait`` without its
        Waiter, so the parked greenlet saves fewer C frames (docs/benchmarks.md, #14)."""
        if event.callback is not None:  # another greenlet reads: gevent raises its error
            self._sock._wait(event)
        event.start(getcurrent().switch)
        try:
            self._hub.switch()
        finally:
            event.stop()
