"""Any process serves any request: several gsocketio processes behind a round-robin proxy with
no stickiness, real Node clients (4.x polling-only and upgrading, 2.x on EIO3, 0.9 on
xhr-polling). Each request lands on the next backend; polls of another process's session are
forwarded to its owner, upgrades piped to it; broadcasts cross processes through Redis."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from tests.cluster.conftest import REDIS_URL, ROOT, redis_client
from tests.compat.test_examples import start, stop
from tests.helpers.node import NodeClient, run_node
from tests.helpers.rrproxy import RoundRobinProxy

APP = "tests.cluster.anyproc_app:app"
_SERVING = re.compile(r"serving .* on http://127\.0\.0\.1:(\d+)/")


class Backend:
    """One ``python -m gsocketio run`` process (a single worker or a pre-fork master)."""

    def __init__(self, key: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gsocketio",
                "run",
                APP,
                "--port",
                "0",
                *extra,
            ],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT), ANYPROC_KEY=key, **(env or {})),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        self.port = 0
        with gevent.Timeout(20, AssertionError("backend did not start")):
            for _ in range(100):  # a few log lines come first
                line = self.proc.stderr.readline()
                match = _SERVING.search(line)
                if match or not line:
                    self.port = int(match.group(1)) if match else 0
                    break
        if not self.port:
            raise AssertionError(f"backend failed: {self.proc.stderr.read()}")
        self._drain = gevent.spawn(self._read_stderr)
        self.log: list[str] = []

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := self.proc.stderr.readline():
            self.log.append(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def wait_subscribed(key: str, count: int) -> None:
    """Every process's adapter listens (their request channel has ``count`` subscribers)."""
    client = redis_client()
    channel = f"{key}-request#/#"
    with gevent.Timeout(20, AssertionError(f"{count} adapters did not subscribe")):
        while int(client.pubsub_numsub(channel)[0][1]) < count:
            gevent.sleep(0.05)


Cluster = tuple[RoundRobinProxy, list[Backend]]


@pytest.fixture
def cluster(key: str) -> Iterator[Callable[..., Cluster]]:
    """``cluster("separate")``: four processes on four ports sharing a node directory, the
    proxy cycling over them (every request lands on the next process); ``cluster("prefork")``:
    one ``--workers 4`` server, the proxy opening a new connection per request (the kernel picks
    the worker)."""
    backends: list[Backend] = []
    proxies: list[RoundRobinProxy] = []
    tmp = tempfile.TemporaryDirectory(prefix="gsio-nodes-")

    def start(kind: str, workers: int = 4, **env: str) -> Cluster:
        if kind == "separate":
            for _ in range(workers):
                backends.append(Backend(key, "--node-dir", tmp.name, env=env))
        else:
            backends.append(Backend(key, "--workers", str(workers), env=env))
        wait_subscribed(key, workers)
        proxy = RoundRobinProxy([("127.0.0.1", b.port) for b in backends])
        proxies.append(proxy)
        return proxy, backends

    yield start
    for proxy in proxies:
        proxy.close()
    for backend in backends:
        backend.close()
    tmp.cleanup()


# Bounded waits both client scripts use: a predicate, a pause, one event's ack.
WAITS = """
const until = (pred, ms, what) => new Promise((ok, ko) => {
  const t0 = Date.now();
  const tick = () => pred() ? ok() : (Date.now() - t0 > ms ? ko(new Error(what)) : setTimeout(tick, 20));
  tick();
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ask = (s, ev, arg) => new Promise((ok, ko) => {
  const t = setTimeout(() => ko(new Error(`no ack for ${ev} ${arg}`)), 10000);
  s.emit(ev, arg, (reply) => { clearTimeout(t); ok(reply); });
});
"""

