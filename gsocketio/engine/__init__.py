"""The Engine.IO server (protocol revisions 4 and 3) for gevent: between HTTP/WebSocket I/O
and the Socket.IO layer, knowing no namespaces and no wire format (the codecs are in
:mod:`gsocketio.protocol.engineio`). The contract with the Socket.IO layer is
:class:`EngineConnection` and :class:`EngineHandler` (docs/architecture.md)."""

from gsocketio.engine.connection import EngineConnection, EngineHandler
from gsocketio.engine.options import EngineOptions
from gsocketio.engine.server import EngineServer

__all__ = ["EngineConnection", "EngineHandler", "EngineOptions", "EngineServer"]
