"""Where the nodes of other hosts listen (needs the ``redis`` extra): each node with a TCP
node address registers ``<prefix>:<node> -> host:port`` in Redis with a TTL it keeps
refreshing, so a request for a session of another host can be forwarded to it; an entry that
expires means the node is gone."""

from __future__ import annotations

import time
from typing import Any

import gevent
import redis

from gsocketio._logging import get_logger

__all__ = ["RedisNodeRegistry", "parse_address"]

log = get_logger("gsocketio.nodes")

_ERRORS = (redis.RedisError, OSError)


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a tuple; ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"not host:port: {text!r}")
    return host.strip("[]"), int(port)


class RedisNodeRegistry:
    """Node addresses in Redis. ``ttl`` bounds how long a dead node stays listed; lookups are
    cached for ``cache_s`` (a hit saves a Redis round trip per forwarded request)."""

    def __init__(
        self,
        url: str,
        prefix: str = "gsocketio-node",
        *,
        ttl: float = 30.0,
        cache_s: float = 5.0,
        client: Any = None,
    ) -> None:
        if client is None:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, tuple[str, int] | None]] = {}
        self._refresher: gevent.Greenlet[Any, Any] | None = None

    def _key(self, node: str) -> str:
        return f"{self.prefix}:{node}"

    def register(self, node: str, address: tuple[str, int]) -> None:
        """List ``node``, refreshed every ``ttl / 3`` until :meth:`unregister`."""
        value = f"{address[0]}:{address[1]}"
        self.client.set(self._key(node), value, ex=max(1, int(self.ttl)))

        def refresh() -> None:
            while True:
                gevent.sleep(self.ttl / 3)
                try:
                    self.client.set(self._key(node), value, ex=max(1, int(self.ttl)))
                except _ERRORS as exc:  # Redis down: retry on the next tick
                    log.warning("node %s: registry refresh failed: %s", node, exc)

        self._refresher = gevent.spawn(refresh)

    def unregister(self, node: str) -> None:
        if self._refresher is not None:
            self._refresher.kill(block=False)
        try:
            self.client.delete(self._key(node))
        except _ERRORS as exc:  # the TTL removes it anyway
            log.info("node %s: unregister failed: %s", node, exc)

    def lookup(self, node: str) -> tuple[str, int] | None:
        """The address ``node`` registered, or None (unknown, expired, or Redis unreachable)."""
        now = time.monotonic()
        cached = self._cache.get(node)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            raw = self.client.get(self._key(node))
        except _ERRORS as exc:  # unreachable registry: the owner counts as gone
            log.warning("node registry unreachable: %s", exc)
            return None
        address = None
        if raw:
            try:
                address = parse_address(raw.decode() if isinstance(raw, bytes) else str(raw))
            except ValueError:
                address = None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[node] = (now + (self.cache_s if address else 1.0), address)
        return address
