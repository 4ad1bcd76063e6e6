"""The Engine.IO server over real sockets: raw HTTP and WebSocket sequences, official clients.

The engine runs under ``SocketIOServer`` on 127.0.0.1:0 with an echo handler (the Socket.IO
layer is tested elsewhere). Expected bytes come from the Engine.IO specs and the official
protocol test suite (github.com/socketio/engine.io-protocol): ``4hello``, ``bAQIDBA==`` for the
bytes 1..4, ``6:4hello``, ``1:6``, ``2probe``/``3probe``, the v3 binary payload layout, etc.
Waits are bounded: a blocked GET returns by itself (packets or a timeout), and server-side
conditions are polled with :func:`wait_until` (bounded in time and count).
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import greenlet  # type: ignore[import-untyped]
import pytest
import requests
import websocket

from gsocketio.engine import EngineServer
from gsocketio.engine.reaper import Reaper
from gsocketio.engine.websocket import WebSocketIO
from gsocketio.wsgi import WSGIApp
from tests.helpers.engine import Engine, assert_error, spawn_get
from tests.helpers.fakes import EchoHandler, wait_until
from tests.helpers.node import run_node

# Heartbeat tests use the protocol test suite's 300/200 ms; the others keep sessions alive
# longer than any test step takes, even on a loaded machine.
FAST = {"ping_interval": 0.3, "ping_timeout": 0.2}
FAST_LIVE = {"ping_interval": 0.3, "ping_timeout": 3.0}  # pinged often, answering is not rushed
TIMEOUT = 5.0


@pytest.fixture
def start(serve: Callable[..., str]) -> Iterator[Callable[..., Engine]]:
    engines: list[EngineServer] = []

    def _start(**options: Any) -> Engine:
        options.setdefault("ping_interval", 10)
        options.setdefault("ping_timeout", 10)
        handler = EchoHandler()
        engine = EngineServer(handler, **options)
        engines.append(engine)
        return Engine(serve(WSGIApp(engine)), engine, handler)

    yield _start
    for engine in engines:
        engine.close()


@pytest.fixture
def eng(start: Callable[..., Engine]) -> Engine:
    return start()


# --- Engine.IO 4: long-polling ------------------------------------------------------------------


def test_v4_handshake(start: Callable[..., Engine]) -> None:
    eng = start(**FAST)
    response = eng.get()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # no cookie by default
    assert response.text.startswith("0")
    data = json.loads(response.text[1:])
    assert set(data) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert data["upgrades"] == ["websocket"]
    assert (data["pingInterval"], data["pingTimeout"], data["maxPayload"]) == (300, 200, 1000000)
    assert [c.sid for c in eng.handler.connects] == [data["sid"]]
    conn = eng.handler.connects[0]
    assert (conn.eio, conn.transport, conn.environ["QUERY_STRING"]) == (
        4,
        "polling",
        "EIO=4&transport=polling",
    )


@pytest.mark.parametrize(
    "body",
    ["4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA=="],
    ids=["one", "several", "text-and-binary"],
)
def test_v4_polling_exchange(eng: Engine, body: str) -> None:
    sid, _ = eng.open()
    response = eng.post(body, sid=sid)
    assert (response.status_code, response.text) == (200, "ok")
    response = eng.get(sid=sid)
    assert (response.status_code, response.text) == (200, body)
    if "b" in body:
        assert eng.handler.messages[-1] == (sid, b"\x01\x02\x03\x04")


def test_v4_polling_get_waits_for_packets(eng: Engine) -> None:
    sid, _ = eng.open()
    pending = spawn_get(eng, sid)
    eng.post("4push:2", sid=sid)
    assert pending.get(timeout=TIMEOUT).text == "4n0\x1e4n1"


def test_v4_heartbeat_over_polling(start: Callable[..., Engine]) -> None:
    eng = start(**FAST_LIVE)
    sid, _ = eng.open()
    started = time.monotonic()
    for _ in range(3):
        assert eng.get(sid=sid).text == "2"  # the server pings every ping_interval
        assert eng.post("3", sid=sid).text == "ok"
    # Every PING came ping_interval after the PONG, not at the (later) pong deadline.
    assert time.monotonic() - started < 2.5
    assert sid not in eng.handler.disconnects


def test_v4_ping_timeout_over_polling(start: Callable[..., Engine]) -> None:
    eng = start(**FAST)
    sid, _ = eng.open()
    assert eng.handler.reason(sid) == "ping timeout"
    assert_error(eng.post("3", sid=sid), 400, 1, "Session ID unknown")


def test_v4_client_close_releases_the_pending_get(eng: Engine) -> None:
    sid, _ = eng.open()
    pending = spawn_get(eng, sid)
    assert eng.post("1", sid=sid).text == "ok"
    assert pending.get(timeout=TIMEOUT).text == "6"
    assert_error(eng.get(sid=sid), 400, 1, "Session ID unknown")
    assert eng.handler.reason(sid) == "transport close"


def test_v4_server_close_over_polling(eng: Engine) -> None:
    sid, _ = eng.open()
    pending = spawn_get(eng, sid)
    eng.post("4close-me", sid=sid)
    assert pending.get(timeout=TIMEOUT).text == "1"
    assert eng.handler.reason(sid) == "forced close"


def test_v4_server_close_without_pending_get_is_delivered_later(eng: Engine) -> None:
    sid, _ = eng.open()
    eng.post("4bye\x1e4close-me", sid=sid)
    assert eng.get(sid=sid).text == "4bye\x1e1"
    assert_error(eng.get(sid=sid), 400, 1, "Session ID unknown")


def test_v4_duplicate_get_closes_the_session(eng: Engine) -> None:
    sid, _ = eng.open()
    first = spawn_get(eng, sid)
    second = eng.get(sid=sid)
    assert (second.status_code, second.content) == (400, b"")
    assert first.get(timeout=TIMEOUT).text == "1"
    assert_error(eng.get(sid=sid), 400, 1, "Session ID unknown")
    assert eng.handler.reason(sid) == "transport error"


def test_v4_malformed_payload_closes_the_session(eng: Engine) -> None:
    sid, _ = eng.open()
    assert_error(eng.post("abc", sid=sid), 400, 3, "Bad request")
    assert eng.get(sid=sid).status_code == 400
    assert eng.handler.reason(sid) == "parse error"


def test_v4_binary_post_is_refused(eng: Engine) -> None:
    sid, _ = eng.open()
    response = eng.post(b"\x04\x01", sid=sid, headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 400
    assert eng.handler.reason(sid) == "parse error"


def test_oversized_post_answers_413_and_closes(start: Callable[..., Engine]) -> None:
    e = start(max_http_buffer_size=100)
    sid, data = e.open()
    assert data["maxPayload"] == 100
    response = e.post("4" + "x" * 100, sid=sid)
    assert (response.status_code, response.content) == (413, b"")
    assert e.handler.reason(sid) == "transport error"
    assert_error(e.get(sid=sid), 400, 1, "Session ID unknown")


def test_http_compression(start: Callable[..., Engine]) -> None:
    e = start(compression_threshold=100)
    sid, _ = e.open()
    big = "4" + "y" * 500
    e.post(big, sid=sid)
    response = e.get(sid=sid)  # requests sends Accept-Encoding: gzip, deflate
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) < 100
    assert response.text == big
    e.post("4small", sid=sid)
    assert "Content-Encoding" not in e.get(sid=sid).headers
    e.post(big, sid=sid)
    raw = requests.get(
        e.url,
        params={"EIO": "4", "transport": "polling", "sid": sid},
        headers={"Accept-Encoding": "identity"},
        timeout=TIMEOUT,
    )
    assert "Content-Encoding" not in raw.headers and raw.text == big


def test_cookie(start: Callable[..., Engine]) -> None:
    e = start(cookie="io")
    response = e.get()
    sid = json.loads(response.text[1:])["sid"]
    assert response.headers["Set-Cookie"] == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
    e2 = start(cookie={"name": "eio", "path": "/x", "secure": True, "samesite": "Strict"})
    response = e2.get()
    sid = json.loads(response.text[1:])["sid"]
    expected = f"eio={sid}; Path=/x; HttpOnly; Secure; SameSite=Strict"
    assert response.headers["Set-Cookie"] == expected


# --- Engine.IO 4: WebSocket ----------------------------------------------------------------------


def test_v4_upgrade(eng: Engine) -> None:
    sid, _ = eng.open()
    ws = eng.ws(sid=sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert eng.get(sid=sid).text == "6"  # noop: the client can pause polling
    ws.send("5")
    ws.send("4hello")
    assert ws.recv() == "4hello"
    assert eng.conn(sid).transport == "websocket"
    # HTTP requests with the same sid are refused after the upgrade; a second WebSocket is
    # accepted (101) and closed at once, as Node does (an HTTP error there is an unhandled
    # error in the client).
    assert_error(eng.get(sid=sid), 400, 3, "Bad request")
    second = eng.ws(sid=sid)
    assert second.recv_data()[0] == websocket.ABNF.OPCODE_CLOSE
    second.close()
    ws.send("4still")
    assert ws.recv() == "4still"
    ws.close()
    assert eng.handler.reason(sid) == "transport close"


def test_v4_upgrade_releases_a_pending_get_and_flushes_buffered_packets(eng: Engine) -> None:
    sid, _ = eng.open()
    pending = spawn_get(eng, sid)
    ws = eng.ws(sid=sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert pending.get(timeout=TIMEOUT).text == "6"
    eng.conn(sid).send("buffered")  # queued while the client is paused
    ws.send("5")
    assert ws.recv() == "4buffered"
    ws.close()


def test_v4_failed_probe_keeps_polling(eng: Engine) -> None:
    sid, _ = eng.open()
    ws = eng.ws(sid=sid)
    ws.send("4not-a-probe")
    assert ws.recv_data()[0] == websocket.ABNF.OPCODE_CLOSE
    ws.close()
    eng.post("4still-polling", sid=sid)
    assert eng.get(sid=sid).text == "4still-polling"


def test_v4_websocket_session(start: Callable[..., Engine]) -> None:
    eng = start(**FAST_LIVE)
    ws = eng.ws()
    handshake = ws.recv()
    assert isinstance(handshake, str) and handshake.startswith("0")
    data = json.loads(handshake[1:])
    assert data["upgrades"] == []
    sid = data["sid"]
    ws.send("4hello")
    assert ws.recv() == "4hello"
    ws.send_binary(bytes([1, 2, 3, 4]))
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, bytes([1, 2, 3, 4]))
    ws.send("4push:3")
    assert [ws.recv() for _ in range(3)] == ["4n0", "4n1", "4n2"]
    for _ in range(2):
        assert ws.recv() == "2"  # server ping
        ws.send("3")
    ws.send("1")
    assert eng.handler.reason(sid) == "transport close"
    ws.close()


def test_v4_websocket_ping_timeout(start: Callable[..., Engine]) -> None:
    eng = start(**FAST)
    ws = eng.ws()
    sid = json.loads(ws.recv()[1:])["sid"]
    assert ws.recv() == "2"
    assert eng.handler.reason(sid) == "ping timeout"
    assert ws.recv_data()[0] == websocket.ABNF.OPCODE_CLOSE
    ws.close()


def test_v4_websocket_invalid_packet_closes(eng: Engine) -> None:
    ws = eng.ws()
    sid = json.loads(ws.recv()[1:])["sid"]
    ws.send("abc")
    assert eng.handler.reason(sid) == "parse error"
    # A parse error is a server-side close: the client is told with a CLOSE packet.
    assert ws.recv() == "1"
    ws.close()


def test_v4_websocket_server_close(eng: Engine) -> None:
    ws = eng.ws()
    sid = json.loads(ws.recv()[1:])["sid"]
    ws.send("4close-me")
    assert ws.recv() == "1"
    assert ws.recv_data()[0] == websocket.ABNF.OPCODE_CLOSE
    assert eng.handler.reason(sid) == "forced close"
    ws.close()


def test_websocket_message_over_limit(start: Callable[..., Engine]) -> None:
    e = start(max_http_buffer_size=50)
    ws = e.ws()
    sid = json.loads(ws.recv()[1:])["sid"]
    ws.send("4" + "z" * 60)
    opcode, payload = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_CLOSE and payload[:2] == (1009).to_bytes(2, "big")
    assert e.handler.reason(sid) == "transport error"
    ws.close()


# --- Engine.IO 3 ---------------------------------------------------------------------------------


def test_v3_handshake_and_exchange(eng: Engine) -> None:
    sid, data = eng.open(eio=3)
    assert {"sid", "upgrades", "pingInterval", "pingTimeout"} <= set(data)
    assert data["upgrades"] == ["websocket"]
    assert eng.conn(sid).eio == 3
    for body in ("6:4hello", "6:4test16:4test26:4test3"):
        assert eng.post(body, eio=3, sid=sid).text == "ok"
        assert eng.get(eio=3, sid=sid).text == body


def test_v3_binary_payloads(eng: Engine) -> None:
    sid, _ = eng.open(eio=3, b64="1")
    eng.post("6:4hello10:b4AQIDBA==", eio=3, sid=sid)
    assert eng.handler.messages[-1] == (sid, b"\x01\x02\x03\x04")
    assert eng.get(eio=3, sid=sid, b64="1").text == "6:4hello10:b4AQIDBA=="
    # XHR2 clients (no b64 at the handshake, which holds for the session's life: see
    # test_v3_b64_is_fixed_at_the_handshake): the binary payload,
    # <0|1><length digits>0xFF<packet> per packet.
    sid, _ = eng.open(eio=3)
    eng.post("6:4hello10:b4AQIDBA==", eio=3, sid=sid)
    response = eng.get(eio=3, sid=sid)
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == b"\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04"
    binary_post = b"\x01\x03\xff\x04\x07\x08\x00\x02\xff4x"
    response = eng.post(
        binary_post, eio=3, sid=sid, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.text == "ok"
    assert eng.handler.messages[-2:] == [(sid, b"\x07\x08"), (sid, "x")]


def test_v3_heartbeat_and_timeout(start: Callable[..., Engine]) -> None:
    eng = start(**FAST)
    sid, _ = eng.open(eio=3)
    for _ in range(3):
        assert eng.post("1:2", eio=3, sid=sid).text == "ok"
        assert eng.get(eio=3, sid=sid).text == "1:3"
    assert eng.post("6:2probe", eio=3, sid=sid).text == "ok"
    assert eng.get(eio=3, sid=sid).text == "6:3probe"
    # No client ping for ping_interval + ping_timeout: the session dies.
    assert eng.handler.reason(sid) == "ping timeout"
    assert_error(eng.post("1:2", eio=3, sid=sid), 400, 1, "Session ID unknown")


def test_v3_close_and_duplicate_get(eng: Engine) -> None:
    sid, _ = eng.open(eio=3)
    pending = spawn_get(eng, sid, eio=3)
    eng.post("1:1", eio=3, sid=sid)
    assert pending.get(timeout=TIMEOUT).text == "1:6"
    assert eng.get(eio=3, sid=sid).status_code == 400
    sid, _ = eng.open(eio=3)
    first = spawn_get(eng, sid, eio=3)
    assert eng.get(eio=3, sid=sid, t="burst").status_code == 400
    assert first.get(timeout=TIMEOUT).text == "1:1"
    assert eng.get(eio=3, sid=sid).status_code == 400


def test_v3_jsonp(start: Callable[..., Engine]) -> None:
    eng = start(jsonp=True)
    page = eng.page
    response = eng.get(eio=3, j="0", headers=page)
    assert response.headers["Content-Type"] == "text/javascript; charset=UTF-8"
    text = response.text
    assert text.startswith('___eio[0]("') and text.endswith('");')
    payload = json.loads(text[len("___eio[0](") : -2])
    sid = json.loads(payload.partition(":")[2][1:])["sid"]
    form = {"Content-Type": "application/x-www-form-urlencoded", **page}
    assert eng.post("d=6%3A4hello", eio=3, sid=sid, j="0", headers=form).text == "ok"
    assert eng.get(eio=3, sid=sid, j="3", headers=page).text == '___eio[3]("6:4hello");'
    # A newline is posted escaped as \n (and a literal backslash-n as \\n).
    eng.post("d=12%3A4line1%5Cnline2", eio=3, sid=sid, j="0", headers=form)
    assert eng.handler.messages[-1] == (sid, "line1\nline2")
    assert eng.get(eio=3, sid=sid, j="4", headers=page).text == '___eio[4]("12:4line1\\nline2");'


def test_v4_jsonp(start: Callable[..., Engine]) -> None:
    eng = start(jsonp=True)
    page = eng.page
    text = eng.get(j="1", headers=page).text
    assert text.startswith('___eio[1]("0{') and text.endswith('");')
    sid = json.loads(json.loads(text[len("___eio[1](") : -2])[1:])["sid"]
    form = {"Content-Type": "application/x-www-form-urlencoded", **page}
    assert eng.post("d=4a%1E4b", sid=sid, j="1", headers=form).text == "ok"
    assert eng.get(sid=sid, j="2", headers=page).text == '___eio[2]("4a\\u001e4b");'


def test_jsonp_is_off_by_default(eng: Engine) -> None:
    """As Node's ``jsonp`` option: EIO3/4 ``j=`` polling is refused unless enabled."""
    assert_error(eng.get(eio=3, j="0", headers=eng.page), 400, 3, "Bad request")
    assert_error(eng.get(j="0", headers=eng.page), 400, 3, "Bad request")
    sid, _ = eng.open(eio=3)
    assert_error(eng.get(eio=3, sid=sid, j="0", headers=eng.page), 400, 3, "Bad request")
    assert eng.post("6:4alive", eio=3, sid=sid).text == "ok"  # the session is unaffected
    assert eng.get(eio=3, sid=sid).text == "6:4alive"


