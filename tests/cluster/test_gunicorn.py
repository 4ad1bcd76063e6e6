"""The cluster under gunicorn through its one shared port: three GeventSocketIOWorker processes,
WebSocket clients landing wherever the kernel puts them (room broadcasts, acks, fetch). The
three-node suite runs under gunicorn too (tests/cluster/test_three_nodes.py, `[gunicorn]`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import eventually, redis_client
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
