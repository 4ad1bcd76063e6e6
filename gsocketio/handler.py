"""gevent-socketio's ``socketio.handler`` path: ``SocketIOHandler``.

The handler is :class:`gsocketio.serve.SocketIOHandler`, the pywsgi handler that
:class:`~gsocketio.serve.SocketIOServer` uses by default. It no longer routes Socket.IO itself
(the seed's ``handler_types``, ``transports`` and ``config`` constructor argument are gone):
routing is the WSGI app's (seed mode, :mod:`gsocketio.compat.managed`), so a subclass is only
needed for pywsgi-level changes, as with gunicorn's
:class:`gsocketio.sgunicorn.GunicornWSGIHandler`.
"""

from gsocketio.serve import SocketIOHandler

__all__ = ["SocketIOHandler"]
