"""Counters the server layers bump while metrics are on (``Server.metrics``, None when off).

Plain integers and dicts, no locks and no calls on the hot path: the layers do
``if (m := self.metrics) is not None: m.events_in += 1``, and :mod:`gsocketio.metrics` reads
them at scrape time beside the state it reads directly (connections, namespaces, rooms). Bytes
are counted only while instrumented, through methods :mod:`gsocketio.metrics` puts in place.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

__all__ = ["ACK_BUCKETS", "AckTimer", "Stats", "size_of"]

ACK_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the ack latency histogram; one more bucket holds the rest."""


class Stats:
    """What happened since the server was instrumented (read by the Prometheus collector)."""

    __slots__ = (
        "ack_buckets",
        "ack_count",
        "ack_sum",
        "ack_timeouts",
        "bounds",
        "bytes_in",
        "bytes_out",
        "disconnects",
        "engine_errors",
        "events_in",
        "packets_out",
        "slow_consumer",
    )

    def __init__(self) -> None:
        self.events_in = 0  # EVENT packets received (any namespace)
        self.packets_out = 0  # Socket.IO packets delivered to sockets (events, acks)
        self.ack_buckets = [0] * (len(ACK_BUCKETS) + 1)
        self.ack_count = 0
        self.ack_sum = 0.0
        self.ack_timeouts = 0
        self.disconnects: dict[str, int] = {}  # connection close reason -> count
        self.engine_errors: dict[tuple[str, str], int] = {}  # (status, Engine.IO code) -> count
        self.slow_consumer: dict[str, int] = {}  # backpressure action -> count
        self.bounds: dict[str, int] = {}  # per-client bound -> times a client hit it
        self.bytes_in: dict[str, int] = {}  # transport -> bytes of messages received
        self.bytes_out: dict[str, int] = {}  # transport -> bytes of packets delivered

    def received(self, transport: str, data: str | bytes) -> None:
        """A message (or a 0.9 frame/payload) arrived over ``transport``."""
        size = len(data) if type(data) is bytes or data.isascii() else size_of(data)
        table = self.bytes_in
        table[transport] = table.get(transport, 0) + size

    def delivered(self, transport: str, items: Sequence[str | bytes]) -> None:
        """One encoded packet (its messages: text and binary attachments) went to a socket."""
        self.packets_out += 1
        size = 0
        for item in items:  # inline: this runs once per recipient of every packet
            size += len(item) if type(item) is bytes or item.isascii() else size_of(item)
        table = self.bytes_out
        table[transport] = table.get(transport, 0) + size

    def disconnected(self, reason: str) -> None:
        """A connection closed (once per connection)."""
        key = str(reason)
        self.disconnects[key] = self.disconnects.get(key, 0) + 1
        if key == "outgoing buffer full":
            self.slow("disconnected")
            self.bound("outgoing_buffer")

    def bound(self, name: str) -> None:
        """A client hit a per-client bound (cold paths only: the bound's own branch)."""
        self.bounds[name] = self.bounds.get(name, 0) + 1

    def slow(self, action: str) -> None:
        """The outgoing bound acted on a slow client (``dropped_volatile``, ``disconnected``)."""
        self.slow_consumer[action] = self.slow_consumer.get(action, 0) + 1

    def engine_error(self, status: str, code: str) -> None:
        key = (status, code)
        self.engine_errors[key] = self.engine_errors.get(key, 0) + 1

    def observe_ack(self, seconds: float) -> None:
        self.ack_buckets[bisect.bisect_left(ACK_BUCKETS, seconds)] += 1
        self.ack_count += 1
        self.ack_sum += seconds

    def timer(self) -> AckTimer:
        """Start timing one server-to-client ack round trip."""
        return AckTimer(self)

    def timed_callback(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """``callback`` wrapped to record the round trip when the client's ack arrives."""
        timer = AckTimer(self)

        def acked(*args: Any) -> Any:
            timer.done()
            return callback(*args)

        return acked


def size_of(data: str | bytes) -> int:
    """The UTF-8 size of a text message (its length when ASCII, the common case), or the
    length of a binary one."""
    if isinstance(data, str) and not data.isascii():
        return len(data.encode("utf-8", "surrogatepass"))
    return len(data)


class AckTimer:
    """One pending round trip: :meth:`done` when the ack came, :meth:`timed_out` if not."""

    __slots__ = ("_started", "_stats")

    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        self._started = time.perf_counter()

    def done(self) -> None:
        self._stats.observe_ack(time.perf_counter() - self._started)

    def timed_out(self) -> None:
        self._stats.ack_timeouts += 1