STEADY = (
    """
const v2 = ARGS.client === "v2";
const io = v2 ? require("socket.io-client-v2") : require("socket.io-client").io;
const { polling, upgrading, broadcasts, seconds } = ARGS;
const rounds = ARGS.rounds;  // with `seconds`, a client also stops at its first round past it
const errors = [];
const clients = [];
for (let i = 0; i < polling + upgrading; i++) {
  const poll = i < polling;
  const s = io(URL, { transports: poll ? ["polling"] : ["polling", "websocket"],
                      reconnection: false, forceNew: true });
  const c = { s, poll, events: [], acks: [], bcast: [], pids: new Set() };
  s.on("seq", (n) => c.events.push(n));
  s.on("bcast", (n) => c.bcast.push(n));
  s.on("disconnect", (r) => errors.push(`client ${i}: disconnect ${r}`));
  s.on("connect_error", (e) => errors.push(`client ${i}: connect_error ${e && e.message}`));
  clients.push(c);
}
"""
    + WAITS
    + """(async () => {
  await until(() => clients.every((c) => c.s.connected), 15000, "not all connected");
  const stopAt = seconds ? Date.now() + seconds * 1000 : Infinity;
  const run = async (c, i) => {
    for (let n = 0; n < rounds; n++) {
      if (Date.now() > stopAt) break;
      const ack = await ask(c.s, "seq", n);
      c.acks.push(ack.n); c.pids.add(ack.pid);
      await sleep(20 + (i * 7) % 40);
    }
  };
  const sender = (async () => {
    for (let b = 0; b < broadcasts; b++) { await ask(clients[0].s, "bcast", b); await sleep(100); }
  })();
  await Promise.all([...clients.map(run), sender]);
  await until(() => clients.every((c) => c.events.length >= c.acks.length && c.bcast.length >= broadcasts),
              10000, "events or broadcasts missing");
  const wantB = JSON.stringify([...Array(broadcasts).keys()]);
  const bad = clients.map((c, i) => {
    const transport = c.s.io.engine.transport.name;
    const want = JSON.stringify([...Array(seconds ? c.acks.length : rounds).keys()]);
    const ok = c.acks.length > 0 && JSON.stringify(c.events) === want && JSON.stringify(c.acks) === want
      && JSON.stringify(c.bcast) === wantB && c.pids.size === 1
      && transport === (c.poll ? "polling" : "websocket");
    return ok ? null : { i, events: c.events, acks: c.acks, bcast: c.bcast, pids: [...c.pids], transport };
  }).filter(Boolean);
  out({ bad, errors, pids: [...new Set(clients.flatMap((c) => [...c.pids]))].length });
  clients.forEach((c) => c.s.disconnect());
  done();
})().catch((e) => fail(e.stack || e));
"""
)

LEGACY = (
    """
const lio = require("socket.io-client-legacy");
const { clients: n, rounds, broadcasts, transport: want_transport } = ARGS;
const errors = [];
const clients = [];
for (let i = 0; i < n; i++) {
  const s = lio.connect(URL, { transports: [want_transport], "force new connection": true,
                               reconnect: false });
  const c = { s, events: [], acks: [], bcast: [], pids: new Set(), connected: false };
  s.on("connect", () => { c.connected = true; });
  s.on("seq", (v) => c.events.push(v));
  s.on("bcast", (v) => c.bcast.push(v));
  s.on("disconnect", (r) => { if (!c.closing) errors.push(`client ${i}: disconnect ${r}`); });
  s.on("error", (e) => errors.push(`client ${i}: error ${e}`));
  clients.push(c);
}
"""
    + WAITS
    + """(async () => {
  await until(() => clients.every((c) => c.connected), 15000, "not all connected");
  const run = async (c, i) => {
    for (let v = 0; v < rounds; v++) {
      const ack = await ask(c.s, "seq", v);
      c.acks.push(ack.n); c.pids.add(ack.pid);
      await sleep(20 + (i * 7) % 40);
    }
  };
  const sender = (async () => {
    for (let b = 0; b < broadcasts; b++) { await ask(clients[0].s, "bcast", b); await sleep(100); }
  })();
  await Promise.all([...clients.map(run), sender]);
  await until(() => clients.every((c) => c.events.length >= rounds && c.bcast.length >= broadcasts),
              10000, "events or broadcasts missing");
  const want = JSON.stringify([...Array(rounds).keys()]);
  const wantB = JSON.stringify([...Array(broadcasts).keys()]);
  const bad = clients.map((c, i) => {
    const transport = c.s.socket.transport.name;
    const ok = JSON.stringify(c.events) === want && JSON.stringify(c.acks) === want
      && JSON.stringify(c.bcast) === wantB && c.pids.size === 1 && transport === want_transport;
    return ok ? null : { i, events: c.events, acks: c.acks, bcast: c.bcast, pids: [...c.pids], transport };
  }).filter(Boolean);
  out({ bad, errors, pids: [...new Set(clients.flatMap((c) => [...c.pids]))].length });
  clients.forEach((c) => { c.closing = true; });
  done();
})().catch((e) => fail(e.stack || e));
"""
)


