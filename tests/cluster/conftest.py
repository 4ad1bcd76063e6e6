"""Cluster fixtures: real Redis, gsocketio server subprocesses, Node clients and servers.

Every test gets its own channel prefix (``key``), so tests never see each other's messages and
nothing is flushed. Without Redis the tests skip (which fails under CI=true).
"""

from __future__ import annotations

import json
import os
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


CLIENT = """
const { io } = require("socket.io-client");
const nsp = ARGS.nsp || "/";
const s = io(URL + (nsp === "/" ? "" : nsp), { transports: ["websocket"], reconnection: false, auth: { name: ARGS.name } });
s.onAny((ev, ...args) => out({ ev, args }));
s.on("ask", (arg, cb) => cb(ARGS.name));
s.on("disconnect", (reason) => out({ disconnected: reason }));
s.on("connect", async () => {
  for (const room of ARGS.rooms || []) await s.emitWithAck("join", room);
  if (ARGS.data) await s.emitWithAck("setdata", ARGS.data);
  out({ ready: s.id });
});
s.on("connect_error", (e) => fail("connect_error " + e.message));
onLine((cmd) => { if (cmd.quit) done(); });
"""


class Clients:
    def __init__(self) -> None:
        self.started: list[NodeClient] = []

    def start(
        self,
        url: str,
        name: str,
        rooms: list[str] | None = None,
        nsp: str = "/",
        data: dict[str, Any] | None = None,
    ) -> tuple[NodeClient, str]:
        client = NodeClient(
            CLIENT,
            url,
            args={"name": name, "rooms": rooms or [], "nsp": nsp, "data": data},
            timeout=60,
        )
        self.started.append(client)
        sid = client.expect("ready", timeout=15)["ready"]
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
