"""gunicorn workers that serve Socket.IO: ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker
module:app``.

gunicorn's stock gevent workers cannot run seed mode, and ``-k gevent_pywsgi`` (plain pywsgi,
which answers after the application returns and does not hand the raw socket over) serves no
WebSocket; ``-k gevent`` serves a :class:`gsocketio.wsgi.WSGIApp` with WebSocket (see
:mod:`gsocketio.wsgi`). These workers keep gunicorn's process management, logging and settings
and swap in :class:`gsocketio.serve.SocketIOServer` (gsocketio's own HTTP server, not pywsgi):
a plain WSGI ``app`` runs in seed mode (gevent-socketio apps calling ``socketio_manage``), a
:class:`gsocketio.wsgi.WSGIApp` (e.g. ``sio.wsgi_app(...)``) is served as it is.

``-w N`` processes need sticky sessions for long-polling clients and a shared adapter for rooms
and broadcasts to span them (see docs/deployment.md).
"""

from __future__ import annotations

import datetime
import os
from typing import Any, ClassVar

import gevent
from gunicorn.workers.ggevent import GeventPyWSGIWorker

from gsocketio.compat.retired import Retired
from gsocketio.drain import shut_down
from gsocketio.handler import SocketIOHandler
from gsocketio.http.environ import split_target
from gsocketio.http.parser import RequestHead
from gsocketio.nodes import NODE_DIR_ENV, default_node_dir, start_node
from gsocketio.serve import SocketIOServer

__all__ = [
    "GeventSocketIOBaseWorker",
    "GeventSocketIOWorker",
    "GunicornSocketIOServer",
    "GunicornWSGIHandler",
    "GunicornWebSocketWSGIHandler",
    "NginxGeventSocketIOWorker",
    "NoPolicyGeventSocketIOWorker",
    "SocketIOHandler",  # the seed's sgunicorn re-exported both
    "SocketIOServer",
]


class _AccessResponse:
    """What gunicorn's access log reads of a response."""

    __slots__ = ("headers", "sent", "status")

    def __init__(self, status: int, sent: int) -> None:
        self.status = str(status)
        self.headers: list[tuple[str, str]] = []
        self.sent = sent


class GunicornSocketIOServer(SocketIOServer):
    """:class:`SocketIOServer` whose access lines go through gunicorn's access log.

    On a graceful stop gunicorn closes the listener, then waits up to ``--graceful-timeout``
    for the open requests to end; an open WebSocket never would, and the worker would be
    killed (its adapter's outbox lost, its ``worker_exit`` hook not run). So closing the
    listener also drains and closes the worker's Socket.IO servers (:func:`shut_down`)."""

    _shutting_down: ClassVar[gevent.Greenlet[..., Any] | None] = None

    def close(self) -> None:
        super().close()
        if GunicornSocketIOServer._shutting_down is None:  # once per worker, for every listener
            GunicornSocketIOServer._shutting_down = gevent.spawn(shut_down)

    def log_request(
        self, address: Any, head: RequestHead | None, status: int, length: int, duration: float
    ) -> None:
        log = self.log
        if head is None or not getattr(log, "access_log_enabled", False):
            return
        path, query = split_target(head.target)
        environ = {
            "REMOTE_ADDR": address[0] if isinstance(address, tuple) else str(address),
            "REQUEST_METHOD": head.method,
            "RAW_URI": head.target,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": head.protocol,
        }
        for name, value in head.headers:
            lname = name.lower()
            if lname in ("referer", "user-agent"):
                environ["HTTP_" + lname.upper().replace("-", "_")] = value
        log.access(
            _AccessResponse(status, length),
            head.headers,
            environ,
            datetime.timedelta(seconds=duration),
        )


class GunicornWSGIHandler(Retired):
    """Deprecated: the seed's pywsgi handler with gunicorn's access log; gsocketio's own HTTP
    server logs through gunicorn's access log by itself (:class:`GunicornSocketIOServer`)."""

    instead = "access lines go through gunicorn's access log by themselves (GunicornSocketIOServer)"


class GunicornWebSocketWSGIHandler(GunicornWSGIHandler):
    """Deprecated: the seed's handler for WebSocket requests (one server serves both)."""


class GeventSocketIOBaseWorker(GeventPyWSGIWorker):  # type: ignore[misc]  # gunicorn is untyped
    """The gevent worker with :class:`gsocketio.serve.SocketIOServer` (the seed's base class).

    Class attributes mirror the seed's worker: ``resource`` (URL segment), ``policy_server``
    (kept in the server's config; see :mod:`gsocketio.compat.runner`), ``transports`` (the
    seed's names, None for all).
    """

    resource: ClassVar[str] = "socket.io"
    policy_server: ClassVar[bool] = True
    transports: ClassVar[list[str] | None] = None

    def server_class(self, listener: Any, **kwargs: Any) -> SocketIOServer:
        """Called by gunicorn's ``run()`` like a server class, once per listening socket."""
        kwargs.pop("handler_class", None)  # a pywsgi handler: not used by gsocketio.http
        kwargs.setdefault("error_log", kwargs.get("log"))
        server = GunicornSocketIOServer(
            listener,
            resource=self.resource,
            transports=self.transports,
            policy_server=self.policy_server,
            **kwargs,
        )
        several = int(getattr(self.cfg, "workers", 1)) > 1
        if several:
            # As gunicorn does for its own gevent servers: one connection per wake-up, so the
            # worker that wakes first does not take a burst of them all (the others woke too).
            server.max_accept = 1
        if several or os.environ.get(NODE_DIR_ENV):
            # Several workers: each one's sessions are reachable from the others.
            start_node(server.application, default_node_dir(self.ppid))
        return server


class GeventSocketIOWorker(GeventSocketIOBaseWorker):
    """The default worker: ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker``."""


class NginxGeventSocketIOWorker(GeventSocketIOWorker):
    """For proxies that do not pass WebSocket upgrades: long-polling only."""

    transports: ClassVar[list[str] | None] = ["xhr-polling"]


class NoPolicyGeventSocketIOWorker(GeventSocketIOWorker):
    """Without the Flash policy server."""

    policy_server: ClassVar[bool] = False
