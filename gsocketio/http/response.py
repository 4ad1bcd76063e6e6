"""One response: PEP 3333 ``start_response``/``write``, framing, and the bytes on the wire.

The head and the body go out in one ``send`` whenever the body is known at once (a list or
tuple from the application: every Engine.IO response), with a ``Content-Length`` computed when
the application gave none. A streamed body is framed with ``Content-Length`` if the application
set it, else chunked (HTTP/1.1) or ended by closing the connection (HTTP/1.0). ``Connection:
close`` is sent whenever the server will close afterwards, so a client reusing keep-alive
sockets (Node 19+'s default agent) never writes into a socket about to close; a kept-alive
response carries ``Keep-Alive: timeout=N`` (the idle deadline), which Node's agent honours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any, Protocol

__all__ = ["Response", "ResponseSink", "keepalive_hint", "simple_response"]

_REASONS = {
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    417: "Expectation Failed",
    500: "Internal Server Error",
    505: "HTTP Version Not Supported",
}

_date_cache: list[Any] = [0, b""]
_CODES: dict[str, int] = {}  # the code of each status start_trusted was given


def _date_header() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = f"Date: {formatdate(now, usegmt=True)}\r\n".encode("latin-1")
    value: bytes = _date_cache[1]
    return value


def keepalive_hint(idle_timeout: float | None) -> bytes:
    """The ``Keep-Alive`` header announcing how long an idle connection is kept."""
    if idle_timeout is None or idle_timeout < 1:
        return b""
    return f"Keep-Alive: timeout={int(idle_timeout)}\r\n".encode()


def simple_response(status: int, *, close: bool = True, body: bytes | None = None) -> bytes:
    """A complete plain-text response for the server's own answers (400, 408, 500...)."""
    reason = _REASONS.get(status, "Error")
    text = body if body is not None else reason.encode() + b"\n"
    connection = b"Connection: close\r\n" if close else b""
    return (
        f"HTTP/1.1 {status} {reason}\r\n".encode()
        + _date_header()
        + connection
        + b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: "
        + str(len(text)).encode()
        + b"\r\n\r\n"
        + text
    )


class ResponseSink(Protocol):
    """Where a response's bytes go (the connection)."""

    def send(self, data: bytes) -> None: ...


