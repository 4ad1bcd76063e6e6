"""The cluster under gunicorn through its one shared port: three GeventSocketIOWorker processes,
WebSocket clients landing wherever the kernel puts them (room broadcasts, acks, fetch). The
three-node suite runs under gunicorn too (tests/cluster/test_three_nodes.py, `[gunicorn]`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import gevent
import gevent.event
import pytest
import socketio

from tests.cluster.conftest import GunicornCluster, eventually, redis_client
from tests.compat.test_examples import start, stop
from tests.helpers.node import run_node

pytestmark = pytest.mark.service

HERE = Path(__file__).resolve().parent

CLIENTS = """
const { io } = require("socket.io-client");
(async () => {
  const socks = [];
  const pids = new Set();
  // connect until two workers at least serve clients (the kernel picks the acceptor), bounded
  for (let i = 0; i < 30 && (socks.length < 9 || pids.size < 2); i++) {
    const s = io(URL, { transports: ["websocket"], reconnection: false, forceNew: true });
    s.got = [];
    s.on("shouted", (t) => s.got.push(t));
    s.on("ask", (cb) => cb(s.id));
    await new Promise((resolve, reject) => { s.on("connect", resolve); s.on("connect_error", reject); });
    pids.add(await s.emitWithAck("whoami"));
    socks.push(s);
  }
  await socks[0].emitWithAck("shout", "hello");
  await socks[socks.length - 1].emitWithAck("shout", "end");
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline && !socks.slice(1, -1).every((s) => s.got.length >= 2)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200));  // room for a duplicate to show up
  const census = await socks[0].emitWithAck("census");
  out({
    pids: pids.size,
    clients: socks.length,
    first: socks[0].got, last: socks[socks.length - 1].got,
    middle: socks.slice(1, -1).map((s) => s.got),
    census, ids: socks.slice(1).map((s) => s.id).sort(),
  });
  socks.forEach((s) => s.close());
  done();
})().catch((e) => fail(e.stack || e));
"""


def test_three_gunicorn_workers_share_rooms(key: str) -> None:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    os.environ["GSIO_KEY"] = key
    try:
        proc, url = start(
            [gunicorn, "-k", "gsocketio.sgunicorn.GeventSocketIOWorker", "-w", "3",
             "-b", "127.0.0.1:0", "--graceful-timeout", "2", "gunicorn_app:app"],
            HERE, r"Listening at: (http://\S+)", "stderr",
        )  # fmt: skip
    finally:
        del os.environ["GSIO_KEY"]
    try:
        # gunicorn announces its port before the workers have booted: the first worker up
        # would take every connection. Ready means all three adapters subscribed (bounded).
        r = redis_client()
        subscribed = eventually(
            lambda: r.pubsub_numsub(f"{key}-request#/#")[0][1], lambda n: n == 3, tries=400
        )
        assert subscribed == 3, "the workers did not all start"
        (rec,) = run_node(CLIENTS, url, timeout=40)
    finally:
        stop(proc)
    assert rec["pids"] >= 2, rec
    n = rec["clients"]
    assert rec["first"] == ["end"] and rec["last"] == ["hello"]
    # each exactly once (two publishers: their relative order is not guaranteed)
    assert [sorted(got) for got in rec["middle"]] == [["end", "hello"]] * (n - 2)
    assert rec["census"]["sockets"] == n
    assert rec["census"]["replies"] == rec["ids"]


def test_a_stopping_worker_drains_its_websockets_instead_of_waiting_to_be_killed(
    key: str, tmp_path: Path
) -> None:
    # A graceful timeout far longer than the test's bound: without the drain, gunicorn would
    # wait all of it for these open WebSockets, then kill the workers (no worker_exit).
    cluster = GunicornCluster(key, 2, tmp_path / "gunicorn.log", graceful_timeout=120)
    clients: list[socketio.Client] = []
    gone = [gevent.event.Event() for _ in range(4)]
    try:
        for event in gone:
            c = socketio.Client(reconnection=False)
            c.on("disconnect", lambda *reason, event=event: event.set())
            c.connect(cluster.workers[0].shared_url, transports=["websocket"], wait_timeout=10)
            clients.append(c)
        started = time.monotonic()
        cluster.proc.terminate()  # the arbiter stops every worker gracefully
        cluster.proc.wait(timeout=60)
        stopped = time.monotonic() - started
        assert all(event.wait(10) for event in gone), "a client was never disconnected"
    finally:
        for c in clients:
            c.disconnect()
        cluster.close()
    assert stopped < 30, f"gunicorn took {stopped:.1f} s to stop"
    log = cluster.log_path.read_text()
    assert log.count("adapter closed=True") == 2, log[-3000:]  # worker_exit ran in both
    assert "graceful timeout" not in log.lower(), log[-3000:]
