"""Scheduling helpers for the per-message path: recycled handler greenlets, batched flushes.

:class:`WorkerPool`: handler greenlets are recycled instead of created per message. On Python
3.11+ a greenlet's first start maps a fresh frame stack for it (an ``mmap``, and a ``munmap``
when it ends): under the echo benchmark, one new greenlet per event cost ~18 us of a ~120 us
budget per acknowledged message, while switching into a parked greenlet costs ~2 us. So a
finished handler greenlet parks in the pool (up to ``max_idle``) and runs the next job.

What stays as with a fresh greenlet: every job runs in a greenlet of its own that no other job
uses meanwhile (a handler may block; others keep running), jobs start in submission order, each
starts with an empty ``contextvars`` context, and an exception ends the greenlet as before. A
greenlet the job left anything on (an attribute, a ``gevent.local`` value: anything in its
``__dict__``) is not reused, so greenlet-local state never leaks into another client's handler.
What changes: ``gevent.getcurrent()`` may be the same object for successive (never concurrent)
jobs, as with a thread pool.

:class:`FlushQueue`: one hub callback per loop iteration writes every connection that got
messages meanwhile (see the class).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from gevent.hub import Hub, get_hub
from greenlet import getcurrent, greenlet  # type: ignore[import-untyped]

from gsocketio._logging import get_logger

__all__ = ["DEFAULT_MAX_IDLE", "POOL", "FlushQueue", "WorkerPool"]

log = get_logger("gsocketio.greenlets")

DEFAULT_MAX_IDLE = 128
"""Parked greenlets kept per pool; each costs ~7 KiB (mostly its frame stack), measured."""


class WorkerPool:
    """Runs ``fn(*args)`` in a new-or-recycled greenlet of the calling thread's hub."""

    __slots__ = ("_hub", "_idle", "max_idle")

    def __init__(self, max_idle: int = DEFAULT_MAX_IDLE) -> None:
        self.max_idle = max_idle
        self._hub: Hub | None = None  # workers belong to the hub of the first spawn's thread
        self._idle: list[Any] = []  # parked workers, each waiting in _work for its next job

    @property
    def idle(self) -> int:
        """How many parked greenlets wait for a job."""
        return len(self._idle)

    def spawn(self, fn: Callable[..., object], *args: Any) -> None:
        """Start ``fn(*args)`` from the hub soon (never here); ``fn`` should not raise."""
        hub = get_hub()
        if hub is not self._hub:
            if self._hub is not None:  # another thread: its greenlets cannot be shared
                gevent.spawn_raw(fn, *args)
                return
            self._hub = hub
        worker = self._idle.pop() if self._idle else greenlet(self._work, hub)
        hub.loop.run_callback(worker.switch, fn, args)

    def _work(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        # A bare greenlet (what spawn_raw makes without gevent's greenlet-tree tracking): its
        # __dict__ starts empty, so anything a job leaves there is seen.
        me = getcurrent()
        idle = self._idle
        switch = me.parent.switch  # the hub
        while True:
            fn(*args)
            del fn, args  # nothing of the last job stays reachable while parked
            if me.__dict__ or len(idle) >= self.max_idle:
                return
            me.gr_context = None  # the next job starts with an empty context, as a new one
            idle.append(me)
            fn, args = switch()


POOL = WorkerPool()
"""The process's pool: handler greenlets of every client, and the engine's writer greenlets."""


class FlushQueue:
    """Calls ``flush()`` on each object :meth:`add` -ed, once, from the hub, after the greenlets
    that are runnable now have run: what they queued in the meantime is written together.

    Why: writing each message from the greenlet that produced it costs one ``send`` per message
    (a burst of 100 broadcasts to 1000 sockets: 100,000 syscalls); deferring to one callback
    per loop iteration writes each socket's messages with one ``send``, and costs no switch.
    """

    __slots__ = ("_hub", "_new_shared", "_pending")

    def __init__(self, new_shared: Callable[[], Any] = dict) -> None:
        self._hub: Hub | None = None
        self._new_shared = new_shared
        self._pending: list[Any] = []

    def add(self, item: Any) -> bool:
        """Schedule ``item.flush(shared)`` (which must neither block nor raise). ``shared``
        (``new_shared()``, a dict by default) lives for one callback: items may cache there
        what several of them need (the frame of a broadcast message). False when called from
        another thread's hub: the caller has to flush by itself."""
        hub = get_hub()
        if hub is not self._hub:
            if self._hub is not None:
                return False
            self._hub = hub
        if not self._pending:
            hub.loop.run_callback(self._run)
        self._pending.append(item)
        return True

    def _run(self) -> None:
        pending, self._pending = self._pending, []
        shared = self._new_shared()
        for item in pending:
            try:
                item.flush(shared)
            except Exception:  # a bug there must not leave the other items unflushed
                log.exception("flushing %r failed", item)
