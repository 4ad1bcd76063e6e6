"""Cluster fixtures: real Redis, gsocketio server subprocesses, Node clients and servers.

Every test gets its own channel prefix (``key``), so tests never see each other's messages and
nothing is flushed. Without Redis the tests skip (which fails under CI=true).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from tests.helpers.node import NodeClient

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)


@pytest.fixture(scope="session")
def redis_up() -> None:
    import redis

    try:
        redis_client().ping()
    except redis.RedisError as exc:
        pytest.skip(f"missing: Redis at 127.0.0.1:6379 ({exc})")


@pytest.fixture
def key(redis_up: None) -> str:
    return f"gsio-test-{uuid.uuid4().hex}"


class PyNode:
    """One ``tests.cluster.app`` process."""

    def __init__(self, key: str, name: str, sharded: bool = False, admin: bool = False) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster.app", "--key", key, "--name", name]
            + (["--sharded"] if sharded else [])
            + (["--admin"] if admin else []),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        with gevent.Timeout(20, AssertionError(f"node {name} did not start")):
            line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise AssertionError(
                f"node {name} failed: {line}{self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def ctl(self, op: str, http_timeout: float = 15, **body: Any) -> Any:
        req = urllib.request.Request(
            self.url + "/ctl",
            data=json.dumps({"op": op, **body}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=http_timeout) as resp:
            answer = json.loads(resp.read())
        if "cluster_error" in answer:
            return answer
        return answer["ok"]

    def stderr(self) -> str:
        self.close()
        return self.proc.stderr.read() if self.proc.stderr else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


@pytest.fixture
def py_nodes(key: str) -> Iterator[Callable[..., list[PyNode]]]:
    started: list[PyNode] = []

    def start(n: int, sharded: bool = False, admin: bool = False) -> list[PyNode]:
        nodes = [PyNode(key, f"py{len(started) + i}", sharded, admin) for i in range(n)]
        started.extend(nodes)
        return nodes

    yield start
    for node in started:
        node.close()


class GunicornWorker(PyNode):
    """One worker of ``gunicorn -w 3`` (tests.cluster.gunicorn_cluster_app): ``url`` is its
    node listener (its control endpoint, and a port of its own), ``shared_url`` gunicorn's
    port, where clients connect and are steered to this worker (:data:`CLIENT`)."""

    def __init__(self, url: str, shared_url: str, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self.shared_url = shared_url
        self.proc = proc
        self.name = str(self.ctl("whoami"))

    def close(self) -> None:
        """The arbiter owns the worker: :class:`GunicornCluster` stops them all."""


class GunicornCluster:
    """``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker -w N`` on the test's key;
    ready when every worker is registered and subscribed. Logs go to a file (read on
    failure), so a full pipe can never block a worker."""

    def __init__(self, key: str, workers: int, log_path: Path, graceful_timeout: int = 2) -> None:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        env = dict(
            os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", GSIO_KEY=key,
            GSOCKETIO_NODE_ADDRESS="127.0.0.1", GSOCKETIO_NODE_REDIS=REDIS_URL,
            GSOCKETIO_NODE_PREFIX=f"{key}-node",
        )  # fmt: skip
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [gunicorn, "-c", "tests/cluster/gunicorn_conf.py",
             "-k", "gsocketio.sgunicorn.GeventSocketIOWorker", "-w", str(workers),
             "-b", "127.0.0.1:0", "--graceful-timeout", str(graceful_timeout),
             "tests.cluster.gunicorn_cluster_app:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            self.workers = self._wait_ready(key, workers)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, key: str, workers: int) -> list[GunicornWorker]:
        r = redis_client()
        shared: str | None = None
        for _ in range(400):  # 20 s at most
            if self.proc.poll() is not None:
                break
            found = re.search(r"Listening at: (http://\S+)", self.log_path.read_text())
            shared = found.group(1) if found else None
            nodes = r.keys(f"{key}-node:*")
            subscribed = r.pubsub_numsub(f"{key}-request#/#")[0][1]
            if shared and len(nodes) == workers and subscribed == workers:
                urls = sorted(f"http://{r.get(n).decode()}" for n in nodes)
                return sorted(
                    (GunicornWorker(u, shared, self.proc) for u in urls), key=lambda w: w.name
                )
            gevent.sleep(0.05)
        raise AssertionError(f"gunicorn did not start: {self.log_path.read_text()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture(params=["processes", "gunicorn"])
def three_nodes(
    request: pytest.FixtureRequest, key: str, tmp_path: Path, clients: Clients
) -> Iterator[list[PyNode]]:
    """Three nodes on one Redis: three ``tests.cluster.app`` processes, or three gunicorn
    workers (the same app) behind one port, where clients then connect (at least one did)."""
    if request.param == "processes":
        nodes = [PyNode(key, f"py{i}") for i in range(3)]
        try:
            yield nodes
        finally:
            for node in nodes:
                node.close()
        return
    cluster = GunicornCluster(key, 3, tmp_path / "gunicorn.log")
    try:
        yield list(cluster.workers)
    finally:
        for client in clients.started:  # first: an open WebSocket holds a stopping worker
            client.close()  # until gunicorn kills it, and worker_exit would not run
        cluster.close()
    assert not clients.via or "shared" in clients.via, clients.via  # gunicorn's port was used
    r = redis_client()  # stopped workers leave no adapter connection behind

    def ours() -> list[str]:
        return [c["name"] for c in r.client_list() if c.get("name", "").startswith(f"gsio:{key}:")]

    assert eventually(ours, lambda names: names == []) == []
    closed = cluster.log_path.read_text().count("adapter closed=True")
    assert closed == 3, cluster.log_path.read_text()[-3000:]  # the worker_exit hook ran


CLIENT = """
const { io } = require("socket.io-client");
const nsp = ARGS.nsp || "/";
const open = (url) => io(url + (nsp === "/" ? "" : nsp),
  { transports: ["websocket"], reconnection: false, forceNew: true, auth: { name: ARGS.name } });
