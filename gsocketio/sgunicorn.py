"""gunicorn workers that serve Socket.IO: ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker
module:app``.

gunicorn's stock gevent workers cannot run seed mode, and ``-k gevent_pywsgi`` (plain pywsgi,
which answers after the application returns and does not hand the raw socket over) serves no
WebSocket; ``-k gevent`` serves a :class:`gsocketio.wsgi.WSGIApp` with WebSocket (see
:mod:`gsocketio.wsgi`). These workers keep gunicorn's process management, logging and settings
and swap in :class:`gsocketio.serve.SocketIOServer`: a plain WSGI ``app`` runs in seed mode
(gevent-socketio apps calling ``socketio_manage``), a :class:`gsocketio.wsgi.WSGIApp` (e.g.
``sio.wsgi_app(...)``) is served as it is.

``-w N`` processes need sticky sessions for long-polling clients and a shared adapter for rooms
and broadcasts to span them (see docs/deployment.md).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from gsocketio.serve import SocketIOHandler, SocketIOServer

__all__ = [
    "GeventSocketIOBaseWorker",
    "GeventSocketIOWorker",
    "GunicornWSGIHandler",
    "GunicornWebSocketWSGIHandler",
    "NginxGeventSocketIOWorker",
    "NoPolicyGeventSocketIOWorker",
]


class GunicornWSGIHandler(PyWSGIHandler, SocketIOHandler):  # type: ignore[misc]
    """gunicorn's access logging and environ keys, with our WebSocket hand-over."""


class GunicornWebSocketWSGIHandler(GunicornWSGIHandler):
    """Deprecated: the seed's handler for WebSocket requests. :class:`GunicornWSGIHandler`
    serves WebSocket requests too; instantiating or subclassing this warns."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _deprecated_ws_handler()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _deprecated_ws_handler()
        super().__init__(*args, **kwargs)


def _deprecated_ws_handler() -> None:
    warnings.warn(
        "GunicornWebSocketWSGIHandler is gone: GunicornWSGIHandler serves WebSocket requests too",
        DeprecationWarning,
        stacklevel=3,
    )


class GeventSocketIOBaseWorker(GeventPyWSGIWorker):  # type: ignore[misc]  # gunicorn is untyped
    """The gevent worker with :class:`gsocketio.serve.SocketIOServer` (the seed's base class).

    Class attributes mirror the seed's worker: ``resource`` (URL segment), ``policy_server``
    (kept in the server's config; see :mod:`gsocketio.serve`), ``transports`` (the seed's names,
    None for all).
    """

    wsgi_handler = GunicornWSGIHandler
    resource: ClassVar[str] = "socket.io"
    policy_server: ClassVar[bool] = True
    transports: ClassVar[list[str] | None] = None

    def server_class(self, listener: Any, **kwargs: Any) -> SocketIOServer:
        """Called by gunicorn's ``run()`` like a server class, once per listening socket."""
        return SocketIOServer(
            listener,
            resource=self.resource,
            transports=self.transports,
            policy_server=self.policy_server,
            **kwargs,
        )


class GeventSocketIOWorker(GeventSocketIOBaseWorker):
    """The default worker: ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker``."""


class NginxGeventSocketIOWorker(GeventSocketIOWorker):
    """For proxies that do not pass WebSocket upgrades: long-polling only."""

    transports: ClassVar[list[str] | None] = ["xhr-polling"]


class NoPolicyGeventSocketIOWorker(GeventSocketIOWorker):
    """Without the Flash policy server."""

    policy_server: ClassVar[bool] = False
