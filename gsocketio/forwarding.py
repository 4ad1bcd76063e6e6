"""Forwarding a request for another node's session to its owner, over the owner's unix
socket: the answer (a long-poll included) goes back through the connection it arrived on,
and a WebSocket upgrade is piped byte for byte. A gone owner leaves the request to the
local endpoint, which answers "Session ID unknown" (HTTP 400, code 1)."""

from __future__ import annotations

import contextlib
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
    a request body and a response body."""

    def __init__(
        self,
        identity: LocalIdentity,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 2.0,
        max_body: int = 1_000_000,
    ) -> None:
        self.identity = identity
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_body = max_body
        self.forwarded = 0  # requests served by another node through this one (for tests)

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
        sock = self._connect(owner)
        if sock is None:
            return None
        self.forwarded += 1
        try:
            request = encode_request(
                str(environ.get("REQUEST_METHOD", "GET")), _target(environ), _headers(environ), body
            )
            response = self._exchange(sock, request)
        except (OSError, ForwardError, gevent.Timeout) as exc:
            log.warning("forwarding to %s failed: %s", owner, exc)
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"the session's owner did not answer\n"]
        finally:
            sock.close()
        start_response(response.status, response.headers)
        return [response.body]

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

    def _exchange(self, sock: Any, request: bytes) -> ForwardedResponse:
        reader = ResponseReader(self.max_body + _CHUNK)
        with gevent.Timeout(self.timeout):
            sock.settimeout(None)
            sock.sendall(request)
            while True:
                data = sock.recv(_CHUNK)
                if not data:
                    return reader.eof()
                if reader.feed(data):
                    return reader.result()

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
