"""engine/server.py without sockets: request verification in Node's order and the routes
(call_wsgi gives a minimal environ), the EngineOptions plumbing, one sid generator."""

from __future__ import annotations

import json

import pytest

import gsocketio
from gsocketio.engine import EngineOptions, EngineServer
from gsocketio.legacy import LegacyServer
from gsocketio.protocol.ids import new_sid
from tests.helpers.fakes import EchoHandler, Response, call_wsgi


def error(response: Response) -> tuple[int, int]:
    return response.status, json.loads(response.body)["code"]


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [
        ("GET", "EIO=4&transport=nope", (400, 0)),  # transport first
        ("POST", "EIO=9&transport=nope", (400, 0)),
        ("GET", "EIO=4&transport=websocket", (400, 3)),  # no Upgrade header
        ("GET", "EIO=4&transport=polling&sid=unknown", (400, 1)),
        ("POST", "EIO=4&transport=polling", (400, 2)),  # handshake method before version
        ("POST", "EIO=9&transport=polling", (400, 2)),
        ("GET", "EIO=9&transport=polling", (400, 5)),
        ("GET", "transport=polling", (400, 5)),
        ("GET", "EIO=4&transport=polling&deny=1", (403, 4)),  # allow_request last
        ("GET", "EIO=9&transport=polling&deny=1", (400, 5)),
        ("GET", "EIO=3&transport=polling&j=0", (400, 3)),  # JSONP is off by default
    ],
)
def test_verify_order(method: str, query: str, expected: tuple[int, int]) -> None:
    engine = EngineServer(
        EchoHandler(), allow_request=lambda env: "deny" not in env["QUERY_STRING"]
    )
    assert error(call_wsgi(engine, method, query)) == expected
    assert not engine.connections


def test_existing_sid_checks() -> None:
    engine = EngineServer(EchoHandler())
    opened = call_wsgi(engine, query="EIO=4&transport=polling")
    sid = json.loads(opened.text[1:])["sid"]
    assert error(call_wsgi(engine, "GET", f"EIO=3&transport=polling&sid={sid}")) == (400, 3)
    assert error(call_wsgi(engine, "PUT", f"EIO=4&transport=polling&sid={sid}")) == (400, 3)
    assert call_wsgi(engine, "POST", f"EIO=4&transport=polling&sid={sid}", b"4x").text == "ok"
    engine.close()


def test_jsonp_needs_the_option_and_an_allowed_page() -> None:
    engine = EngineServer(EchoHandler(), jsonp=True)
    page = {"Referer": "http://127.0.0.1:8000/index.html"}
    ok = call_wsgi(engine, query="EIO=3&transport=polling&j=2", headers=page)
    assert ok.status == 200 and ok.text.startswith('___eio[2]("')
    assert ok.headers["Content-Type"] == "text/javascript; charset=UTF-8"
    evil = call_wsgi(engine, query="EIO=3&transport=polling&j=2", headers={"Origin": "http://x"})
    assert error(evil) == (400, 3)  # a refused Origin is refused before anything else
    foreign = call_wsgi(
        engine, query="EIO=3&transport=polling&j=2", headers={"Referer": "http://x/"}
    )
    assert error(foreign) == (403, 4)
    assert error(call_wsgi(engine, query="EIO=3&transport=polling&j=2")) == (403, 4)
    engine.close()


def test_engine_options_are_built_once_and_shared() -> None:
    sio = gsocketio.Server(ping_interval=7, cors_allowed_origins="*", jsonp=True)
    options = sio.engine.options
    assert (options.ping_interval, options.jsonp, options.transports) == (
        7.0,
        True,
        ("polling", "websocket"),
    )
    legacy = LegacyServer(sio)
    assert legacy.options is options  # the 0.9 endpoint reads the same object
    assert LegacyServer(sio, max_http_buffer_size=10).options.max_http_buffer_size == 10
    custom = EngineOptions(path="eio", transports=["polling"])
    engine = EngineServer(EchoHandler(), custom, ping_timeout=3)
    assert (engine.options.path, engine.options.ping_timeout, engine.transports) == (
        "/eio/",
        3.0,
        frozenset({"polling"}),
    )
    with pytest.raises(ValueError):
        EngineOptions(transports=["carrier-pigeon"])
    with pytest.raises(TypeError):
        gsocketio.Server(no_such_option=1)


def test_new_sid() -> None:
    sids = {new_sid() for _ in range(1000)}
    assert len(sids) == 1000
    assert all(len(sid) == 20 for sid in sids)
    taken = set(sids)
    assert new_sid(taken) not in taken
