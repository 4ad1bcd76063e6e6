"""Request heads parsed by llhttp (``httptools``, Node's parser), plus the rules it leaves to us.

Sans-I/O: :class:`HeadParser` is fed the connection's buffer and answers a :class:`RequestHead`
or "need more"; it never reads a socket. Only the head is ever fed to llhttp, never a body (the
server frames bodies itself, see :mod:`gsocketio.http.body`), so where llhttp thinks a head ends
and where the server cuts it cannot differ. llhttp refuses what RFC 9112 calls unrecoverable
(invalid tokens and field characters, obs-fold, bare LF, ``Content-Length`` not 1*DIGIT,
duplicate ``Content-Length``, ``Content-Length`` with ``Transfer-Encoding``); on top of it this
module bounds the request line, the head and its header count (llhttp has no limits), refuses a
transfer coding other than exactly ``chunked`` (no other one can be decoded here, so its body's
end is unknown), trailing whitespace in ``Content-Length``, HTTP versions other than 1.0/1.1,
``CONNECT``, several or (HTTP/1.1) no ``Host``, and expectations other than ``100-continue``.
Why llhttp and not h11: docs/benchmarks.md ("HTTP parsers").
"""

from __future__ import annotations

import httptools

from gsocketio.exceptions import HTTPRequestError
from gsocketio.http.limits import HTTPLimits

__all__ = ["HeadParser", "RequestHead"]

_HEAD_END = b"\r\n\r\n"
_VERSIONS = frozenset({"1.0", "1.1"})


class RequestHead:
    """One parsed request head; header names and values are latin-1 decoded, as received."""

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "size",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        size: int,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version  # "1.0" or "1.1"
        self.headers = headers
        self.size = size  # bytes of the buffer this head took
        self.keep_alive = version == "1.1"
        self.upgrade = False
        self.content_length: int | None = None
        self.chunked = False
        self.expect_continue = False

    @property
    def protocol(self) -> str:
        return "HTTP/" + self.version

    def __repr__(self) -> str:
        return f"<RequestHead {self.method} {self.target[:80]!r} HTTP/{self.version}>"


class HeadParser:
    """Cuts request heads off the front of a connection's buffer, one at a time.

    Call :meth:`parse` whenever the buffer grew; it returns the head (and deletes its bytes
    from the buffer) once complete, ``None`` while more is needed, and raises
    :class:`HTTPRequestError` for a head that must be refused. Partial heads are fed to llhttp
    as they arrive, so garbage is refused before the head ends and no byte is parsed twice.
    """

    __slots__ = (
        "_complete",
        "_fed",
        "_headers",
        "_limits",
        "_parser",
        "_reusable",
        "_url",
    )

    def __init__(self, limits: HTTPLimits) -> None:
        self._limits = limits
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._fed = 0  # bytes of the current head already fed to llhttp
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._complete = False
        self._reusable = False

    # --- llhttp callbacks ----------------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._complete = True

    def on_message_complete(self) -> None:
        # A head without a body: llhttp is ready for the next one as it is.
        self._reusable = True

    # --- parsing -------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True once bytes of a head (not just empty lines) were seen."""
        return self._fed > 0

    def parse(self, buf: bytearray) -> RequestHead | None:
        """The head at the start of ``buf`` (removed from it), or None when incomplete."""
        limits = self._limits
        fed = self._fed
        if fed == 0:
            # RFC 9112 2.2: empty lines before a request line are ignored.
            while buf.startswith(b"\r\n"):
                del buf[:2]
            if not buf:
                return None
        end = buf.find(_HEAD_END, fed - 3 if fed > 3 else 0)
        if end < 0:
            if buf.find(b"\r\n", 0, limits.max_request_line + 2) < 0 and (
                len(buf) > limits.max_request_line
            ):
                raise HTTPRequestError(414, "request line too long")
            if len(buf) > limits.max_head_size:
                raise HTTPRequestError(400, "request head too large")
            self._feed(buf[fed:])  # a copy of the new bytes only: cheaper than a memoryview
            self._fed = len(buf)
            if len(self._headers) > limits.max_headers:
                raise HTTPRequestError(400, "too many header lines")
            return None
        size = end + 4
        # The request line ends at the head's end at the latest: look for it only when the
        # head is longer than a request line may be.
        if end > limits.max_request_line and buf.find(b"\r\n", 0, limits.max_request_line + 2) < 0:
            raise HTTPRequestError(414, "request line too long")
        if size > limits.max_head_size:
            raise HTTPRequestError(400, "request head too large")
        upgrade = self._feed(buf[fed:size])
        if not self._complete:  # llhttp saw no end of head where CRLF CRLF is: refuse
            raise HTTPRequestError(400, "malformed request head")
        del buf[:size]
        head = self._head(size, upgrade)
        if upgrade or not self._reusable:
            # llhttp now waits for a body (framed by the server instead) or is paused after
            # an upgrade: the next head gets a fresh parser, made when it arrives (an upgraded
            # connection never has one: it would live as long as the WebSocket).
            self._parser = None
        self._fed = 0
        self._url = b""
        self._headers = []
        self._complete = self._reusable = False
        return head

    def _feed(self, data: bytearray) -> bool:
        """Feed head bytes to llhttp; True when it stopped at an upgrade."""
        parser = self._parser
        if parser is None:
            parser = self._parser = httptools.HttpRequestParser(self)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            return True
        except httptools.HttpParserError as exc:
            raise HTTPRequestError(400, f"malformed request: {exc}") from None
        return False

    def _head(self, size: int, upgrade: bool) -> RequestHead:
        parser = self._parser
        assert parser is not None  # the head was just fed to it
        version = parser.get_http_version()
        if version not in _VERSIONS:
            status = 505 if version[:1] not in ("0", "1") else 400
            raise HTTPRequestError(status, f"HTTP/{version} is not supported")
        method = parser.get_method().decode("ascii")
        if method == "CONNECT":
            raise HTTPRequestError(405, "CONNECT is not supported")
        raw = self._headers
        if len(raw) > self._limits.max_headers:
            raise HTTPRequestError(400, "too many header lines")
        headers: list[tuple[str, str]] = []
        special: list[tuple[str, str]] = []
        names = _NAMES
        for raw_name, raw_value in raw:
            entry = names.get(raw_name)
            if entry is None:
                entry = _name_entry(raw_name)
            value = raw_value.decode("latin-1")
            headers.append((entry[0], value))
            if entry[1] is not None:
                special.append((entry[1], value))
        head = RequestHead(method, self._url.decode("latin-1"), version, headers, size)
        head.upgrade = upgrade
        _apply_header_rules(head, special)
        return head


