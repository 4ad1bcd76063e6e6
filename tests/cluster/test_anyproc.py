"""Any process serves any request: several gsocketio processes behind a round-robin proxy with
no stickiness, real Node clients (4.x polling-only and upgrading, 2.x on EIO3, 0.9 on
xhr-polling). Each request lands on the next backend; polls of another process's session are
forwarded to its owner, upgrades piped to it; broadcasts cross processes through Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from tests.cluster.conftest import ROOT, redis_client
from tests.helpers.node import run_node
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


STEADY_V4 = """
const { io } = require("socket.io-client");
const { polling, upgrading, rounds, broadcasts } = ARGS;
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
  s.on("connect_error", (e) => errors.push(`client ${i}: connect_error ${e.message}`));
  clients.push(c);
}
const until = (pred, ms, what) => new Promise((ok, ko) => {
  const t0 = Date.now();
  const tick = () => pred() ? ok() : (Date.now() - t0 > ms ? ko(new Error(what)) : setTimeout(tick, 20));
  tick();
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  await until(() => clients.every((c) => c.s.connected), 15000, "not all connected");
  const run = async (c, i) => {
    for (let n = 0; n < rounds; n++) {
      const ack = await c.s.timeout(10000).emitWithAck("seq", n);
      c.acks.push(ack.n); c.pids.add(ack.pid);
      await sleep(20 + (i * 7) % 40);
    }
  };
  const sender = (async () => {
    for (let b = 0; b < broadcasts; b++) { await clients[0].s.emitWithAck("bcast", b); await sleep(100); }
  })();
  await Promise.all([...clients.map(run), sender]);
  await until(() => clients.every((c) => c.events.length >= rounds && c.bcast.length >= broadcasts),
              10000, "events or broadcasts missing");
  const want = [...Array(rounds).keys()], wantB = [...Array(broadcasts).keys()];
  const bad = clients.map((c, i) => {
    const ok = JSON.stringify(c.events) === JSON.stringify(want)
      && JSON.stringify(c.acks) === JSON.stringify(want)
      && JSON.stringify(c.bcast) === JSON.stringify(wantB) && c.pids.size === 1
      && c.s.io.engine.transport.name === (c.poll ? "polling" : "websocket");
    return ok ? null : { i, events: c.events, acks: c.acks, bcast: c.bcast, pids: [...c.pids],
                         transport: c.s.io.engine.transport.name };
  }).filter(Boolean);
  out({ bad, errors, pids: [...new Set(clients.flatMap((c) => [...c.pids]))].length });
  clients.forEach((c) => c.s.disconnect());
  done();
})().catch((e) => fail(e.stack || e));
"""


def steady_v4(
    url: str, polling: int, upgrading: int, rounds: int, broadcasts: int
) -> dict[str, Any]:
    [result] = run_node(
        STEADY_V4,
        url,
        args={
            "polling": polling,
            "upgrading": upgrading,
            "rounds": rounds,
            "broadcasts": broadcasts,
        },
        timeout=60,
    )
    return result


def test_v4_polling_and_upgrading_clients_through_round_robin(
    cluster: Callable[..., Cluster],
) -> None:
    proxy, _ = cluster("separate")
    result = steady_v4(proxy.url, polling=40, upgrading=10, rounds=25, broadcasts=10)
    assert result["errors"] == []
    assert result["bad"] == []
    assert result["pids"] == 4  # the sessions are owned by all four processes
    assert all(proxy.counts[i] > 100 for i in range(4)), proxy.counts  # spread, not pinned
    assert proxy.upgrades >= 10