const connected = (s) => new Promise((resolve, reject) => {
  s.once("connect", resolve); s.once("connect_error", reject);
});
// ARGS.want: land on that node through a shared port (gunicorn's: whichever worker accepts),
// reconnecting a bounded number of times, else connect to ARGS.fallback (that node's own port)
let via = "url";  // reported with ready: "shared" (steered), "fallback" or "url"
async function place() {
  if (!ARGS.want) return open(URL);
  for (let i = 0; i < 20; i++) {
    const s = open(URL);
    await connected(s);
    if ((await s.emitWithAck("whoami")) === ARGS.want) { via = "shared"; return s; }
    s.close();
  }
  via = "fallback";
  return open(ARGS.fallback);
}
place().then((s) => {
  s.onAny((ev, ...args) => out({ ev, args }));
  if (!ARGS.mute) s.on("ask", (arg, cb) => cb(ARGS.name));  // mute: never acks
  s.on("disconnect", (reason) => out({ disconnected: reason }));
  const ready = async () => {
    for (const room of ARGS.rooms || []) await s.emitWithAck("join", room);
    if (ARGS.data) await s.emitWithAck("setdata", ARGS.data);
    out({ ready: s.id, via });
  };
  if (s.connected) ready(); else s.on("connect", ready);
  s.on("connect_error", (e) => fail("connect_error " + e.message));
}, (e) => fail("connect_error " + e.message));
onLine((cmd) => { if (cmd.quit) done(); });
"""


class Clients:
    def __init__(self) -> None:
        self.started: list[NodeClient] = []
        self.via: list[str] = []  # how each client reached its node (see CLIENT's place())

    def start(
        self,
        node: str | PyNode | GunicornWorker,
        name: str,
        rooms: list[str] | None = None,
        nsp: str = "/",
        data: dict[str, Any] | None = None,
        mute: bool = False,
    ) -> tuple[NodeClient, str]:
        """A client of ``node`` (a URL, or a node of either launch mode); ``mute`` ones never
        ack ``ask``."""
        args = {"name": name, "rooms": rooms or [], "nsp": nsp, "data": data, "mute": mute}
        url = node if isinstance(node, str) else node.url
        if isinstance(node, GunicornWorker):
            url = node.shared_url
            args.update(want=node.name, fallback=node.url)
        client = NodeClient(CLIENT, url, args=args, timeout=60)
        self.started.append(client)
        ready = client.expect("ready", timeout=15)
        sid = ready["ready"]
        self.via.append(ready.get("via", "url"))
        return client, sid


@pytest.fixture
def clients() -> Iterator[Clients]:
    c = Clients()
    yield c
    for client in c.started:
        client.close()


def events_until(client: NodeClient, end: str, timeout: float = 10) -> list[dict[str, Any]]:
    """Every event record up to (not including) the event ``end``."""
    got: list[dict[str, Any]] = []
    for _ in range(1000):
        rec = client.expect("ev", timeout=timeout)
        if rec["ev"] == end:
            return got
        got.append(rec)
    raise AssertionError("too many events")


def eventually(fn: Callable[[], Any], ok: Callable[[Any], bool], tries: int = 100) -> Any:
    """Poll ``fn`` until ``ok(result)`` (bounded): for fire-and-forget cluster requests, which
    each node applies when the request reaches it."""
    result = fn()
    for _ in range(tries):
        if ok(result):
            return result
        gevent.sleep(0.05)
        result = fn()
    return result
