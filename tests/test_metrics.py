"""The Prometheus endpoint, scraped over HTTP while real Node clients of every generation
(socket.io-client 4.x on WebSocket and on polling, 2.x, 0.9) are connected."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import gsocketio
from gsocketio.legacy import LegacyServer
from tests.helpers.node import NodeClient

V4 = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ARGS.transports, reconnection: false, forceNew: true });
s.on("connect", () => s.emit("hello", ARGS.name, (reply) => out({ acked: reply })));
s.on("ask", (x, cb) => cb(x + 1));
// Over polling the CLOSE goes out in a POST after close() returns: exit once it had time to.
onLine((m) => { if (m.quit) { s.close(); setTimeout(done, 300); } });
"""

V2 = """
const io = require("socket.io-client-v2");
const s = io(URL, { transports: ARGS.transports, reconnection: false, forceNew: true });
s.on("connect", () => s.emit("hello", ARGS.name, (reply) => out({ acked: reply })));
onLine((m) => { if (m.quit) { s.close(); done(); } });
"""

V09 = """
const lio = require("socket.io-client-legacy");
const s = lio.connect(URL, { transports: ARGS.transports, "force new connection": true,
                             reconnect: false });
s.on("connect", () => s.emit("hello", ARGS.name, (reply) => out({ acked: reply })));
onLine((m) => { if (m.quit) { s.disconnect(); done(); } });
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of the endpoint by (name, sorted labels)."""
    response = requests.get(url + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def wait_for(
    predicate: Callable[[], bool], timeout: float = 10.0, what: Callable[[], str] = str
) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        gevent.sleep(0.02)
    raise AssertionError(f"condition not met in time {what()}")


@pytest.fixture
def metered(serve: Callable[..., str]) -> Iterator[tuple[str, gsocketio.Server, dict[str, str]]]:
    sio = gsocketio.Server(cors_allowed_origins="*")
    sids: dict[str, str] = {}

    @sio.on("hello")
    def hello(sid: str, name: str) -> str:
        sids[name] = sid
        sio.enter_room(sid, "lobby")
        sio.enter_room(sid, f"room-{name}")
        return "ok"

    # jsonp on: the handshake then lists all five transports, and only then does the 0.9.16
    # client given ["xhr-polling"] pick it (see tests/interop/test_legacy_node.py).
    legacy = LegacyServer(sio, jsonp=True)
    url = serve(sio.wsgi_app(None, legacy_app=legacy, metrics_path="/metrics"))
    yield url, sio, sids
    legacy.close()


def test_metrics_off_by_default() -> None:
    sio = gsocketio.Server()
    assert sio.metrics is None
    app = sio.wsgi_app()
    assert not hasattr(app, "registry")


def test_byte_counting_is_installed_only_when_instrumented() -> None:
    from gsocketio.metrics import instrument
    from gsocketio.stats import size_of

    sio = gsocketio.Server()
    sio.wsgi_app()
    assert "engine_message" not in vars(sio)  # off: the class's method, no wrapper
    registry = instrument(sio)
    counting = vars(sio)["engine_message"]
    assert instrument(sio) is registry and vars(sio)["engine_message"] is counting
    assert (size_of("abc"), size_of("\u00e9"), size_of("\ud800"), size_of(b"\x00\xff")) == (
        3,
        2,
        3,  # a lone surrogate (JSON allows it) still has a size
        2,
    )


def test_scrape_with_every_client_generation(
    metered: tuple[str, gsocketio.Server, dict[str, str]],
) -> None:
    url, sio, sids = metered
    clients = [
        NodeClient(V4, url, args={"transports": ["websocket"], "name": "v4ws"}),
        NodeClient(V4, url, args={"transports": ["polling"], "name": "v4poll"}),
        NodeClient(V2, url, args={"transports": ["websocket"], "name": "v2ws"}),
        NodeClient(V09, url, args={"transports": ["websocket"], "name": "v09ws"}),
    ]
    try:
        for client in clients:
            assert client.expect("acked")["acked"] == "ok"
        assert sio.call("ask", 41, to=sids["v4ws"], timeout=5) == 42
        # A refused handshake (unknown transport: Engine.IO error code 0) and a bad request.
        bad = requests.get(url + "/socket.io/?EIO=4&transport=carrier-pigeon", timeout=5)
        assert bad.status_code == 400
        unknown = requests.get(url + "/socket.io/?EIO=4&transport=polling&sid=nope", timeout=5)
        assert unknown.status_code == 400

        m = scrape(url)
        connected = {
            labels: value
            for (name, labels), value in m.items()
            if name == "gsocketio_connected_clients"
        }
        assert connected == {
            (("protocol", "EIO4"), ("transport", "websocket")): 1,
            (("protocol", "EIO4"), ("transport", "polling")): 1,
            (("protocol", "EIO3"), ("transport", "websocket")): 1,
            (("protocol", "0.9"), ("transport", "websocket")): 1,
        }
        assert m[("gsocketio_namespaces", ())] == 1
        assert m[("gsocketio_namespace_sockets", (("namespace", "/"),))] == 4
        # "lobby" and one room per client
        assert m[("gsocketio_rooms", (("namespace", "/"),))] == 5
        assert m[("gsocketio_events_received_total", ())] == 4
        # four acks of "hello" and the "ask" event
        assert m[("gsocketio_packets_sent_total", ())] >= 5
        assert m[("gsocketio_ack_latency_seconds_count", ())] == 1
        assert 0 < m[("gsocketio_ack_latency_seconds_sum", ())] < 5
        assert m[("gsocketio_ack_latency_seconds_bucket", (("le", "+Inf"),))] == 1
        assert m[("gsocketio_engine_errors_total", (("code", "0"), ("status", "400")))] == 1
        assert m[("gsocketio_engine_errors_total", (("code", "1"), ("status", "400")))] == 1
        assert ("gsocketio_adapter_connected", ()) not in m  # the memory adapter has no health

        for client in clients:
            client.send({"quit": True})
            client.expect("done")
        wait_for(
            lambda: not sio._clients,
            what=lambda: repr([(c.conn, c.eio, c.conn.transport) for c in sio._clients.values()]),
        )
        m = scrape(url)
        assert not [name for (name, _), _v in m.items() if name == "gsocketio_connected_clients"]
        assert m[("gsocketio_namespaces", ())] == 0
        closed = sum(
            value for (name, _), value in m.items() if name == "gsocketio_disconnects_total"
        )
        assert closed == 4
    finally:
        for client in clients:
            client.close()


BIG = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ARGS.transports, reconnection: false, forceNew: true });
s.on("connect", () => s.emit("hello", ARGS.name, (reply) => out({ acked: reply })));
onLine((m) => {
  if (m.payload) s.emit("big", m.payload, (back) => out({ echoed: back.length }));
  if (m.quit) { s.close(); setTimeout(done, 300); }
});
"""

BIG_V09 = """
const lio = require("socket.io-client-legacy");
const s = lio.connect(URL, { transports: ARGS.transports, "force new connection": true,
                             reconnect: false });