def steady(
    url: str,
    client: str,
    polling: int,
    upgrading: int,
    rounds: int,
    broadcasts: int,
    seconds: float = 0,
) -> dict[str, Any]:
    args = {
        "client": client,
        "polling": polling,
        "upgrading": upgrading,
        "rounds": rounds,
        "broadcasts": broadcasts,
        "seconds": seconds,
    }
    [result] = run_node(STEADY, url, args=args, timeout=60 + 2 * seconds)
    return result


def spread(proxy: RoundRobinProxy, backends: list[Backend], least: int) -> None:
    counts = [proxy.counts[b.port] for b in backends]
    assert all(c >= least for c in counts), counts  # spread over all, not pinned


# The full scenario (200 polling + 50 upgrading clients, a minute of steady traffic)
# runs by default, for socket.io-client 4.x and 2.x, and 100 0.9 clients on xhr-polling;
# GSIO_ANYPROC_SOAK=0 shrinks them while working on the forwarding code.
SOAK = os.environ.get("GSIO_ANYPROC_SOAK", "1") == "1"


def test_v4_polling_and_upgrading_clients_through_round_robin(
    cluster: Callable[..., Cluster],
) -> None:
    proxy, backends = cluster("separate")
    if SOAK:
        result = steady(proxy.url, "v4", 200, 50, rounds=1000, broadcasts=100, seconds=60)
    else:
        result = steady(proxy.url, "v4", polling=40, upgrading=10, rounds=25, broadcasts=10)
    assert result["errors"] == []
    assert result["bad"] == [], json.dumps(result["bad"][:2])
    assert result["pids"] == 4  # the sessions are owned by all four processes
    spread(proxy, backends, 100)
    assert proxy.upgrades >= 10


def test_v2_eio3_clients_through_round_robin(cluster: Callable[..., Cluster]) -> None:
    proxy, backends = cluster("separate")
    if SOAK:
        result = steady(proxy.url, "v2", 200, 50, rounds=1000, broadcasts=100, seconds=60)
    else:
        result = steady(proxy.url, "v2", polling=16, upgrading=4, rounds=15, broadcasts=5)
    assert result["errors"] == []
    assert result["bad"] == [], json.dumps(result["bad"][:2])
    assert result["pids"] == 4
    spread(proxy, backends, 30)


@pytest.mark.parametrize("transport", ["xhr-polling", "websocket"])
def test_legacy_clients_through_round_robin(
    cluster: Callable[..., Cluster], transport: str
) -> None:
    proxy, backends = cluster("separate")
    clients, rounds = (100, 100) if SOAK and transport == "xhr-polling" else (12, 10)
    args = {"clients": clients, "rounds": rounds, "broadcasts": 5, "transport": transport}
    [result] = run_node(LEGACY, proxy.url, args=args, timeout=120)
    assert result["errors"] == []
    assert result["bad"] == [], json.dumps(result["bad"][:2])
    assert result["pids"] == 4
    spread(proxy, backends, 3 if transport == "websocket" else 20)


def test_prefork_workers_serve_any_request(cluster: Callable[..., Cluster]) -> None:
    """``--workers 4`` on one socket: the kernel hands each new connection to some worker."""
    proxy, _ = cluster("prefork")
    result = steady(proxy.url, "v4", polling=24, upgrading=6, rounds=15, broadcasts=5)
    assert result["errors"] == []
    assert result["bad"] == [], json.dumps(result["bad"][:2])
    assert result["pids"] >= 2  # sessions on several workers, their polls on any


