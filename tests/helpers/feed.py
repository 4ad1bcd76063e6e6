"""A numbered feed for the recovery tests: :class:`SeqFeed` emits ``seq`` 1, 2, 3... to a room
through a Server whose adapter spreads it to every node, and :class:`SeqReader` collects what a
Node snippet reports (``{r: 1, seq: n}`` records, and any other ``{r: 1, ...}`` as an event), so
a test can check every number arrived once, in order, across a node's death or drain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent

from tests.helpers.node import NodeClient

__all__ = ["SeqFeed", "SeqReader"]


class SeqFeed:
    """``sender.emit("seq", n, to=room)`` for n = 1, 2, ... every ``interval`` seconds, in a
    greenlet, until :meth:`stop` or ``limit``; ``sent`` is the last number emitted."""

    def __init__(self, sender: Any, *, room: str = "feed", interval: float, limit: int) -> None:
        self.sender = sender
        self.room = room
        self.interval = interval
        self.limit = limit
        self.sent = 0
        self.running = True
        self.greenlet: gevent.Greenlet[[], None] | None = None

    def _run(self) -> None:
        while self.running and self.sent < self.limit:
            self.sent += 1
            self.sender.emit("seq", self.sent, to=self.room)
            gevent.sleep(self.interval)

    def start(self) -> SeqFeed:
        self.greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        self.running = False
        if self.greenlet is not None:
            self.greenlet.join(timeout=5)


class SeqReader:
    """The ``seq`` numbers and other ``r`` records a snippet reported, read on demand."""

    def __init__(self, client: NodeClient, timeout: float = 20) -> None:
        self.client = client
        self.timeout = timeout
        self.seqs: list[int] = []
        self.events: list[dict[str, Any]] = []  # without their "r" key

    @property
    def connects(self) -> list[dict[str, Any]]:
        return [e for e in self.events if "connected" in e]

    def values(self, key: str) -> list[Any]:
        """The ``key`` of each event that has one, in order (e.g. ``values("state")``)."""
        return [e[key] for e in self.events if key in e]

    def until(self, done: Callable[[], object], timeout: float | None = None) -> None:
        """Read records until ``done()``; fails after ``timeout`` (default ``self.timeout``)."""
        wait = self.timeout if timeout is None else timeout
        stuck = AssertionError(f"client stuck at {self.seqs[-3:]} {self.events}")
        with gevent.Timeout(wait, stuck):
            while not done():
                rec = self.client.expect("r", timeout=wait)
                if "seq" in rec:
                    self.seqs.append(rec["seq"])
                else:
                    rec.pop("r")
                    self.events.append(rec)
