"""The direct route (issue 9): polling requests of a session answered from a lean environ,
without the full WSGI environ and ``WSGIApp``'s routing, pinned to the general path.

One engine and one ``WSGIApp`` are served by two ``SocketIOServer``s, one with the direct route
(the default) and one with ``direct=False``; two sessions run the same script of raw HTTP
requests, one through each server, and every response must be the same bytes (the ``Date``
header's value and the session ids aside). The reference is the general WSGI path, never
the shortcut. A property test pins :func:`lean_environ` to :func:`build_environ` over
generated heads.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsocketio.engine import EngineServer
from gsocketio.engine.hooks import EngineHooks
from gsocketio.http.environ import build_environ, lean_base, lean_environ, split_target
from gsocketio.http.limits import DEFAULT_HTTP_LIMITS
from gsocketio.http.parser import HeadParser
from gsocketio.serve import SocketIOServer
from gsocketio.wsgi import WSGIApp
from tests.helpers.fakes import TIMEOUT, EchoHandler

# The CORS policies: a list of origins, and the default (None: same origin, which reads the
# Host header and the server's name, port and scheme from the environ).
POLICIES = {"listed": ["http://allowed.example"], "same-origin": None}
ALLOWED = {"listed": "http://allowed.example", "same-origin": "http://127.0.0.1"}
_DATE = re.compile(rb"\r\nDate: [^\r]*")


class Client:
    """One keep-alive connection speaking raw HTTP/1.1; returns each response's bytes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def request(self, raw: bytes) -> bytes:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.sock.sendall(raw)
        buf = b""
        for _ in range(10_000):
            if b"\r\n\r\n" in buf:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed before a response head: {buf!r}")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        match = re.search(rb"\r\nContent-Length: (\d+)", head)
        length = int(match.group(1)) if match else 0
        for _ in range(10_000):
            if len(body) >= length:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            body += chunk
        if re.search(rb"\r\nConnection: close", head):
            self.close()
        return head + b"\r\n\r\n" + body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Pair:
    """The same engine behind a direct and a general server."""

    def __init__(
        self, app: WSGIApp, direct: SocketIOServer, general: SocketIOServer, allowed: str
    ) -> None:
        self.app = app
        self.allowed = allowed  # an Origin the policy accepts
        self.engine = app.engine
        self.direct = Client(direct.server_port)
        self.general = Client(general.server_port)
        self.routed = 0  # requests the direct route took
        route = app.direct_route

        def counting(path: str, query: str) -> Any:
            found = route(path, query)
            self.routed += found is not None
            return found

        app.direct_route = counting  # type: ignore[method-assign]

    def handshake(self, client: Client) -> str:
        raw = client.request(_request("GET", "EIO=4&transport=polling"))
        found = re.search(rb'"sid":"([^"]+)"', raw)
        assert found is not None, raw
        return found.group(1).decode()

    def same(self, make: Callable[[str], bytes], sids: tuple[str, str]) -> bytes:
        """Send ``make(sid)`` through each server; assert the normalized answers are equal."""
        direct = self.direct.request(make(sids[0]))
        general = self.general.request(make(sids[1]))
        left = _DATE.sub(b"", direct).replace(sids[0].encode(), b"SID")
        right = _DATE.sub(b"", general).replace(sids[1].encode(), b"SID")
        assert left == right
        return left


def _request(
    method: str,
    query: str,
    body: bytes = b"",
    headers: tuple[str, ...] = (),
    *,
    version: str = "1.1",
    length: bool = True,
) -> bytes:
    lines = [f"{method} /socket.io/?{query} HTTP/{version}", "Host: 127.0.0.1", *headers]
    if body and length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _q(sid: str, extra: str = "") -> str:
    return f"EIO=4&transport=polling&t=x{extra}&sid={sid}"


@pytest.fixture(params=sorted(POLICIES))
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    policy: str = request.param
    engine = EngineServer(
        EchoHandler(),
        cors_allowed_origins=POLICIES[policy],
        ping_interval=10,
        ping_timeout=10,
    )
    app = WSGIApp(engine)
    direct = SocketIOServer(("127.0.0.1", 0), app, log=None)
    general = SocketIOServer(("127.0.0.1", 0), app, log=None, direct=False)
    direct.start()
    general.start()
    made = Pair(app, direct, general, ALLOWED[policy])
    try:
        yield made
    finally:
        made.direct.close()
        made.general.close()
        direct.stop(timeout=2)
        general.stop(timeout=2)
        engine.close()


