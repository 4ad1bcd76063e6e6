"""The forwarder's keep-alive pool (issue 12): forwarded requests reuse a few connections to
the session's owner instead of one each, the pool is bounded, closed connections are dropped,
and an unanswered one is sent again only when that is safe. Live half: this process is one node
(its Server, node listener and forwarder in-process, so coverage sees them) and a
``python -m gsocketio run`` process the other, with real socket.io-client 4.x clients through a
round-robin proxy; the owner's own side is counted where it accepts. Edge half: an owner that
misbehaves on purpose, to reach the retry and bound branches deterministically."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest
from gevent import socket as gsocket
from gevent.server import StreamServer

import gsocketio
from gsocketio.forwarding import Forwarder, is_forwarded
from gsocketio.http.server import WSGIServer
from gsocketio.node_id import LocalIdentity, current
from gsocketio.nodes import NodeListener
from gsocketio.websocket.connection import SOCKET_KEY
from tests.cluster.test_anyproc import Backend, steady, wait_subscribed
from tests.helpers.rrproxy import RoundRobinProxy


class Counting:
    """WSGI middleware on the owner's node socket: forwarded requests and the distinct
    connections they arrived on (each connection the owner accepted from a forwarder)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.connections: list[Any] = []  # kept, so no two share an id

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if is_forwarded(environ):
            self.requests += 1
            sock = environ.get(SOCKET_KEY)
            if not any(sock is seen for seen in self.connections):
                self.connections.append(sock)
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


class LocalNode:
    """This process as a node: a Server with the any-process test app's handlers, its node
    listener (counted) in ``directory`` and a public port."""

    def __init__(self, directory: Path) -> None:
        self.sio = gsocketio.Server(cors_allowed_origins="*")

        @self.sio.on("seq")
        def seq(sid: str, n: int) -> dict[str, Any]:
            self.sio.emit("seq", n, to=sid)
            return {"n": n, "pid": os.getpid()}

        self.app = self.sio.wsgi_app()
        self.counting = Counting(self.app)
        self.listener = NodeListener(self.counting, directory)
        self.identity = self.listener.start()
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None)
        self.server.start()
        self.port = int(self.server.server_port)

    @property
    def forwarder(self) -> Forwarder:
        forwarder = self.app._forwarder
        assert isinstance(forwarder, Forwarder), "nothing was forwarded"
        return forwarder

    def close(self) -> None:
        self.server.stop(timeout=1)
        self.listener.stop()
        if self.app._forwarder is not None:
            self.app._forwarder.close()


@pytest.fixture
def nodes(key: str) -> Iterator[tuple[LocalNode, Backend, RoundRobinProxy]]:
    tmp = tempfile.TemporaryDirectory(prefix="gsio-pool-")
    local = LocalNode(Path(tmp.name))
    peer = Backend(key, "--node-dir", tmp.name)
    wait_subscribed(key, 1)
    proxy = RoundRobinProxy([("127.0.0.1", local.port), ("127.0.0.1", peer.port)])
    try:
        yield local, peer, proxy
    finally:
        proxy.close()
        peer.close()
        local.close()
        tmp.cleanup()
    assert current() is None


def _handshake(port: int) -> str:
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(url, timeout=5) as resp:
        sid: str = json.loads(resp.read()[1:])["sid"]
    return sid


def _poll(port: int, sid: str, timeout: float = 15) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling&sid={sid}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_forwarded_polls_reuse_a_few_connections(
    nodes: tuple[LocalNode, Backend, RoundRobinProxy],
) -> None:
    """Ten polling-only clients (and two upgrading ones, whose upgrade is piped over a
    connection of its own), every request to the next node: about half of several hundred
    requests are forwarded each way, over at most a connection or two per client (its
    long-poll and its POST), not one per request."""
    local, _peer, proxy = nodes
    clients = 12
    result = steady(proxy.url, "v4", polling=10, upgrading=2, rounds=40, broadcasts=0)
    assert result["errors"] == []
    assert result["bad"] == [], json.dumps(result["bad"][:2])
    assert result["pids"] == 2  # sessions on both nodes, so both forward
    inbound = local.counting  # what the peer's forwarder sent to this process
    assert inbound.requests >= 100, inbound.requests
    assert len(inbound.connections) <= 2 * clients + 2, len(inbound.connections)
    assert len(inbound.connections) * 5 <= inbound.requests
    outbound = local.forwarder  # what this process forwarded to the peer
    assert outbound.forwarded >= 100, outbound.forwarded
    assert outbound.connects <= 2 * clients + 2, outbound.connects
    assert 0 < outbound.idle(_owner_of(local, outbound)) <= outbound.max_idle


