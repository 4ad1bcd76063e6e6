"""The 0.9 endpoint over real sockets, byte by byte: handshake, every transport, bad input.

Expected strings are the socket.io-spec README's and the 0.9 server's (handshake
``sid:60:60:<transports>``, ``1::`` on open, ``8::`` at the polling timeout, ``7:::1+0`` for an
unknown sid, ``io.j[<i>]("...");``, the htmlfile prologue and ``<script>_("...");</script>``),
written out by hand. Every socket and request has a timeout; waits are bounded polls.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import gevent
import pytest
import requests
import websocket

import gsocketio
from gsocketio.legacy import LegacyServer
from tests.helpers.chat_app import Recorder, build

TIMEOUT = 5.0
F = "\ufffd"
ALL = "websocket,flashsocket,htmlfile,xhr-polling,jsonp-polling"
PROLOGUE = (
    "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
    + " " * 173
)

Started = tuple[str, gsocketio.Server, Recorder, LegacyServer]


@pytest.fixture
def start(serve: Callable[..., str]) -> Iterator[Callable[..., Started]]:
    started: list[LegacyServer] = []

    def _start(cors: Any = "*", **options: Any) -> Started:
        sio, rec = build(cors_allowed_origins=cors)
        rec.messages = []  # type: ignore[attr-defined]

        @sio.on("message")
        def message(sid: str, data: Any) -> None:
            rec.messages.append(data)  # type: ignore[attr-defined]

        @sio.on("flood")
        def flood(sid: str, count: int) -> None:
            for i in range(count):
                sio.emit("item", i, to=sid)

        options.setdefault("polling_duration", 1)
        options.setdefault("jsonp", True)  # jsonp-polling is opt-in; these tests cover it
        legacy = LegacyServer(sio, **options)
        started.append(legacy)
        return serve(legacy.wsgi_app()), sio, rec, legacy

    yield _start
    for legacy in started:
        legacy.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout, AssertionError("condition not met in time")):
        while not predicate():
            gevent.sleep(0.02)


def handshake(url: str, **headers: str) -> str:
    reply = requests.get(f"{url}/socket.io/1/?t=1", headers=headers, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.text.split(":")[0]


class Polling:
    """A minimal xhr-polling client."""

    def __init__(self, url: str, transport: str = "xhr-polling") -> None:
        self.sid = handshake(url)
        self.base = f"{url}/socket.io/1/{transport}/{self.sid}"

    def get(self, **params: str) -> requests.Response:
        return requests.get(self.base, params={"t": "1", **params}, timeout=TIMEOUT)

    def post(self, body: str | bytes, **kwargs: Any) -> requests.Response:
        data = body.encode() if isinstance(body, str) else body
        return requests.post(self.base, data=data, timeout=TIMEOUT, **kwargs)

    def connect(self) -> None:
        assert self.get().text == "1::"


# --- handshake ---------------------------------------------------------------------------------


def test_handshake(start: Any) -> None:
    url, *_ = start()
    reply = requests.get(f"{url}/socket.io/1/?t=123", timeout=TIMEOUT)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert re.fullmatch(rf"[A-Za-z0-9_-]{{8,}}:60:60:{ALL}", reply.text)
    posted = requests.post(f"{url}/socket.io/1/", timeout=TIMEOUT)
    assert re.fullmatch(rf"[A-Za-z0-9_-]+:60:60:{ALL}", posted.text)
    assert posted.text.split(":")[0] != reply.text.split(":")[0]


def test_handshake_honours_configuration(start: Any) -> None:
    url, *_ = start(
        transports=["xhr-polling", "websocket"],
        heartbeat_interval=5,
        heartbeat_timeout=12.5,
        close_timeout=30,
    )
    text = requests.get(f"{url}/socket.io/1/", timeout=TIMEOUT).text
    assert re.fullmatch(r"[A-Za-z0-9_-]+:13:30:xhr-polling,websocket", text)
    sid = text.split(":")[0]
    refused = requests.get(f"{url}/socket.io/1/htmlfile/{sid}", timeout=TIMEOUT)
    assert (refused.status_code, refused.text) == (200, "7:::0")


def test_jsonp_handshake(start: Any) -> None:
    url, *_ = start()
    reply = requests.get(f"{url}/socket.io/1/?t=1&jsonp=3", timeout=TIMEOUT)
    assert reply.headers["Content-Type"] == "application/javascript"
    assert re.fullmatch(rf'io\.j\[3\]\("[A-Za-z0-9_-]+:60:60:{ALL}"\);', reply.text)
    plain = requests.get(f"{url}/socket.io/1/?jsonp=x", timeout=TIMEOUT)  # not a number
    assert plain.text.endswith(ALL) and not plain.text.startswith("io.j")


def test_cors_echoes_the_origin_with_credentials(start: Any) -> None:
    url, *_ = start()
    reply = requests.get(
        f"{url}/socket.io/1/", headers={"Origin": "http://example.com"}, timeout=TIMEOUT
    )
    assert reply.headers["Access-Control-Allow-Origin"] == "http://example.com"
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    sid = reply.text.split(":")[0]
    preflight = requests.options(
        f"{url}/socket.io/1/xhr-polling/{sid}",
        headers={"Origin": "http://example.com", "Access-Control-Request-Method": "POST"},
        timeout=TIMEOUT,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://example.com"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_refused_origins(start: Any) -> None:
    url, *_ = start(cors=None)  # same origin only
    evil = {"Origin": "http://evil.example"}
    reply = requests.get(f"{url}/socket.io/1/", headers=evil, timeout=TIMEOUT)
    assert (reply.status_code, reply.text) == (403, "handshake bad origin")
    # A JSONP handshake is a <script>: no Origin, but a Referer; the error is readable JS.
    jsonp = requests.get(
        f"{url}/socket.io/1/?jsonp=1",
        headers={"Referer": "http://evil.example/page"},
        timeout=TIMEOUT,
    )
    assert (jsonp.status_code, jsonp.text) == (200, 'io.j[1](new Error("handshake bad origin"));')
    own = requests.get(f"{url}/socket.io/1/", headers={"Origin": url}, timeout=TIMEOUT)
    assert own.status_code == 200
    sid = own.text.split(":")[0]
    post = requests.post(
        f"{url}/socket.io/1/xhr-polling/{sid}", data=b"2::", headers=evil, timeout=TIMEOUT
    )
    assert post.status_code == 403


def test_allow_request_refusal(start: Any) -> None:
    url, *_ = start(allow_request=lambda environ: "token=ok" in environ["QUERY_STRING"])
    refused = requests.get(f"{url}/socket.io/1/?token=no", timeout=TIMEOUT)
    assert (refused.status_code, refused.text) == (403, "handshake unauthorized")
    assert requests.get(f"{url}/socket.io/1/?token=ok", timeout=TIMEOUT).status_code == 200


def test_unused_handshakes_are_bounded(start: Any) -> None:
    url, *_ = start(max_pending_handshakes=2)
    first, _second = handshake(url), handshake(url)
    refused = requests.get(f"{url}/socket.io/1/", timeout=TIMEOUT)
    assert (refused.status_code, refused.text) == (503, "handshake refused")
    requests.get(f"{url}/socket.io/1/xhr-polling/{first}", timeout=TIMEOUT)  # uses one
    assert requests.get(f"{url}/socket.io/1/", timeout=TIMEOUT).status_code == 200


# --- xhr-polling -------------------------------------------------------------------------------


def test_xhr_polling_round_trip(start: Any) -> None:
    url, _sio, rec, _legacy = start()
    client = Polling(url)
    opened = client.get()
    assert (opened.text, opened.headers["Content-Type"]) == ("1::", "text/plain; charset=UTF-8")
    assert rec.connects == [("/", client.sid, None)]
    reply = client.post('5:1+::{"name":"echo","args":["a",2]}')
    assert (reply.status_code, reply.text) == (200, "1")
    assert client.get().text == '6:::1+["a",2]'


def test_xhr_polling_framing_and_acks_on_receipt(start: Any) -> None:
    url, _sio, rec, _legacy = start()
    client = Polling(url)
    client.connect()
    assert client.post(f"{F}6{F}3:1::a{F}6{F}3:2::b").text == "1"
    assert client.get().text == f"{F}5{F}6:::1{F}5{F}6:::2"
    wait_for(lambda: len(rec.messages) == 2)
    assert rec.messages == ["a", "b"]


def test_polling_timeout_answers_noop(start: Any) -> None:
    url, *_ = start(polling_duration=0.3)
    client = Polling(url)
    client.connect()
    assert client.get().text == "8::"


def test_heartbeats_and_heartbeat_timeout(start: Any) -> None:
    url, _sio, rec, legacy = start(heartbeat_interval=0.2, heartbeat_timeout=1, polling_duration=2)
    client = Polling(url)
    client.connect()
    assert client.get().text == "2::"
    assert client.post("2::").text == "1"
    assert client.get().text == "2::"
    # stop answering: dropped within heartbeat_timeout, then the client is told to start over
    wait_for(lambda: client.sid not in legacy.connections)
    assert rec.disconnects == [("/", client.sid, "ping timeout")]
    assert client.get().text == "7:::1+0"


def test_close_timeout_between_polls(start: Any) -> None:
    url, _sio, rec, legacy = start(close_timeout=0.5, polling_duration=0.2)
    client = Polling(url)
    client.connect()
    wait_for(lambda: client.sid not in legacy.connections)
    assert rec.disconnects == [("/", client.sid, "transport close")]


def test_a_new_poll_replaces_a_pending_one(start: Any) -> None:
    url, sio, *_ = start(polling_duration=5)
    client = Polling(url)
    client.connect()
    first = gevent.spawn(client.get)
    gevent.sleep(0.1)
    second = gevent.spawn(client.get)
    assert first.get(timeout=TIMEOUT).text == "8::"
    sio.emit("hello", 1, to=client.sid)
    assert second.get(timeout=TIMEOUT).text == '5:::{"name":"hello","args":[1]}'


def test_outgoing_queue_is_bounded(start: Any) -> None:
    url, _sio, rec, legacy = start(max_buffered_packets=5)
    client = Polling(url)
    client.connect()
    client.post('5:::{"name":"flood","args":[10]}')
    wait_for(lambda: client.sid not in legacy.connections)
    assert rec.disconnects == [("/", client.sid, "outgoing buffer full")]


def test_disconnect_url(start: Any) -> None:
    url, _sio, rec, legacy = start()
    client = Polling(url)
    client.connect()
    reply = requests.get(
        f"{url}/socket.io/1//{client.sid}/?disconnect=1", timeout=TIMEOUT
    )  # what the client's disconnectSync sends
    assert (reply.status_code, reply.text) == (200, "")
    wait_for(lambda: bool(rec.disconnects))
    assert rec.disconnects == [("/", client.sid, "client namespace disconnect")]
    assert client.sid not in legacy.connections


# --- jsonp-polling -----------------------------------------------------------------------------


def test_jsonp_polling(start: Any) -> None:
    url, *_ = start()
    client = Polling(url, "jsonp-polling")
    opened = client.get(i="2")
    assert opened.text == 'io.j[2]("1::");'
    assert opened.headers["Content-Type"] == "text/javascript; charset=UTF-8"
    assert opened.headers["X-XSS-Protection"] == "0"
    packet = '5:1+::{"name":"echo","args":["x/y"]}'
    form = "d=" + quote('"' + packet.replace('"', '\\"') + '"', safe="")
    reply = client.post(form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (reply.status_code, reply.text) == (200, "1")
    assert client.get(i="2").text == r'io.j[2]("6:::1+[\"x/y\"]");'


# --- htmlfile ----------------------------------------------------------------------------------


class ChunkedReader:
    """Reads one chunked HTTP response from a raw socket, chunk by chunk."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError("connection closed")
        self.buffer += data

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def head(self) -> dict[str, str]:
        status = self.line()
        assert status.startswith(b"HTTP/1.1 200"), status
        headers = {}
        while line := self.line():
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def chunk(self) -> str:
        size = int(self.line(), 16)
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data.decode()


