"""The Redis connections of the Redis adapter: an ordered, bounded outbox and a subscriber.

:class:`Outbox` publishes in FIFO order from one writer greenlet (so a node's messages reach
Redis in the order it made them, and a client-count response always precedes its acks). While
Redis is unreachable the queue keeps up to ``bound`` messages, dropping the oldest past it, and
is replayed on reconnect. :class:`Subscriber` holds the one pub/sub connection (one, so
``PUBSUB NUMSUB`` counts this server once), re-subscribes after a reconnect and detects a dead
link with PINGs. Both reconnect with capped exponential backoff and log state changes once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

import gevent
import redis
from gevent.event import Event
from gevent.lock import RLock

from gsocketio._logging import get_logger

__all__ = ["LinkStats", "Outbox", "Subscriber"]

BACKOFF_START: Final = 0.05
BACKOFF_MAX: Final = 5.0
BATCH: Final = 256
LINK_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
log = get_logger("gsocketio.cluster")


class LinkStats:
    """Counters shared by the outbox and the subscriber (exposed by ``RedisAdapter.health``)."""

    def __init__(self) -> None:
        self.published = 0
        self.dropped = 0
        self.replayed = 0
        self.received = 0
        self.rejected = 0
        self.reconnects = 0


class Outbox:
    """FIFO publishing through one writer greenlet; a bounded queue while Redis is away."""

    def __init__(
        self,
        client: redis.Redis,
        bound: int,
        stats: LinkStats,
        on_state: Callable[[str, bool, BaseException | None], None],
        *,
        sharded: bool = False,
    ) -> None:
        self._client = client
        self._command = "SPUBLISH" if sharded else "PUBLISH"
        self._conn: Any = None
        self.bound = bound
        self._stats = stats
        self._on_state = on_state
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake = Event()
        self._idle = Event()  # set while the writer has nothing left to send
        self.up = True
        self._closed = False
        self._greenlet = gevent.spawn(self._run)

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, channel: str, payload: bytes, *, volatile: bool = False) -> None:
        """Queue one PUBLISH; never blocks. Volatile messages are not kept during an outage."""
        if not self.up and volatile:
            self._stats.dropped += 1
            return
        queue = self._queue
        if len(queue) >= self.bound:
            queue.popleft()
            self._stats.dropped += 1
        queue.append((channel, payload))
        self._wake.set()

    def _run(self) -> None:
        backoff = BACKOFF_START
        queue = self._queue
        while not self._closed:
            if not queue:
                self._wake.clear()
                self._idle.set()
                self._wake.wait()
                continue
            self._idle.clear()
            batch = [queue.popleft() for _ in range(min(len(queue), BATCH))]
            try:
                results = self._send(batch)
            except LINK_ERRORS as exc:
                if self._conn is not None:
                    self._conn.disconnect()
                    self._conn = None
                queue.extendleft(reversed(batch))
                while len(queue) > self.bound:
                    queue.popleft()
                    self._stats.dropped += 1
                if self.up:
                    self.up = False
                    self._on_state("publisher", False, exc)
                gevent.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if not self.up:
                self.up = True
                self._stats.replayed += len(batch) + len(queue)  # all queued while away
                self._on_state("publisher", True, None)
            backoff = BACKOFF_START
            refused = [r for r in results if isinstance(r, Exception)]
            if refused:  # e.g. SPUBLISH on a Redis < 7, or an ACL: not retried, counted
                self._stats.dropped += len(refused)
                log.error("Redis refused %d messages (%s); dropped", len(refused), refused[0])
            self._stats.published += len(batch) - len(refused)

    def _send(self, batch: list[tuple[str, bytes]]) -> list[Any]:
        """One write of the whole batch, then its replies, on the writer's own connection
        (a third of redis-py's pipeline cost per batch, measured)."""
        conn = self._conn
        if conn is None:
            conn = self._client.connection_pool.make_connection()
            conn.connect()  # type: ignore[no-untyped-call]
            self._conn = conn
        command = self._command
        conn.send_packed_command(conn.pack_commands([(command, c, p) for c, p in batch]))
        results: list[Any] = []
        for _ in batch:
            try:
                results.append(conn.read_response())
            except redis.ResponseError as exc:
                results.append(exc)
        return results

    def flush(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until what is queued has been sent; False when Redis
        is away or the time ran out (what is left is then lost at :meth:`close`)."""
        if not self._queue or not self.up:
            return not self._queue
        self._idle.clear()
        self._wake.set()
        return bool(self._idle.wait(timeout)) and not self._queue

    def close(self) -> None:
        """Stop the writer greenlet (and wait for it, bounded) and close its connection."""
        self._closed = True
        self._greenlet.kill(block=True, timeout=1.0)
        if self._conn is not None:
            self._conn.disconnect()
            self._conn = None


class Subscriber:
    """The pub/sub connection: channels and patterns kept across reconnects."""

    def __init__(
        self,
        pool: redis.ConnectionPool,
        stats: LinkStats,
        on_message: Callable[[list[Any]], None],
        on_state: Callable[[str, bool, BaseException | None], None],
        ping_interval: float = 10.0,
        *,
        sharded: bool = False,
    ) -> None:
        self._pool = pool
        self._subscribe = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
        self._unsubscribe = "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE"
        self._message_kinds = (b"smessage",) if sharded else (b"message", b"pmessage")
        self._confirm_kinds = (b"ssubscribe",) if sharded else (b"subscribe", b"psubscribe")
        self._stats = stats
        self._on_message = on_message
        self._on_state = on_state
        self._ping_interval = ping_interval
        self.channels: set[str] = set()
        self.patterns: set[str] = set()
        self._confirmed: set[str] = set()
        self._waiters: dict[str, Event] = {}
        self._conn: Any = None
        self._lock = RLock()
        self.up = False
        self._closed = False
        self._greenlet = gevent.spawn(self._run)

    def add(self, channels: list[str], patterns: list[str]) -> None:
        """Subscribe (now if connected, else on the next connect); never blocks for long."""
        new_channels = [c for c in channels if c not in self.channels]
        new_patterns = [p for p in patterns if p not in self.patterns]
        self.channels.update(new_channels)
        self.patterns.update(new_patterns)
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                for channel in new_channels:  # one per command: sharded channels live in slots
                    conn.send_command(self._subscribe, channel)
                if new_patterns:
                    conn.send_command("PSUBSCRIBE", *new_patterns)
            except LINK_ERRORS:
                pass  # the reader sees the broken link and re-subscribes everything

    def remove(self, channels: list[str]) -> None:
        """Unsubscribe from sharded channels (dynamic room channels whose room emptied)."""
        gone = [c for c in channels if c in self.channels]
        self.channels.difference_update(gone)
        self._confirmed.difference_update(gone)
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                for channel in gone:
                    conn.send_command(
                        "S" + "UNSUBSCRIBE" if self._subscribe == "SSUBSCRIBE" else "UNSUBSCRIBE",
                        channel,
                    )
            except LINK_ERRORS:
                pass

    def wait_confirmed(self, channel: str, timeout: float) -> bool:
        """Wait (bounded) until Redis confirmed the subscription of ``channel``."""
        if channel in self._confirmed:
            return True
        event = self._waiters.setdefault(channel, Event())
        return bool(event.wait(timeout))

    def _run(self) -> None:
        backoff = BACKOFF_START
        first = True
        while not self._closed:
            conn: Any = self._pool.make_connection()
            try:
                conn.connect()
                with self._lock:
                    self._conn = conn
                    self._confirmed.clear()
                    for channel in sorted(self.channels):
                        conn.send_command(self._subscribe, channel)
                    if self.patterns:
                        conn.send_command("PSUBSCRIBE", *sorted(self.patterns))
                if not first:
                    self._stats.reconnects += 1
                first = False
                self.up = True
                self._on_state("subscriber", True, None)
                backoff = BACKOFF_START
                self._read(conn)
            except (*LINK_ERRORS, redis.RedisError) as exc:
                if isinstance(exc, redis.ResponseError):  # refused SUBSCRIBE (ACL, version)
                    log.error("Redis refused the adapter's subscriptions: %s", exc)
                if self.up or first:
                    self._on_state("subscriber", False, exc)
                self.up = False
                first = False
            finally:
                with self._lock:
                    self._conn = None
                conn.disconnect()
            if not self._closed:
                gevent.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _read(self, conn: Any) -> None:
        awaiting_pong = False
        while not self._closed:
            if not conn.can_read(timeout=self._ping_interval):
                if awaiting_pong:
                    raise redis.TimeoutError("Redis did not answer PING on the pub/sub link")
                with self._lock:
                    conn.send_command("PING")
                awaiting_pong = True
                continue
            reply = conn.read_response(disconnect_on_error=False)
            awaiting_pong = False
            if not isinstance(reply, list) or not reply:
                continue
            kind = reply[0]
            if kind in self._message_kinds:
                self._stats.received += 1
                self._on_message(reply)
            elif kind in self._confirm_kinds and len(reply) > 1:
                name = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
                self._confirmed.add(name)
                waiter = self._waiters.pop(name, None)
                if waiter is not None:
                    waiter.set()

    def close(self) -> None:
        """Stop the reader greenlet and close the pub/sub connection (which ends every
        subscription of this node at once, as far as Redis and ``PUBSUB NUMSUB`` see)."""
        self._closed = True
        with self._lock:
            if self._conn is not None:
                self._conn.disconnect()
        self._greenlet.kill(block=True, timeout=1.0)
        for waiter in self._waiters.values():
            waiter.set()  # nobody waits for a confirmation that can no longer come
        self._waiters.clear()