RECONNECT = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ["polling"], reconnectionDelay: 100, reconnectionDelayMax: 200 });
const ask = (ev) => new Promise((ok) => s.emit(ev, ok));
s.on("disconnect", (reason) => out({ disconnected: reason }));
s.on("connect", async () => out({ connected: s.id, sid: s.io.engine.id, pid: await ask("whoami") }));
onLine((m) => { if (m.quit) { s.disconnect(); done(); } });
"""


def test_owner_gone_answers_400_unknown_sid_and_clients_reconnect(
    cluster: Callable[..., Cluster],
) -> None:
    proxy, backends = cluster("separate")
    client = NodeClient(RECONNECT, proxy.url, timeout=40)
    try:
        first = client.expect("connected", timeout=15)
        owner = next(b for b in backends if b.proc.pid == first["pid"])
        owner.proc.kill()  # SIGKILL: its unix socket file stays, nobody listens
        owner.proc.wait(timeout=5)
        proxy.remove(("127.0.0.1", owner.port))  # the balancer's health check
        for survivor in (b for b in backends if b is not owner):
            url = f"http://127.0.0.1:{survivor.port}/socket.io/?EIO=4&transport=polling&sid={first['sid']}"
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(url, timeout=5)
            assert info.value.code == 400
            assert json.loads(info.value.read()) == {"code": 1, "message": "Session ID unknown"}
        client.expect("disconnected", timeout=15)
        again = client.expect("connected", timeout=15)
        assert again["pid"] != first["pid"] and again["sid"] != first["sid"]
        client.send({"quit": True})
    finally:
        client.close()


def test_gunicorn_four_workers_serve_any_request(key: str) -> None:
    """``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker -w 4``: each worker starts its
    node listener, so polls and upgrades landing on any worker reach the session's owner."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = dict(os.environ)
    os.environ["ANYPROC_KEY"] = key
    try:
        proc, url = start(
            [gunicorn, "-k", "gsocketio.sgunicorn.GeventSocketIOWorker", "-w", "4",
             "-b", "127.0.0.1:0", "--graceful-timeout", "2", APP],
            ROOT, r"Listening at: (http://\S+)", "stderr",
        )  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(env)
    proxy = RoundRobinProxy([("127.0.0.1", int(url.rsplit(":", 1)[1]))])
    try:
        wait_subscribed(key, 4)
        result = steady(proxy.url, "v4", polling=24, upgrading=6, rounds=15, broadcasts=5)
    finally:
        proxy.close()
        stop(proc)
    assert result["errors"] == []
    assert result["bad"] == [], json.dumps(result["bad"][:2])
    assert result["pids"] >= 2


def _handshake(port: int) -> str:
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(url, timeout=5) as resp:
        sid: str = json.loads(resp.read()[1:])["sid"]
    return sid


def test_forwarding_bounds_and_loop_guard(cluster: Callable[..., Cluster]) -> None:
    """A forwarded request is never forwarded again (it is served where it lands: unknown sid);
    a body above max_http_buffer_size is refused before anything is forwarded."""
    _, backends = cluster("separate", workers=2)
    a, b = backends
    sid = _handshake(a.port)
    assert sid.split(".", 1)[0].isalnum() and len(sid.split(".", 1)[0]) == 8
    url = f"http://127.0.0.1:{b.port}/socket.io/?EIO=4&transport=polling&sid={sid}"
    with urllib.request.urlopen(urllib.request.Request(url, data=b"40"), timeout=5) as resp:
        assert resp.status == 200 and resp.read() == b"ok"  # forwarded to a
    marked = urllib.request.Request(url, headers={"X-GSocketIO-Forwarded": "1"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(marked, timeout=5)
    assert info.value.code == 400
    assert json.loads(info.value.read()) == {"code": 1, "message": "Session ID unknown"}
    big = urllib.request.Request(url, data=b"4" + b"x" * 1_000_001)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(big, timeout=5)
    assert info.value.code == 413


def test_two_hosts_forward_over_tcp_with_a_redis_registry(
    key: str, cluster: Callable[..., Cluster]
) -> None:
    """Two "hosts" (two ``--workers 2`` servers with separate node directories, so neither sees
    the other's unix sockets) behind one round-robin proxy: requests for a session of the other
    host go to its registered TCP node address."""
    dirs = [tempfile.mkdtemp(prefix="gsio-host-") for _ in range(2)]
    backends = [
        Backend(
            key, "--workers", "2", "--node-dir", node_dir,
            "--node-address", "127.0.0.1", "--node-redis", REDIS_URL,
            env={"GSOCKETIO_NODE_PREFIX": f"{key}-node"},
        )
        for node_dir in dirs
    ]  # fmt: skip
    proxy = RoundRobinProxy([("127.0.0.1", b.port) for b in backends])
    try:
        wait_subscribed(key, 4)
        registered = redis_client().keys(f"{key}-node:*")
        assert len(registered) == 4
        result = steady(proxy.url, "v4", polling=16, upgrading=4, rounds=15, broadcasts=5)
    finally:
        proxy.close()
        for backend in backends:
            backend.close()
        for node_dir in dirs:
            shutil.rmtree(node_dir, ignore_errors=True)
    assert result["errors"] == []
    assert result["bad"] == [], json.dumps(result["bad"][:2])
    assert result["pids"] >= 2
    assert redis_client().keys(f"{key}-node:*") == []  # unregistered on a clean stop
