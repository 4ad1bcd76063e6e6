"""gsocketio.http.parser: request heads, socket-free (llhttp plus the rules it leaves to us)."""

from __future__ import annotations

import contextlib

import pytest

from gsocketio.exceptions import HTTPRequestError
from gsocketio.http.limits import HTTPLimits
from gsocketio.http.parser import HeadParser, RequestHead

LIMITS = HTTPLimits()


def parse(data: bytes, limits: HTTPLimits = LIMITS) -> tuple[RequestHead | None, bytearray]:
    buf = bytearray(data)
    return HeadParser(limits).parse(buf), buf


def refused(data: bytes, limits: HTTPLimits = LIMITS) -> int:
    with pytest.raises(HTTPRequestError) as info:
        parse(data, limits)
    return info.value.status


def test_a_polling_get() -> None:
    head, rest = parse(
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a:1\r\nAccept: */*\r\n\r\nNEXT"
    )
    assert head is not None
    assert (head.method, head.target, head.version) == (
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        "1.1",
    )
    assert head.headers == [("Host", "a:1"), ("Accept", "*/*")]
    assert head.keep_alive and not head.upgrade and not head.chunked
    assert head.content_length is None and not head.expect_continue
    assert rest == b"NEXT"  # the head's bytes only were taken


def test_a_head_in_pieces_is_fed_once_and_completes() -> None:
    data = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    parser = HeadParser(LIMITS)
    buf = bytearray()
    head = None
    fed = 0
    while head is None and fed < len(data):
        buf.append(data[fed])
        fed += 1
        head = parser.parse(buf)
    assert head is not None and head.content_length == 3
    assert buf == b"" and data[fed:] == b"abc"  # the body is left to the server


def test_pipelined_heads_come_one_at_a_time_and_the_parser_is_reused() -> None:
    buf = bytearray(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    parser = HeadParser(LIMITS)
    first = parser.parse(buf)
    second = parser.parse(buf)
    assert first is not None and second is not None
    assert (first.target, second.target, buf) == ("/1", "/2", b"")  # type: ignore[comparison-overlap]


def test_a_head_after_a_body_gets_a_fresh_parser() -> None:
    parser = HeadParser(LIMITS)
    buf = bytearray(b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n")
    assert parser.parse(buf) is not None
    buf += b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"  # the body was framed by the server
    head = parser.parse(buf)
    assert head is not None and head.target == "/2"


def test_leading_empty_lines_are_ignored() -> None:
    head, _ = parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head is not None and head.target == "/"


@pytest.mark.parametrize(
    ("headers", "version", "keep_alive"),
    [
        (b"", b"1.1", True),
        (b"Connection: close\r\n", b"1.1", False),
        (b"Connection: Keep-Alive, Close\r\n", b"1.1", False),
        (b"", b"1.0", False),
        (b"Connection: keep-alive\r\n", b"1.0", True),
    ],
)
def test_persistence(headers: bytes, version: bytes, keep_alive: bool) -> None:
    host = b"Host: a\r\n" if version == b"1.1" else b""
    head, _ = parse(b"GET / HTTP/" + version + b"\r\n" + host + headers + b"\r\n")
    assert head is not None and head.keep_alive is keep_alive


def test_chunked_expect_and_upgrade() -> None:
    head, _ = parse(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nExpect: 100-Continue\r\n\r\n"
    )
    assert head is not None and head.chunked and head.expect_continue
    head, rest = parse(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x80"
    )
    assert head is not None and head.upgrade and rest == b"\x81\x80"


@pytest.mark.parametrize(
    "data",
    [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0_5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 \r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 \r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",  # obs-fold
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n\tb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX A: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX\x01A: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x07b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",  # bare LF
        b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
        b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /\r\n\r\n",  # HTTP/0.9
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello on plain HTTP
    ],
)
def test_refused_with_400(data: bytes) -> None:
    assert refused(data) == 400


def test_other_refusals() -> None:
    assert refused(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505
    assert refused(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n") == 405
    assert refused(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n") == 417


def test_garbage_is_refused_before_the_head_ends() -> None:
    assert refused(b"GET / HTTP/1.1\r\nX A: still going") == 400


def test_bounds() -> None:
    limits = HTTPLimits(max_request_line=100, max_head_size=400, max_headers=5)
    assert refused(b"GET /" + b"a" * 200, limits) == 414  # incomplete, already too long
    assert refused(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n", limits) == 414
    assert parse(b"GET /" + b"a" * 80 + b" HTTP/1.1\r\nHost: a\r\n\r\n", limits)[0] is not None
    assert refused(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 500, limits) == 400
    assert refused(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 500 + b"\r\n\r\n", limits) == 400
    many = b"".join(b"X-%d: v\r\n" % i for i in range(5))
    assert refused(b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n", limits) == 400
    fewer = b"".join(b"X-%d: v\r\n" % i for i in range(4))
    assert parse(b"GET / HTTP/1.1\r\nHost: a\r\n" + fewer + b"\r\n", limits)[0] is not None


def test_obs_text_in_values_is_kept_as_latin1() -> None:
    head, _ = parse(b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\n\r\n")
    assert head is not None and head.headers[1] == ("X-Name", "caf\xe9")


def test_too_many_header_lines_are_counted_while_the_head_arrives() -> None:
    """Fed one byte at a time: a head with max_headers fields completes, one with more is
    refused, also before the head ends."""
    limits = HTTPLimits(max_headers=5)
    for fields, expected in ((4, True), (5, False)):
        data = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(
            b"X-%d: v\r\n" % i for i in range(fields)
        )
        parser, buf = HeadParser(limits), bytearray()
        with pytest.raises(HTTPRequestError) if not expected else contextlib.nullcontext():
            head = None
            for byte in data + b"\r\n":
                buf.append(byte)
                head = parser.parse(buf)
            assert head is not None and len(head.headers) == fields + 1
    parser, buf = HeadParser(limits), bytearray()
    with pytest.raises(HTTPRequestError):  # too many, and the head has not ended
        for byte in b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: v\r\n" * 6:
            buf.append(byte)
            parser.parse(buf)