class Response:
    """The response to one request; :attr:`close` says whether the connection ends after it."""

    __slots__ = (
        "_headers",
        "_keepalive_hint",
        "_sink",
        "_status",
        "_trusted",
        "body_less",
        "chunked",
        "close",
        "code",
        "headers_sent",
        "length",
        "sent",
        "version",
    )

    def __init__(
        self,
        sink: ResponseSink,
        version: str,
        method: str,
        close: bool,
        keepalive_hint: bytes = b"",
    ) -> None:
        self._sink = sink
        self.version = version
        self.close = close
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._keepalive_hint = keepalive_hint  # the server's "Keep-Alive: timeout=N\r\n"
        self._trusted = False  # started by start_trusted
        self.headers_sent = False
        self.body_less = method == "HEAD"
        self.chunked = False
        self.code = 0
        self.length: int | None = None  # the Content-Length the application set
        self.sent = 0  # body bytes sent

    @property
    def started(self) -> bool:
        return self._status is not None

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise AssertionError("start_response() was already called")
        if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit():
            raise ValueError(f"invalid status {status!r}")
        for name, value in headers:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"header {name!r}: names and values must be str")
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
                raise ValueError(f"header {name!r}: CR/LF or ':' would split the response")
        self._status = status
        self._headers = headers
        self.code = int(status[:3])
        return self.write

    def start_trusted(self, status: str, headers: list[tuple[str, str]]) -> Callable[[bytes], None]:
        """:meth:`start_response` without its checks, for an application of this package that
        builds only valid statuses and headers from validated input (the direct route: the
        engine's answers to a session's polling requests, whose only client-chosen header
        value is the ``Origin`` llhttp already refused CR/LF in). Such an answer also sets its
        ``Content-Length`` from the body it returns, and neither ``Date`` nor
        ``Transfer-Encoding``: a one-item list result is framed by :meth:`_trusted_head`."""
        if self._status is not None:
            raise AssertionError("start_response() was already called")
        self._trusted = True
        self._status = status
        self._headers = headers
        code = _CODES.get(status)
        if code is None:
            code = _CODES[status] = int(status[:3])  # this package's few statuses
        self.code = code
        return self.write

    # --- sending ---------------------------------------------------------------------------------

    def _head(self, total: int | None) -> bytes:
        """The status line and headers; ``total`` is the whole body's length when known."""
        if self._status is None:
            raise AssertionError("the application did not call start_response()")
        code = self.code
        no_body = self.body_less or code in (204, 304) or 100 <= code < 200
        lines = [f"HTTP/1.1 {self._status}\r\n"]  # our version, whatever the client speaks
        has_length = has_connection = has_date = has_coding = False
        for name, value in self._headers:
            lines.append(f"{name}: {value}\r\n")
            if len(name) in _FRAMING_LENGTHS:
                lname = name.lower()
                if lname == "content-length":
                    has_length = True
                    try:
                        self.length = int(value)
                    except ValueError:
                        raise ValueError(f"invalid Content-Length {value!r}") from None
                elif lname == "connection":
                    has_connection = True
                    if "close" in value.lower():
                        self.close = True
                elif lname == "date":
                    has_date = True
                elif lname == "transfer-encoding":
                    has_coding = True
        if not has_length and not has_coding and code not in (204, 304) and code >= 200:
            if total is not None:
                lines.append(f"Content-Length: {total}\r\n")
                self.length = total
            elif no_body:
                pass
            elif self.version == "1.1":
                lines.append("Transfer-Encoding: chunked\r\n")
                self.chunked = True
            else:
                self.close = True  # HTTP/1.0 without a length: the close ends the body
        head = "".join(lines).encode("latin-1")
        if not has_date:
            head += _date_header()
        if not has_connection:
            if self.close:
                head += b"Connection: close\r\n"
            else:
                head += b"Connection: keep-alive\r\n" + self._keepalive_hint
        self.headers_sent = True
        return head + b"\r\n"

    def write(self, data: bytes) -> None:
        """PEP 3333's ``write()``, also used for each item of a streamed result."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"the application sent {type(data).__name__}, not bytes")
        prefix = b"" if self.headers_sent else self._head(None)
        if self.body_less or not data:
            if prefix:
                self._sink.send(prefix)
            return
        self.sent += len(data)
        if self.chunked:
            self._sink.send(prefix + f"{len(data):x}\r\n".encode() + bytes(data) + b"\r\n")
        else:
            self._sink.send(prefix + bytes(data))

    def _trusted_head(self) -> bytes | None:
        """:meth:`_head` for an answer of :meth:`start_trusted` (its ``Content-Length`` is the
        body's, no header to check or look for but ``Connection``); None when it has a
        ``Connection`` header (the general :meth:`_head` decides then).
        ``tests/engine/test_direct_path.py`` pins it to the general path, byte for byte."""
        text = "".join(
            ["HTTP/1.1 ", self._status or "", "\r\n"]
            + [name + ": " + value + "\r\n" for name, value in self._headers]
        )
        if "\r\nConnection:" in text:
            return None
        self.headers_sent = True
        if self.close:
            return text.encode("latin-1") + _date_header() + b"Connection: close\r\n\r\n"
        return (
            text.encode("latin-1")
            + _date_header()
            + b"Connection: keep-alive\r\n"
            + self._keepalive_hint
            + b"\r\n"
        )

    def send_result(self, result: Iterable[bytes]) -> None:
        """Send what the application returned (a list/tuple: with the head, in one send)."""
        if self._trusted and type(result) is list and len(result) == 1 and not self.headers_sent:
            body = result[0]
            if type(body) is bytes and not self.body_less and self.code not in (204, 304):
                head = self._trusted_head()
                if head is not None:
                    self.length = self.sent = len(body)
                    self._sink.send(head + body)
                    return
        if not self.headers_sent and isinstance(result, list | tuple):
            for item in result:
                if not isinstance(item, bytes):
                    raise TypeError(f"the application sent {type(item).__name__}, not bytes")
            body = result[0] if len(result) == 1 else b"".join(result)
            head = self._head(len(body))
            if self.body_less or self.code in (204, 304):
                self._sink.send(head)
                return
            self.sent = len(body)
            if self.length != self.sent:
                self.close = True  # the application's Content-Length is wrong: framing is lost
                body = body[: self.length]
            self._sink.send(head + body)
            return
        for data in result:
            self.write(data)
        if not self.headers_sent:
            self._sink.send(self._head(0))
        elif self.chunked:
            self._sink.send(b"0\r\n\r\n")
        if self.length is not None and self.sent != self.length and not self.body_less:
            self.close = True  # the body did not match its Content-Length: framing is lost


# len() of "content-length", "connection", "date", "transfer-encoding"
_FRAMING_LENGTHS = frozenset({14, 10, 4, 17})
