"""Issue 12's failure case with connection state recovery on: three processes sharing a node
directory behind a round-robin proxy (no stickiness), a socket.io-client 4.x client on
long-polling only whose session one of them owns. The owner is killed (SIGKILL: nothing
persisted at close, nothing drained); the client's next poll fails at once (a live node that
receives it finds nobody behind the owner's socket and answers 400 "Session ID unknown", or the
proxy's connection to the dead process fails), it reconnects through the proxy to a live
process and recovers there: the same socket id, its room, every event exactly once, in order."""

from __future__ import annotations

import tempfile
import time

import pytest

import gsocketio
from gsocketio.adapters.redis_streams import RedisStreamsAdapter
from tests.cluster.conftest import REDIS_URL
from tests.cluster.test_anyproc import Backend
from tests.cluster.test_streams_kill import cleanup
from tests.helpers.feed import SeqFeed, SeqReader
from tests.helpers.node import NodeClient
from tests.helpers.rrproxy import RoundRobinProxy

pytestmark = pytest.mark.service

CLIENT = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ["polling"], reconnectionDelay: 100, reconnectionDelayMax: 300 });
s.on("connect", () => {
  const id = s.id, recovered = s.recovered;
  s.emit("whoami", (pid) => out({ r: 1, connected: id, recovered, pid }));
});
s.on("disconnect", (reason) => out({ r: 1, disconnected: reason }));
s.on("seq", (n) => out({ r: 1, seq: n }));
onLine((cmd) => { if (cmd.quit) { s.close(); done(); } });
"""


def test_owner_killed_clients_reconnect_and_recover_on_a_live_process(key: str) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="gsio-recover-")
    env = {"ANYPROC_RECOVERY": "1"}
    backends = [Backend(key, "--node-dir", tmp.name, env=env) for _ in range(3)]
    proxy = RoundRobinProxy([("127.0.0.1", b.port) for b in backends])
    adapter = RedisStreamsAdapter(
        REDIS_URL, stream=f"{key}:stream", channel_prefix=key, block_time=1.0
    )
    sender = gsocketio.Server(adapter=adapter)
    client = NodeClient(CLIENT, proxy.url, timeout=90)
    feed = SeqFeed(sender, interval=0.01, limit=5000)
    reader = SeqReader(client)
    seqs, events = reader.seqs, reader.events
    try:
        reader.until(lambda: events)
        first = events[0]
        assert first["recovered"] is False
        owner = next(b for b in backends if b.proc.pid == first["pid"])
        feed.start()
        reader.until(lambda: len(seqs) >= 30)
        owner.proc.kill()
        killed_at = time.monotonic()
        proxy.remove(("127.0.0.1", owner.port))  # the balancer's health check
        owner.proc.wait(timeout=5)
        reader.until(lambda: any("disconnected" in e for e in events), timeout=15)
        lost_after = time.monotonic() - killed_at
        reader.until(lambda: len(reader.connects) == 2)
        [gone] = [e for e in events if "disconnected" in e]
        assert gone["disconnected"] in ("transport error", "transport close"), events
        again = events[-1]
        assert again["connected"] == first["connected"] and again["recovered"] is True, events
        assert again["pid"] != first["pid"], events
        assert again["pid"] in {b.proc.pid for b in backends}, events
        target = feed.sent + 30
        reader.until(lambda: feed.sent >= target)
        feed.stop()
        reader.until(lambda: bool(seqs) and seqs[-1] >= feed.sent)
        client.send({"quit": True})
    finally:
        feed.stop()
        client.close()
        proxy.close()
        for backend in backends:
            backend.close()
        adapter.close()
        cleanup(key)
        tmp.cleanup()
    # prompt: the next poll failed, not a ping timeout (ping_interval 25 s + ping_timeout 20 s)
    assert lost_after < 15, lost_after
    assert seqs == list(range(1, feed.sent + 1))  # no gap, no duplicate, in order
