"""Node clients whose HTTP layer keeps connections alive, against the HTTP front door (issue 9).

Node 19+ reuses keep-alive sockets by default; a server that closes a connection without saying
``Connection: close`` (or while the client's agent still counts it as free) makes the next
request fail with "socket hang up". These run socket.io-client 4.x long-polling over a
``keepAlive`` ``http.Agent``, Node's global agent and the fetch (undici) transport, and check
that the requests really shared connections; plus ``Connection: close`` and pipelining from
Node's own ``http``/``net``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.chat_app import build
from tests.helpers.node import run_node
from tests.helpers.sio_clients import ROUND_TRIP, V4, merged

AGENTS = {
    "keepalive-agent": 'agent: new (require("http").Agent)({ keepAlive: true, maxSockets: 2 })',
    "global-agent": 'agent: require("http").globalAgent',
    "fetch": 'transports: [require("engine.io-client").Fetch]',
}

CONFORMANCE = (
    V4
    + ROUND_TRIP
    + """
const s = io(URL, { reconnection: false, transports: ["polling"], %s });
s.on("question", (q, ack) => ack("answer to " + q));
s.on("pushed", (...args) => {
  out({ pushed: args.map((a) => Buffer.isBuffer(a) ? { buf: [...a] } : a) });
  let left = ARGS.rounds;
  const next = () => s.emit("echo", left, (n) => {
    if (n !== left) fail("ack " + n + " for " + left);
    if (--left > 0) return next();
    out({ rounds: ARGS.rounds, transport: s.io.engine.transport.name });
    s.close(); done();
  });
  next();
});
s.on("connect_error", (e) => fail("connect_error: " + e.message));
s.on("disconnect", (reason) => { if (reason !== "io client disconnect") fail(reason); });
s.on("connect", () => roundTrip(s, { meta: false }));
"""
)


@pytest.fixture
def counted(serve: Callable[..., str]) -> Callable[..., tuple[str, list[str]]]:
    """The chat app behind a middleware that records each request's client port."""

    def _start(**server_options: Any) -> tuple[str, list[str]]:
        sio, _rec = build(cors_allowed_origins="*")
        inner = sio.wsgi_app()
        ports: list[str] = []

        def middleware(environ: dict[str, Any], start_response: Any) -> Any:
            ports.append(environ["REMOTE_PORT"])
            return inner(environ, start_response)

        # mode="auto" finds the WSGIApp in the middleware's closure (no seed mode).
        return serve(middleware, **server_options), ports

    return _start


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_long_polling_conformance_over_reused_connections(counted: Any, agent: str) -> None:
    url, ports = counted()
    records = run_node(CONFORMANCE % AGENTS[agent], url, args={"rounds": 30}, timeout=30)
    by_key = merged(records)
    assert by_key["echo"] == ["hi", 1, {"a": [1, 2]}]
    assert by_key["ask"] == {"client_said": "answer to life"}
    assert by_key["binary"] == {"len": 3, "reversed": [3, 2, 1]}
    assert by_key["pushed"] == ["text", {"buf": [9, 8]}]
    assert by_key["rounds"] == 30 and by_key["transport"] == "polling"
    # Every round trip is a POST and a GET: ~70 requests over a handful of connections.
    assert len(ports) > 60 and len(set(ports)) <= 6, (len(ports), len(set(ports)))


IDLE = """
const { io } = require("socket.io-client");
const http = require("http");
const agent = new http.Agent({ keepAlive: true });
const s = io(URL, { reconnection: false, transports: ["polling"], agent });
s.on("connect_error", (e) => fail("connect_error: " + e.message));
s.on("disconnect", (reason) => { if (reason !== "io client disconnect") fail(reason); });
s.on("connect", () => s.emit("echo", "before", (a) => {
  out({ before: a });
  // Idle past the server's keep-alive deadline: it closes the idle POST connection, which
  // its Keep-Alive: timeout hint told the agent to drop first.
  setTimeout(() => s.emit("echo", "after", (b) => { out({ after: b }); s.close(); done(); }),
             ARGS.idle_ms);
}));
"""