def test_jsonp_from_a_foreign_page_is_forbidden(start: Callable[..., Engine]) -> None:
    """A ``<script>`` on another site could read a session: its Referer (or Origin) must be
    allowed by cors_allowed_origins; neither header at all is refused too (no-referrer)."""
    eng = start(jsonp=True)
    for headers in ({"Referer": "http://evil.test/page"}, {}):
        assert_error(eng.get(eio=3, j="0", headers=headers), 403, 4, "Forbidden")
    sid, _ = eng.open(eio=3)
    evil = {"Referer": "http://evil.test/x", "Content-Type": "application/x-www-form-urlencoded"}
    assert_error(eng.post("d=6%3A4hello", eio=3, sid=sid, j="0", headers=evil), 403, 4, "Forbidden")
    assert eng.handler.messages == []
    allowed = start(jsonp=True, cors_allowed_origins=["http://good.test"])
    response = allowed.get(eio=3, j="0", headers={"Referer": "http://good.test/app?x=1"})
    assert response.status_code == 200 and response.text.startswith('___eio[0]("')
    refused = allowed.get(eio=3, j="0", headers={"Referer": eng.page["Referer"]})
    assert_error(refused, 403, 4, "Forbidden")
    anyone = start(jsonp=True, cors_allowed_origins="*")
    assert anyone.get(eio=3, j="0").status_code == 200


