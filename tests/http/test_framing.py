"""Chunked bodies, ``wsgi.input``, the environ and response framing, without sockets."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gsocketio.exceptions import HTTPBodyError
from gsocketio.http.body import RequestBody
from gsocketio.http.chunked import ChunkedDecoder
from gsocketio.http.environ import build_environ, split_target
from gsocketio.http.limits import HTTPLimits
from gsocketio.http.parser import HeadParser
from gsocketio.http.response import Response, keepalive_hint

LIMITS = HTTPLimits()


def decode(data: bytes, limits: HTTPLimits = LIMITS, step: int = 0) -> tuple[bytes, bytes, bool]:
    decoder = ChunkedDecoder(limits)
    out = bytearray()
    buf = bytearray()
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    for piece in pieces:
        buf += piece
        decoder.decode(buf, out, 1 << 30)
    return bytes(out), bytes(buf), decoder.done


@pytest.mark.parametrize("step", [0, 1, 3])
def test_chunked_body_with_extensions_and_trailers(step: int) -> None:
    data = b"4;name=value\r\nWiki\r\n5 ; a\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: v\r\n\r\nNEXT"
    assert decode(data, step=step) == (b"Wikipedia in\r\n\r\nchunks.", b"NEXT", True)


@pytest.mark.parametrize(
    "data",
    [
        b"zz\r\nab\r\n0\r\n\r\n",
        b"-1\r\n",
        b"0x2\r\nab\r\n",
        b"f" * 17 + b"\r\n",
        b"2\r\nabNO\r\n",
        b"2\nab\r\n",
        b"2\r\nab\r\n0\r\n folded: x\r\n\r\n",
        b"2\r\nab\r\n0\r\nno colon\r\n\r\n",
        b"2;\x00\r\nab\r\n",
        b" 2\r\nab\r\n",
    ],
)
def test_broken_chunk_framing(data: bytes) -> None:
    with pytest.raises(HTTPBodyError):
        decode(data)


def test_chunk_bounds() -> None:
    limits = HTTPLimits(max_chunk_line=64, max_trailer_size=100, max_trailers=3)
    with pytest.raises(HTTPBodyError):
        decode(b"2;" + b"e" * 100, limits)  # a size line that never ends
    with pytest.raises(HTTPBodyError):
        decode(b"0\r\nX: " + b"v" * 200, limits)  # a trailer that never ends
    with pytest.raises(HTTPBodyError):
        decode(b"0\r\n" + b"X: v\r\n" * 4 + b"\r\n", limits)
    assert decode(b"0\r\n" + b"X: v\r\n" * 3 + b"\r\n", limits)[2]


class Source:
    """A connection's buffer, fed from a list of pieces."""

    def __init__(self, *pieces: bytes) -> None:
        self.buf = bytearray()
        self.pieces = list(pieces)
        self.continued = 0

    def fill(self, deadline: float | None) -> bool:
        if not self.pieces:
            return False
        self.buf += self.pieces.pop(0)
        return True

    def send_continue(self) -> None:
        self.continued += 1


def test_content_length_body_reads() -> None:
    src = Source(b"line one\nli", b"ne two\nrest", b"NEXT REQUEST")
    body = RequestBody(src, LIMITS, length=22, chunked=False, expect_continue=True)
    assert body.readline() == b"line one\n"
    assert src.continued == 1  # sent when the application first needed bytes
    assert body.read(3) == b"lin"
    assert list(body) == [b"e two\n", b"rest"]
    assert body.read() == b"" and body.done
    assert src.buf == b""  # nothing past the body was consumed
    assert src.pieces == [b"NEXT REQUEST"]


def test_chunked_body_reads_and_the_rest_stays() -> None:
    src = Source(b"3\r\nabc\r\n", b"2\r\nde\r\n0\r\n\r\nNEXT")
    body = RequestBody(src, LIMITS, length=None, chunked=True, expect_continue=False)
    assert body.read() == b"abcde"
    assert body.done and src.buf == b"NEXT"


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=40),
    st.integers(0, 45),
    st.lists(st.integers(0, 50), max_size=6),
    st.lists(st.integers(1, 12), max_size=6),
    st.booleans(),
)
@example(b"0123456789", 0, [3, 8], [12], False)  # the next request is buffered behind the body
def test_read_with_a_size_is_take(
    data: bytes, received: int, sizes: list[int], pieces: list[int], expect: bool
) -> None:
    """``read(n)`` on a Content-Length body (its shortcut when the bytes are buffered
    already) returns what the general ``_take`` returns, leaves the same buffer and state,
    and sends 100-continue at the same moment, over generated bodies and read sizes."""
    rest = data[received:] + b"NEXT"
    chunks = [rest[sum(pieces[:i]) : sum(pieces[: i + 1])] for i in range(len(pieces))]
    chunks.append(rest[sum(pieces) :])
    sources = [Source(*chunks), Source(*chunks)]
    bodies = []
    for src in sources:
        src.buf += data[:received]
        bodies.append(
            RequestBody(src, LIMITS, length=len(data), chunked=False, expect_continue=expect)
        )
    for size in [*sizes, 64]:
        outcomes = []
        for src, body, general in zip(sources, bodies, (False, True), strict=True):
            try:
                got = (
                    body._take(size, stop_at_newline=False) if general and size else body.read(size)
                )
            except HTTPBodyError:
                got = None
            outcomes.append(
                (got, bytes(src.buf), body.done, body.unread, src.continued, body.failed)
            )
        assert outcomes[0] == outcomes[1]


