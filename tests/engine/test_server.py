"""The Engine.IO 4 server over real sockets: raw HTTP and WebSocket sequences, bad requests.

The engine runs under ``SocketIOServer`` on 127.0.0.1:0 with an echo handler (the Socket.IO
layer is tested elsewhere). Expected bytes come from the Engine.IO specs and the official
protocol test suite (github.com/socketio/engine.io-protocol): ``4hello``, ``bAQIDBA==`` for the
bytes 1..4, ``6:4hello``, ``1:6``, ``2probe``/``3probe``, the v3 binary payload layout, etc.
Waits are bounded: a blocked GET returns by itself (packets or a timeout), and server-side
conditions are polled with :func:`wait_until` (bounded in time and count).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import requests
import websocket

from tests.helpers.engine import FAST, FAST_LIVE, Engine, assert_error, spawn_get
from tests.helpers.fakes import TIMEOUT

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
