"""Engine.IO 3 (socket.io-client 1.x/2.x) and JSONP over real sockets, and the official
engine.io-client 4.x/3.x from Node; expected bytes from the Engine.IO specs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import websocket

from tests.helpers.engine import FAST, Engine, assert_error, spawn_get
from tests.helpers.fakes import TIMEOUT
from tests.helpers.node import run_node

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
