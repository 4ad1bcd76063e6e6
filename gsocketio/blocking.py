"""Blocked-loop detection: a watchdog thread that notices when the gevent hub stops running.

While it is on, a repeating loop timer stamps the time on every loop turn and a greenlet trace
function remembers which greenlet runs. A real (unpatched) thread checks the stamp every
``threshold / 4`` seconds; when the hub has not turned for ``threshold`` seconds it takes the
stack of the hub's thread (the blocking code itself) and the running greenlet, counts the stall
once, and the report is logged from the hub when it runs again (logging from the watchdog thread
could take a lock held by the blocked hub). Turned off (:meth:`BlockingMonitor.stop`) it leaves
no thread, timer or trace behind; turned off it costs nothing.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from typing import Any, Final

import gevent
import greenlet  # type: ignore[import-untyped]
from gevent import monkey

from gsocketio._logging import get_logger

__all__ = ["BlockingMonitor", "blocked_loops", "monitor_blocking"]

log = get_logger("gsocketio.blocking")

_start_thread: Any = monkey.get_original("_thread", "start_new_thread")
_allocate_lock: Any = monkey.get_original("_thread", "allocate_lock")
_get_ident: Any = monkey.get_original("_thread", "get_ident")

_MAX_STACK_LINES: Final = 40


class _Counter:
    """Stalls seen by every monitor of this process (read by :mod:`gsocketio.metrics`)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


_COUNTER = _Counter()
_ACTIVE: list[BlockingMonitor] = []


def blocked_loops() -> int:
    """How many stalls longer than their monitor's threshold this process has had."""
    return _COUNTER.count


def _greenlet_name(glet: Any) -> str:
    if glet is None:
        return "unknown greenlet"
    text = repr(glet)
    run = getattr(glet, "_run", None) or getattr(glet, "run", None)
    where = getattr(run, "__qualname__", None)
    return f"{text} running {where}" if where and where not in text else text


class BlockingMonitor:
    """Report stalls of the current thread's gevent hub longer than ``threshold`` seconds."""

    def __init__(self, threshold: float = 1.0, *, logger: logging.Logger | None = None) -> None:
        if threshold <= 0:
            raise ValueError("threshold must be positive")
        self.threshold = float(threshold)
        self.logger = logger or log
        self.reported = 0  # stalls this monitor counted
        self._interval = self.threshold / 4
        self._last = time.perf_counter()
        self._active: Any = None
        self._pending: tuple[str, list[str], float] | None = None
        self._stall_reported = False
        self._running = False
        self._wake: Any = None
        self._done: Any = None
        self._timer: Any = None
        self._previous_trace: Any = None
        self._hub_ident = 0

    # --- hub side ----------------------------------------------------------------------------

    def start(self) -> BlockingMonitor:
        """Start watching the hub of the calling thread; returns self."""
        if self._running:
            return self
        self._running = True
        self._hub_ident = _get_ident()
        self._last = time.perf_counter()
        self._active = greenlet.getcurrent()
        self._previous_trace = greenlet.settrace(self._trace)
        timer = gevent.get_hub().loop.timer(self._interval, self._interval, ref=False)
        timer.start(self._tick)
        self._timer = timer
        self._wake = _allocate_lock()
        self._wake.acquire()
        self._done = _allocate_lock()
        self._done.acquire()
        _start_thread(self._watch, (self._wake, self._done))
        _ACTIVE.append(self)
        return self

    def stop(self) -> None:
        """Stop the thread (joined), the timer and the trace; idempotent."""
        if not self._running:
            return
        self._running = False
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        greenlet.settrace(self._previous_trace)
        self._previous_trace = None
        self._timer.stop()
        self._timer.close()
        self._timer = None
        self._wake.release()  # wakes the watchdog at once
        self._done.acquire(True, 5.0)  # and waits for it to exit
        self._tick()  # a report the watchdog made just before stopping

    @property
    def running(self) -> bool:
        return self._running

    def _trace(self, event: str, args: Any) -> None:
        if event == "switch" or event == "throw":
            self._active = args[1]
        previous = self._previous_trace
        if previous is not None:
            previous(event, args)

    def _tick(self) -> None:
        now = time.perf_counter()
        stalled_for = now - self._last
        self._last = now
        self._stall_reported = False
        pending, self._pending = self._pending, None
        if pending is not None:
            who, stack, _seen_at = pending
            self.logger.warning(
                "gevent hub blocked for %.2f s (threshold %.2f s) by %s; its stack:\n%s",
                stalled_for,
                self.threshold,
                who,
                "".join(stack).rstrip(),
            )

    # --- watchdog thread ---------------------------------------------------------------------

    def _watch(self, wake: Any, done: Any) -> None:
        try:
            while not wake.acquire(True, self._interval):
                if not self._running:
                    break
                stalled = time.perf_counter() - self._last
                if stalled >= self.threshold and not self._stall_reported:
                    self._stall_reported = True
                    self._report(stalled)
        finally:
            done.release()

    def _report(self, stalled: float) -> None:
        frame = sys._current_frames().get(self._hub_ident)
        stack = traceback.format_stack(frame)[-_MAX_STACK_LINES:] if frame is not None else []
        self._pending = (_greenlet_name(self._active), stack, stalled)
        self.reported += 1
        _COUNTER.count += 1


def monitor_blocking(
    threshold: float = 1.0, *, logger: logging.Logger | None = None
) -> BlockingMonitor:
    """Start a :class:`BlockingMonitor` for this thread's hub (stopping one already running
    here); call ``.stop()`` on the result to turn it off."""
    ident = _get_ident()
    for monitor in list(_ACTIVE):
        if monitor._hub_ident == ident:
            monitor.stop()
    return BlockingMonitor(threshold, logger=logger).start()