def test_the_direct_route_answers_like_the_general_path(pair: Pair) -> None:
    sids = (pair.handshake(pair.direct), pair.handshake(pair.general))
    allowed = pair.allowed
    text = ("Content-Type: text/plain;charset=UTF-8",)
    steps: list[Callable[[str], bytes]] = [
        lambda sid: _request("POST", _q(sid), b"4hello", text),
        lambda sid: _request("GET", _q(sid)),
        # CORS: an allowed origin gets its headers; a refused one the Engine.IO error
        lambda sid: _request("POST", _q(sid), b"4cors", (f"Origin: {allowed}",)),
        lambda sid: _request("GET", _q(sid), headers=(f"Origin: {allowed}",)),
        lambda sid: _request("GET", _q(sid), headers=("Origin: http://evil.example",)),
        lambda sid: _request("OPTIONS", _q(sid), headers=(f"Origin: {allowed}",)),
        # a batch, then a compressed answer
        lambda sid: _request("POST", _q(sid), b"4push:3"),
        lambda sid: _request("GET", _q(sid)),
        lambda sid: _request("POST", _q(sid), b"4" + b"x" * 3000),
        lambda sid: _request("GET", _q(sid), headers=("Accept-Encoding: gzip, deflate",)),
        # a body in chunks, and one after 100-continue
        lambda sid: _request(
            "POST",
            _q(sid),
            b"3\r\n4ch\r\n4\r\nunks\r\n0\r\n\r\n",
            ("Transfer-Encoding: chunked",),
            length=False,
        ),
        lambda sid: _request("GET", _q(sid)),
        lambda sid: _request("POST", _q(sid), b"4cont", ("Expect: 100-continue",)),
        lambda sid: _request("GET", _q(sid)),
        # a percent-encoded query, repeated headers
        lambda sid: _request("POST", _q(sid, "&x=a%20b"), b"4pct", ("X-A: 1", "X-A: 2")),
        lambda sid: _request("GET", _q(sid, "&x=a%20b")),
        # the engine's refusals
        lambda sid: _request("GET", _q("nosuchsid")),
        lambda sid: _request("GET", f"EIO=4&transport=bogus&sid={sid}"),
        lambda sid: _request("GET", f"EIO=3&transport=polling&sid={sid}"),
        lambda sid: _request("PUT", _q(sid), b"4put"),
        # asking for an upgrade on a polling GET: the general way on both
        lambda sid: _request("POST", _q(sid), b"4up"),
        lambda sid: _request("GET", _q(sid), headers=("Upgrade: websocket",)),
        # the connection ends after these
        lambda sid: _request("POST", _q(sid), b"4bye", ("Connection: close",)),
        lambda sid: _request("GET", _q(sid), version="1.0"),
        # last: a malformed body ends the session
        lambda sid: _request("POST", _q(sid), b"\x00\x01 not a payload"),
        lambda sid: _request("GET", _q(sid)),
    ]
    answers = [pair.same(step, sids) for step in steps]
    assert b"4hello" in answers[1]
    assert b"Access-Control-Allow-Origin: " + allowed.encode() in answers[3]
    assert answers[4].startswith(b"HTTP/1.1 400") and b'"code":3' in answers[4]
    assert b"4n0\x1e4n1\x1e4n2" in answers[7]
    assert b"Content-Encoding: gzip" in answers[9]
    assert b"4chunks" in answers[11] and b"4cont" in answers[13]
    assert b'"code":1' in answers[16] and b'"code":0' in answers[17]
    assert b"4up" in answers[21]
    assert b"Connection: close" in answers[22] and b"Connection: close" in answers[23]
    assert answers[24].startswith(b"HTTP/1.1 400")
    # The route took every GET/POST naming a session on the direct server, the refused ones
    # included (not the OPTIONS and the PUT; the upgrade request then went the general way).
    assert pair.routed == len(steps) - 2


