"""The HTTP/1.1 front door: a strict, bounded WSGI server made for Socket.IO's traffic.

Layers, bottom up: :mod:`~gsocketio.http.limits` (every bound and deadline),
:mod:`~gsocketio.http.parser` (request heads, by llhttp) and :mod:`~gsocketio.http.chunked`
(chunked bodies), both sans-I/O; :mod:`~gsocketio.http.body` (``wsgi.input``),
:mod:`~gsocketio.http.environ` (PEP 3333), :mod:`~gsocketio.http.response`,
:mod:`~gsocketio.http.connection` (one client's request loop) and
:mod:`~gsocketio.http.server` (``WSGIServer`` over gevent's ``StreamServer``).
"""

from gsocketio.http.limits import DEFAULT_HTTP_LIMITS, HTTPLimits
from gsocketio.http.server import DEFAULT_BACKLOG, WSGIServer, set_nodelay

__all__ = ["DEFAULT_BACKLOG", "DEFAULT_HTTP_LIMITS", "HTTPLimits", "WSGIServer", "set_nodelay"]
