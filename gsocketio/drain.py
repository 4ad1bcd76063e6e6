"""Draining a server for a rolling restart: stop accepting, persist every session, close the
transports in staggered batches so clients reconnect to the other nodes at a bounded rate.

With connection state recovery on, each closed socket is persisted (reason ``server shutting
down``, one Node also persists for), so its client recovers on whichever node it reaches next.
docs/recovery.md.
"""

from __future__ import annotations

import signal
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent

from gsocketio.protocol.reasons import DisconnectReason

if TYPE_CHECKING:
    from gsocketio.socketio_server import Server

__all__ = ["drain", "drain_on_sigterm", "shut_down", "track"]

_LIVE: weakref.WeakSet[Server] = weakref.WeakSet()  # every Server of this process


def track(server: Server) -> None:
    """Remember ``server`` (weakly) for :func:`shut_down`; ``Server.__init__`` calls it."""
    _LIVE.add(server)


def shut_down(batch_size: int = 50, interval: float = 0.2) -> int:
    """Drain, then close, every Server of this process: what a stopping worker process does
    (gunicorn's, :mod:`gsocketio.sgunicorn`), so that its WebSocket clients do not hold it
    until it is killed. They reconnect elsewhere (and recover there, with recovery on), and
    each adapter flushes what it queued and leaves the cluster. Returns the clients closed."""
    closed = 0
    for server in list(_LIVE):
        closed += drain(server, batch_size, interval)
        server.close()
    return closed


def drain(server: Server, batch_size: int = 50, interval: float = 0.2) -> int:
    """Close every client of ``server``, ``batch_size`` per ``interval`` seconds (so at most
    ``batch_size / interval`` reconnects per second leave this node); returns how many."""
    if batch_size < 1 or interval < 0:
        raise ValueError("batch_size must be >= 1 and interval >= 0")
    server.draining = True
    clients = list(server._clients.values())
    for start in range(0, len(clients), batch_size):
        if start:
            gevent.sleep(interval)
        for client in clients[start : start + batch_size]:
            server.close_client(client, DisconnectReason.SERVER_SHUTTING_DOWN)
    return len(clients)


def drain_on_sigterm(
    server: Server, then: Callable[[], object], batch_size: int = 50, interval: float = 0.2
) -> Any:
    """On SIGTERM, drain ``server`` in a greenlet, then call ``then`` (e.g. stop serving).
    Returns gevent's signal handle (``.cancel()`` restores the previous handler)."""

    def run() -> None:
        drain(server, batch_size, interval)
        then()

    return gevent.signal_handler(signal.SIGTERM, lambda: gevent.spawn(run))
