"""Forwarding a request for another node's session to its owner, over the owner's unix
socket (or registered TCP address): the answer (a long-poll included) goes back through the
connection it arrived on, over a small pool of keep-alive connections per owner, and a
WebSocket upgrade is piped byte for byte over a connection of its own. A gone owner leaves
the request to the local endpoint, which answers "Session ID unknown" (HTTP 400, code 1)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import gevent
from gevent import socket as gsocket

from gsocketio._logging import get_logger
from gsocketio.exceptions import ForwardError
from gsocketio.node_id import LocalIdentity
from gsocketio.protocol.forward import (
    FORWARDED_HEADER,
    ForwardedResponse,
    ResponseReader,
    encode_request,
)
from gsocketio.websocket.connection import RFILE_KEY, SOCKET_KEY, TAKEN_KEY

__all__ = ["Forwarder", "is_forwarded"]

log = get_logger("gsocketio.forwarding")

StartResponse = Any
_FORWARDED_ENVIRON = "HTTP_" + FORWARDED_HEADER.upper().replace("-", "_")
_CHUNK = 64 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})  # safe to send again on a fresh connection


def is_forwarded(environ: dict[str, Any]) -> bool:
    """A request another node forwarded here: served locally, never forwarded again."""
    return _FORWARDED_ENVIRON in environ


def _target(environ: dict[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith("/"):
        return raw
    path = quote(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")))
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), str(value)))
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", str(environ["CONTENT_TYPE"])))
    remote = environ.get("REMOTE_ADDR")
    if remote and "HTTP_X_FORWARDED_FOR" not in environ:
        headers.append(("X-Forwarded-For", str(remote)))
    return headers


class Forwarder:
    """Forwards to the nodes of ``identity.directory``. ``timeout`` bounds a whole forwarded
    exchange (it must outlast a long-poll: ``ping_interval`` plus a margin), ``max_body``
    a request body and a response body.

    Connections to an owner are kept alive and reused: at most ``max_idle`` idle ones per
    owner (a busy owner may have more in use: one per request in flight, a long-poll each),
    each dropped once idle for ``idle_timeout`` (below the owner's own 60 s keep-alive
    deadline, so the owner rarely closes one under a request) or found closed when taken."""

    def __init__(
        self,
        identity: LocalIdentity,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 2.0,
        max_body: int = 1_000_000,
        max_idle: int = 32,
        idle_timeout: float = 20.0,
    ) -> None:
        self.identity = identity
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_body = max_body
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.forwarded = 0  # requests served by another node through this one (for tests)
        self.connects = 0  # connections opened to owners (the rest reused a pooled one)
        self.retried = 0  # requests sent again after a reused connection failed unanswered
        self._idle: dict[str, list[tuple[float, Any]]] = {}

    def idle(self, owner: str) -> int:
        """How many idle connections to ``owner`` the pool holds."""
        return len(self._idle.get(owner, ()))

    def close(self) -> None:
        """Close every idle connection (connections in use close when their request ends)."""
        pools, self._idle = self._idle, {}
        for pool in pools.values():
            for _, sock in pool:
                sock.close()

    def _acquire(self, owner: str) -> tuple[Any | None, bool]:
        """A live idle connection to ``owner`` (True: reused), else a new one (None: gone)."""
        pool = self._idle.get(owner)
        now = time.monotonic()
        while pool:
            since, sock = pool.pop()  # the most recent: the others age out
            if now - since < self.idle_timeout and _alive(sock):
                return sock, True
            sock.close()
        self._idle.pop(owner, None)
        sock = self._connect(owner)
        if sock is not None:
            self.connects += 1
        return sock, False

    def _release(self, owner: str, sock: Any) -> None:
        pool = self._idle.setdefault(owner, [])
        if len(pool) >= self.max_idle:
            sock.close()
        else:
            pool.append((time.monotonic(), sock))

    def _drop(self, owner: str) -> None:
        """The owner is gone: close what the pool still holds of it."""
        for _, sock in self._idle.pop(owner, ()):
            sock.close()

    def _connect(self, owner: str) -> Any | None:
        """A connection to ``owner``, or None when it is gone (no socket, nobody listening,
        not registered): on this host through its unix socket, else at its registered address."""
        path = self.identity.socket_path(owner)
        target: Any = str(path)
        family = gsocket.AF_UNIX
        if not path.exists() and self.identity.registry is not None:
            target = self.identity.registry.lookup(owner)
            if target is None:
                log.info("owner %s is not registered: the session is unknown", owner)
                return None
            family = gsocket.AF_INET6 if ":" in target[0] else gsocket.AF_INET
        sock = gsocket.socket(family, gsocket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            log.info("owner %s unreachable (%s): the session is unknown", owner, exc)
            return None
        if family != gsocket.AF_UNIX:
            sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
        return sock

    def forward(
        self, owner: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """Serve the request through ``owner``; None when the owner is gone."""
        if environ.get(SOCKET_KEY) is not None and _is_upgrade(environ):
            return self._pipe(owner, environ, start_response)
        try:
            body = self._read_body(environ)
        except ForwardError as exc:
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [str(exc).encode() + b"\n"]
        method = str(environ.get("REQUEST_METHOD", "GET"))
        try:
            request = encode_request(
                method, _target(environ), _headers(environ), body, keep_alive=True
            )
        except ForwardError as exc:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [str(exc).encode() + b"\n"]
        self.forwarded += 1
        response = None
        for attempt in range(2):
            sock, reused = self._acquire(owner)
            if sock is None:  # gone: the local endpoint answers "Session ID unknown"
                self._drop(owner)
                return None
            response, unanswered = self._exchange(owner, sock, request)
            if response is not None or not unanswered:
                break
            if reused and attempt == 0 and method in _IDEMPOTENT:
                self.retried += 1  # closed under us, unanswered: once more, on a new one
                self._drop(owner)
                continue
            if not self._reachable(owner):  # died under the request: its sid is gone
                return None
            break
        if response is None:
            log.warning("forwarding to %s failed", owner)
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"the session's owner did not answer\n"]
        start_response(response.status, response.headers)
        return [response.body]

    def _reachable(self, owner: str) -> bool:
        """Whether ``owner`` still accepts connections (the probe joins its pool)."""
        sock = self._connect(owner)
        if sock is None:
            self._drop(owner)
            return False
        self.connects += 1
        self._release(owner, sock)
        return True

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        stream = environ.get("wsgi.input")
        if stream is None or environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
            return b""
        data = bytearray()
        while True:
            chunk = stream.read(min(_CHUNK, self.max_body + 1 - len(data)))
            if not chunk:
                return bytes(data)
            data += chunk
            if len(data) > self.max_body:
                raise ForwardError("request body above max_http_buffer_size")

    def _exchange(
        self, owner: str, sock: Any, request: bytes
    ) -> tuple[ForwardedResponse | None, bool]:
        """Send ``request`` on ``sock`` and read the answer, bounded by ``timeout``: the
        response (``sock`` back to the pool when it left it reusable, else closed), or None
        and whether the connection failed before any byte of an answer (never on a timeout:
        a long-poll that outlasts the bound is not sent again)."""
        reader = ResponseReader(self.max_body + _CHUNK)
        response: ForwardedResponse | None = None
        deadline = gevent.Timeout(self.timeout)
        try:
            with deadline:
                sock.settimeout(None)
                sock.sendall(request)
                while response is None:
                    data = sock.recv(_CHUNK)
                    if not data:
                        response = reader.eof()
                    elif reader.feed(data):
                        response = reader.result()
        except gevent.Timeout as exc:
            sock.close()
            if exc is not deadline:  # a caller's deadline: not ours to answer
                raise
            log.info("forwarded exchange with %s timed out", owner)
            return None, False
        except (OSError, ForwardError) as exc:
            log.info("forwarded exchange with %s failed: %r", owner, exc)
            sock.close()
            return None, reader.received == 0
        if reader.reusable:
            self._release(owner, sock)
        else:
            sock.close()
        return response, False

    def _pipe(
        self, owner: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """Hand the client's socket to the owner: send the upgrade, then copy both ways."""
        upstream = self._connect(owner)
        if upstream is None:
            return None
        self.forwarded += 1
        client = environ[SOCKET_KEY]
        early = b""
        rfile = environ.get(RFILE_KEY)
        if rfile is not None and hasattr(rfile, "read1"):
            early = rfile.read1(-1)
        try:
            request = encode_request(
                str(environ.get("REQUEST_METHOD", "GET")),
                _target(environ),
                _headers(environ),
                b"",
                upgrade=True,
            )
            upstream.settimeout(None)
            upstream.sendall(request + early)
        except (OSError, ForwardError) as exc:
            upstream.close()
            log.warning("forwarding an upgrade to %s failed: %s", owner, exc)
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"the session's owner did not answer\n"]
        environ[TAKEN_KEY] = True
        client.settimeout(None)
        copies = [gevent.spawn(_copy, client, upstream), gevent.spawn(_copy, upstream, client)]
        gevent.joinall(copies, count=1)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(gsocket.SHUT_RDWR)
        gevent.joinall(copies, timeout=5)
        gevent.killall(copies, block=False)
        upstream.close()
        return []


def _is_upgrade(environ: dict[str, Any]) -> bool:
    return str(environ.get("HTTP_UPGRADE", "")).lower() == "websocket"


def _alive(sock: Any) -> bool:
    """An idle pooled connection is still open: nothing to read yet (the owner closing it
    shows as end of stream, an unexpected byte as data: either way it is not reused)."""
    sock.settimeout(0.0)
    try:
        sock.recv(1, gsocket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _copy(source: Any, sink: Any) -> None:
    """Copy until either side ends; ends by returning, never raises."""
    try:
        while True:
            data = source.recv(_CHUNK)
            if not data:
                return
            sink.sendall(data)
    except OSError:
        return