def _owner_of(local: LocalNode, forwarder: Forwarder) -> str:
    [owner] = [n for n in forwarder._idle if n != local.identity.node]
    return owner


def test_owner_killed_under_a_pooled_long_poll_answers_400_at_once(
    nodes: tuple[LocalNode, Backend, RoundRobinProxy],
) -> None:
    """The peer dies (SIGKILL) while this node holds a forwarded long-poll to it on a pooled
    connection and idle ones beside it: the long-poll is answered "Session ID unknown" (the
    retry finds nobody listening, so the local endpoint answers), and so is the next request,
    without waiting out any timeout."""
    local, peer, _proxy = nodes
    warm = _handshake(peer.port)
    for packet in (b"40", b'42["unheard"]', b'42["unheard"]'):  # POSTs, answered at once
        req = urllib.request.Request(
            f"http://127.0.0.1:{local.port}/socket.io/?EIO=4&transport=polling&sid={warm}",
            data=packet,
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.read() == b"ok"
    assert local.forwarder.idle(warm.split(".", 1)[0]) == 1
    sid = _handshake(peer.port)
    before = local.forwarder.forwarded
    poll = gevent.spawn(_poll, local.port, sid, 30)
    with gevent.Timeout(10, AssertionError("the long-poll was not forwarded")):
        while local.forwarder.forwarded == before:
            gevent.sleep(0.01)
    # the 40 CONNECT reply of an unconnected EIO session is not sent: the GET waits for a ping
    peer.proc.send_signal(signal.SIGKILL)
    peer.proc.wait(timeout=5)
    with gevent.Timeout(10, AssertionError("the long-poll hung after its owner died")):
        status, body = poll.get()
    unknown = {"code": 1, "message": "Session ID unknown"}
    assert (status, json.loads(body)) == (400, unknown)
    with gevent.Timeout(5, AssertionError("a request for a dead owner's session hung")):
        status, body = _poll(local.port, warm)
    assert (status, json.loads(body)) == (400, unknown)
    assert local.forwarder.idle(sid.split(".", 1)[0]) == 0  # its pool was dropped


class RawOwner:
    """An owner that answers ``200 ok`` with keep-alive, except that a request whose target
    contains ``hangup`` is read and then left unanswered (the connection closed) while
    ``hangups`` lasts, ``wait`` waits for ``gate``, and ``bye`` closes after its answer
    (as an owner's idle deadline would), setting ``closed``."""

    def __init__(self, path: Path) -> None:
        self.targets: list[str] = []
        self.hangups = 0
        self.gate = gevent.event.Event()
        self.closed = gevent.event.Event()
        sock = gsocket.socket(gsocket.AF_UNIX, gsocket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen(64)
        self.server = StreamServer(sock, self._handle)
        self.server.start()
        self.path = path

    def _handle(self, sock: Any, _address: Any) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length")),
                    0,
                )
                while len(buf) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                target = lines[0].split(" ")[1]
                self.targets.append(target)
                if "hangup" in target and self.hangups > 0:
                    self.hangups -= 1
                    return
                if "wait" in target:
                    self.gate.wait(10)
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                if "bye" in target:
                    sock.close()
                    self.closed.set()
                    return
        except OSError:
            return
        finally:
            sock.close()

    def close(self) -> None:
        self.server.stop(timeout=1)
        self.path.unlink(missing_ok=True)


Front = tuple[Forwarder, RawOwner, str]


@pytest.fixture
def front() -> Iterator[Any]:
    """``front(**forwarder_options)``: a Forwarder to a RawOwner, behind a real HTTP port
    (a gone owner answers 410 here, where gsocketio's endpoint would say 400)."""
    tmp = tempfile.TemporaryDirectory(prefix="gsio-raw-")
    directory = Path(tmp.name)
    owner = RawOwner(directory / "ownr0001.sock")
    servers: list[WSGIServer] = []
    forwarders: list[Forwarder] = []

    def make(**options: Any) -> Front:
        forwarder = Forwarder(LocalIdentity("front001", directory, os.getpid()), **options)
        forwarders.append(forwarder)

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            answer = forwarder.forward("ownr0001", environ, start_response)
            if answer is None:
                start_response("410 Gone", [("Content-Length", "0")])
                return [b""]
            return answer

        server = WSGIServer(("127.0.0.1", 0), app, log=None)
        server.start()
        servers.append(server)
        return forwarder, owner, f"http://127.0.0.1:{server.server_port}"

    yield make
    for server in servers:
        server.stop(timeout=1)
    for forwarder in forwarders:
        forwarder.close()
    owner.close()
    tmp.cleanup()


def _request(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_get_on_a_connection_closed_under_it_is_sent_again_once(front: Any) -> None:
    forwarder, owner, url = front()
    assert _request(url + "/a") == (200, b"ok")
    owner.hangups = 1
    assert _request(url + "/hangup") == (200, b"ok")  # unanswered on the pooled one, resent
    assert (forwarder.connects, forwarder.retried, forwarder.forwarded) == (2, 1, 2)
    assert owner.targets == ["/a", "/hangup", "/hangup"]
    owner.hangups = 2  # unanswered twice: one retry only, then the client hears 502
    status, _ = _request(url + "/hangup")
    assert status == 502
    assert owner.targets.count("/hangup") == 4


def test_post_on_a_connection_closed_under_it_is_not_sent_again(front: Any) -> None:
    forwarder, owner, url = front()
    assert _request(url + "/a", b"40") == (200, b"ok")
    owner.hangups = 1
    status, _ = _request(url + "/hangup", b"42[1]")
    assert status == 502  # the owner is there (probed), but a POST is not idempotent
    assert owner.targets == ["/a", "/hangup"]  # received once, never twice
    assert forwarder.retried == 0
    assert _request(url + "/b", b"3") == (200, b"ok")  # the probe's connection serves on


def test_connections_the_owner_closed_or_that_aged_are_not_reused(front: Any) -> None:
    forwarder, owner, url = front()
    assert _request(url + "/bye") == (200, b"ok")
    assert owner.closed.wait(5)
    assert forwarder.idle("ownr0001") == 1  # pooled before the owner's close arrived
    assert _request(url + "/a") == (200, b"ok")
    assert (forwarder.connects, forwarder.retried) == (2, 0)  # found closed, not tried
    aged, _, aged_url = front(idle_timeout=0.0)
    for path in ("/a", "/b", "/c"):
        assert _request(aged_url + path) == (200, b"ok")
    assert aged.connects == 3  # every idle one is past its idle_timeout


def test_pool_keeps_at_most_max_idle_per_owner(front: Any) -> None:
    forwarder, owner, url = front(max_idle=2)
    waits = [gevent.spawn(_request, f"{url}/wait{i}") for i in range(5)]
    with gevent.Timeout(10, AssertionError("requests did not reach the owner")):
        while len(owner.targets) < 5:
            gevent.sleep(0.01)
    assert forwarder.connects == 5  # one per request in flight: in use is not bounded
    owner.gate.set()
    assert [w.get(timeout=10) for w in waits] == [(200, b"ok")] * 5
    assert forwarder.idle("ownr0001") == 2
    for _ in range(4):
        assert _request(url + "/a") == (200, b"ok")
    assert forwarder.connects == 5  # sequential requests ride the two kept ones


def test_gone_owner_and_oversized_bodies(front: Any) -> None:
    forwarder, owner, url = front(max_body=10)
    assert _request(url + "/a", b"x" * 11)[0] == 413
    assert owner.targets == []
    owner.close()
    assert _request(url + "/a") == (410, b"")  # gone: left to the local endpoint
    assert forwarder.idle("ownr0001") == 0


def test_an_owner_that_outlasts_the_bound_gets_a_502_not_a_retry(front: Any) -> None:
    forwarder, owner, url = front(timeout=0.5)
    assert _request(url + "/a") == (200, b"ok")
    status, _ = _request(url + "/wait")  # on the pooled connection, never answered in time
    assert status == 502
    assert (forwarder.retried, forwarder.connects) == (0, 1)  # no resend, no probe
    assert forwarder.idle("ownr0001") == 0  # the timed-out connection is not kept
    owner.gate.set()
    assert _request(url + "/b") == (200, b"ok")
