"""The opt-in Prometheus endpoint: ``sio.wsgi_app(app, metrics_path="/metrics")``.

Needs ``prometheus-client`` (the ``metrics`` extra). :func:`instrument` gives the server a
:class:`gsocketio.stats.Stats` (its hot-path counters) and a collector that reads everything
else when scraped: connections by protocol generation and transport, sockets per namespace,
rooms, adapter health (``health()`` of the Redis adapters) and stalls of the gevent hub
(:mod:`gsocketio.blocking`). :class:`MetricsApp` serves the text format on one path and counts
the Engine.IO error answers (refused handshakes and requests, by status and error code) of the
requests it passes on. Rationale and the metric list: docs/operations.md.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gsocketio import blocking
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.stats import ACK_BUCKETS, Stats, size_of

if TYPE_CHECKING:
    from gsocketio.server import Server

__all__ = ["MetricsApp", "ServerCollector", "instrument", "metrics_app"]

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REGISTRIES: weakref.WeakKeyDictionary[Server, CollectorRegistry] = weakref.WeakKeyDictionary()


def _protocol(conn: Any) -> str:
    if getattr(conn, "wire", None) is not None:  # the 0.9 endpoint's connections
        return "0.9"
    return f"EIO{conn.eio}"


class ServerCollector:
    """Reads one server's state and counters at scrape time (a prometheus-client collector)."""

    def __init__(self, server: Server, stats: Stats) -> None:
        self.server = server
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        server = self.server
        stats = self.stats
        clients = GaugeMetricFamily(
            "gsocketio_connected_clients",
            "Open connections by protocol generation and current transport",
            labels=["protocol", "transport"],
        )
        by_kind: dict[tuple[str, str], int] = {}
        for client in list(server._clients.values()):
            conn = client.conn
            key = (_protocol(conn), str(conn.transport or "pending"))
            by_kind[key] = by_kind.get(key, 0) + 1
        for (protocol, transport), count in sorted(by_kind.items()):
            clients.add_metric([protocol, transport], count)
        yield clients

        sockets = GaugeMetricFamily(
            "gsocketio_namespace_sockets", "Sockets per namespace", labels=["namespace"]
        )
        rooms = GaugeMetricFamily(
            "gsocketio_rooms",
            "Rooms with local members per namespace (sid rooms not counted)",
            labels=["namespace"],
        )
        adapter = server.adapter
        local = adapter if isinstance(adapter, MemoryAdapter) else getattr(adapter, "local", None)
        namespaces = sorted(server._sockets.items())
        for namespace, by_sid in namespaces:
            sockets.add_metric([namespace], len(by_sid))
            if isinstance(local, MemoryAdapter):
                rooms.add_metric([namespace], len(local.all_rooms(namespace)))
        yield GaugeMetricFamily(
            "gsocketio_namespaces", "Namespaces with at least one socket", value=len(namespaces)
        )
        yield sockets
        yield rooms

        yield CounterMetricFamily(
            "gsocketio_events_received", "EVENT packets received", value=stats.events_in
        )
        yield CounterMetricFamily(
            "gsocketio_packets_sent",
            "Socket.IO packets delivered to sockets (events, broadcasts per recipient, acks)",
            value=stats.packets_out,
        )
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, ACK_BUCKETS), "+Inf"), stats.ack_buckets, strict=True):
            running += count
            buckets.append((bound, running))
        yield HistogramMetricFamily(
            "gsocketio_ack_latency_seconds",
            "Round trip of server-to-client acks (call(), emit with a callback)",
            buckets=buckets,
            sum_value=stats.ack_sum,
        )
        yield CounterMetricFamily(
            "gsocketio_ack_timeouts", "call() waits that timed out", value=stats.ack_timeouts
        )
        disconnects = CounterMetricFamily(
            "gsocketio_disconnects",
            "Connections closed, by reason (parse error = bad packets, outgoing buffer full = "
            "the per-client bound)",
            labels=["reason"],
        )
        for reason, count in sorted(stats.disconnects.items()):
            disconnects.add_metric([reason], count)
        yield disconnects
        errors = CounterMetricFamily(
            "gsocketio_engine_errors",
            "Refused Engine.IO handshakes and requests, by HTTP status and Engine.IO error code",
            labels=["status", "code"],
        )
        for (status, code), count in sorted(stats.engine_errors.items()):
            errors.add_metric([status, code], count)
        yield errors
        slow = CounterMetricFamily(
            "gsocketio_slow_consumer",
            "What the outgoing bound did to clients that read too slowly",
            labels=["action"],
        )
        for action, count in sorted(stats.slow_consumer.items()):
            slow.add_metric([action], count)
        yield slow
        bounds = CounterMetricFamily(
            "gsocketio_bounds_hit",
            "Per-client bounds a client hit: outgoing_buffer, preconnect_buffer, ack_table, "
            "handlers_per_client, namespaces_per_client, namespace_length",
            labels=["bound"],
        )
        for name, count in sorted(stats.bounds.items()):
            bounds.add_metric([name], count)
        yield bounds
        for direction, table in (("received", stats.bytes_in), ("sent", stats.bytes_out)):
            family = CounterMetricFamily(
                f"gsocketio_bytes_{direction}",
                f"Bytes of Socket.IO packets {direction} (UTF-8 text and binary attachments; "
                "Engine.IO, HTTP and WebSocket framing not included), by transport",
                labels=["transport"],
            )
            for transport, count in sorted(table.items()):
                family.add_metric([transport or "pending"], count)
            yield family
        yield CounterMetricFamily(
            "gsocketio_blocked_loops",
            "Stalls of the gevent hub longer than the blocked-loop threshold",
            value=blocking.blocked_loops(),
        )
        yield from self._adapter(adapter)

    @staticmethod
    def _adapter(adapter: Any) -> Iterator[Metric]:
        health_of = getattr(adapter, "health", None)
        if health_of is None:
            return
        health = health_of()
        yield GaugeMetricFamily(
            "gsocketio_adapter_connected",
            "1 when the adapter reaches its broker",
            value=int(health.connected),
        )
        yield GaugeMetricFamily(
            "gsocketio_adapter_outbox", "Messages waiting to be published", value=health.outbox
        )
        yield GaugeMetricFamily(
            "gsocketio_adapter_outbox_bound", "Outbox capacity", value=health.outbox_bound
        )
        for name in ("published", "dropped", "replayed", "received", "rejected", "reconnects"):
            yield CounterMetricFamily(
                f"gsocketio_adapter_{name}", f"Adapter messages {name}", value=getattr(health, name)
            )


