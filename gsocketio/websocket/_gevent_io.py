"""The only code that touches gevent's private socket internals (``sock._sock``, the wrapped
non-blocking OS socket; ``sock._read_event`` and ``sock._wait``, its read watcher): one
non-blocking send, and a read that waits for readability first instead of failing with
``EAGAIN`` (:class:`PlainIO`). ``tests/websocket/test_contract.py`` fails loudly when gevent
changes them."""

from __future__ import annotations

from typing import Any

import gevent.socket
from greenlet import getcurrent  # type: ignore[import-untyped]

__all__ = ["PlainIO", "is_plain", "repeating_timer", "restart"]


def repeating_timer(hub: Any, seconds: float) -> Any:
    """A libev timer for :func:`restart`: ``seconds`` is also its repeat interval."""
    return hub.loop.timer(seconds, seconds)


def restart(timer: Any, callback: Any, *args: Any) -> None:
    """(Re)start a :func:`repeating_timer` to fire ``seconds`` from now.

    Not ``timer.start()``: libev's ``ev_timer_stop`` keeps only the time *left* in a stopped
    timer, and ``start`` counts down from that, so a timer stopped and started again fires
    after the *sum* of its waits reaches ``seconds`` (a 1 s linger that ended four 0.25 s
    waits expires at once on the fifth; gevent's reused ``Timeout`` does the same).
    ``ev_timer_again`` re-arms from the repeat interval. The caller stops it when the wait
    ends (it would fire again every ``seconds`` otherwise). It counts from the clock's time,
    not the loop's (as old as the loop iteration), as gevent's ``Timeout`` does."""
    timer.again(callback, *args)  # update=True is again()'s default


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

    __slots__ = ("_hub", "_owner", "_recv", "_send", "_sock", "_switch", "_timer", "_watcher")

    def __init__(self, sock: Any) -> None:
        raw = sock._sock
        self._sock = sock
        self._recv = raw.recv
        self._send = raw.send
        self._hub = sock.hub
        self._watcher: Any = None  # our own read watcher, for parking without a greenlet
        self._timer: Any = None  # bounds wait()
        self._owner: Any = None  # the greenlet that last waited, and its bound switch
        self._switch: Any = None  # (see _switch_here)

    def _switch_here(self) -> Any:
        """``getcurrent().switch``, made once per reader greenlet instead of per wait: a bound
        method made per wait lives as long as the wait (a round trip, ~0.2 s at 5,000 echo
        clients), outlives the young garbage collections and is promoted to the oldest
        generation, whose full collections it then triggers (docs/benchmarks.md)."""
        me = getcurrent()
        if self._owner is not me:
            self._owner = me
            self._switch = me.switch
        return self._switch

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
        event.start(self._switch_here())
        try:
            self._hub.switch()
        finally:
            event.stop()

    def wait(self, seconds: float) -> bool:
        """Wait (cooperatively) up to ``seconds`` for the socket to become readable: True when
        it did (or was closed: at once), False when the time passed. Raises :class:`OSError`
        when another greenlet closes the socket meanwhile. A bare libev timer, made once per
        wait streak: cheaper than a ``gevent.Timeout``, whose ``start`` binds ``throw``. It is
        restarted with :func:`restart` (the full ``seconds`` each wait), not ``start``."""
        event = self._sock._read_event
        if event is None:
            return True
        if event.callback is not None:  # another greenlet reads: gevent raises its error
            self._sock._wait(event)
        timer = self._timer
        if timer is None:
            timer = self._timer = repeating_timer(self._hub, seconds)
        me = getcurrent()  # _switch_here, inline (a call per message)
        if self._owner is not me:
            self._owner = me
            self._switch = me.switch
        switch = self._switch
        event.start(switch, True)
        restart(timer, switch, False)
        try:
            came: object = self._hub.switch()
        finally:
            event.stop()
            timer.stop()
        if came is False:
            self._timer = self._owner = self._switch = None  # idle: made again by the next
            timer.close()  # wait; parked, it holds no greenlet
            return False
        return True

    def recv_nowait(self, size: int) -> bytes | None:
        """Up to ``size`` bytes without waiting: None when there are none yet, ``b""`` on EOF
        or once the socket was closed; raises :class:`OSError` on failure."""
        if self._sock._read_event is None:
            return b""
        try:
            data: bytes = self._recv(size)
        except BlockingIOError:
            return None
        return data

    def when_readable(self, callback: Any) -> None:
        """Call ``callback()`` from the hub while the socket is readable (or at EOF), until
        :meth:`stop_watching`. A watcher of our own, not the socket's ``_read_event``:
        gevent's ``cancel_wait`` throws into what waits on that one, which must be a greenlet."""
        watcher = self._watcher
        if watcher is None:
            watcher = self._watcher = self._hub.loop.io(self._sock.fileno(), 1)
        watcher.start(callback)

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def close_watcher(self) -> None:
        """Release the watcher of :meth:`when_readable` (before the socket is closed)."""
        self._owner = self._switch = None
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
            watcher.close()