def test_v3_b64_is_fixed_at_the_handshake(eng: Engine) -> None:
    """EIO3 ``b64=1`` holds for the session's life: a later GET without it still gets text."""
    sid, _ = eng.open(eio=3, b64="1")
    eng.post("10:b4AQIDBA==", eio=3, sid=sid)
    response = eng.get(eio=3, sid=sid)  # no b64 on this request
    assert response.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.text == "10:b4AQIDBA=="
    # And a session opened without it gets the binary payload even if a GET adds b64=1.
    sid, _ = eng.open(eio=3)
    eng.post("10:b4AQIDBA==", eio=3, sid=sid)
    response = eng.get(eio=3, sid=sid, b64="1")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == b"\x01\x05\xff\x04\x01\x02\x03\x04"


def test_v3_upgrade_and_websocket(eng: Engine) -> None:
    sid, _ = eng.open(eio=3)
    ws = eng.ws(eio=3, sid=sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert eng.get(eio=3, sid=sid).text == "1:6"
    ws.send("5")
    ws.send("4hello")
    assert ws.recv() == "4hello"
    ws.send("2")
    assert ws.recv() == "3"
    ws.send_binary(b"\x04\x01\x02")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"\x04\x01\x02")
    assert eng.handler.messages[-1] == (sid, b"\x01\x02")
    ws.close()
    assert eng.handler.reason(sid) == "transport close"
    # A client without binary frames (b64=1) gets binary data as "b4" + base64 text.
    ws = eng.ws(eio=3, extra="&b64=1")
    ws.recv()
    ws.send("b4AQID")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b"b4AQID")
    ws.close()
    # Direct WebSocket, and "invalid heartbeat direction" (a v3 server never gets PONG).
    ws = eng.ws(eio=3)
    sid = json.loads(ws.recv()[1:])["sid"]
    ws.send("3")
    assert eng.handler.reason(sid) == "transport error"
    ws.close()