def open_stream(url: str, path: str) -> tuple[socket.socket, ChunkedReader]:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return sock, ChunkedReader(sock)


def test_htmlfile_streams_scripts(start: Any) -> None:
    url, _sio, _rec, _legacy = start()
    sid = handshake(url)
    sock, reader = open_stream(url, f"/socket.io/1/htmlfile/{sid}?t=1")
    try:
        headers = reader.head()
        assert headers["transfer-encoding"] == "chunked"
        assert headers["content-type"].startswith("text/html")
        assert reader.chunk() == PROLOGUE
        assert reader.chunk() == '<script>_("1::");</script>'
        posted = requests.post(
            f"{url}/socket.io/1/htmlfile/{sid}",
            data=b'5:1+::{"name":"echo","args":["</script>"]}',
            timeout=TIMEOUT,
        )
        assert posted.text == "1"
        # "/" and "<" escaped, so nothing in a push can end the script element
        assert reader.chunk() == r'<script>_("6:::1+[\"\u003c\/script>\"]");</script>'
    finally:
        sock.close()


# --- websocket and flashsocket -----------------------------------------------------------------


def ws_connect(url: str, transport: str, sid: str) -> websocket.WebSocket:
    ws_url = url.replace("http://", "ws://") + f"/socket.io/1/{transport}/{sid}"
    return websocket.create_connection(ws_url, timeout=TIMEOUT)


