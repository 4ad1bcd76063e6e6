"""The Engine.IO server (protocol revisions 4 and 3) for gevent.

It sits between HTTP/WebSocket I/O and the Socket.IO layer and knows nothing about
namespaces. The contract with the Socket.IO layer (docs/architecture.md) is
:class:`EngineConnection` (``sid``, ``eio``, ``environ``, ``transport``, ``send``,
``send_many``, ``close``) and :class:`EngineHandler` (``engine_connect``, ``engine_message``,
``engine_disconnect``).

Modules: :mod:`~gsocketio.engine.server` (request checks, handshakes, routing),
:mod:`~gsocketio.engine.connection` (one session's reader/writer/timers),
:mod:`~gsocketio.engine.polling` (long-polling bodies), :mod:`~gsocketio.engine.http` (errors,
CORS, cookies, compression), :mod:`~gsocketio.engine.reaper` (the shared heartbeat timer).
"""

from gsocketio.engine.connection import EngineConnection, EngineHandler
from gsocketio.engine.server import EngineServer

__all__ = ["EngineConnection", "EngineHandler", "EngineServer"]
