"""gevent-socketio's ``socketio.handler`` path: ``SocketIOHandler``, retired.

The seed's ``SocketIOHandler`` was the pywsgi request handler that routed Socket.IO requests to
its transports. gsocketio serves HTTP with its own server (:class:`gsocketio.http.WSGIServer`,
under :class:`gsocketio.server.SocketIOServer`) and routes Socket.IO in the WSGI app (seed
mode, :mod:`gsocketio.compat.managed`), so there is no per-request handler class: the name still
imports, and using it warns (see :mod:`gsocketio.compat.retired`).
"""

from __future__ import annotations

from gsocketio.compat.retired import Retired

__all__ = ["SocketIOHandler"]


class SocketIOHandler(Retired):
    """Deprecated: there is no request handler class to instantiate or subclass."""

    instead = (
        "gsocketio serves HTTP itself (gsocketio.http); configure it with SocketIOServer's "
        "keywords (log=, limits=, http_timeout=) instead of a handler class"
    )