@pytest.mark.parametrize("transport", ["websocket", "flashsocket"])
def test_websocket_transports(start: Any, transport: str) -> None:
    url, _sio, rec, _legacy = start(heartbeat_interval=0.3, heartbeat_timeout=5)
    sid = handshake(url)
    ws = ws_connect(url, transport, sid)
    try:
        assert ws.recv() == "1::"
        ws.send('5:1+::{"name":"echo","args":["w"]}')
        assert ws.recv() == '6:::1+["w"]'
        ws.send("3:5::hi")
        assert ws.recv() == "6:::5"
        assert ws.recv() == "2::"
        ws.send("2::")
    finally:
        ws.close()
    wait_for(lambda: bool(rec.disconnects))
    assert rec.disconnects == [("/", sid, "transport close")]
    assert rec.messages == ["hi"]


@pytest.mark.parametrize("frame", ["9::", "5:::{oops", b"\x00binary"])
def test_malformed_websocket_input_disconnects_cleanly(start: Any, frame: str | bytes) -> None:
    url, _sio, rec, _legacy = start()
    healthy = Polling(url)
    healthy.connect()
    sid = handshake(url)
    ws = ws_connect(url, "websocket", sid)
    try:
        assert ws.recv() == "1::"
        if isinstance(frame, bytes):
            ws.send_binary(frame)
        else:
            ws.send(frame)
        assert ws.recv() == "0::"
        ws.recv()  # the close frame: websocket-client answers it and returns ""
        assert not ws.connected
    finally:
        ws.close()
    wait_for(lambda: len(rec.disconnects) == 1)
    assert rec.disconnects == [("/", sid, "parse error")]
    healthy.post('5:1+::{"name":"echo","args":["still here"]}')  # the server carries on
    assert healthy.get().text == '6:::1+["still here"]'