def test_hooks_send_every_request_the_general_way(pair: Pair) -> None:
    hooks = EngineHooks()
    hooks.add("headers", lambda headers, environ: headers.append(("X-Hooked", "yes")))
    pair.app.engine_hooks = hooks
    sids = (pair.handshake(pair.direct), pair.handshake(pair.general))
    pair.same(lambda sid: _request("POST", _q(sid), b"4hooked"), sids)
    answer = pair.same(lambda sid: _request("GET", _q(sid)), sids)
    assert b"X-Hooked: yes" in answer and b"4hooked" in answer
    assert pair.routed == 0


def test_the_route_declines_what_it_cannot_serve(pair: Pair) -> None:
    app = pair.app
    sid = pair.handshake(pair.direct)
    assert app.direct_route("/socket.io/", f"EIO=4&transport=polling&sid={sid}") is not None
    assert app.direct_route("/socket.io/", "EIO=4&transport=polling") is None  # handshake
    assert app.direct_route("/socket.io/", "EIO=4&sid=&transport=polling") is None
    assert app.direct_route("/socket.io/", f"sid={sid}&sid=") is None  # the last one counts
    assert app.direct_route("/socket.io/socket.io.js", f"sid={sid}") is None
    assert app.direct_route("/other", f"sid={sid}") is None


# --- lean_environ against build_environ ----------------------------------------------------

header_names = st.sampled_from(
    ["Origin", "Host", "Content-Type", "Accept-Encoding", "Cookie", "X-A", "X_Under", "Referer"]
)
header_values = st.text(alphabet="abc ,;=/:.0-9", max_size=12).map(str.strip)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(["/socket.io/?sid=a&EIO=4", "/socket.io/?x=%41", "/so%63ket.io/?sid=b"]),
    st.lists(st.tuples(header_names, header_values), max_size=8),
)
def test_lean_environ_is_a_part_of_the_full_environ(
    method: str, target: str, fields: list[tuple[str, str]]
) -> None:
    lines = [f"{method} {target} HTTP/1.1", "Host: h"]
    lines += [f"{name}: {value}" for name, value in fields if name != "Host"]
    head = HeadParser(DEFAULT_HTTP_LIMITS).parse(
        bytearray(("\r\n".join(lines) + "\r\n\r\n").encode())
    )
    assert head is not None
    base = {"wsgi.url_scheme": "http", "SERVER_NAME": "s", "SERVER_PORT": "1", "X-Extra": 1}
    base.update({"wsgi.version": (1, 0), "GATEWAY_INTERFACE": "CGI/1.1"})
    body = object()
    full = build_environ(base, head, ("127.0.0.1", 5), body)
    path, query = split_target(head.target)
    lean = lean_environ(lean_base(base, {"X-Extra": 1}), head, path, query, body)
    assert lean is not None
    assert {key: full[key] for key in lean} == lean
    # everything the engine reads of a session's request is there
    for key in full:
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            assert lean[key] == full[key]
    for key in ("REQUEST_METHOD", "QUERY_STRING", "PATH_INFO", "wsgi.input", "wsgi.url_scheme"):
        assert lean[key] == full[key]


def test_a_wrapper_that_delegates_attributes_still_sees_every_request() -> None:
    # Middleware forwarding unknown attributes to the app it wraps (the metrics wrapper does)
    # must not hand the HTTP server the engine's direct route: it would be skipped.
    engine = EngineServer(EchoHandler(), ping_interval=10, ping_timeout=10)
    seen: list[str] = []

    class Wrapper:
        def __init__(self, app: WSGIApp) -> None:
            self.app = app

        def __getattr__(self, name: str) -> Any:
            return getattr(self.app, name)

        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            seen.append(environ["QUERY_STRING"])
            return self.app(environ, start_response)

    server = SocketIOServer(("127.0.0.1", 0), Wrapper(WSGIApp(engine)), log=None)
    server.start()
    client = Client(server.server_port)
    try:
        raw = client.request(_request("GET", "EIO=4&transport=polling"))
        found = re.search(rb'"sid":"([^"]+)"', raw)
        assert found is not None, raw
        sid = found.group(1).decode()
        client.request(_request("POST", _q(sid), b"4hi"))
        assert b"4hi" in client.request(_request("GET", _q(sid)))
        assert len(seen) == 3
    finally:
        client.close()
        server.stop(timeout=2)
        engine.close()
