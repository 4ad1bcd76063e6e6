"""What the classic and the sharded Redis adapters share: the local rooms (a wrapped
:class:`MemoryAdapter`), the outbox and subscriber links, health and outage logging, rejected
message accounting, the prologues of the cluster requests (local part, server count, pending
answers, ack callbacks; each subclass only publishes its own wire format) and closing.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import redis
from gevent.event import Event
from redis.backoff import NoBackoff
from redis.retry import Retry

from gsocketio._logging import get_logger
from gsocketio.adapters import redis_wire as wire
from gsocketio.adapters.base import EVERYONE, Adapter, AdapterHost, BroadcastOptions, Recipient
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.adapters.redis_link import LinkStats, Outbox, Subscriber
from gsocketio.exceptions import ClusterTimeoutError
from gsocketio.protocol.socketio import Packet

__all__ = ["POOL_SIZE", "AdapterHealth", "RedisAdapterBase", "command_client"]

POOL_SIZE = 32
"""Connections of an adapter's command client. More greenlets than that wait for one (up to
``socket_timeout``) instead of failing: redis-py's default pool raises "Too many connections"
past 100, which a burst of reconnects (a rolling restart's recoveries) reaches."""


def command_client(url: str, client_name: str, options: dict[str, Any]) -> redis.Redis:
    """A client on a blocking pool of ``max_connections`` (default :data:`POOL_SIZE`)
    connections, waiting up to ``pool_timeout`` (default ``socket_timeout``) for one."""
    opts = dict(options)
    opts.setdefault("max_connections", POOL_SIZE)
    wait = opts.pop("pool_timeout", None)
    opts["timeout"] = wait if wait is not None else opts.get("socket_timeout") or 5.0
    pool = redis.BlockingConnectionPool.from_url(url, client_name=client_name, **opts)
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


@dataclass(frozen=True, slots=True)
class AdapterHealth:
    """A snapshot of the adapter's link to Redis and its counters."""

    connected: bool  # both the publisher and the subscriber reach Redis
    since: float  # time.time() of the last state change
    outbox: int  # messages waiting to be published
    outbox_bound: int
    published: int
    dropped: int  # lost to the outbox bound (oldest first) or volatile during an outage
    replayed: int  # published after an outage
    received: int
    rejected: int  # malformed messages dropped
    reconnects: int


class Pending:
    """One outstanding request: how many answers complete it and what arrived."""

    def __init__(self, kind: Any, expected: int, first: list[Any], counts_self: bool) -> None:
        self.kind = kind
        self.expected = expected
        self.count = 1 if counts_self else 0  # the classic fetch/allRooms count the requester
        self.results = first
        self.done = Event()


class RedisAdapterBase(Adapter):
    """The common machinery; subclasses speak one wire protocol.

    Class attributes name the subclass's request kinds (kept in :class:`Pending` for its
    response handler) and whether its fetch answers count the requester (the classic
    protocol's rule: ``numsub`` answers, the requester's own included).
    """

    _fetch_kind: Any
    _sse_kind: Any
    _fetch_counts_self: bool
    _new_ack_id: Callable[[], str] = staticmethod(wire.new_uid)
    clustered = True

    def __init__(
        self,
        url: str,
        key: str,
        uid: str,
        *,
        requests_timeout: float,
        outbox_size: int,
        limits: wire.WireLimits,
        redis_options: dict[str, Any] | None,
        logger: logging.Logger | None,
        sharded: bool,
    ) -> None:
        self.uid = uid
        self.key = key
        self.url = url
        self.requests_timeout = requests_timeout
        self.limits = limits
        self.log = logger or get_logger("gsocketio.cluster")
        self.local = MemoryAdapter()
        self.stats = LinkStats()
        self._since = time.time()
        self._up_parts = {"publisher"}  # the outbox starts optimistic; the subscriber connects
        self._outage = False
        self._last_reject_log = 0.0
        self._pending: dict[str, Pending] = {}
        self._closed = False
        self._acks: dict[str, tuple[Callable[[int], None], Callable[[Any], None]]] = {}
        options = {
            "socket_connect_timeout": 2.0,
            "socket_timeout": 5.0,
            "retry": Retry(NoBackoff(), 0),
            "protocol": 2,  # RESP2: pub/sub messages are plain replies, read by Subscriber
            **(redis_options or {}),
        }
        self._client = command_client(url, f"gsio:{key}:{self.uid}:pub", options)
        sub_options = {**options, "socket_timeout": None}
        sub_options.pop("pool_timeout", None)  # the command client's blocking pool only
        sub_pool = redis.ConnectionPool.from_url(
            url, client_name=f"gsio:{key}:{self.uid}:sub", **sub_options
        )
        self._outbox = Outbox(
            self._client, outbox_size, self.stats, self._state_changed, sharded=sharded
        )
        self._subscriber = Subscriber(
            sub_pool, self.stats, self._on_message, self._state_changed, sharded=sharded
        )

    @abstractmethod
    def _namespace(self, nsp: str) -> Any:
        """Subscribe to the namespace's channels (once); returns its channel names."""

    @abstractmethod
    def _on_message(self, reply: list[Any]) -> None:
        """Handle one message from the subscriber greenlet; must never raise."""

    @abstractmethod
    def _publish_fetch(self, namespace: str, opts: BroadcastOptions, request_id: str) -> None:
        """Queue a fetchSockets request for ``opts``' sockets."""

    @abstractmethod
    def _publish_server_side(self, namespace: str, data: list[Any], request_id: str | None) -> None:
        """Queue a serverSideEmit (with a request id when answers are awaited)."""

    @abstractmethod
    def _publish_broadcast_ack(
        self, packet: Packet, opts: BroadcastOptions, request_id: str, timeout: float
    ) -> None:
        """Queue a broadcast whose receivers answer a client count, then each ack."""

    # --- link state ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._outbox.up and self._subscriber.up

    def health(self) -> AdapterHealth:
        s = self.stats
        return AdapterHealth(
            self.connected, self._since, len(self._outbox), self._outbox.bound, s.published,
            s.dropped, s.replayed, s.received, s.rejected, s.reconnects,
        )  # fmt: skip

    def _state_changed(self, part: str, up: bool, exc: BaseException | None) -> None:
        """Log once per outage (whichever link notices first) and once when both are back."""
        (self._up_parts.add if up else self._up_parts.discard)(part)
        now = self._up_parts == {"publisher", "subscriber"}
        if not up:
            self._since = time.time()
        if not up and not self._outage:
            self._outage = True
            self.log.warning(
                "Redis at %s is unreachable (%s): this server keeps serving its own clients; "
                "up to %d outgoing messages are kept and sent when Redis is back; reconnecting",
                self.url, exc, self._outbox.bound,
            )  # fmt: skip
        elif now and self._outage:
            self._outage = False
            self._since = time.time()
            self.log.warning(
                "Redis at %s is reachable again: subscriptions restored, %d queued messages "
                "sent after outages, %d dropped so far",
                self.url, self.stats.replayed, self.stats.dropped,
            )  # fmt: skip

    def _reject(self, what: str, exc: Exception) -> None:
        self.stats.rejected += 1
        now = time.monotonic()
        if now - self._last_reject_log >= 10.0:
            self._last_reject_log = now
            self.log.warning(
                "dropped a malformed %s from Redis (%s); %d dropped so far",
                what, exc, self.stats.rejected,
            )  # fmt: skip

    # --- local socket bookkeeping (delegated) ----------------------------------------------

    def bind(self, host: AdapterHost) -> None:
        super().bind(host)
        self.local.bind(host)

    def add_socket(self, namespace: str, sid: str, recipient: Recipient) -> None:
        self._namespace(namespace)
        self.local.add_socket(namespace, sid, recipient)

    def remove_socket(self, namespace: str, sid: str) -> None:
        self.local.remove_socket(namespace, sid)

    def enter_room(self, namespace: str, sid: str, room: str) -> None:
        self.local.enter_room(namespace, sid, room)

    def leave_room(self, namespace: str, sid: str, room: str) -> None:
        self.local.leave_room(namespace, sid, room)

    def rooms_of(self, namespace: str, sid: str) -> set[str]:
        return self.local.rooms_of(namespace, sid)

    def sockets(self, namespace: str, opts: BroadcastOptions = EVERYONE) -> set[str]:
        return self.local.sockets(namespace, opts)

    def all_rooms(self, namespace: str) -> set[str]:
        return self.local.all_rooms(namespace)

    def _request(
        self,
        publish: Callable[[str], None],
        kind: Any,
        counts_self: bool,
        expected: int,
        first: list[Any],
        timeout: float,
        what: str,
    ) -> list[Any]:
        request_id = wire.new_uid()
        pending = self._pending[request_id] = Pending(kind, expected, first, counts_self)
        try:
            publish(request_id)
            if not pending.done.wait(timeout):
                got = pending.count
                raise ClusterTimeoutError(
                    f"timeout reached while waiting for {what} response "
                    f"(only {got} of {expected} answered)",
                    pending.results,
                )
            return pending.results
        finally:
            self._pending.pop(request_id, None)

    # --- cluster requests: the shared prologues ---------------------------------------------

    def fetch_sockets(
        self, namespace: str, opts: BroadcastOptions, timeout: float
    ) -> list[dict[str, Any]]:
        local = self.local.fetch_sockets(namespace, opts, timeout)
        if opts.flags.local:
            return local
        servers = self.server_count(namespace)
        if servers <= 1:
            return local
        counts_self = self._fetch_counts_self
        return self._request(
            lambda rid: self._publish_fetch(namespace, opts, rid), self._fetch_kind,
            counts_self, servers if counts_self else servers - 1, local, timeout, "fetchSockets",
        )  # fmt: skip

    def server_side_emit(
        self, namespace: str, data: list[Any], *, ack: bool, timeout: float
    ) -> list[Any]:
        if not ack:
            self._publish_server_side(namespace, data, None)
            return []
        expected = self.server_count(namespace) - 1
        if expected <= 0:
            return []
        return self._request(
            lambda rid: self._publish_server_side(namespace, data, rid),
            self._sse_kind, False, expected, [], timeout, "serverSideEmit",
        )  # fmt: skip

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: float,
        on_count: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> int:
        if opts.flags.local:
            return self.local.broadcast_with_ack(packet, opts, timeout, on_count, on_ack)
        servers = self.server_count(packet.namespace)
        request_id = self._new_ack_id()
        self._acks[request_id] = (on_count, on_ack)
        gevent.spawn_later(timeout, self._acks.pop, request_id, None)
        self._publish_broadcast_ack(packet, opts, request_id, timeout)
        self.local.broadcast_with_ack(packet, opts, timeout, on_count, on_ack)
        return servers

    def _on_ack_response(self, request_id: str, is_count: bool, body: dict[str, Any]) -> None:
        """A BROADCAST_CLIENT_COUNT (``is_count``) or BROADCAST_ACK answer of our request."""
        callbacks = self._acks.get(request_id)
        if callbacks is None:
            return
        if is_count:
            count = body.get("clientCount")
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                callbacks[0](count)
        else:
            callbacks[1](body.get("packet"))

    @staticmethod
    def _answered(pending: Pending) -> None:
        pending.count += 1
        if pending.count >= pending.expected:
            pending.done.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, flush_timeout: float = 1.0) -> None:
        """Leave the cluster (``Server.close()`` calls it): send what is queued (at most
        ``flush_timeout`` s, so a last emit or disconnect request still reaches the others),
        then end the subscriptions, stop the greenlets and close every Redis connection.
        Idempotent; outstanding requests are left to time out."""
        if self._closed:
            return
        self._closed = True
        if not self._outbox.flush(flush_timeout):
            self.log.warning("closing with %d unsent messages to Redis", len(self._outbox))
        self._subscriber.close()
        self._outbox.close()
        self._client.close()
        self._acks.clear()
