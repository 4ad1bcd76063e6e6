"""Seed mode (gevent-socketio apps: socketio_manage + mixins) on two servers sharing a Redis
adapter: the mixins' rooms and broadcasts reach the other server's clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gsocketio.adapters.redis import RedisAdapter
from gsocketio.serve import SocketIOServer
from tests.cluster.conftest import REDIS_URL
from tests.compat.test_mixins import Peer, app

pytestmark = pytest.mark.service


@pytest.fixture
def two_seed_servers(key: str) -> Iterator[list[str]]:
    servers = []
    for _ in range(2):
        server = SocketIOServer(
            ("127.0.0.1", 0), app, log=None, adapter=RedisAdapter(REDIS_URL, key=key)
        )
        server.start()
        servers.append(server)
    yield [f"http://127.0.0.1:{s.server_port}" for s in servers]
    for server in servers:
        server.stop(timeout=2)
        server.seed_server.adapter.close()


def test_mixins_reach_the_other_server(two_seed_servers: list[str]) -> None:
    url1, url2 = two_seed_servers
    a, b, c = Peer(url1), Peer(url2), Peer(url2)
    peers: list[Any] = [a, b, c]
    try:
        assert a.call("join", "main") == ["/chat_main"]
        assert b.call("join", "main") == ["/chat_main"]
        assert a.call("say", "main", "hello") is True  # emit_to_room: the sender excluded
        assert b.next() == ("said", ["main", "hello"])
        assert b.call("shout", "all") is True  # broadcast_event: every server's clients
        for peer in peers:
            assert peer.next() == ("shout", ["all"])
        assert c.call("whisper", "not me") is True
        assert a.next() == ("whisper", ["not me"])
        assert b.next() == ("whisper", ["not me"])
        for peer in peers:
            peer.call("shout", "sync")
        for peer in peers:
            assert [peer.next() for _ in range(3)] == [("shout", ["sync"])] * 3
            peer.assert_quiet()
    finally:
        for peer in peers:
            peer.client.disconnect()