def test_malformed_post_disconnects_cleanly(start: Any) -> None:
    url, _sio, rec, legacy = start()
    client = Polling(url)
    client.connect()
    reply = client.post(f"{F}99{F}3:::short")
    assert reply.status_code == 400
    assert client.get().text == "0::"  # booted: the 0.9 client will not reconnect into it
    wait_for(lambda: bool(rec.disconnects))
    assert rec.disconnects == [("/", client.sid, "parse error")]
    assert client.sid not in legacy.connections
    fresh = Polling(url)
    fresh.connect()


def test_post_over_the_size_limit(start: Any) -> None:
    url, _sio, rec, _legacy = start(max_http_buffer_size=100)
    client = Polling(url)
    client.connect()
    reply = client.post("3:::" + "x" * 200)
    assert reply.status_code == 413
    assert client.get().text == "0::"
    wait_for(lambda: bool(rec.disconnects))
    assert rec.disconnects[0][2] == "transport error"


# --- unknown sids and transports ---------------------------------------------------------------


def test_unknown_sid_gets_client_not_handshaken(start: Any) -> None:
    url, *_ = start()
    base = f"{url}/socket.io/1"
    assert requests.get(f"{base}/xhr-polling/nope", timeout=TIMEOUT).text == "7:::1+0"
    assert requests.post(f"{base}/xhr-polling/nope", data=b"2::", timeout=TIMEOUT).text == (
        "7:::1+0"
    )
    jsonp = requests.get(f"{base}/jsonp-polling/nope?i=4", timeout=TIMEOUT)
    assert jsonp.text == 'io.j[4]("7:::1+0");'
    htmlfile = requests.get(f"{base}/htmlfile/nope", timeout=TIMEOUT)
    assert htmlfile.text == PROLOGUE + '<script>_("7:::1+0");</script>'
    ws = ws_connect(url, "websocket", "nope")
    try:
        assert ws.recv() == "7:::1+0"
    finally:
        ws.close()


def test_unknown_transport(start: Any) -> None:
    url, *_ = start()
    sid = handshake(url)
    reply = requests.get(f"{url}/socket.io/1/xhr-multipart/{sid}", timeout=TIMEOUT)
    assert (reply.status_code, reply.text) == (200, "7:::0")
    bad_path = requests.get(f"{url}/socket.io/1/xhr-polling/{sid}/extra", timeout=TIMEOUT)
    assert bad_path.status_code == 400


