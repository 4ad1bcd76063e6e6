"""Shared test doubles for the engine and WebSocket layers (no sockets).

:class:`EchoHandler` is the engine handler of the real-socket tests (echo; ``close-me`` closes;
``push:N`` sends N at once). :class:`FakeWebSocket` stands in for
:class:`gsocketio.websocket.WebSocket` (scripted input, recorded output, a switch that makes
non-blocking writes fail); :class:`FakeEngine` for the ``EngineServer`` a connection needs
(handler, options, a recording reaper, ``forget``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import gevent
from gevent.event import Event

from gsocketio.engine.connection import EngineConnection
from gsocketio.engine.options import EngineOptions
from gsocketio.engine.reaper import Tickable
from gsocketio.exceptions import WebSocketClosedError, WebSocketError
from gsocketio.protocol.engineio_session import Session, SessionConfig
from gsocketio.websocket.framing import FrameCache
from gsocketio.websocket.parking import WouldBlock

TIMEOUT = 5.0


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll a condition; bounded in time and in iterations."""
    with gevent.Timeout(timeout, AssertionError(f"timed out waiting for {what}")):
        for _ in range(100_000):
            if predicate():
                return
            gevent.sleep(0.005)
    raise AssertionError(f"gave up waiting for {what}")


class EchoHandler:
    """Echoes every message; ``close-me`` closes, ``push:N`` sends N at once."""

    def __init__(self) -> None:
        self.connects: list[EngineConnection] = []
        self.messages: list[tuple[str, str | bytes]] = []
        self.disconnects: dict[str, str] = {}
        self.disconnected = Event()

    def engine_connect(self, conn: EngineConnection) -> None:
        self.connects.append(conn)

    def engine_message(self, conn: EngineConnection, data: str | bytes) -> None:
        self.messages.append((conn.sid, data))
        if data == "close-me":
            conn.close()
        elif isinstance(data, str) and data.startswith("push:"):
            conn.send_many([f"n{i}" for i in range(int(data[5:]))])
        else:
            conn.send(data)

    def engine_disconnect(self, conn: EngineConnection, reason: str) -> None:
        assert conn.sid not in self.disconnects, "engine_disconnect called twice"
        self.disconnects[conn.sid] = reason
        self.disconnected.set()

    def reason(self, sid: str) -> str:
        """Wait (bounded) for the disconnect of ``sid``."""
        wait_until(lambda: sid in self.disconnects, f"disconnect of {sid}")
        return self.disconnects[sid]


class FakeReaper:
    """Records what a connection schedules; nothing runs by itself (call ``tick``)."""

    def __init__(self) -> None:
        self.scheduled: dict[int, float] = {}

    def schedule(self, deadline: float, item: Tickable) -> None:
        self.scheduled[id(item)] = deadline
        item.timer_at = deadline

    def cancel(self, item: Tickable) -> None:
        self.scheduled.pop(id(item), None)
        item.timer_at = math.inf


class FakeEngine:
    """What an :class:`EngineConnection` needs of its server."""

    def __init__(self, handler: Any = None, **settings: Any) -> None:
        self.handler = handler if handler is not None else EchoHandler()
        self.options = EngineOptions(**settings)
        self.reaper = FakeReaper()
        self.forgotten: list[str] = []

    def forget(self, conn: EngineConnection) -> None:
        self.forgotten.append(conn.sid)

    def connection(
        self, eio: int = 4, transport: str = "polling", b64: bool = False
    ) -> EngineConnection:
        """A new connection on a fresh session (``now`` = 0), its OPEN packet still queued."""
        o = self.options
        config = SessionConfig(ping_interval=o.ping_interval, ping_timeout=o.ping_timeout,
                               max_payload=o.max_http_buffer_size,
                               max_buffered_packets=o.max_buffered_packets,
                               max_buffered_bytes=o.max_buffered_bytes)  # fmt: skip
        session = Session("sid-1", eio=eio, transport=transport, now=0.0, config=config)
        environ = {"REQUEST_METHOD": "GET", "QUERY_STRING": f"EIO={eio}"}
        return EngineConnection(self, session, environ, b64)


class FakeWebSocket:
    """A :class:`gsocketio.websocket.WebSocket` without a socket.

    ``incoming`` is what ``receive`` returns, in order (then None: closed by the peer);
    ``sent`` records every message written; with ``full`` set, ``send_nowait`` keeps messages
    in a backlog until ``flush``; ``fail`` makes every write raise :class:`WebSocketError`.
    """

    close_timeout = 1.0
    linger = 0.0
    can_park = False  # no socket to watch: the engine reads with receive(), never parks

    def __init__(self, incoming: Iterable[str | bytes] = (), *, compressed: bool = False) -> None:
        self.incoming: deque[str | bytes | None] = deque(incoming)
        self.sent: list[str | bytes] = []
        self.pending: list[str | bytes] = []
        self.caches: list[FrameCache | None] = []
        self.compressed = compressed
        self.full = False
        self.fail = False
        self.closed = False
        self.aborted = False
        self.close_code: int | None = None
        self.arrived = Event()  # set when something is sent

    @property
    def backlog(self) -> bool:
        return bool(self.pending)

    def receive(self) -> str | bytes | None:
        """The next scripted message; waits (yields once) first, as a read on a socket does."""
        gevent.sleep(0)
        if self.closed or not self.incoming:
            self.closed = True
            if self.close_code is None:
                self.close_code = 1005
            return None
        return self.incoming.popleft()

    def send_nowait(self, messages: Iterable[str | bytes], cache: FrameCache | None = None) -> bool:
        if self.closed:
            raise WebSocketClosedError("closed")
        if self.fail:
            self.aborted = self.closed = True
            raise WebSocketError("send failed")
        self.caches.append(cache)
        self.pending.extend(messages)
        if self.full:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        if self.fail:
            self.aborted = self.closed = True
            raise WebSocketError("send failed")
        self.sent.extend(self.pending)
        self.pending.clear()
        self.arrived.set()

    def send(self, message: str | bytes) -> None:
        if not self.send_nowait((message,)):
            self.flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self.close_code = code

    def abort(self) -> None:
        self.aborted = self.closed = True
        self.pending.clear()
        if self.close_code is None:
            self.close_code = 1006

    def finish(self) -> None:
        self.close()

    def release(self) -> None:
        self.closed = True

    def receive_nowait(self) -> str | bytes | WouldBlock | None:
        raise NotImplementedError("can_park is False: the engine only calls receive()")

    def when_readable(self, callback: Callable[[], object]) -> None:
        raise NotImplementedError("can_park is False: the engine never parks a fake")


class Response:
    """What a WSGI app answered (see :func:`call_wsgi`)."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = int(status.split(" ", 1)[0])
        self.headers = dict(headers)
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()


def call_wsgi(
    app: Callable[..., Iterable[bytes]],
    method: str = "GET",
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Response:
    """Call a WSGI app with a minimal environ (no socket): ``headers`` as ``HTTP_*`` keys."""
    import io

    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "PATH_INFO": "/socket.io/",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)) if body else "",
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE",) else "HTTP_" + key] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        started.append((status, response_headers))

    chunks = b"".join(app(environ, start_response))
    status, response_headers = started[0]
    return Response(status, response_headers, chunks)
