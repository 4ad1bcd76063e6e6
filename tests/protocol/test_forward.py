"""The forwarding protocol without sockets: sids naming their owner, the forwarded request's
framing, and the bounded parsing of the owner's response."""

from __future__ import annotations

import pytest

from gsocketio.exceptions import ForwardError
from gsocketio.protocol.forward import (
    FORWARDED_HEADER,
    ResponseReader,
    encode_request,
    is_node_id,
    owner_of,
    sid_with_owner,
)


def test_sid_names_its_owner() -> None:
    sid = sid_with_owner("ab12cd34", "Iyt8AzgGTsRZxtf4bUQt")
    assert sid == "ab12cd34.Iyt8AzgGTsRZxtf4bUQt"
    assert owner_of(sid) == "ab12cd34"


@pytest.mark.parametrize(
    "sid",
    ["Iyt8AzgGTsRZxtf4bUQt", "", ".abc", "../../etc.x", "AB12CD34.x", "ab12cd3.x", "a/b12cd34.x"],
)
def test_sids_without_a_valid_owner(sid: str) -> None:
    assert owner_of(sid) is None


def test_node_ids_are_path_safe() -> None:
    assert is_node_id("0123abcd")
    assert not is_node_id("0123abc/")
    assert not is_node_id("0123abcde")


def test_request_framing_drops_hop_by_hop_and_marks_forwarded() -> None:
    data = encode_request(
        "POST",
        "/socket.io/?EIO=4&transport=polling&sid=ab12cd34.x",
        [
            ("Host", "example.com"),
            ("Connection", "keep-alive"),
            ("Keep-Alive", "timeout=5"),
            ("Content-Length", "999"),
            ("Origin", "http://a"),
            (FORWARDED_HEADER, "spoofed"),
        ],
        b"40",
    )
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /socket.io/?EIO=4&transport=polling&sid=ab12cd34.x HTTP/1.1"
    assert "Host: example.com" in lines and "Origin: http://a" in lines
    assert "Connection: close" in lines and "Content-Length: 2" in lines
    assert f"{FORWARDED_HEADER}: 1" in lines
    assert not any(x.startswith(("Keep-Alive", "Connection: keep")) for x in lines)
    assert sum(x.startswith(FORWARDED_HEADER) for x in lines) == 1
    assert body == b"40"


def test_upgrade_framing_keeps_upgrade_headers() -> None:
    data = encode_request(
        "GET",
        "/socket.io/?EIO=4&transport=websocket&sid=x",
        [("Upgrade", "websocket")],
        b"",
        upgrade=True,
    )
    assert b"Upgrade: websocket\r\n" in data and b"Connection: Upgrade\r\n" in data
    assert b"Content-Length" not in data


@pytest.mark.parametrize("target", ["relative", "/a b", "/a\r\nX: y"])
def test_bad_targets_and_headers_are_refused(target: str) -> None:
    with pytest.raises(ForwardError):
        encode_request("GET", target, [], b"")
    with pytest.raises(ForwardError):
        encode_request("GET", "/", [("X", "a\r\nInjected: 1")], b"")


def test_response_with_content_length_in_pieces() -> None:
    reader = ResponseReader(100)
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    done = False
    for i in range(len(raw)):
        done = reader.feed(raw[i : i + 1])
    assert done
    response = reader.result()
    assert response.status == "200 OK" and response.code == 200 and response.body == b"hello"
    assert response.headers == [("Content-Type", "text/plain")]


def test_chunked_response() -> None:
    reader = ResponseReader(100)
    assert not reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert reader.feed(b"2\r\nde\r\n0\r\n\r\n")
    assert reader.result().body == b"abcde"
    assert reader.result().headers == []


def test_response_read_to_the_end() -> None:
    reader = ResponseReader(100)
    assert not reader.feed(b'HTTP/1.1 400 Bad Request\r\n\r\n{"code":1}')
    response = reader.eof()
    assert response.code == 400 and response.body == b'{"code":1}'


def test_upgrade_answer_ends_at_the_head() -> None:
    reader = ResponseReader(100)
    assert reader.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x01x")
    assert reader.result().code == 101 and reader.rest == b"\x81\x01x"


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",  # above the bound
        b"SPDY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",  # 101 bytes
    ],
)
def test_bad_or_oversized_responses(raw: bytes) -> None:
    with pytest.raises(ForwardError):
        ResponseReader(100).feed(raw)


def test_head_bound_and_cut_short() -> None:
    with pytest.raises(ForwardError):
        ResponseReader(100).feed(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000)
    reader = ResponseReader(100)
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
    with pytest.raises(ForwardError):
        reader.eof()
    with pytest.raises(ForwardError):
        ResponseReader(100).eof()
    with pytest.raises(ForwardError):
        ResponseReader(100).result()


def test_unbounded_stream_is_bounded() -> None:
    reader = ResponseReader(10)
    reader.feed(b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(ForwardError):
        reader.feed(b"x" * 11)


def test_keep_alive_framing_leaves_the_connection_open_and_drops_expect() -> None:
    data = encode_request(
        "POST",
        "/socket.io/?sid=x",
        [("Expect", "100-continue"), ("Connection", "close"), ("X-Y", "z")],
        b"40",
        keep_alive=True,
    )
    lines = data.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    assert not any(x.lower().startswith(("connection", "expect")) for x in lines)
    assert "Content-Length: 2" in lines and "X-Y: z" in lines
    assert data.endswith(b"\r\n\r\n40")
    closing = encode_request("GET", "/", [("Expect", "100-continue")], b"")
    assert b"Connection: close\r\n" in closing and b"Expect" not in closing


@pytest.mark.parametrize(
    ("raw", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1", False),  # bytes past the end
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nxx", False),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", False),
    ],
)
def test_reusable_only_when_the_response_ended_where_it_said(raw: bytes, reusable: bool) -> None:
    reader = ResponseReader(100)
    assert reader.feed(raw)
    assert reader.received == len(raw)
    assert reader.reusable is reusable


def test_read_to_close_and_late_bytes_are_not_reusable() -> None:
    reader = ResponseReader(100)
    assert not reader.reusable  # nothing yet
    reader.feed(b"HTTP/1.1 200 OK\r\n\r\nbody")
    reader.eof()
    assert not reader.reusable  # its end was the end of the stream
    kept = ResponseReader(100)
    assert kept.feed(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    assert kept.reusable
    assert kept.feed(b"X")  # a byte after the end: the connection is out of step
    assert not kept.reusable
