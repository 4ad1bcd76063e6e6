"""Long-polling I/O and read_body without sockets, through EngineServer.handle_request with a
minimal WSGI environ (tests/helpers/fakes.call_wsgi)."""

from __future__ import annotations

import contextlib
import io
import json

import gevent
import gevent.event
import pytest

from gsocketio.engine import EngineServer
from gsocketio.engine.polling import read_body
from gsocketio.exceptions import PayloadFormatError
from tests.helpers.fakes import EchoHandler, call_wsgi, wait_until


def open_session(engine: EngineServer, eio: int = 4, extra: str = "") -> str:
    response = call_wsgi(engine, query=f"EIO={eio}&transport=polling{extra}")
    assert response.status == 200
    text = response.text if eio == 4 else response.text.partition(":")[2]
    sid: str = json.loads(text[1:])["sid"]
    return sid


def test_post_then_get_echoes_in_order() -> None:
    engine = EngineServer(EchoHandler())
    sid = open_session(engine)
    query = f"EIO=4&transport=polling&sid={sid}"
    assert call_wsgi(engine, "POST", query, b"4a\x1e4b").text == "ok"
    response = call_wsgi(engine, "GET", query)
    assert (response.text, response.headers["Content-Type"]) == (
        "4a\x1e4b",
        "text/plain; charset=UTF-8",
    )
    engine.close()


def test_a_pending_get_is_released_by_a_send() -> None:
    handler = EchoHandler()
    engine = EngineServer(handler)
    sid = open_session(engine)
    pending = gevent.spawn(call_wsgi, engine, "GET", f"EIO=4&transport=polling&sid={sid}")
    conn = engine.connections[sid]
    wait_until(lambda: conn.polling is not None and conn.polling.get_active, "a pending GET")
    conn.send("pushed")
    assert pending.get(timeout=5).text == "4pushed"
    engine.close()


def test_overlapping_post_closes_the_session() -> None:
    handler = EchoHandler()
    engine = EngineServer(handler)
    sid = open_session(engine)
    conn = engine.connections[sid]
    assert conn.polling is not None
    conn.polling.post_active = True  # a POST is being read
    response = call_wsgi(engine, "POST", f"EIO=4&transport=polling&sid={sid}", b"4x")
    assert (response.status, response.body) == (400, b"")
    assert handler.disconnects[sid] == "transport error"


def test_post_over_the_limit_is_413_and_closes() -> None:
    handler = EchoHandler()
    engine = EngineServer(handler, max_http_buffer_size=10)
    sid = open_session(engine)
    response = call_wsgi(engine, "POST", f"EIO=4&transport=polling&sid={sid}", b"4" * 11)
    assert (response.status, response.headers["Connection"]) == (413, "close")
    assert handler.disconnects[sid] == "transport error"


def test_a_message_after_a_server_close_in_the_same_body_is_not_delivered() -> None:
    handler = EchoHandler()
    engine = EngineServer(handler)
    sid = open_session(engine)
    query = f"EIO=4&transport=polling&sid={sid}"
    assert call_wsgi(engine, "POST", query, b"4bye\x1e4close-me\x1e4after").text == "ok"
    assert [data for _sid, data in handler.messages] == ["bye", "close-me"]
    assert call_wsgi(engine, "GET", query).text == "4bye\x1e1"


def test_v3_b64_comes_from_the_handshake() -> None:
    engine = EngineServer(EchoHandler())
    sid = open_session(engine, 3, "&b64=1")
    query = f"EIO=3&transport=polling&sid={sid}"
    call_wsgi(engine, "POST", query, b"10:b4AQIDBA==")
    assert call_wsgi(engine, "GET", query).text == "10:b4AQIDBA=="
    engine.close()


def test_read_body_bounds() -> None:
    def environ(body: bytes, length: str | None) -> dict[str, object]:
        env: dict[str, object] = {"wsgi.input": io.BytesIO(body)}
        if length is not None:
            env["CONTENT_LENGTH"] = length
        return env

    assert read_body(environ(b"hello", "5"), 5) == b"hello"
    assert read_body(environ(b"hello", "5"), 4) is None
    assert read_body(environ(b"x" * 70_000, None), 100_000) == b"x" * 70_000  # chunked
    assert read_body(environ(b"x" * 70_000, None), 69_999) is None
    with pytest.raises(PayloadFormatError):
        read_body(environ(b"", "+5"), 10)


def test_a_pending_get_ends_with_a_noop_at_its_deadline() -> None:
    engine = EngineServer(EchoHandler(), ping_interval=0.05, ping_timeout=0.05)
    sid = open_session(engine)
    response = call_wsgi(engine, "GET", f"EIO=4&transport=polling&sid={sid}")
    assert response.text in ("6", "2")  # a NOOP, or the ping the interval queued
    engine.close()


def test_a_late_wake_never_reaches_a_greenlet_waiting_elsewhere() -> None:
    """A wake scheduled while a GET waited, but run after it left (here: it was killed),
    must not switch into the same greenlet's next, unrelated wait."""
    engine = EngineServer(EchoHandler())
    sid = open_session(engine)
    conn = engine.connections[sid]
    polling = conn.polling
    assert polling is not None
    woken: list[object] = []

    def get_then_wait_elsewhere() -> None:
        with contextlib.suppress(gevent.GreenletExit):
            polling._wait(30)
        woken.append(gevent.event.Event().wait(0.2))  # a wait of another kind

    glet = gevent.spawn(get_then_wait_elsewhere)
    wait_until(lambda: polling._waiter is glet, "the GET waiting")
    glet.kill(block=False)  # the waiter leaves first (the kill is scheduled first)...
    polling.wake()  # ...then a release is scheduled, which runs after it left
    glet.join(timeout=5)
    assert woken == [False]  # the other wait ran to its own timeout, undisturbed
    polling.wake()  # nothing waits: a no-op
    engine.close()


def test_every_get_wait_gets_the_whole_deadline() -> None:
    """The GET's timer is made once and restarted per wait: each wait still lasts up to its
    deadline (a libev timer restarted with start() keeps only the time left: after GETs that
    waited the deadline in all, every idle GET would return at once, and the client poll in
    a loop)."""
    engine = EngineServer(EchoHandler())
    io = engine.connections[open_session(engine)].polling
    assert io is not None
    for _ in range(4):  # 4 x 0.12 s: past 0.3 s in all from the third wait on
        waker = gevent.spawn_later(0.12, io.wake)
        start = gevent.get_hub().loop.now()
        io._wait(0.3)
        assert gevent.get_hub().loop.now() - start >= 0.1  # woken, not expired
        waker.join(timeout=2)
    start = gevent.get_hub().loop.now()
    io._wait(0.3)  # nobody wakes it
    assert gevent.get_hub().loop.now() - start >= 0.25
    engine.close()
