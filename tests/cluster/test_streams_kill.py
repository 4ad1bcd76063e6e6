"""Beyond Node: the serving node dies (SIGKILL: nothing persisted at close) or drains
(SIGTERM: ``server.drain()``) during a steady stream of room broadcasts; the client recovers
on a surviving node with every sequence number exactly once, in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
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
s.on("connect", () => {
  out({ r: 1, connected: s.id, recovered: s.recovered });
  if (s.recovered) s.emitWithAck("state").then((state) => out({ r: 1, state }));
});
s.on("disconnect", (reason) => {
  out({ r: 1, disconnected: reason });
  if (!moved) { moved = true; s.io.uri = ARGS.urls[1]; setTimeout(() => s.connect(), 50); }
});
s.on("seq", (n) => out({ r: 1, seq: n }));
onLine((cmd) => { if (cmd.quit) { s.close(); done(); } });
"""


class StreamsNode:
    """One ``tests.cluster.streams_app`` process. Its stderr goes to a file, not a pipe: a
    node that logs many warnings (hundreds of clients) must not block on a full pipe."""

    def __init__(self, key: str, port: int = 0, stream_count: int = 1) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster.streams_app", "--key", key, "--port", str(port),
             "--stream-count", str(stream_count)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        with gevent.Timeout(20, AssertionError("streams node did not start")):
            line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise AssertionError(f"streams node failed: {line}{self.errors()}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        self.stderr.close()


def cleanup(key: str) -> None:
    """Delete a test's stream(s) and session keys (its own prefix only)."""
    r = redis_client()
    r.delete(f"{key}:stream")
    for stream in r.scan_iter(match=f"{key}:stream-*", count=100):
        r.delete(stream)
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
        reader.until(lambda: seqs[-1] >= feed.sent and reader.values("state"))
        client.send({"quit": True})
    finally:
        feed.stop()
        client.close()
        a.close()
        b.close()
        adapter.close()
    sent = feed.sent
    assert seqs == list(range(1, sent + 1))  # no gap, no duplicate, in order
    states = reader.values("state")
    # socket.data and the get_session dict came from the dead node's live session key
    assert states == [{"data": {"joined": True}, "session": {"node": a.proc.pid}}]