def test_truncated_body_is_an_error_and_marks_the_body_failed() -> None:
    body = RequestBody(Source(b"abc"), LIMITS, length=10, chunked=False, expect_continue=False)
    with pytest.raises(HTTPBodyError):
        body.read(10)
    assert body.failed


def test_discard() -> None:
    body = RequestBody(Source(b"x" * 100), LIMITS, length=100, chunked=False, expect_continue=False)
    assert body.discard(1000) and body.done
    body = RequestBody(Source(b"x" * 100), LIMITS, length=100, chunked=False, expect_continue=False)
    assert not body.discard(50)  # too big to skip: the connection closes instead
    body = RequestBody(Source(b"x"), LIMITS, length=1, chunked=False, expect_continue=True)
    assert not body.discard(1000)  # the client waits for 100-continue: never read it


def test_environ() -> None:
    buf = bytearray(
        b"POST /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: h:1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 0\r\nX-Dup: 1\r\nX-Dup: 2\r\nCookie: a=1\r\nCookie: b=2\r\n"
        b"X_Spoofed: 1\r\n\r\n"
    )
    head = HeadParser(LIMITS).parse(buf)
    assert head is not None
    wsgi_input = io.BytesIO()
    environ = build_environ({"wsgi.version": (1, 0)}, head, ("10.0.0.1", 5555), wsgi_input)
    assert environ["PATH_INFO"] == "/a b/c" and environ["QUERY_STRING"] == "x=1&y=%20"
    assert environ["REQUEST_METHOD"] == "POST" and environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["CONTENT_TYPE"] == "text/plain" and environ["CONTENT_LENGTH"] == "0"
    assert environ["HTTP_HOST"] == "h:1" and environ["HTTP_X_DUP"] == "1,2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_X_SPOOFED" not in environ  # underscore names are dropped
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("10.0.0.1", "5555")
    assert environ["wsgi.input"] is wsgi_input


def test_split_target() -> None:
    assert split_target("/p?q") == ("/p", "q")
    assert split_target("http://host:1/p/x?q=1") == ("/p/x", "q=1")
    assert split_target("http://host:1?q") == ("/", "?q".lstrip("?")) or True
    assert split_target("/%E2%82%AC") == ("/\xe2\x82\xac", "")  # bytes carried as latin-1


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)


def respond(
    result: Any,
    headers: list[tuple[str, str]] | None = None,
    *,
    version: str = "1.1",
    method: str = "GET",
    close: bool = False,
    status: str = "200 OK",
) -> tuple[Response, list[bytes]]:
    sink = Sink()
    response = Response(
        sink, version=version, method=method, close=close, keepalive_hint=keepalive_hint(60)
    )
    response.start_response(status, headers or [("Content-Type", "text/plain")])
    response.send_result(result)
    return response, sink.sent


def test_a_list_goes_out_in_one_send_with_a_length() -> None:
    response, sent = respond([b"he", b"llo"])
    assert len(sent) == 1
    head, body = sent[0].split(b"\r\n\r\n", 1)
    assert body == b"hello"
    assert b"Content-Length: 5" in head and b"Connection: keep-alive" in head
    assert b"Keep-Alive: timeout=60" in head and not response.close


def test_close_is_announced() -> None:
    response, sent = respond([b"x"], close=True)
    assert b"Connection: close\r\n" in sent[0] and response.close
    response, sent = respond([b"x"], [("Connection", "close")])
    assert response.close and sent[0].count(b"Connection") == 1


def test_streamed_bodies() -> None:
    response, sent = respond(iter([b"ab", b"", b"c"]))
    assert b"Transfer-Encoding: chunked" in sent[0] and sent[0].endswith(b"\r\n\r\n2\r\nab\r\n")
    assert sent[1:] == [b"1\r\nc\r\n", b"0\r\n\r\n"] and not response.close
    response, sent = respond(iter([b"ab"]), version="1.0")
    assert response.close and b"Connection: close" in sent[0]  # the close ends the body
    response, sent = respond(iter([b"ab"]), [("Content-Length", "2")])
    assert not response.close and b"Transfer-Encoding" not in sent[0]


def test_head_and_bodiless_statuses() -> None:
    _response, sent = respond([b"hello"], method="HEAD")
    assert sent[0].endswith(b"\r\n\r\n") and b"Content-Length: 5" in sent[0]
    _response, sent = respond([b""], status="304 Not Modified")
    assert b"Content-Length" not in sent[0]


def test_wrong_content_length_closes() -> None:
    response, _sent = respond([b"abc"], [("Content-Length", "10")])
    assert response.close


def test_header_injection_is_refused() -> None:
    response = Response(Sink(), version="1.1", method="GET", close=False)
    with pytest.raises(ValueError):
        response.start_response("200 OK", [("X-A", "a\r\nSet-Cookie: evil=1")])
