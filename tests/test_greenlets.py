"""Recycled handler greenlets and batched flushes (gsocketio.greenlets).

The pool must keep what a fresh greenlet per job gave: start order, concurrency (a blocked job
never holds up the next), an empty contextvars context per job, no greenlet-local state
carried from one job to another. Every wait here is bounded.
"""

from __future__ import annotations

import contextvars
from typing import Any

import gevent
import gevent.local
import pytest
from gevent.event import Event

from gsocketio.greenlets import FlushQueue, WorkerPool

TIMEOUT = 5.0
var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def settle() -> None:
    """Let every runnable greenlet and callback run (a few loop iterations, bounded)."""
    for _ in range(5):
        gevent.sleep(0)


def test_jobs_start_in_order_and_greenlets_are_reused() -> None:
    pool = WorkerPool()
    seen: list[tuple[int, Any]] = []
    for i in range(5):
        pool.spawn(lambda i=i: seen.append((i, gevent.getcurrent())))
    settle()
    assert [i for i, _ in seen] == list(range(5))
    first = {id(g) for _, g in seen}
    assert pool.idle >= 1
    for i in range(5, 10):
        pool.spawn(lambda i=i: seen.append((i, gevent.getcurrent())))
    settle()
    assert [i for i, _ in seen] == list(range(10))
    assert {id(g) for _, g in seen[5:]} <= first  # parked greenlets ran the second batch


def test_a_blocked_job_does_not_hold_up_the_next() -> None:
    pool = WorkerPool()
    gate = Event()
    done: list[str] = []

    def blocked() -> None:
        gate.wait(TIMEOUT)
        done.append("blocked")

    pool.spawn(blocked)
    pool.spawn(lambda: done.append("next"))
    settle()
    assert done == ["next"]
    gate.set()
    settle()
    assert done == ["next", "blocked"]


def test_each_job_starts_with_an_empty_context() -> None:
    pool = WorkerPool(max_idle=1)
    seen: list[str] = []

    def job(value: str) -> None:
        seen.append(var.get())
        var.set(value)

    for value in ("a", "b", "c"):
        pool.spawn(job, value)
        settle()
    assert seen == ["unset", "unset", "unset"]
    assert pool.idle == 1


def test_greenlet_local_state_is_never_carried_over() -> None:
    pool = WorkerPool(max_idle=4)
    local = gevent.local.local()
    seen: list[Any] = []
    pool.spawn(lambda: setattr(local, "user", "alice"))
    settle()
    assert pool.idle == 0  # the greenlet holds local state: retired, not parked
    pool.spawn(lambda: seen.append(getattr(local, "user", None)))
    settle()
    assert seen == [None]


def test_max_idle_bounds_the_parked_greenlets() -> None:
    pool = WorkerPool(max_idle=2)
    gate = Event()
    for _ in range(6):
        pool.spawn(gate.wait, TIMEOUT)
    settle()
    gate.set()
    settle()
    assert pool.idle == 2


def test_an_exception_ends_only_its_greenlet(capsys: pytest.CaptureFixture[str]) -> None:
    pool = WorkerPool()
    done: list[int] = []

    def boom() -> None:
        raise RuntimeError("handler bug")

    pool.spawn(boom)
    settle()
    pool.spawn(done.append, 1)
    settle()
    assert done == [1]
    assert "handler bug" in capsys.readouterr().err  # reported by the hub, as before


class Item:
    def __init__(self, name: str, log: list[tuple[str, int]], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    def flush(self, shared: dict[Any, Any]) -> None:
        shared[self.name] = True
        self.log.append((self.name, len(shared)))
        if self.fail:
            raise RuntimeError("flush bug")


def test_flush_runs_once_per_item_after_runnable_greenlets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = FlushQueue()
    log: list[tuple[str, int]] = []
    order: list[str] = []
    a, b, c = Item("a", log), Item("b", log, fail=True), Item("c", log)

    def producer() -> None:
        order.append("producer")
        assert queue.add(a)
        assert queue.add(b)

    def second() -> None:
        order.append("second")
        queue.add(c)

    gevent.spawn_raw(producer)
    gevent.spawn_raw(second)
    assert log == []  # nothing happens where add() is called
    settle()
    assert order == ["producer", "second"]
    assert log == [("a", 1), ("b", 2), ("c", 3)]  # one pass, one shared dict, past a failure
    assert "flush bug" in caplog.text
    queue.add(a)
    settle()
    assert log[-1] == ("a", 1)  # a new pass, a new shared dict
