"""Fakes for the Socket.IO layer's tests: connections that record what the server sends."""

from __future__ import annotations

from typing import Any

import gevent
from gevent.event import Event

WAIT = 2.0  # seconds; every wait on a fake is bounded by this


class FakeConn:
    """An EngineConnection that records what the server sends."""

    def __init__(self, sid: str = "EIOSID", eio: int = 4, environ: dict[str, Any] | None = None):
        self.sid = sid
        self.eio = eio
        self.environ = environ if environ is not None else {"QUERY_STRING": ""}
        self.transport = "websocket"
        self.sent: list[str | bytes] = []
        self.closed = False
        self._changed = Event()

    def send(self, data: str | bytes) -> None:
        self.sent.append(data)
        self._changed.set()

    def send_many(self, items: Any) -> None:
        self.sent.extend(items)
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    def wait_sent(self, count: int, timeout: float = WAIT) -> list[str | bytes]:
        """Wait until at least ``count`` messages were sent; return them all."""
        with gevent.Timeout(timeout, AssertionError(f"expected {count} messages: {self.sent}")):
            while len(self.sent) < count:
                self._changed.clear()
                self._changed.wait()
        return self.sent

    def next(self, timeout: float = WAIT) -> str | bytes:
        """Wait for the next message not yet returned by ``next``."""
        index = getattr(self, "_read", 0)
        self.wait_sent(index + 1, timeout)
        self._read = index + 1
        return self.sent[index]
