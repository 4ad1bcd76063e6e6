"""The node registry against an in-memory stand-in for Redis: registration with a TTL,
lookups (cached, bounded), malformed entries and an unreachable registry."""

from __future__ import annotations

from typing import Any

import gevent
import pytest
import redis

from gsocketio.node_registry import RedisNodeRegistry, parse_address


class FakeRedis:
    def __init__(self) -> None:
        self.data: dict[str, tuple[str, int | None]] = {}
        self.gets = 0
        self.down = False

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        if self.down:
            raise redis.ConnectionError("down")
        self.data[key] = (value, ex)

    def get(self, key: str) -> Any:
        self.gets += 1
        if self.down:
            raise redis.ConnectionError("down")
        entry = self.data.get(key)
        return entry[0].encode() if entry else None

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def test_register_lookup_unregister() -> None:
    fake = FakeRedis()
    registry = RedisNodeRegistry("redis://unused", "pfx", ttl=0.3, client=fake)
    registry.register("ab12cd34", ("10.0.0.5", 4711))
    assert fake.data["pfx:ab12cd34"] == ("10.0.0.5:4711", 1)
    assert registry.lookup("ab12cd34") == ("10.0.0.5", 4711)
    assert registry.lookup("ab12cd34") == ("10.0.0.5", 4711)
    assert fake.gets == 1  # the second lookup came from the cache
    fake.data.clear()
    gevent.sleep(0.15)  # the refresher (every ttl / 3) lists it again
    assert "pfx:ab12cd34" in fake.data
    registry.unregister("ab12cd34")
    assert fake.data == {}


def test_unknown_malformed_and_unreachable() -> None:
    fake = FakeRedis()
    registry = RedisNodeRegistry("redis://unused", "pfx", client=fake)
    assert registry.lookup("nobody00") is None
    fake.data["pfx:bad00000"] = ("no-port", None)
    assert registry.lookup("bad00000") is None
    fake.down = True
    assert registry.lookup("other000") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.0.0.5:80", ("10.0.0.5", 80)), ("[::1]:8000", ("::1", 8000)), ("host:1", ("host", 1))],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["host", ":80", "host:", "host:x"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)
