"""Parking an idle WebSocket without a greenlet (issue #14): the non-blocking read, and a
read watcher that calls back from the hub when bytes arrive, so the reader greenlet can end
and a recycled one picks the reading up. A parked greenlet costs ~6 KiB (its saved C stack,
its Python data-stack page); a watcher, a few hundred bytes. :class:`Parking` is the part of
:class:`gsocketio.websocket.connection.WebSocket` that does it, kept here as one concept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from gsocketio._logging import get_logger
from gsocketio.websocket import _gevent_io

__all__ = ["WOULD_BLOCK", "Parking", "WouldBlock"]

_RECV_SIZE: Final = 65536
logger = get_logger("gsocketio.websocket.connection")


class WouldBlock:
    """The type of :data:`WOULD_BLOCK`."""

    __slots__ = ()


WOULD_BLOCK: Final = WouldBlock()  # receive_nowait(): no complete message, no bytes yet


class Parking:
    """The parking half of ``WebSocket`` (which defines the state it uses)."""

    # The state it shares with WebSocket, which sets it up.
    __slots__ = (
        "_burst_bytes",
        "_burst_messages",
        "_drained",
        "_pending",
        "_plain_io",
        "_sock",
        "_wake",
    )
    _burst_bytes: int
    _burst_messages: int
    _drained: bool
    _pending: bytes
    _plain_io: _gevent_io.PlainIO | None
    _sock: Any
    _wake: Callable[[], object] | None

    @property
    def can_park(self) -> bool:
        """True when :meth:`receive_nowait` and :meth:`when_readable` work (a plain socket)."""
        return self._plain_io is not None

    def wait_readable(self, timeout: float) -> bool:
        """Wait in this greenlet up to ``timeout`` seconds for bytes (or EOF): True when they
        came; False when none did (idle: park with :meth:`when_readable`). An active
        connection keeps its reader greenlet, so parking costs it no spawn per message."""
        try:
            if not self._plain_io.wait(timeout):  # type: ignore[union-attr]
                return False
        except OSError as exc:  # closed by another greenlet: the next read sees EOF
            logger.debug("WebSocket wait failed: %s", exc)
        self._drained = False
        self._burst_messages = self._burst_bytes = 0
        return True

    def when_readable(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` once from the hub when bytes (or EOF) arrive: an idle connection
        waits with no greenlet (issue #14). A new burst starts then."""
        self._wake = callback
        self._plain_io.when_readable(self._readable)  # type: ignore[union-attr]

    def _readable(self) -> None:
        self._plain_io.stop_watching()  # type: ignore[union-attr]
        self._drained = False
        self._burst_messages = self._burst_bytes = 0
        wake, self._wake = self._wake, None
        if wake is not None:
            wake()

    def release(self) -> None:
        """Close the socket of a WebSocket that outlived its request (``DETACH_KEY``), after
        :meth:`finish`: the HTTP server does not."""
        if self._plain_io is not None:
            self._plain_io.close_watcher()
        self._sock.close()

    def _read_nowait(self) -> bytes | None:
        """As :meth:`_read`, None instead of waiting (the last read emptied the buffer)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            return pending
        if self._drained:
            return None
        try:
            data = self._plain_io.recv_nowait(_RECV_SIZE)  # type: ignore[union-attr]
        except OSError as exc:
            logger.debug("WebSocket read failed: %s", exc)
            return b""
        if data is None:
            self._drained = True
            return None
        self._drained = len(data) < _RECV_SIZE
        self._burst_bytes += len(data)
        return data