s.on("connect", () => s.emit("hello", ARGS.name, (reply) => out({ acked: reply })));
onLine((m) => {
  if (m.payload) s.emit("big", m.payload, (back) => out({ echoed: back.length }));
  if (m.quit) { s.disconnect(); done(); }
});
"""


def byte_counts(url: str) -> dict[tuple[str, str], float]:
    """``gsocketio_bytes_{received,sent}_total`` by (direction, transport)."""
    return {
        (name.split("_")[2], dict(labels)["transport"]): value
        for (name, labels), value in scrape(url).items()
        if name.startswith("gsocketio_bytes_")
    }


@pytest.mark.parametrize(
    ("script", "transport", "label"),
    [
        (BIG, "websocket", "websocket"),
        (BIG, "polling", "polling"),
        (BIG_V09, "websocket", "websocket"),
        (BIG_V09, "xhr-polling", "xhr-polling"),
    ],
    ids=["v4-websocket", "v4-polling", "v09-websocket", "v09-xhr-polling"],
)
def test_bytes_in_and_out_by_transport(
    metered: tuple[str, gsocketio.Server, dict[str, str]], script: str, transport: str, label: str
) -> None:
    url, sio, _sids = metered
    sio.on("big", lambda sid, data: data)  # echoed in the ack
    # Non-ASCII on purpose: 5 000 bytes of UTF-8 in 4 000 characters.
    payload = "x" * 3000 + "\u00e9" * 1000
    size = len(payload.encode())
    client = NodeClient(script, url, args={"transports": [transport], "name": label})
    try:
        assert client.expect("acked")["acked"] == "ok"
        before = byte_counts(url)
        assert before[("received", label)] > 0 and before[("sent", label)] > 0  # the hello
        client.send({"payload": payload})
        assert client.expect("echoed")["echoed"] == len(payload)
        after = byte_counts(url)
        received = after[("received", label)] - before[("received", label)]
        sent = after[("sent", label)] - before[("sent", label)]
        # The payload plus its packet's few bytes of framing (type, ack id, event name, JSON).
        assert size <= received <= size + 80, received
        assert size <= sent <= size + 80, sent
        client.send({"quit": True})
        client.expect("done")
    finally:
        client.close()


def test_emit_with_callback_is_timed(
    metered: tuple[str, gsocketio.Server, dict[str, str]],
) -> None:
    url, sio, sids = metered
    client = NodeClient(V4, url, args={"transports": ["websocket"], "name": "cb"})
    try:
        client.expect("acked")
        replies: list[Any] = []
        sio.emit("ask", 1, to=sids["cb"], callback=lambda *args: replies.append(args))
        wait_for(lambda: bool(replies))
        assert replies == [(2,)]
        assert scrape(url)[("gsocketio_ack_latency_seconds_count", ())] == 1
    finally:
        client.close()


def test_redis_adapter_health_is_exported(serve: Callable[..., str]) -> None:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()
    except redis.RedisError:
        pytest.skip("missing: Redis at 127.0.0.1:6379")
    from gsocketio.adapters.redis import RedisAdapter

    adapter = RedisAdapter("redis://127.0.0.1:6379/0", key="gsio-metrics-test")
    sio = gsocketio.Server(adapter=adapter)
    try:
        url = serve(sio.wsgi_app(metrics_path="/metrics"))
        wait_for(lambda: adapter.health().connected)
        m = scrape(url)
        assert m[("gsocketio_adapter_connected", ())] == 1
        assert m[("gsocketio_adapter_outbox", ())] == 0
        assert m[("gsocketio_adapter_outbox_bound", ())] == 10_000
        assert ("gsocketio_adapter_dropped_total", ()) in m
    finally:
        adapter.close()


def test_cli_metrics_flag_serves_the_demo_metrics() -> None:
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gsocketio",
            "--port",
            "0",
            "--metrics",
            "--blocked-loop-threshold",
            "2",
        ],
        cwd=root,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        with gevent.Timeout(20, AssertionError("the demo did not start")):
            for _ in range(100):
                line = proc.stderr.readline()
                found = re.search(r"serving the demo chat on http://127\.0\.0\.1:(\d+)/", line)
                if found:
                    port = int(found.group(1))
                    break
        assert port is not None
        m = scrape(f"http://127.0.0.1:{port}")
        assert m[("gsocketio_namespaces", ())] == 0
        assert m[("gsocketio_blocked_loops_total", ())] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
