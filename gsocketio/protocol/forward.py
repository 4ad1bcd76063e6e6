"""Forwarding between the processes of one deployment: sids that name their owner node, and
the framing of a forwarded request (an HTTP/1.1 request the owner's own front door parses)
and of its response (parsed here, bounded). Sans-I/O: bytes in, bytes out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gsocketio.exceptions import ForwardError

__all__ = [
    "FORWARDED_HEADER",
    "ForwardedResponse",
    "ResponseReader",
    "encode_request",
    "is_node_id",
    "owner_of",
    "sid_with_owner",
]

FORWARDED_HEADER = "X-GSocketIO-Forwarded"  # set on forwarded requests: never forwarded again
NODE_ID_LENGTH = 8
_NODE_ID = re.compile(r"[a-z0-9]{8}\Z")
_SEPARATOR = "."  # absent from token_urlsafe's alphabet, unreserved in URLs
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "proxy-connection"}
)
_DROPPED = _HOP_BY_HOP | {"content-length", "expect", FORWARDED_HEADER.lower()}
MAX_HEAD = 64 * 1024


def is_node_id(text: str) -> bool:
    """True for a well-formed node id (eight of ``[a-z0-9]``): safe in a path and a sid."""
    return _NODE_ID.match(text) is not None


def sid_with_owner(node: str, token: str) -> str:
    """The sid of a session owned by ``node``: ``<node>.<token>``."""
    return f"{node}{_SEPARATOR}{token}"


def owner_of(sid: str) -> str | None:
    """The owner node a sid names, or None (a sid of a process without a node id)."""
    node, sep, _ = sid.partition(_SEPARATOR)
    if not sep or not is_node_id(node):
        return None
    return node


def encode_request(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    upgrade: bool = False,
    keep_alive: bool = False,
) -> bytes:
    """One HTTP/1.1 request for the owner: the client's end-to-end headers, the forwarding
    mark, and either the body's length (``Connection: close`` unless ``keep_alive``: a pooled
    connection stays open, HTTP/1.1's default) or the upgrade's headers. ``Expect`` is dropped:
    the body is already whole, and an interim ``100 Continue`` would only delay the answer."""
    if not target.startswith("/") or any(c in target for c in "\r\n "):
        raise ForwardError(f"bad request target {target!r}")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        lower = name.lower()
        if lower in _DROPPED:
            continue
        if not upgrade and lower == "upgrade":
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ForwardError(f"bad header {name!r}")
        lines.append(f"{name}: {value}")
    lines.append(f"{FORWARDED_HEADER}: 1")
    if upgrade:
        lines.append("Connection: Upgrade")
    else:
        if not keep_alive:
            lines.append("Connection: close")
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class ForwardedResponse:
    """The owner's answer: status line after the version, headers, body."""

    status: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def code(self) -> int:
        return int(self.status.split(" ", 1)[0])


class ResponseReader:
    """Incremental parser of the owner's response (Content-Length, chunked, or read to the end
    of a ``Connection: close`` stream); at most ``max_body`` body bytes and ``MAX_HEAD`` head."""

    def __init__(self, max_body: int, *, head_only: bool = False) -> None:
        self.max_body = max_body
        self.head_only = head_only
        self._buf = bytearray()
        self.response: ForwardedResponse | None = None
        self._length: int | None = None
        self._chunked = False
        self._done = False
        self.rest = b""  # bytes after the head (an upgraded stream's first frames)
        self.received = 0  # bytes fed: none means the owner never started to answer
        self._close = False  # the owner said ``Connection: close``
        self._extra = False  # bytes past the end of the response

    @property
    def done(self) -> bool:
        return self._done

    @property
    def reusable(self) -> bool:
        """The connection can carry another request: the response ended at its declared end
        (Content-Length or the last chunk, nothing after it) and the owner did not close."""
        return (
            self._done
            and not self._close
            and not self._extra
            and (self._length is not None or self._chunked)
            and not self.head_only
            and self.response is not None
            and self.response.code != 101
        )

    def feed(self, data: bytes) -> bool:
        """Add received bytes; True once the response is complete."""
        if self._done:
            self._extra = self._extra or bool(data)
            return True
        self.received += len(data)
        self._buf += data
        if self.response is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    raise ForwardError("forwarded response head too large")
                return False
            # the parsed head as a local: mypy's narrowing of self.response to None would
            # hold across the call (and become a runtime TypeError once compiled by mypyc)
            response = self._parse_head(bytes(self._buf[:end]))
            del self._buf[: end + 4]
            if self.head_only or response.code == 101:
                self.rest = bytes(self._buf)
                self._done = True
                return True
        return self._advance()

    def eof(self) -> ForwardedResponse:
        """The stream ended: the complete response, or ForwardError if it was cut short."""
        if not self._done:
            if self.response is None or self._length is not None or self._chunked:
                raise ForwardError("forwarded response cut short")
            self.response.body = bytes(self._buf)
            self._done = True
        assert self.response is not None
        return self.response

    def result(self) -> ForwardedResponse:
        if not self._done or self.response is None:
            raise ForwardError("forwarded response incomplete")
        return self.response

    def _parse_head(self, head: bytes) -> ForwardedResponse:
        lines = head.decode("latin-1").split("\r\n")
        version, _, status = lines[0].partition(" ")
        if not version.startswith("HTTP/1.") or not status[:3].isdigit():
            raise ForwardError(f"bad forwarded status line {lines[0][:80]!r}")
        response = ForwardedResponse(status.strip())
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ForwardError("bad forwarded header line")
            name, value = name.strip(), value.strip()
            lower = name.lower()
            if lower == "content-length":
                if not value.isdigit():
                    raise ForwardError("bad forwarded Content-Length")
                self._length = int(value)
                if self._length > self.max_body:
                    raise ForwardError("forwarded response too large")
            elif lower == "transfer-encoding":
                self._chunked = value.lower() == "chunked"
            elif lower == "connection":
                self._close = "close" in value.lower()
            if lower in _HOP_BY_HOP or lower == "content-length":
                continue
            response.headers.append((name, value))
        self.response = response
        return response

    def _advance(self) -> bool:
        assert self.response is not None
        if self._chunked:
            return self._advance_chunked()
        if self._length is not None:
            if len(self._buf) >= self._length:
                self.response.body = bytes(self._buf[: self._length])
                self._extra = len(self._buf) > self._length
                self._done = True
        elif len(self._buf) > self.max_body:
            raise ForwardError("forwarded response too large")
        return self._done

    def _advance_chunked(self) -> bool:
        assert self.response is not None
        body = bytearray(self.response.body)
        while True:
            end = self._buf.find(b"\r\n")
            if end < 0:
                if len(self._buf) > 1024 + self.max_body:
                    raise ForwardError("bad forwarded chunk")
                break
            size_text = bytes(self._buf[:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ForwardError("bad forwarded chunk size") from None
            if size == 0:  # the last chunk; our front door sends no trailers
                last = self._buf.find(b"\r\n\r\n", end)
                self._done = last >= 0
                self._extra = self._done and len(self._buf) > last + 4
                break
            if len(body) + size > self.max_body:
                raise ForwardError("forwarded response too large")
            if len(self._buf) < end + 2 + size + 2:
                break
            body += self._buf[end + 2 : end + 2 + size]
            del self._buf[: end + 2 + size + 2]
        self.response.body = bytes(body)
        return self._done
