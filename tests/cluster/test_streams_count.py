"""``stream_count > 1`` (Node's ``streamCount``) and the ``get_session`` dict on the Redis
Streams adapter, on real Redis against Node's ``@socket.io/redis-streams-adapter`` 0.3.1.

Each namespace's entries go to ``<stream>-<hashCode(nsp) % count>``: the hash is checked
against the package's own ``hashCode``, the routing against where Node's server writes and
reads (broadcasts and a recovery in ``/chat`` through a Node server and back). A namespace
whose index is negative (Node never reads those streams) works between gsocketio nodes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest
from gevent.event import Event

import gsocketio
from gsocketio.adapters import streams_wire as sw
from gsocketio.adapters.redis_streams import RedisStreamsAdapter
from tests.cluster.conftest import REDIS_URL, eventually, redis_client
from tests.cluster.test_streams import Client as StreamsClient
from tests.cluster.test_streams_kill import cleanup
from tests.helpers.node import NodeClient, run_node

pytestmark = pytest.mark.service

COUNT = 3
CHAT = "/chat"  # hashCode 46457863: stream 1 of 3
NEGATIVE = "/notifications"  # hashCode -1014064871: stream -2 of 3

HASHES = """
const { hashCode } = require("@socket.io/redis-streams-adapter/dist/util");
out({ hashes: ARGS.names.map((n) => hashCode(n)) });
done();
"""

CLIENT = """
const { io } = require("socket.io-client");
const s = io(ARGS.urls[0] + ARGS.nsp, { transports: ["websocket"], reconnection: false });
s.on("connect", () => out({ r: 1, connected: s.id, recovered: s.recovered }));
s.on("disconnect", (reason) => out({ r: 1, disconnected: reason }));
s.on("ev", (...args) => out({ r: 1, ev: args }));
onLine((cmd) => {
  if (cmd.drop) s.io.engine.close();
  if (cmd.move !== undefined) { s.io.uri = ARGS.urls[cmd.move]; s.connect(); }
  if (cmd.quit) { s.close(); done(); }
});
"""

NODE_SERVER = """
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient } = require("redis");
(async () => {
  const redis = createClient({ url: "redis://127.0.0.1:6379" });
  await redis.connect();
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(redis, { streamName: ARGS.stream, streamCount: ARGS.count,
                                    channelPrefix: ARGS.key, sessionKeyPrefix: ARGS.key + ":session:" }),
    connectionStateRecovery: { maxDisconnectionDuration: 60000 },
  });
  for (const name of ARGS.nsps) {
    io.of(name).on("connection", (s) => {
      if (!s.recovered) { s.join("garden"); s.data.user = "ada"; }
      out({ conn: s.id, nsp: name, recovered: s.recovered, rooms: [...s.rooms].sort(), data: s.data });
      s.on("disconnect", (reason) => out({ disc: reason }));
    });
  }
  onLine((c) => {
    if (c.op === "emit") { io.of(c.nsp).to(c.to).emit("ev", ...c.args); out({ emitted: true }); }
    if (c.op === "quit") { io.close(); redis.quit(); done(); }
  });
  httpServer.listen(0, "127.0.0.1", () => out({ port: httpServer.address().port }));
})().catch((e) => fail(e.stack));
"""


def test_stream_names_match_node_hashcode() -> None:
    rng = random.Random(11)
    alphabet = "abz/-_.~ é€\u4e2d\U0001f600\U00010348"
    names = ["", "/", CHAT, NEGATIVE, "/a" * 300]
    names += [
        "/" + "".join(rng.choice(alphabet) for _ in range(rng.randrange(30))) for _ in range(300)
    ]
    (record,) = run_node(HASHES, "", args={"names": names})
    assert [sw.stream_hash(n) for n in names] == record["hashes"]
    for name, h in zip(names, record["hashes"], strict=True):
        for count in (2, 3, 4, 7):
            index = int(h - count * int(h / count))  # JS's %: the sign of the dividend
            assert sw.stream_name("s", count, name) == f"s-{index}"
        assert sw.stream_name("s", 1, name) == "s"
    assert sw.stream_name("s", COUNT, NEGATIVE) == "s--2"
    assert sw.read_streams("s", COUNT) == ["s--2", "s--1", "s-0", "s-1", "s-2"]


def test_stream_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="stream_count"):
        RedisStreamsAdapter(REDIS_URL, stream_count=0)


def test_command_pool_queues_callers_past_its_size(key: str) -> None:
    """A burst of callers (a rolling restart's restores) waits for a connection instead of
    failing with redis-py's "Too many connections"."""
    adapter = RedisStreamsAdapter(
        REDIS_URL, stream=f"{key}:stream", channel_prefix=key, block_time=1.0,
        redis_options={"max_connections": 3, "pool_timeout": 10.0},
    )  # fmt: skip
    try:
        assert adapter.ready.wait(5)
        pool: Any = adapter._client.connection_pool
        assert (pool.max_connections, pool.timeout) == (3, 10.0)
        calls = [
            gevent.spawn(adapter._client.execute_command, "BLPOP", f"{key}:none", "0.2")
            for _ in range(9)
        ]
        gevent.joinall(calls, timeout=20, raise_error=True)
        assert all(c.successful() for c in calls)
    finally:
        adapter.close()


@dataclass
class Node:
    sio: gsocketio.Server
    url: str = ""
    connects: list[tuple[str, bool, list[str], dict[str, Any], dict[str, Any]]] = field(
        default_factory=list
    )
    connected: Event = field(default_factory=Event)
    disconnected: Event = field(default_factory=Event)


@pytest.fixture
def nodes(key: str, serve: Callable[..., str]) -> Iterator[Callable[..., Node]]:
    """gsocketio nodes with ``stream_count=3``; fresh sockets of ``nsp`` join ``garden`` and
    get ``data`` and a ``get_session`` dict; each connect records (sid, recovered, rooms,
    data, session)."""
    adapters: list[RedisStreamsAdapter] = []

    def start(nsp: str, max_missed: int = 1000, live_sessions: bool = True) -> Node:
        adapter = RedisStreamsAdapter(
            REDIS_URL, stream=f"{key}:stream", stream_count=COUNT, channel_prefix=key,
            session_key_prefix=f"{key}:session:", block_time=1.0, live_sessions=live_sessions,
        )  # fmt: skip
        adapters.append(adapter)
        assert adapter.ready.wait(5)
        sio = gsocketio.Server(
            adapter=adapter,
            connection_state_recovery={"max_disconnection_duration": 60, "max_missed": max_missed},
        )
        node = Node(sio)

        @sio.on("connect", namespace=nsp)
        def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            recovered = sio.is_recovered(sid, nsp)
            if not recovered:
                sio.enter_room(sid, "garden", namespace=nsp)
                sio.get_data(sid, nsp)["user"] = "ada"
                sio.save_session(sid, {"user": "ada"}, namespace=nsp)
            rooms = sorted(sio.rooms(sid, namespace=nsp))
            data = dict(sio.get_data(sid, nsp))
            session = dict(sio.get_session(sid, nsp))
            node.connects.append((sid, recovered, rooms, data, session))
            node.connected.set()

        @sio.on("disconnect", namespace=nsp)
        def disconnect(sid: str, reason: str) -> None:
            node.disconnected.set()

        node.url = serve(sio.wsgi_app())
        return node

    yield start
    for adapter in adapters:
        adapter.close()
    cleanup(key)


def _wait(event: Event) -> None:
    assert event.wait(10), "timed out"
    event.clear()


class Client(StreamsClient):
    """test_streams' recording client, on the namespace ``nsp`` (this module's script)."""

    def __init__(self, urls: list[str], nsp: str) -> None:
        super().__init__(urls, CLIENT, nsp=nsp)


def _namespaces_by_stream(key: str) -> dict[str, set[str]]:
    """Which namespaces have entries in which of the test's streams."""
    r = redis_client()
    found: dict[str, set[str]] = {}
    for index in range(-(COUNT - 1), COUNT):
        stream = f"{key}:stream-{index}"
        for _id, fields in r.xrange(stream):
            found.setdefault(stream, set()).add(fields[b"nsp"].decode())
    assert not r.exists(f"{key}:stream")  # with streamCount > 1 the plain name is unused
    return found


def test_stream_count_interop_and_recovery_through_node(
    nodes: Callable[..., Node], key: str
) -> None:
    a, b = nodes(CHAT), nodes(CHAT)
    js = NodeClient(
        NODE_SERVER, "",
        args={"stream": f"{key}:stream", "key": key, "count": COUNT, "nsps": ["/", CHAT]},
        timeout=60,
    )  # fmt: skip
    try:
        js_url = f"http://127.0.0.1:{js.expect('port', timeout=15)['port']}"
        client = Client([a.url, js_url, b.url], CHAT)
        try:
            assert client.expect("connected")["recovered"] is False
            _wait(a.connected)
            sid = a.connects[0][0]
            js.send({"op": "emit", "nsp": CHAT, "to": "garden", "args": [1]})  # Node -> stream 1
            assert client.evs(1) == [1]
            b.sio.emit("ev", 2, to="garden", namespace=CHAT)  # gsocketio -> stream 1 -> Node too
            assert client.evs(1) == [2]
            js.send({"op": "emit", "nsp": "/", "to": "nobody", "args": [0]})
            js.expect("emitted")
            a.sio.emit("ev", 0, to="nobody")
            streams = eventually(lambda: _namespaces_by_stream(key), lambda f: len(f) == 2)
            assert streams == {f"{key}:stream-1": {CHAT}, f"{key}:stream-2": {"/"}}

            client.send({"drop": True})  # gsocketio -> Node, in /chat
            _wait(a.disconnected)
            a.sio.emit("ev", 3, to="garden", namespace=CHAT)
            b.sio.emit("ev", 4, to=sid, namespace=CHAT)
            client.send({"move": 1})
            conn = js.expect("conn")
            assert conn == {
                "conn": sid, "nsp": CHAT, "recovered": True,
                "rooms": sorted([sid, "garden"]), "data": {"user": "ada"},
            }  # fmt: skip
            assert client.expect("connected") == {"connected": sid, "recovered": True}
            js.send({"op": "emit", "nsp": CHAT, "to": "garden", "args": [5]})
            assert client.evs(3) == [3, 4, 5]

            client.send({"drop": True})  # Node -> gsocketio
            assert js.expect("disc")["disc"] == "transport close"
            js.send({"op": "emit", "nsp": CHAT, "to": "garden", "args": [6]})
            js.expect("emitted")
            client.send({"move": 2})
            assert client.expect("connected") == {"connected": sid, "recovered": True}
            _wait(b.connected)
            # Node re-persisted {sid, pid, rooms, data}: the get_session dict did not survive
            # the hop through Node (docs/recovery.md), socket.data did
            assert b.connects[0] == (sid, True, sorted([sid, "garden"]), {"user": "ada"}, {})
            a.sio.emit("ev", 7, to="garden", namespace=CHAT)
            assert client.evs(2) == [6, 7]
            client.send({"quit": True})
            client.expect("disconnected")
        finally:
            client.close()
        js.send({"op": "quit"})
    finally:
        js.close()


def test_negative_stream_index_and_session_between_gsocketio_nodes(
    nodes: Callable[..., Node], key: str
) -> None:
    a, b = nodes(NEGATIVE), nodes(NEGATIVE)
    client = Client([a.url, b.url], NEGATIVE)
    try:
        client.expect("connected")
        _wait(a.connected)
        sid = a.connects[0][0]
        assert a.connects[0][4] == {"user": "ada"}
        b.sio.emit("ev", 1, to="garden", namespace=NEGATIVE)
        assert client.evs(1) == [1]
        assert _namespaces_by_stream(key) == {f"{key}:stream--2": {NEGATIVE}}

        with a.sio.session(sid, namespace=NEGATIVE) as session:  # saved, so written live
            session["count"] = 2
        pid = a.sio._socket(sid, NEGATIVE).pid
        r = redis_client()

        def stored() -> Any:
            raw = r.get(f"{key}:session:{pid}")
            return None if raw is None else sw.decode_session(raw).get(sw.SESSION_FIELD)

        assert eventually(stored, lambda s: s == {"user": "ada", "count": 2}) == {
            "user": "ada",
            "count": 2,
        }

        client.send({"drop": True})
        _wait(a.disconnected)
        a.sio.emit("ev", 2, to="garden", namespace=NEGATIVE)
        b.sio.emit("ev", 3, to=sid, namespace=NEGATIVE)
        client.send({"move": 1})
        assert client.expect("connected") == {"connected": sid, "recovered": True}
        _wait(b.connected)
        assert b.connects[0] == (
            sid, True, sorted([sid, "garden"]), {"user": "ada"}, {"user": "ada", "count": 2}
        )  # fmt: skip
        a.sio.emit("ev", 4, to="garden", namespace=NEGATIVE)
        assert client.evs(3) == [2, 3, 4]
        client.send({"quit": True})
        client.expect("disconnected")
    finally:
        client.close()


def test_more_missed_than_max_missed_gives_a_fresh_session(
    nodes: Callable[..., Node], key: str
) -> None:
    a, b = nodes(CHAT, max_missed=2), nodes(CHAT, max_missed=2)
    client = Client([a.url, b.url], CHAT)
    try:
        client.expect("connected")
        _wait(a.connected)
        sid = a.connects[0][0]
        a.sio.emit("ev", 0, to="garden", namespace=CHAT)
        assert client.evs(1) == [0]  # the client has an offset now
        client.send({"drop": True})
        _wait(a.disconnected)
        for n in (1, 2, 3):  # one more than a restore may replay
            a.sio.emit("ev", n, to="garden", namespace=CHAT)
        client.send({"move": 1})
        fresh = client.expect("connected")
        assert fresh["recovered"] is False and fresh["connected"] != sid  # all or nothing
        _wait(b.connected)
        assert b.connects[0][1:] == (False, sorted([fresh["connected"], "garden"]),
                                     {"user": "ada"}, {"user": "ada"})  # fmt: skip
        b.sio.emit("ev", 4, to="garden", namespace=CHAT)
        assert client.evs(1) == [4]  # none of the missed three, no partial history
        client.send({"quit": True})
        client.expect("disconnected")
    finally:
        client.close()


@pytest.mark.parametrize("live", [True, False])
def test_restored_session_key_is_kept_only_with_live_sessions(
    nodes: Callable[..., Node], key: str, live: bool
) -> None:
    """With live sessions the key outlives the restore (a SIGKILL before the writer's next
    flush loses nothing); without, it is single use as in Node."""
    a, b = nodes(CHAT, live_sessions=live), nodes(CHAT, live_sessions=live)
    if live:
        b.sio.adapter._live._writer.kill()  # type: ignore[attr-defined]  # only the restore writes
    client = Client([a.url, b.url], CHAT)
    try:
        client.expect("connected")
        _wait(a.connected)
        sid = a.connects[0][0]
        pid = a.sio._socket(sid, CHAT).pid
        a.sio.emit("ev", 0, to="garden", namespace=CHAT)
        assert client.evs(1) == [0]
        client.send({"drop": True})
        _wait(a.disconnected)
        client.send({"move": 1})
        assert client.expect("connected") == {"connected": sid, "recovered": True}
        _wait(b.connected)
        raw = redis_client().get(f"{key}:session:{pid}")
        if live:
            assert sw.decode_session(raw)["sid"] == sid
        else:
            assert raw is None
        client.send({"quit": True})
        client.expect("disconnected")
    finally:
        client.close()
