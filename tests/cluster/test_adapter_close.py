"""``Server.close()`` closes its Redis adapter: subscriptions end, greenlets stop and no
connection of the adapter stays open (Redis' ``CLIENT LIST``, by the names the adapter gives
its connections), and what was queued just before is still published. In-process, real Redis."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

import gsocketio
from gsocketio.adapters.redis import RedisAdapter
from gsocketio.adapters.redis_base import RedisAdapterBase
from gsocketio.adapters.redis_sharded import RedisShardedAdapter
from gsocketio.adapters.redis_streams import RedisStreamsAdapter
from gsocketio.exceptions import ClusterUnavailableError
from tests.cluster.conftest import REDIS_URL, eventually, redis_client

pytestmark = pytest.mark.service


def _make(kind: str, key: str) -> RedisAdapterBase:
    if kind == "classic":
        return RedisAdapter(REDIS_URL, key=key)
    if kind == "sharded":
        return RedisShardedAdapter(REDIS_URL, channel_prefix=key)
    return RedisStreamsAdapter(REDIS_URL, stream=key, channel_prefix=key)


def _up(adapter: RedisAdapterBase) -> int:
    """The server count once the adapter's link is up (bounded: 10 s)."""
    for _ in range(200):
        try:
            return adapter.server_count("/")
        except ClusterUnavailableError:
            gevent.sleep(0.05)
    raise AssertionError("the adapter never connected")


def _ours(r: Any, key: str) -> list[str]:
    """Names of the open connections this test's adapter made (it names each ``gsio:<key>:``)."""
    return sorted(
        c["name"] for c in r.client_list() if c.get("name", "").startswith(f"gsio:{key}:")
    )


def _subscribed(r: Any, kind: str, key: str) -> int:
    if kind == "classic":
        return int(r.pubsub_numsub(f"{key}-request#/#")[0][1])
    if kind == "sharded":
        return int(r.pubsub_shardnumsub(f"{key}#/#")[0][1])
    return int(r.pubsub_numsub(f"{key}#/#")[0][1])


@pytest.mark.parametrize("kind", ["classic", "sharded", "streams"])
def test_server_close_releases_every_redis_connection(key: str, kind: str) -> None:
    r = redis_client()
    adapter = _make(kind, key)
    sio = gsocketio.Server(adapter=adapter)
    assert _up(adapter) == 1  # connected and subscribed
    sio.emit("warm-up")  # the outbox's own connection opens on its first publish
    names = eventually(lambda: _ours(r, key), lambda n: any(x.endswith(":sub") for x in n))
    assert any(n.endswith(":sub") for n in names) and any(n.endswith(":pub") for n in names)
    if kind == "streams":
        assert any(n.endswith(":xread") for n in names)
    assert _subscribed(r, kind, key) == 1
    greenlets = [adapter._outbox._greenlet, adapter._subscriber._greenlet]
    sio.close()
    assert adapter.closed and all(g.dead for g in greenlets)
    assert eventually(lambda: _ours(r, key), lambda n: n == []) == []
    assert _subscribed(r, kind, key) == 0
    sio.close()  # twice: a no-op
    adapter.close()
    assert _ours(r, key) == []


def test_close_publishes_what_was_queued_first(key: str) -> None:
    """An emit made right before ``close()`` still reaches the other nodes (bounded flush)."""
    r = redis_client()
    listener = r.pubsub()
    listener.psubscribe(f"{key}#*")
    assert listener.get_message(timeout=5)["type"] == "psubscribe"
    adapter = RedisAdapter(REDIS_URL, key=key)
    sio = gsocketio.Server(adapter=adapter)
    _up(adapter)
    for i in range(50):
        sio.emit("last-words", i)
    sio.close()
    got: list[bytes] = []
    with gevent.Timeout(10):
        while len(got) < 50:
            msg = listener.get_message(timeout=5)
            if msg is not None and msg["type"] == "pmessage":
                got.append(msg["data"])
    listener.close()
    assert len(got) == 50 and adapter.health().published == 50
    assert eventually(lambda: _ours(r, key), lambda n: n == []) == []