# --- bad input ---------------------------------------------------------------------------------


def test_bad_requests_answer_like_the_official_server(start: Callable[..., Engine]) -> None:
    e = start(allow_request=lambda environ: "deny" not in environ.get("QUERY_STRING", ""))
    bystander, _ = e.open()
    url = e.url

    def get(query: str, method: str = "GET") -> requests.Response:
        return requests.request(method, url + "?" + query, timeout=TIMEOUT)

    assert_error(get("EIO=4&transport=polling&sid=nope"), 400, 1, "Session ID unknown")
    assert_error(get("EIO=4&transport=tobi"), 400, 0, "Transport unknown")
    assert_error(get("EIO=4"), 400, 0, "Transport unknown")
    assert_error(get("EIO=4&transport=polling", "POST"), 400, 2, "Bad handshake method")
    assert_error(get("EIO=4&transport=polling", "PUT"), 400, 2, "Bad handshake method")
    assert_error(get("EIO=4&transport=websocket"), 400, 3, "Bad request")  # no upgrade
    assert_error(get("EIO=4&transport=polling&deny=1"), 403, 4, "Forbidden")
    for query in ("transport=polling", "EIO=abc&transport=polling", "EIO=5&transport=polling"):
        assert_error(get(query), 400, 5, "Unsupported protocol version")
    assert_error(get(f"EIO=3&transport=polling&sid={bystander}"), 400, 3, "Bad request")
    assert_error(get(f"EIO=4&transport=polling&sid={bystander}", "PUT"), 400, 3, "Bad request")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"{e.ws_url}?EIO=4&transport=websocket&sid=nope")
    assert refused.value.status_code == 400
    # Every refusal left the other session alone.
    assert e.post("4still-here", sid=bystander).text == "ok"
    assert e.get(sid=bystander).text == "4still-here"
    assert bystander not in e.handler.disconnects


