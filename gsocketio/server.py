"""``gsocketio.server``: where applications import the Socket.IO server from.

The modern :class:`Server` lives in :mod:`gsocketio.socketio_server`; ``SocketIOServer``,
``serve`` and ``serve_paste`` (gevent-socketio's ``socketio.server`` names, with ``Socket``,
``SocketIOHandler`` and ``FlashPolicyServer`` that its module imported) come from the
compatibility layer. This module only re-exports, so nothing inside the package imports it:
that keeps the seed's import path without an import cycle.
"""

from gsocketio.compat.runner import SocketIOServer, serve, serve_paste
from gsocketio.handler import SocketIOHandler
from gsocketio.policyserver import FlashPolicyServer
from gsocketio.socketio_server import Rooms, Server
from gsocketio.virtsocket import Socket

__all__ = [
    "FlashPolicyServer",
    "Rooms",
    "Server",
    "Socket",
    "SocketIOHandler",
    "SocketIOServer",
    "serve",
    "serve_paste",
]