# --- the Flash policy server -------------------------------------------------------------------


def read_all(sock: socket.socket) -> bytes:
    data = b""
    for _ in range(1000):
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("policy server kept sending")


def test_flash_policy_server(start: Any) -> None:
    url, _sio, _rec, legacy = start()
    http_port = int(url.rsplit(":", 1)[1])
    server = legacy.policy_server(("127.0.0.1", 0), ports=[http_port, 443], timeout=0.5)
    server.start()
    try:
        address = ("127.0.0.1", server.server_port)
        with socket.create_connection(address, timeout=TIMEOUT) as sock:
            sock.sendall(b"<policy-file-request/>\x00")
            policy = read_all(sock)
        expected = (
            '<?xml version="1.0"?><!DOCTYPE cross-domain-policy SYSTEM '
            '"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd"><cross-domain-policy>'
            '<site-control permitted-cross-domain-policies="master-only"/>'
            f'<allow-access-from domain="*" to-ports="443,{http_port}"/>'
            "</cross-domain-policy>\x00"
        )
        assert policy == expected.encode()
        with socket.create_connection(address, timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert read_all(sock) == b""  # anything else: closed, no answer
        with socket.create_connection(address, timeout=TIMEOUT) as sock:
            sock.sendall(b"<policy-file")  # and then nothing: closed after the timeout
            assert read_all(sock) == b""
    finally:
        server.stop(timeout=1)


# --- unused handshakes: expiry and the per-address bound (issue 9) -------------------------


def test_unused_handshakes_expire_after_handshake_timeout(start: Any) -> None:
    url, _sio, _rec, legacy = start(handshake_timeout=0.3, close_timeout=60)
    old = [handshake(url) for _ in range(3)]
    assert legacy._pending == 3
    # Expiry is checked by the next handshake: keep shaking (bounded) until the old ones go.
    with gevent.Timeout(TIMEOUT, AssertionError("unused handshakes never expired")):
        for _ in range(1000):
            fresh = handshake(url)
            if not set(old) & set(legacy.connections):
                break
            gevent.sleep(0.05)
    assert fresh in legacy.connections
    for sid in old:
        reply = requests.get(f"{url}/socket.io/1/xhr-polling/{sid}", timeout=TIMEOUT)
        assert reply.text == "7:::1+0"  # not handshaken: the client starts over
    assert requests.get(f"{url}/socket.io/1/xhr-polling/{fresh}", timeout=TIMEOUT).text == "1::"


def test_one_address_holds_at_most_its_share(start: Any) -> None:
    url, _sio, rec, legacy = start(max_pending_per_address=3)
    sids = [handshake(url) for _ in range(10)]  # never refused: its own oldest make room
    assert legacy._pending == 3
    assert set(legacy.connections) == set(sids[-3:])
    assert requests.get(f"{url}/socket.io/1/xhr-polling/{sids[0]}", timeout=TIMEOUT).text == (
        "7:::1+0"
    )
    assert requests.get(f"{url}/socket.io/1/xhr-polling/{sids[-1]}", timeout=TIMEOUT).text == (
        "1::"
    )
    assert legacy._pending == 2
    assert not rec.disconnects  # dropped handshakes never connected: the handler heard nothing


@pytest.mark.parametrize(
    "options", [{"max_pending_per_address": 0}, {"handshake_timeout": 0}, {"handshake_timeout": -1}]
)
def test_handshake_bounds_must_be_positive(start: Any, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        start(**options)


# --- JSONP is opt-in, and then only for allowed pages (issue 9) ----------------------------

NO_JSONP = "websocket,flashsocket,htmlfile,xhr-polling"


def test_jsonp_is_off_by_default(start: Any) -> None:
    url, *_ = start(jsonp=None)
    sid, _hb, _close, transports = requests.get(f"{url}/socket.io/1/", timeout=TIMEOUT).text.split(
        ":"
    )
    assert transports == NO_JSONP
    reply = requests.get(f"{url}/socket.io/1/jsonp-polling/{sid}?i=0", timeout=TIMEOUT)
    assert (reply.status_code, reply.text) == (200, "7:::0")  # transport not supported
    assert "javascript" not in reply.headers.get("Content-Type", "")
    shake = requests.get(f"{url}/socket.io/1/?jsonp=0", timeout=TIMEOUT)
    assert (shake.status_code, shake.text) == (403, "handshake jsonp disabled")
    # The session was not touched: its first real transport connects it.
    assert requests.get(f"{url}/socket.io/1/xhr-polling/{sid}", timeout=TIMEOUT).text == "1::"


def test_naming_jsonp_polling_in_transports_opts_in(start: Any) -> None:
    url, *_ = start(jsonp=None, transports=["xhr-polling", "jsonp-polling"])
    text = requests.get(f"{url}/socket.io/1/?jsonp=4", timeout=TIMEOUT).text
    assert re.fullmatch(r'io\.j\[4\]\("[\w-]+:60:60:xhr-polling,jsonp-polling"\);', text)


@pytest.mark.parametrize("transports", [["jsonp-polling"], ["websocket", "jsonp-polling"]])
def test_jsonp_false_contradicting_transports_fails_loudly(
    start: Any, transports: list[str]
) -> None:
    with pytest.raises(ValueError, match="jsonp"):
        start(jsonp=False, transports=transports)


GOOD_PAGE = "http://good.example"


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Referer": f"{GOOD_PAGE}/chat/index.html"}, True),
        ({"Origin": GOOD_PAGE}, True),
        ({"Referer": "http://evil.example/steal.html"}, False),
        ({"Referer": "http://good.example.evil.example/"}, False),
        ({"Referer": "file:///home/x.html"}, False),
        ({}, False),  # <script referrerpolicy="no-referrer">: the opaque origin "null"
    ],
)
def test_jsonp_only_for_pages_cors_allows(
    start: Any, headers: dict[str, str], allowed: bool
) -> None:
    url, *_ = start(cors=[GOOD_PAGE], jsonp=True)
    shake = requests.get(f"{url}/socket.io/1/?jsonp=0", headers=headers, timeout=TIMEOUT)
    sid = handshake(url)  # a plain handshake (no Origin, no Referer) is not JSONP: allowed
    poll = requests.get(
        f"{url}/socket.io/1/jsonp-polling/{sid}?i=1", headers=headers, timeout=TIMEOUT
    )
    post = requests.post(
        f"{url}/socket.io/1/jsonp-polling/{sid}?i=1",
        data={"d": '"3:::hi"'},
        headers=headers,
        timeout=TIMEOUT,
    )
    if allowed:
        assert shake.status_code == 200
        assert re.fullmatch(rf'io\.j\[0\]\("[\w-]+:60:60:{ALL}"\);', shake.text)
        assert (poll.status_code, poll.text) == (200, 'io.j[1]("1::");')
        assert (post.status_code, post.text) == (200, "1")
    else:
        # A refused JSONP handshake gets the 0.9 error script (status 200, as for a bad Origin)
        assert (shake.status_code, shake.text) == (
            200,
            'io.j[0](new Error("handshake bad origin"));',
        )
        assert (poll.status_code, poll.text) == (403, "Forbidden\n")
        assert (post.status_code, post.text) == (403, "Forbidden\n")
        assert requests.get(f"{url}/socket.io/1/xhr-polling/{sid}", timeout=TIMEOUT).text == ("1::")


def _seed_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    gsocketio.socketio_manage(environ, {})
    return []


@pytest.mark.parametrize(
    ("transports", "jsonp"),
    [(None, False), (["xhr-polling"], False), (["xhr-polling", "jsonp-polling"], True)],
)
def test_seed_mode_serves_jsonp_when_its_transports_name_it(
    serve: Callable[..., str], transports: list[str] | None, jsonp: bool
) -> None:
    """gevent-socketio served jsonp-polling when its ``transports`` named it; a seed-mode
    SocketIOServer keeps doing that, and keeps it off otherwise."""
    options = {} if transports is None else {"transports": transports}
    url = serve(_seed_app, **options)
    shake = requests.get(f"{url}/socket.io/1/?jsonp=0", timeout=TIMEOUT)
    if jsonp:
        assert re.fullmatch(r'io\.j\[0\]\("[\w-]+:60:60:xhr-polling,jsonp-polling"\);', shake.text)
    else:
        assert (shake.status_code, shake.text) == (403, "handshake jsonp disabled")
        offered = requests.get(f"{url}/socket.io/1/", timeout=TIMEOUT).text.split(":")[3]
        assert "jsonp-polling" not in offered.split(",")
