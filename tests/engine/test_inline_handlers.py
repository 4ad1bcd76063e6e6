"""Handlers run inline on the WebSocket reader, and the reading moves on when one blocks.

Over real sockets with python-socketio's client (an independent implementation): a handler
that returns at once runs on the reader's greenlet (the fast path: no switch per event); one
that blocks hands the reading to another greenlet, so the same client's next events, pongs and
acks still arrive while it waits, exactly as if every handler had been spawned.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest
import socketio

import gsocketio
from gsocketio.engine import websocket as engine_websocket
from gsocketio.engine.websocket import _InlineRuns

WAIT = 10.0


@pytest.fixture
def client() -> Iterator[Callable[..., socketio.Client]]:
    clients: list[socketio.Client] = []

    def _make() -> socketio.Client:
        c = socketio.Client(reconnection=False)
        clients.append(c)
        return c

    yield _make
    for c in clients:
        c.disconnect()


def _connect(c: socketio.Client, url: str) -> None:
    c.connect(url, transports=["websocket"], wait_timeout=5)


def test_quick_handlers_run_on_the_reader(
    serve: Callable[..., str], client: Callable[..., socketio.Client]
) -> None:
    sio = gsocketio.Server()
    seen: list[Any] = []

    def where(sid: str, n: int) -> int:
        seen.append(gevent.getcurrent())
        return n

    sio.on("where", where)
    url = serve(sio.wsgi_app())
    c = client()
    _connect(c, url)
    assert [c.call("where", n, timeout=WAIT) for n in range(5)] == list(range(5))
    assert len(set(map(id, seen))) == 1  # one greenlet for all: the connection's reader


@pytest.fixture(params=["shared", "per-run"])
def takeover(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a blocked run is noticed: the shared per-iteration check, and the callback a
    run arms itself when called from another thread's hub (forced here)."""
    if request.param == "per-run":  # as if the shared check belonged to another thread
        monkeypatch.setattr(engine_websocket._INLINE, "hub", object())
    return str(request.param)


def test_a_blocked_handler_hands_the_reading_over(
    serve: Callable[..., str], client: Callable[..., socketio.Client], takeover: str
) -> None:
    sio = gsocketio.Server()
    release = gevent.event.Event()
    ran_on: dict[str, Any] = {}

    def wait(sid: str) -> str:
        ran_on["wait"] = gevent.getcurrent()
        return "released" if release.wait(WAIT) else "timed out"

    def free(sid: str) -> str:
        ran_on["free"] = gevent.getcurrent()
        release.set()
        return "freed"

    sio.on("wait", wait)
    sio.on("free", free)
    url = serve(sio.wsgi_app())
    c = client()
    _connect(c, url)
    waited = gevent.event.AsyncResult()
    c.emit("wait", callback=lambda *a: waited.set(a))
    # Read only because "wait" gave its greenlet's reading to a successor while it blocks.
    assert c.call("free", timeout=WAIT) == "freed"
    assert waited.get(timeout=WAIT) == ("released",)
    assert ran_on["wait"] is not ran_on["free"]
    assert c.call("free", timeout=WAIT) == "freed"  # the successor reads on


def test_a_handler_may_wait_for_the_same_clients_ack(
    serve: Callable[..., str], client: Callable[..., socketio.Client]
) -> None:
    sio = gsocketio.Server()
    sio.on("ask_back", lambda sid, q: sio.call("question", q, to=sid, timeout=WAIT))
    url = serve(sio.wsgi_app())
    c = client()
    c.on("question", lambda q: f"answer to {q}")
    _connect(c, url)
    assert c.call("ask_back", "life", timeout=WAIT) == "answer to life"


def test_pings_are_answered_while_a_handler_blocks(
    serve: Callable[..., str], client: Callable[..., socketio.Client]
) -> None:
    # Heartbeats far shorter than the block: had the reader stayed blocked, the client's pongs
    # would wait unread and the server would drop the client for a ping timeout.
    sio = gsocketio.Server(ping_interval=0.2, ping_timeout=0.3)
    gone: list[str] = []
    sio.on("disconnect", lambda sid, *reason: gone.append(sid))
    sio.on("nap", lambda sid: gevent.sleep(1.5) or "rested")
    url = serve(sio.wsgi_app())
    c = client()
    _connect(c, url)
    assert c.call("nap", timeout=WAIT) == "rested"
    assert gone == [] and c.connected