def instrument(server: Server) -> CollectorRegistry:
    """Turn the server's counters on (once) and return the registry its collector is in."""
    registry = _REGISTRIES.get(server)
    if registry is not None and server.metrics is not None:
        return registry
    stats = server.metrics if server.metrics is not None else Stats()  # instrument() may share
    server.metrics = stats
    _count_received(server, stats)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(server, stats))
    _REGISTRIES[server] = registry
    return registry


def _count_received(server: Server, stats: Stats) -> None:
    """Count the bytes of every message the engine hands the server: its ``engine_message``
    becomes a counting one for this instance. Readers look the method up when a connection
    opens, so uninstrumented servers keep the plain call with no test per message. (0.9
    clients are counted by their connection, which asks for ``metrics.received`` when it
    opens.)"""
    plain = type(server).engine_message  # the class's: instrumenting twice wraps once
    table = stats.bytes_in

    def engine_message(conn: Any, data: str | bytes) -> None:
        # Stats.received inlined: this runs for every message of every client.
        size = len(data) if type(data) is bytes or data.isascii() else size_of(data)
        transport = conn.transport
        table[transport] = table.get(transport, 0) + size
        plain(server, conn, data)

    server.engine_message = engine_message  # type: ignore[method-assign]


def _error_code(body: Iterable[bytes]) -> str:
    if not isinstance(body, list) or len(body) != 1:
        return ""
    try:
        code = json.loads(body[0]).get("code")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""
    return str(code) if isinstance(code, int) else ""


class MetricsApp:
    """WSGI: ``metrics_path`` answers the scrape; other requests go to ``app``, and the error
    answers of the Socket.IO endpoint are counted (only while instrumented). Other attributes
    are the wrapped app's (a ``WSGIApp``'s), so servers treat it as one."""

    gsocketio_app = True  # routes Socket.IO itself: SocketIOServer serves it without seed mode

    def __init__(
        self,
        app: WSGIApplication,
        registry: CollectorRegistry,
        stats: Stats,
        metrics_path: str = "/metrics",
        socketio_path: str = "socket.io",
    ) -> None:
        self.app = app
        self.registry = registry
        self.stats = stats
        self.metrics_path = "/" + metrics_path.strip("/")
        self.prefix = "/" + socketio_path.strip("/") + "/"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.metrics_path:
            body = generate_latest(self.registry)
            start_response(
                "200 OK",
                [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
            )
            return [body]
        if not path.startswith(self.prefix):
            return self.app(environ, start_response)
        refused: list[str] = []

        def watch(status: str, headers: Any, exc_info: Any = None) -> Any:
            if status[:1] == "4":
                refused.append(status[:3])
            return start_response(status, headers, exc_info)

        body_ = self.app(environ, watch)
        if refused:
            self.stats.engine_error(refused[0], _error_code(body_))
        return body_


def metrics_app(
    server: Server, app: WSGIApplication, metrics_path: str, socketio_path: str = "socket.io"
) -> MetricsApp:
    """``app`` with ``server``'s metrics served on ``metrics_path`` (instrumenting it)."""
    registry = instrument(server)
    assert server.metrics is not None
    return MetricsApp(app, registry, server.metrics, metrics_path, socketio_path)
