"""Engine lifecycle over real sockets: no greenlet or writer left behind, the reaper's heap,
independent sessions, and the WSGI routing around the engine."""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Callable
from typing import Any

import greenlet  # type: ignore[import-untyped]
import pytest
import requests

from gsocketio.engine import EngineServer
from gsocketio.engine.reaper import Reaper
from gsocketio.engine.websocket import WebSocketIO
from gsocketio.wsgi import WSGIApp
from tests.helpers.engine import FAST_LIVE, Engine
from tests.helpers.fakes import EchoHandler, wait_until

# --- lifecycle -----------------------------------------------------------------------------------


def _engine_greenlets() -> list[greenlet.greenlet]:
    """Live greenlets (gevent or raw) currently parked inside gsocketio.engine code."""
    found = []
    current = greenlet.getcurrent()
    for obj in gc.get_objects():
        # type(), not isinstance(): a lazy object (Django settings) proxies __class__
        if issubclass(type(obj), greenlet.greenlet) and obj is not current and not obj.dead:
            frame = obj.gr_frame
            for _ in range(200):
                if frame is None:
                    break
                if "gsocketio/engine/" in frame.f_code.co_filename.replace("\\", "/"):
                    found.append(obj)
                    break
                frame = frame.f_back
    return found


def test_no_greenlet_left_behind(eng: Engine) -> None:
    # Greenlets of servers other tests left running (a reaper with live sessions) are not ours.
    others = {id(g) for g in _engine_greenlets()}
    ws = eng.ws()
    ws_sid = json.loads(ws.recv()[1:])["sid"]
    poll_sid, _ = eng.open()
    up_sid, _ = eng.open()
    up = eng.ws(sid=up_sid)
    up.send("2probe")
    assert up.recv() == "3probe"
    up.send("5")
    assert _engine_greenlets()  # readers and the reaper are running
    ws.close()
    up.close()
    assert eng.post("1", sid=poll_sid).text == "ok"
    for sid in (ws_sid, poll_sid, up_sid):
        eng.handler.reason(sid)
    wait_until(lambda: not eng.engine.connections, "every session to be forgotten")
    wait_until(
        lambda: not [g for g in _engine_greenlets() if id(g) not in others],
        "engine greenlets to end",
    )
    assert eng.engine.reaper._greenlet is None


def test_idle_websocket_holds_no_writer_greenlet(start: Callable[..., Engine]) -> None:
    eng = start(**FAST_LIVE)
    ws = eng.ws()
    sid = json.loads(ws.recv()[1:])["sid"]
    conn = eng.conn(sid)
    for _ in range(2):
        assert ws.recv() == "2"
        ws.send("3")
        wait_until(lambda: not writing(conn.io), "the writer to retire")
    ws.send("4again")
    assert ws.recv() == "4again"  # a new writer is spawned on demand
    ws.close()


def writing(io: object) -> bool:
    return isinstance(io, WebSocketIO) and io.writing


class _Timed:
    def __init__(self, name: str, log: list[str], again: float | None = None) -> None:
        self.name, self.log, self.again = name, log, again
        self.timer_at = math.inf

    def tick(self, now: float) -> float | None:
        self.log.append(self.name)
        again, self.again = self.again, None
        return None if again is None else now + again


def test_reaper_order_cancel_and_exit() -> None:
    reaper, log = Reaper(), list[str]()
    now = time.monotonic()
    a, b, c = (_Timed(n, log) for n in "abc")
    d = _Timed("d", log, again=0.01)
    reaper.schedule(now + 0.03, a)
    reaper.schedule(now + 0.01, b)
    reaper.schedule(now + 0.02, c)
    reaper.schedule(now + 0.02, d)
    reaper.schedule(now + 0.005, a)  # moved earlier: the old entry goes stale
    reaper.cancel(c)
    wait_until(lambda: len(log) == 4, "four ticks")
    assert log == ["a", "b", "d", "d"]
    wait_until(lambda: reaper._greenlet is None, "the reaper greenlet to end")
    reaper.schedule(time.monotonic() + 60, a)
    reaper.cancel(a)  # the heap is only stale entries now: compacted, the greenlet ends
    assert len(reaper) == 0
    wait_until(lambda: reaper._greenlet is None, "the reaper greenlet to end")


def test_many_sessions_are_independent(eng: Engine) -> None:
    sids = [eng.open()[0] for _ in range(5)]
    sockets = [eng.ws() for _ in range(5)]
    for i, sid in enumerate(sids):
        eng.post(f"4p{i}", sid=sid)
    for i, ws in enumerate(sockets):
        ws.recv()
        ws.send(f"4w{i}")
    assert [eng.get(sid=sid).text for sid in sids] == [f"4p{i}" for i in range(5)]
    assert [ws.recv() for ws in sockets] == [f"4w{i}" for i in range(5)]
    for ws in sockets:
        ws.close()


# --- WSGIApp -------------------------------------------------------------------------------------


def test_wsgi_routing_and_client_bundle(
    serve: Callable[..., str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def other(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"other:" + environ["PATH_INFO"].encode()]

    (tmp_path / "index.html").write_text("<p>hi</p>")
    engine = EngineServer(EchoHandler())
    url = serve(WSGIApp(engine, other, static_files={"/": str(tmp_path)}))
    assert requests.get(url + "/").text == "<p>hi</p>"
    assert requests.get(url + "/../index.html").text == "<p>hi</p>"
    assert requests.get(url + "/elsewhere").text == "other:/elsewhere"
    app = WSGIApp(engine, static_files={"/static": str(tmp_path), "/one": str(tmp_path / "x")})
    assert app._static_target("/static/../../etc/passwd") is None
    assert app._static_target("/static/%2e%2e/index.html") is None
    assert app._static_target("/static/") == (str(tmp_path / "index.html"), None)
    assert app._static_target("/one/more") is None
    assert requests.get(url + "/socket.io/?EIO=4&transport=polling").text.startswith("0{")
    bundle = requests.get(url + "/socket.io/socket.io.min.js")
    if bundle.status_code == 404:
        pytest.skip("socket.io-client is not installed (node_modules)")
    assert bundle.headers["Content-Type"] == "application/javascript; charset=utf-8"
    etag = bundle.headers["ETag"]
    assert etag.startswith('"4.')
    cached = requests.get(url + "/socket.io/socket.io.js", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    sourcemap = requests.get(url + "/socket.io/socket.io.js.map")
    assert sourcemap.headers["Content-Type"] == "application/json; charset=utf-8"

    monkeypatch.setenv("GSOCKETIO_CLIENT_DIST", str(tmp_path / "missing"))
    bare = serve(WSGIApp(EngineServer(EchoHandler())))
    missing = requests.get(bare + "/socket.io/socket.io.js")
    assert missing.status_code == 404 and b"npm install socket.io-client" in missing.content
    assert requests.get(bare + "/elsewhere").status_code == 404
