"""gevent-socketio's ``socketio.virtsocket`` path: ``Socket`` and ``default_error_handler``.

The implementation is :mod:`gsocketio.compat.virtsocket` (``Socket`` is its
:class:`~gsocketio.compat.virtsocket.VirtualSocket`); this module keeps the seed's import path,
so custom error handlers that wrap ``default_error_handler`` and tests that build
``Socket(server, {})`` port by renaming the package.
"""

from gsocketio import packet
from gsocketio.compat.virtsocket import (
    Socket,
    VirtualSocket,
    default_error_handler,
    default_json_dumps,
    default_json_loads,
)

__all__ = [
    "Socket",
    "VirtualSocket",
    "default_error_handler",
    "default_json_dumps",
    "default_json_loads",
    "packet",
]
