"""Beyond Node: the serving node dies (SIGKILL: nothing persisted at close) or drains
(SIGTERM: ``server.drain()``) during a steady stream of room broadcasts; the client recovers
on a surviving node with every sequence number exactly once, in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import gevent
import pytest

import gsocketio
from gsocketio.adapters.redis_streams import RedisStreamsAdapter
from tests.cluster.conftest import REDIS_URL, ROOT, redis_client
from tests.helpers.feed import SeqFeed, SeqReader
from tests.helpers.node import NodeClient

pytestmark = pytest.mark.service

CLIENT = """
const { io } = require("socket.io-client");
const s = io(ARGS.urls[0], { transports: ["websocket"], reconnection: false });
let moved = false;
s.on("connect", () => out({ r: 1, connected: s.id, recovered: s.recovered }));
s.on("disconnect", (reason) => {
  out({ r: 1, disconnected: reason });
  if (!moved) { moved = true; s.io.uri = ARGS.urls[1]; setTimeout(() => s.connect(), 50); }
});
s.on("seq", (n) => out({ r: 1, seq: n }));
onLine((cmd) => { if (cmd.quit) { s.close(); done(); } });
"""


class StreamsNode:
    def __init__(self, key: str, port: int = 0) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster.streams_app", "--key", key, "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        with gevent.Timeout(20, AssertionError("streams node did not start")):
            line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"streams node failed: {line}{err}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


def cleanup(key: str) -> None:
    """Delete a test's stream and session keys (its own prefix only)."""
    r = redis_client()
    r.delete(f"{key}:stream")
    for session_key in r.scan_iter(match=f"{key}:session:*", count=100):
        r.delete(session_key)


@pytest.fixture
def streams_key(key: str) -> Iterator[str]:
    yield key
    cleanup(key)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_recovers_on_a_survivor_without_gap_or_duplicate(streams_key: str, how: str) -> None:
    key = streams_key
    a, b = StreamsNode(key), StreamsNode(key)
    adapter = RedisStreamsAdapter(
        REDIS_URL, stream=f"{key}:stream", channel_prefix=key, block_time=1.0
    )
    sender = gsocketio.Server(adapter=adapter)
    client = NodeClient(CLIENT, "", args={"urls": [a.url, b.url]}, timeout=60)
    feed = SeqFeed(sender, interval=0.005, limit=5000)
    reader = SeqReader(client)
    seqs = reader.seqs
    try:
        reader.until(lambda: reader.connects)
        assert reader.connects[0]["recovered"] is False
        feed.start()
        reader.until(lambda: len(seqs) >= 30)
        a.proc.send_signal(getattr(signal, how))
        reader.until(lambda: len(reader.connects) == 2)
        connects = reader.connects
        assert connects[1] == {"connected": connects[0]["connected"], "recovered": True}
        target = feed.sent + 30
        reader.until(lambda: feed.sent >= target)
        feed.stop()
        reader.until(lambda: seqs[-1] >= feed.sent)
        client.send({"quit": True})
    finally:
        feed.stop()
        client.close()
        a.close()
        b.close()
        adapter.close()
    sent = feed.sent
    assert seqs == list(range(1, sent + 1))  # no gap, no duplicate, in order
