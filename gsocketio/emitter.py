"""``gsocketio.Emitter``: reach a cluster's clients from a process that is not a server.

A Celery task, a cron job or a view on another host publishes the very messages
``@socket.io/redis-emitter`` 5.x publishes, so gsocketio servers and Node servers with
``@socket.io/redis-adapter`` obey it alike::

    Emitter("redis://127.0.0.1:6379/0").of("/chat").to("room").except_("muted").emit("news", 1)

Plain redis-py, no gevent: it works in any Python process. Acks are not supported (as in Node).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import redis

from gsocketio.adapters import redis_requests as rq
from gsocketio.adapters import redis_wire as wire
from gsocketio.protocol.socketio import RESERVED_EVENTS

__all__ = ["Emitter"]

_EMITTER_RESERVED = RESERVED_EVENTS | {"newListener", "removeListener"}


def _rooms(args: tuple[str | Iterable[str], ...]) -> tuple[str, ...]:
    found: list[str] = []
    for arg in args:
        items = (arg,) if isinstance(arg, str) else tuple(arg)
        found.extend(r for r in items if r not in found)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Target:
    nsp: str = "/"
    rooms: tuple[str, ...] = ()
    except_rooms: tuple[str, ...] = ()
    volatile: bool = False
    compress: bool | None = None


class Emitter:
    """Publishes broadcasts and cluster requests to a ``key`` prefix; modifiers return new
    emitters sharing the Redis client. ``client``: an existing ``redis.Redis`` to use."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        key: str = "socket.io",
        *,
        client: redis.Redis | None = None,
        _target: _Target | None = None,
    ) -> None:
        self.key = key
        self.client = client if client is not None else redis.Redis.from_url(url)
        self._target = _target or _Target()

    def _with(self, **changes: Any) -> Emitter:
        return Emitter(key=self.key, client=self.client, _target=replace(self._target, **changes))

    def of(self, namespace: str) -> Emitter:
        """A namespace (a leading ``/`` is added when missing, as Node's emitter does)."""
        return self._with(
            nsp=namespace if namespace.startswith("/") else "/" + namespace,
            rooms=(),
            except_rooms=(),
        )

    def to(self, *rooms: str | Iterable[str]) -> Emitter:
        return self._with(rooms=_rooms((self._target.rooms, *rooms)))

    in_ = to

    def except_(self, *rooms: str | Iterable[str]) -> Emitter:
        return self._with(except_rooms=_rooms((self._target.except_rooms, *rooms)))

    @property
    def volatile(self) -> Emitter:
        return self._with(volatile=True)

    def compress(self, flag: bool = True) -> Emitter:
        return self._with(compress=flag)

    @property
    def _channels(self) -> wire.Channels:
        return wire.Channels(self.key, self._target.nsp)

    def emit(self, event: str, *args: Any) -> int:
        """Broadcast ``event`` to the selected clients of every server; returns how many
        servers (subscribers) Redis handed it to."""
        if event in _EMITTER_RESERVED:
            raise ValueError(f"{event!r} is a reserved event name")
        if args and callable(args[-1]):
            raise ValueError("Acknowledgements are not supported")
        t = self._target
        flags: dict[str, Any] = {}
        if t.volatile:
            flags["volatile"] = True
        if t.compress is not None:
            flags["compress"] = t.compress
        payload = wire.encode_broadcast(
            wire.EMITTER_UID, t.nsp, [event, *args], t.rooms, t.except_rooms, flags, emitter=True
        )
        return int(self.client.publish(self._channels.broadcast(t.rooms), payload))

    def send(self, data: Any) -> int:
        return self.emit("message", data)

    def sockets_join(self, *rooms: str | Iterable[str]) -> None:
        """The selected sockets (on every server) join ``rooms``."""
        t = self._target
        payload = rq.encode_join_request(None, t.rooms, t.except_rooms, _rooms(rooms))
        self.client.publish(self._channels.request, payload)

    def sockets_leave(self, *rooms: str | Iterable[str]) -> None:
        t = self._target
        payload = rq.encode_join_request(None, t.rooms, t.except_rooms, _rooms(rooms), leave=True)
        self.client.publish(self._channels.request, payload)

    def disconnect_sockets(self, close: bool = False) -> None:
        t = self._target
        payload = rq.encode_disconnect_request(None, t.rooms, t.except_rooms, close)
        self.client.publish(self._channels.request, payload)

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Run the servers' server-side handler of ``event`` (no acks from an emitter)."""
        if event in _EMITTER_RESERVED:
            raise ValueError(f"{event!r} is a reserved event name")
        if args and callable(args[-1]):
            raise ValueError("Acknowledgements are not supported")
        payload = rq.encode_server_side_emit(wire.EMITTER_UID, [event, *args])
        self.client.publish(self._channels.request, payload)