def _apply_header_rules(head: RequestHead, special: list[tuple[str, str]]) -> None:
    """Framing, persistence and expectations from the header fields (RFC 9110/9112);
    ``special`` holds the (lower-cased name, value) pairs that may matter."""
    hosts = 0
    connection: list[str] = []
    coding: list[str] = []
    for lname, value in special:
        if lname == "host":
            hosts += 1
        elif lname == "connection":
            lowered = value.lower()
            if "," in lowered:
                connection.extend([token.strip() for token in lowered.split(",")])
            else:
                connection.append(lowered.strip())
        elif lname == "content-length":
            # llhttp checked the digits and refused duplicates; it keeps trailing whitespace.
            if not (value.isascii() and value.isdigit()):
                raise HTTPRequestError(400, f"invalid Content-Length {value!r}")
            head.content_length = int(value)
        elif lname == "transfer-encoding":
            coding.append(value.strip().lower())
        elif lname == "expect":
            if value.strip().lower() != "100-continue":
                raise HTTPRequestError(417, f"unsupported expectation {value!r}")
            head.expect_continue = head.version == "1.1"
    if hosts > 1 or (hosts == 0 and head.version == "1.1"):
        raise HTTPRequestError(400, "a request needs exactly one Host header")
    if coding:
        if coding != ["chunked"] or head.version != "1.1":
            raise HTTPRequestError(400, f"unsupported Transfer-Encoding {', '.join(coding)!r}")
        head.chunked = True
    if head.version == "1.1":
        head.keep_alive = "close" not in connection
    else:
        head.keep_alive = "keep-alive" in connection and "close" not in connection


_SPECIAL = frozenset({"host", "expect", "connection", "content-length", "transfer-encoding"})
_NAMES: dict[bytes, tuple[str, str | None]] = {}
_NAMES_SIZE = 512  # names are client-chosen: the cache is bounded


def _name_entry(raw_name: bytes) -> tuple[str, str | None]:
    """A header name as a str, and lower-cased when the rules above look at it."""
    name = raw_name.decode("latin-1")
    lower = name.lower()
    entry = (name, lower if lower in _SPECIAL else None)
    if len(_NAMES) < _NAMES_SIZE:
        _NAMES[raw_name] = entry
    return entry