def test_each_handler_starts_with_an_empty_context(
    serve: Callable[..., str], client: Callable[..., socketio.Client]
) -> None:
    sio = gsocketio.Server()
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def mark(sid: str, value: str) -> str:
        before = var.get()
        var.set(value)
        return before

    sio.on("mark", mark)
    url = serve(sio.wsgi_app())
    c = client()
    _connect(c, url)
    assert c.call("mark", "first", timeout=WAIT) == "unset"
    assert c.call("mark", "second", timeout=WAIT) == "unset"


def test_a_client_leaving_while_its_handler_blocks_disconnects_once(
    serve: Callable[..., str], client: Callable[..., socketio.Client]
) -> None:
    sio = gsocketio.Server()
    started, release, finished = (gevent.event.Event() for _ in range(3))
    gone: list[str] = []
    left = gevent.event.Event()

    def hold(sid: str) -> None:
        started.set()
        release.wait(WAIT)
        finished.set()

    def disconnect(sid: str, *reason: Any) -> None:
        gone.append(sid)
        left.set()

    sio.on("hold", hold)
    sio.on("disconnect", disconnect)
    url = serve(sio.wsgi_app())
    c = client()
    _connect(c, url)
    sid = c.get_sid()
    c.emit("hold")
    assert started.wait(WAIT)
    c.disconnect()
    assert left.wait(WAIT)  # the successor reader saw the close while "hold" still waits
    assert not finished.is_set()
    release.set()
    assert finished.wait(WAIT)
    gevent.sleep(0.1)  # a second disconnect, were there one, would come now
    assert gone == [sid]
    assert sio.sockets() == []


def test_handlers_that_block_one_after_another_each_hand_the_reading_over(
    serve: Callable[..., str], client: Callable[..., socketio.Client], takeover: str
) -> None:
    """The reader blocks in a handler, its successor blocks in the next one, and the first
    resumes while the second still waits: a third reader must still be made (the shared
    check lists connections, not greenlets)."""
    sio = gsocketio.Server()
    gates = {name: gevent.event.Event() for name in ("one", "two")}
    ran_on: list[Any] = []

    def wait(sid: str, name: str) -> str:
        ran_on.append(gevent.getcurrent())
        return name if gates[name].wait(WAIT) else "timed out"

    def free(sid: str, name: str) -> str:
        gates[name].set()
        return f"freed {name}"

    sio.on("wait", wait)
    sio.on("free", free)
    url = serve(sio.wsgi_app())
    c = client()
    _connect(c, url)
    done = {name: gevent.event.AsyncResult() for name in gates}
    c.emit("wait", "one", callback=lambda *a: done["one"].set(a))
    c.emit("wait", "two", callback=lambda *a: done["two"].set(a))
    assert c.call("free", "one", timeout=WAIT) == "freed one"
    assert done["one"].get(timeout=WAIT) == ("one",)
    assert c.call("free", "two", timeout=WAIT) == "freed two"  # read by a third reader
    assert done["two"].get(timeout=WAIT) == ("two",)
    assert len(set(map(id, ran_on))) == 2
    assert c.call("free", "one", timeout=WAIT) == "freed one"


class _FakeIO:
    def __init__(self) -> None:
        self._in_handler: object = None
        self.taken: list[object] = []

    def _take_over(self, blocked: object) -> None:
        self.taken.append(blocked)


def test_the_shared_check_takes_over_only_runs_still_marked() -> None:
    from gevent import monkey

    runs = _InlineRuns()
    quick, blocked = _FakeIO(), _FakeIO()
    for io in (quick, blocked, blocked):  # a connection may run several handlers
        assert runs.enter(io)
        io._in_handler = reader = object()
    quick._in_handler = None  # it returned
    gevent.sleep(0)  # the hub runs the check (armed once for all)
    assert quick.taken == [] and blocked.taken == [reader] and blocked._in_handler is None
    assert runs.runs == []
    other: list[bool] = []  # another thread's hub: refused, the run arms its own callback
    start_thread = monkey.get_original("_thread", "start_new_thread")
    real_sleep = monkey.get_original("time", "sleep")
    start_thread(lambda: other.append(runs.enter(_FakeIO())), ())
    for _ in range(500):  # bounded: 5 s
        if other:
            break
        real_sleep(0.01)
    assert other == [False]