def test_idle_keepalive_connections_closed_by_the_server_are_not_an_error(counted: Any) -> None:
    url, ports = counted(http_timeout=2)
    records = run_node(IDLE, url, args={"idle_ms": 3500}, timeout=30)
    assert records == [{"before": "before"}, {"after": "after"}]
    assert len(set(ports)) < len(ports)


CONNECTION_CLOSE = """
const http = require("http");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (headers, cb) => http.get(URL + "/socket.io/?EIO=4&transport=polling",
                                      { agent, headers }, (res) => {
  let body = "";
  res.on("data", (d) => (body += d));
  res.on("end", () => cb(res, body));
});
get({ Connection: "close" }, (res, body) => {
  const sock = res.socket;
  out({ first: res.headers.connection, status: res.statusCode, sid: body.startsWith('0{"sid":') });
  const after = () => get({}, (res2, body2) => {
    out({ second: res2.headers.connection, status: res2.statusCode,
          keepalive: res2.headers["keep-alive"] || null, reused: res2.socket === sock });
    done();
  });
  if (sock.destroyed) after(); else sock.on("close", after);
});
"""


def test_connection_close_from_a_keepalive_agent(counted: Any) -> None:
    url, ports = counted()
    records = run_node(CONNECTION_CLOSE, url)
    assert records == [
        {"first": "close", "status": 200, "sid": True},
        {"second": "keep-alive", "status": 200, "keepalive": "timeout=60", "reused": False},
    ]
    assert len(set(ports)) == 2


PIPELINE = """
const net = require("net");
const { hostname, port } = new (require("url").URL)(URL);
const sock = net.connect(Number(port), hostname);
const req = (path, extra = "") => `GET ${path} HTTP/1.1\\r\\nHost: ${hostname}:${port}\\r\\n${extra}\\r\\n`;
let data = "";
sock.on("data", (d) => (data += d));
sock.on("end", () => {
  const statuses = [...data.matchAll(/HTTP\\/1\\.1 (\\d{3}) /g)].map((m) => Number(m[1]));
  const connections = [...data.matchAll(/^Connection: (\\S+)\\r$/gm)].map((m) => m[1]);
  out({ statuses, connections });
  done();
});
sock.write(req("/socket.io/?EIO=4&transport=polling") + req("/missing") +
           req("/socket.io/?EIO=4&transport=polling", "Connection: close\\r\\n"));
"""


def test_pipelined_requests_from_node(counted: Any) -> None:
    url, _ports = counted()
    records = run_node(PIPELINE, url)
    assert records == [
        {"statuses": [200, 404, 200], "connections": ["keep-alive", "keep-alive", "close"]}
    ]


HTTP10 = """
const net = require("net");
const { hostname, port } = new (require("url").URL)(URL);
const sock = net.connect(Number(port), hostname);
let data = "";
sock.on("data", (d) => (data += d));
sock.on("end", () => {
  const statuses = [...data.matchAll(/HTTP\\/1\\.1 (\\d{3}) /g)].map((m) => Number(m[1]));
  const connections = [...data.matchAll(/^Connection: (\\S+)\\r$/gm)].map((m) => m[1]);
  out({ statuses, connections, chunked: /Transfer-Encoding/i.test(data) });
  done();
});
const path = "/socket.io/?EIO=4&transport=polling";
sock.write(`GET ${path} HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\n`);
sock.once("data", () => sock.write(`GET ${path} HTTP/1.0\\r\\n\\r\\n`));
"""


def test_http_1_0_from_node(counted: Any) -> None:
    """HTTP/1.0: kept alive only when asked, closed after the request that did not ask."""
    url, ports = counted()
    records = run_node(HTTP10, url)
    assert records == [
        {"statuses": [200, 200], "connections": ["keep-alive", "close"], "chunked": False}
    ]
    assert len(set(ports)) == 1