def test_eio3_can_be_disabled(start: Callable[..., Engine]) -> None:
    e = start(allow_eio3=False)
    assert_error(e.get(eio=3), 400, 5, "Unsupported protocol version")


def test_transports_option(start: Callable[..., Engine]) -> None:
    e = start(transports=["polling"])
    _sid, data = e.open()
    assert data["upgrades"] == []
    with pytest.raises(websocket.WebSocketBadStatusException):
        e.ws()
    e = start(transports=["websocket"])
    assert_error(e.get(), 400, 0, "Transport unknown")
    ws = e.ws()
    assert ws.recv()[:1] == "0"
    ws.close()


def test_cors(start: Callable[..., Engine]) -> None:
    e = start()  # default: same origin only
    host = e.url.split("/")[2]
    same = requests.get(
        e.url, params={"EIO": "4", "transport": "polling"}, headers={"Origin": f"http://{host}"}
    )
    assert same.status_code == 200
    assert same.headers["Access-Control-Allow-Origin"] == f"http://{host}"
    other = requests.get(
        e.url, params={"EIO": "4", "transport": "polling"}, headers={"Origin": "http://evil.test"}
    )
    assert_error(other, 400, 3, "Bad request")
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(
            f"{e.ws_url}?EIO=4&transport=websocket", origin="http://evil.test", timeout=TIMEOUT
        )
    assert requests.get(e.url, params={"EIO": "4", "transport": "polling"}).status_code == 200

    e = start(cors_allowed_origins=["http://good.test"], cors_credentials=False)
    good = requests.get(
        e.url, params={"EIO": "4", "transport": "polling"}, headers={"Origin": "http://good.test"}
    )
    assert good.headers["Access-Control-Allow-Origin"] == "http://good.test"
    assert "Access-Control-Allow-Credentials" not in good.headers
    preflight = requests.options(
        e.url,
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": "http://good.test", "Access-Control-Request-Headers": "x-token"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Methods"] == "OPTIONS, GET, POST"
    assert preflight.headers["Access-Control-Allow-Headers"] == "x-token"

    e = start(cors_allowed_origins=[])  # CORS handled elsewhere: no check, no headers
    untouched = requests.get(
        e.url, params={"EIO": "4", "transport": "polling"}, headers={"Origin": "http://x.test"}
    )
    assert untouched.status_code == 200
    assert "Access-Control-Allow-Origin" not in untouched.headers
    no_preflight = requests.options(e.url, params={"EIO": "4", "transport": "polling"})
    assert_error(no_preflight, 400, 2, "Bad handshake method")

    e = start(cors_allowed_origins="*")
    anyone = requests.get(
        e.url, params={"EIO": "4", "transport": "polling"}, headers={"Origin": "http://x.test"}
    )
    assert anyone.headers["Access-Control-Allow-Origin"] == "http://x.test"
    assert anyone.headers["Access-Control-Allow-Credentials"] == "true"


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


# --- independent clients: the official engine.io-client (Node) --------------------------------

NODE_V4 = """
const { Socket } = require("engine.io-client");
const socket = new Socket(URL, { path: "/socket.io/", transports: ARGS.transports });
const want = ARGS.transports.length > 1 ? 3 : 2;
let got = 0;
socket.on("open", () => {
  out({ open: socket.transport.name });
  socket.send("hello");
  socket.send(Buffer.from([1, 2, 3]));
});
socket.on("upgrade", (t) => { out({ upgrade: t.name }); socket.send("after upgrade"); });
socket.on("message", (d) => {
  out({ message: typeof d === "string" ? d : { bytes: [...d] }, on: socket.transport.name });
  if (++got === want) socket.close();
});
socket.on("close", (reason) => { out({ close: reason }); done(); });
"""

NODE_V3 = NODE_V4.replace(
    'const { Socket } = require("engine.io-client");\n'
    'const socket = new Socket(URL, { path: "/socket.io/", transports: ARGS.transports });',
    'const eio = require("socket.io-client-v2/node_modules/engine.io-client");\n'
    'const socket = eio(URL, { path: "/socket.io/", transports: ARGS.transports });',
).replace("[...d]", "[...new Uint8Array(d)]")


@pytest.mark.service
@pytest.mark.parametrize("eio", [4, 3])
@pytest.mark.parametrize("transports", [["polling", "websocket"], ["polling"], ["websocket"]])
def test_official_node_client(
    start: Callable[..., Engine], eio: int, transports: list[str]
) -> None:
    e = start(ping_interval=2, ping_timeout=2)
    url = e.url.rsplit("/socket.io/", 1)[0]
    records = run_node(NODE_V4 if eio == 4 else NODE_V3, url, args={"transports": transports})
    messages = [r["message"] for r in records if "message" in r]
    assert messages[:2] == ["hello", {"bytes": [1, 2, 3]}]
    assert records[0] == {"open": transports[0]}
    if len(transports) > 1:
        assert {"upgrade": "websocket"} in records
        assert messages[2:] == ["after upgrade"]
        assert [r["on"] for r in records if "message" in r][-1] == "websocket"
    assert records[-1] == {"close": "forced close"}
    sid = e.handler.connects[0].sid
    assert e.handler.connects[0].eio == eio
    assert e.handler.reason(sid) == "transport close"


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
