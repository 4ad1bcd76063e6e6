"""One shared timer greenlet for every session's deadline: a lazy heap of ``(deadline, seq,
item)`` (an entry whose deadline is not the item's ``timer_at`` is stale and skipped; the heap
is compacted once half of it is stale), served by a greenlet that exits when the heap is empty;
``tick`` runs on it and must not block. Rationale in docs/architecture.md.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from typing import Protocol

import gevent
from gevent.event import Event

from gsocketio._logging import get_logger

log = get_logger("gsocketio.engine")


class Tickable(Protocol):
    """What the reaper drives: ``tick(now)`` returns the next deadline or None when done.

    ``timer_at`` is owned by the reaper: the deadline of the session's live entry (``inf``: none).
    """

    timer_at: float

    def tick(self, now: float) -> float | None: ...


class Reaper:
    """A min-heap of deadlines, served by one greenlet that lives while the heap is non-empty."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Tickable]] = []
        self._seq = itertools.count()
        self._wake = Event()
        self._greenlet: gevent.Greenlet[[], None] | None = None
        self._stale = 0  # entries whose session's timer_at no longer matches

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, deadline: float, session: Tickable) -> None:
        """Tick ``session`` at (or shortly after) the monotonic time ``deadline``."""
        if session.timer_at != math.inf:
            self._stale += 1  # its previous entry is superseded
        session.timer_at = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), session))
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)
        elif self._heap[0][2] is session:
            self._wake.set()  # new earliest deadline: the sleeper must recompute its timeout

    def cancel(self, session: Tickable) -> None:
        """Forget ``session``'s pending tick (it closed)."""
        if session.timer_at == math.inf:
            return
        session.timer_at = math.inf
        self._stale += 1
        heap = self._heap
        if self._stale * 2 >= len(heap):
            heap[:] = [entry for entry in heap if entry[2].timer_at == entry[0]]
            heapq.heapify(heap)
            self._stale = 0
            if not heap:
                self._wake.set()  # the greenlet finds the heap empty and ends

    def stop(self) -> None:
        """Drop every entry and end the greenlet (server shutdown)."""
        self._heap.clear()
        self._stale = 0
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=False)

    def _run(self) -> None:
        heap = self._heap
        try:
            while heap:
                delay = heap[0][0] - time.monotonic()
                if delay > 0:
                    self._wake.clear()
                    self._wake.wait(delay)
                    continue
                deadline, _, session = heapq.heappop(heap)
                if session.timer_at != deadline:
                    self._stale -= 1
                    continue  # superseded or cancelled
                session.timer_at = math.inf
                now = time.monotonic()
                try:
                    following = session.tick(now)
                except Exception:
                    log.exception("session tick failed")
                    continue
                if following is not None and following < session.timer_at:
                    session.timer_at = following
                    heapq.heappush(heap, (following, next(self._seq), session))
        finally:
            if self._greenlet is gevent.getcurrent():
                self._greenlet = None
