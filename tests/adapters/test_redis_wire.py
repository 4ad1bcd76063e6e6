"""The classic Redis adapter codec against SCALEOUT-PROTOCOL.md §12 (byte-exact) and notepack."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gsocketio.adapters import redis_requests as rq
from gsocketio.adapters import redis_wire as w
from gsocketio.exceptions import AdapterMessageError
from tests.helpers.node import run_node


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


ROOM_EXCEPT = hx(
    """93 a6 41 62 43 31 32 33 83 a4 74 79 70 65 02 a4 64 61 74 61 93 a5 68 65 6c 6c 6f a5 77 6f 72
6c 64 2a a3 6e 73 70 a1 2f 83 a5 72 6f 6f 6d 73 91 a5 72 6f 6f 6d 31 a6 65 78 63 65 70 74 91
a5 72 6f 6f 6d 32 a5 66 6c 61 67 73 80"""
)
EMITTER_ROOM_EXCEPT = hx(
    """93 a7 65 6d 69 74 74 65 72 83 a4 74 79 70 65 02 a4 64 61 74 61 93 a5 68 65 6c 6c 6f a5 77 6f
72 6c 64 2a a3 6e 73 70 a1 2f 83 a5 72 6f 6f 6d 73 91 a5 72 6f 6f 6d 31 a5 66 6c 61 67 73 80
a6 65 78 63 65 70 74 91 a5 72 6f 6f 6d 32"""
)
VOLATILE_CHAT = hx(
    """93 a6 41 62 43 31 32 33 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a6 74 79 70 69 6e 67 81 a4 75
73 65 72 a3 62 6f 62 a3 6e 73 70 a5 2f 63 68 61 74 83 a5 72 6f 6f 6d 73 90 a6 65 78 63 65 70
74 91 b4 58 71 35 67 43 62 74 62 74 61 61 31 61 48 68 41 41 41 41 42 a5 66 6c 61 67 73 81 a8
76 6f 6c 61 74 69 6c 65 c3"""
)
BINARY = hx(
    """93 a6 41 62 43 31 32 33 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a4 66 69 6c 65 c4 03 01 02 03
a3 6e 73 70 a1 2f 83 a5 72 6f 6f 6d 73 91 a5 72 6f 6f 6d 31 a6 65 78 63 65 70 74 90 a5 66 6c
61 67 73 80"""
)
BROADCAST_ACK_REQUEST = hx(
    """85 a3 75 69 64 a6 41 62 43 31 32 33 a9 72 65 71 75 65 73 74 49 64 a6 52 71 39 78 59 7a a4 74
79 70 65 07 a6 70 61 63 6b 65 74 83 a4 74 79 70 65 02 a4 64 61 74 61 91 a4 70 69 6e 67 a3 6e
73 70 a1 2f a4 6f 70 74 73 83 a5 72 6f 6f 6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73
81 a7 74 69 6d 65 6f 75 74 cd 13 88"""
)
BROADCAST_ACK = hx(
    """83 a4 74 79 70 65 09 a9 72 65 71 75 65 73 74 49 64 a6 52 71 39 78 59 7a a6 70 61 63 6b 65
74 a4 70 6f 6e 67"""
)
HANDSHAKE = {
    "headers": {"host": "localhost:3000", "connection": "Upgrade", "upgrade": "websocket"},
    "time": "Tue Mar 12 2024 10:00:00 GMT+0000 (Coordinated Universal Time)",
    "address": "::1",
    "xdomain": False,
    "secure": False,
    "issued": 1710237600000,
    "url": "/socket.io/?EIO=4&transport=websocket",
    "query": {"EIO": "4", "transport": "websocket"},
    "auth": {},
}
SID = "Xq5gCbtbtaa1aHhAAAAB"


# --- 12.1 broadcasts ---------------------------------------------------------------------------


def test_room_with_except_is_byte_exact() -> None:
    ch = w.Channels("socket.io", "/")
    assert ch.broadcast(["room1"]) == "socket.io#/#room1#"
    out = w.encode_broadcast("AbC123", "/", ["hello", "world", 42], ["room1"], ["room2"], {})
    assert out == ROOM_EXCEPT and len(out) == 75


def test_emitter_order_is_byte_exact() -> None:
    out = w.encode_broadcast(
        "emitter", "/", ["hello", "world", 42], ["room1"], ["room2"], {}, emitter=True
    )
    assert out == EMITTER_ROOM_EXCEPT and len(out) == 76


def test_volatile_namespace_broadcast_is_byte_exact() -> None:
    ch = w.Channels("socket.io", "/chat")
    assert ch.broadcast([]) == "socket.io#/chat#"
    out = w.encode_broadcast(
        "AbC123", "/chat", ["typing", {"user": "bob"}], [], [SID], {"volatile": True}
    )
    assert out == VOLATILE_CHAT and len(out) == 102


def test_binary_argument_is_bin8() -> None:
    out = w.encode_broadcast("AbC123", "/", ["file", b"\x01\x02\x03"], ["room1"], [], {})
    assert out == BINARY and len(out) == 66


@pytest.mark.parametrize("payload", [ROOM_EXCEPT, EMITTER_ROOM_EXCEPT, VOLATILE_CHAT, BINARY])
def test_broadcasts_decode(payload: bytes) -> None:
    msg = w.decode_broadcast(payload)
    assert msg.uid in ("AbC123", "emitter")
    assert msg.data[0] in ("hello", "typing", "file")


def test_decoded_fields() -> None:
    msg = w.decode_broadcast(VOLATILE_CHAT)
    assert msg.nsp == "/chat" and msg.data == ["typing", {"user": "bob"}]
    assert msg.selection.rooms == frozenset() and msg.selection.except_rooms == {SID}
    assert msg.selection.flags == {"volatile": True}
    assert w.decode_broadcast(BINARY).data == ["file", b"\x01\x02\x03"]


def test_room_of_channel() -> None:
    ch = w.Channels("socket.io", "/")
    assert ch.room_of("socket.io#/#") == ""
    assert ch.room_of("socket.io#/#room1#") == "room1"
    assert ch.room_of("socket.io#/chat#") is None
    assert ch.pattern == "socket.io#/#*"
    assert w.Channels("a*b", "/").pattern == "a\\*b#/#*"
    assert ch.request == "socket.io-request#/#"
    assert ch.response == "socket.io-response#/#"
    assert ch.specific_response("AbC123") == "socket.io-response#/#AbC123#"


# --- 12.3 / 12.4 / 12.5 / 12.6 requests and responses --------------------------------------------


def test_server_side_emit_json() -> None:
    assert (
        rq.encode_server_side_emit("AbC123", ["hello", "world"])
        == b'{"uid":"AbC123","type":6,"data":["hello","world"]}'
    )
    assert (
        rq.encode_server_side_emit("AbC123", ["ping"], "Sx56Ty")
        == b'{"uid":"AbC123","requestId":"Sx56Ty","type":6,"data":["ping"]}'
    )
    assert (
        rq.encode_server_side_emit_response("Sx56Ty", "pong")
        == b'{"type":6,"requestId":"Sx56Ty","data":"pong"}'
    )
    assert (
        rq.encode_server_side_emit(w.EMITTER_UID, ["hello", "world"])
        == b'{"uid":"emitter","type":6,"data":["hello","world"]}'
    )


def test_fetch_request_and_response() -> None:
    assert (
        rq.encode_fetch_request("AbC123", "Qw34Er", ["room1"], [])
        == b'{"uid":"AbC123","requestId":"Qw34Er","type":5,"opts":{"rooms":["room1"],"except":[]}}'
    )
    expected = (
        b'{"requestId":"Qw34Er","sockets":[{"id":"Xq5gCbtbtaa1aHhAAAAB","handshake":{"headers":'
        b'{"host":"localhost:3000","connection":"Upgrade","upgrade":"websocket"},"time":"Tue Mar 12'
        b' 2024 10:00:00 GMT+0000 (Coordinated Universal Time)","address":"::1","xdomain":false,'
        b'"secure":false,"issued":1710237600000,"url":"/socket.io/?EIO=4&transport=websocket",'
        b'"query":{"EIO":"4","transport":"websocket"},"auth":{}},"rooms":["Xq5gCbtbtaa1aHhAAAAB",'
        b'"room1"],"data":{}}]}'
    )
    sock = {"id": SID, "handshake": HANDSHAKE, "rooms": [SID, "room1"], "data": {}}
    assert rq.encode_fetch_response("Qw34Er", [sock]) == expected
    resp = rq.decode_response(expected)
    assert resp.request_id == "Qw34Er" and resp.body["sockets"][0]["id"] == SID


def test_broadcast_with_ack_is_byte_exact() -> None:
    out = rq.encode_broadcast_request("AbC123", "Rq9xYz", "/", ["ping"], [], [], {"timeout": 5000})
    assert out == BROADCAST_ACK_REQUEST and len(out) == 105
    assert rq.encode_client_count("Rq9xYz", 2) == b'{"type":8,"requestId":"Rq9xYz","clientCount":2}'
    assert rq.encode_broadcast_ack("Rq9xYz", "pong") == BROADCAST_ACK
    req = rq.decode_request(BROADCAST_ACK_REQUEST)
    assert req.type is rq.RequestType.BROADCAST and req.request_id == "Rq9xYz"
    assert req.data == ["ping"] and req.nsp == "/"
    assert req.selection is not None and req.selection.flags == {"timeout": 5000}
    ack = rq.decode_response(BROADCAST_ACK)
    assert ack.type == 9 and ack.body["packet"] == "pong"


def test_other_requests() -> None:
    join = rq.encode_join_request("AbC123", ["room1"], [], ["room2"])
    assert (
        join
        == b'{"uid":"AbC123","type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room2"]}'
    )
    assert (
        rq.encode_join_request(None, ["room1"], [], ["room2"])
        == b'{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room2"]}'
    )
    assert (
        rq.encode_disconnect_request("AbC123", [], [], False)
        == b'{"uid":"AbC123","type":4,"opts":{"rooms":[],"except":[]},"close":false}'
    )
    assert (
        rq.encode_all_rooms_request("AbC123", "Ab12Cd")
        == b'{"uid":"AbC123","requestId":"Ab12Cd","type":1}'
    )
    assert (
        rq.encode_all_rooms_response("Ab12Cd", [SID, "room1"])
        == b'{"requestId":"Ab12Cd","rooms":["Xq5gCbtbtaa1aHhAAAAB","room1"]}'
    )
    req = rq.decode_request(join)
    assert req.type is rq.RequestType.REMOTE_JOIN and req.rooms == ("room2",)
    assert req.selection is not None and req.selection.rooms == {"room1"}
    legacy = rq.decode_request(b'{"uid":"x","requestId":"r","type":2,"sid":"s1","room":"r1"}')
    assert legacy.sid == "s1" and legacy.room == "r1" and legacy.selection is None
    dis = rq.decode_request(rq.encode_disconnect_request(None, ["a"], [], True))
    assert dis.close is True and dis.uid is None


# --- the dialect's traps ------------------------------------------------------------------------


def test_dates_and_buffers() -> None:
    assert w.pack(datetime(2000, 6, 13, tzinfo=UTC)) == hx("d6 ff 39 45 79 80")
    assert w.pack(datetime(2000, 6, 13, 0, 0, 0, 123000, tzinfo=UTC)) == hx(
        "d7 ff 1d 53 53 00 39 45 79 80"
    )
    assert w.unpack(hx("d6 ff 39 45 79 80")) == datetime(2000, 6, 13, tzinfo=UTC)
    assert (
        w.js_date(datetime(2000, 6, 13, 0, 0, 0, 123000, tzinfo=UTC)) == "2000-06-13T00:00:00.123Z"
    )
    # A Date inside a broadcast reaches clients the way Node's JSON.stringify renders it.
    payload = w.pack(
        ["u", {"type": 2, "data": ["t", datetime(2000, 6, 13, tzinfo=UTC)], "nsp": "/"}, {}]
    )
    assert w.decode_broadcast(payload).data == ["t", "2000-06-13T00:00:00.000Z"]
    # Node's JSON paths: Buffers become {"type":"Buffer","data":[...]}.
    assert json.loads(w.dumps_json([b"\x01\x02"])) == [{"type": "Buffer", "data": [1, 2]}]
    # notepack 2's Buffer extension (ext 0) still decodes to bytes.
    assert w.unpack(hx("d4 00 07")) == b"\x07"
    assert w.pack(2**40) == hx("cf 00 00 01 00 00 00 00 00")
    assert w.pack(-1) == b"\xff" and w.pack(1.5) == hx("cb 3f f8 00 00 00 00 00 00")


def test_number_rooms_match_their_text() -> None:
    msg = w.decode_broadcast(
        w.pack(["u", {"type": 2, "data": ["e"]}, {"rooms": [42, 1.5], "except": []}])
    )
    assert msg.nsp == "/" and msg.selection.rooms == {"42", "1.5"}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",  # never used byte
        b"\x93\xa1u",  # truncated
        w.pack({"a": 1}),  # not an array
        w.pack(["u", {"type": 3, "data": ["e"]}, {}]),  # not an EVENT
        w.pack(["u", {"type": 2, "data": []}, {}]),  # no event name
        w.pack([1, {"type": 2, "data": ["e"]}, {}]),  # uid not a string
        w.pack(["u", {"type": 2, "data": ["e"]}, {"rooms": "r"}]),
        w.pack(["u", {"type": 2, "data": ["e"]}, {"rooms": [None]}]),
        w.pack(["u", {"type": 2, "data": ["e"]}, {"rooms": [str(i) for i in range(10_001)]}]),
        hx("d4 05 00"),  # unknown extension
    ],
)
def test_hostile_broadcasts_raise_one_error_class(payload: bytes) -> None:
    with pytest.raises(AdapterMessageError):
        w.decode_broadcast(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b'{"type":42}',
        b'{"type":"1"}',
        b'{"type":1}',  # no requestId
        b'{"type":6,"data":"x"}',
        b'{"type":7,"requestId":"r"}',
        b'{"type":2,"opts":{"rooms":[]},"rooms":[{}]}',
        b'{"type":9,"requestId":"r"}',
        b"[1,2]",
        w.pack([1, 2]),
    ],
)
def test_hostile_requests_raise_one_error_class(payload: bytes) -> None:
    with pytest.raises(AdapterMessageError):
        rq.decode_request(payload)


def test_oversized_message_is_refused_unread() -> None:
    limits = w.WireLimits(max_message_bytes=10)
    with pytest.raises(AdapterMessageError):
        w.decode_broadcast(ROOM_EXCEPT, limits)


def test_uids() -> None:
    uid = w.new_uid()
    assert len(uid) == 6 and uid.isalnum() and uid.isascii()


@pytest.mark.service
def test_notepack_agrees() -> None:
    """The real notepack.io 3 (the Node packages' encoder) produces and reads our bytes."""
    records = run_node(
        """
        const np = require("notepack.io");
        const h = (b) => Buffer.from(b).toString("hex");
        out({
          a: h(np.encode(["AbC123", {type: 2, data: ["hello", "world", 42], nsp: "/"},
                          {rooms: ["room1"], except: ["room2"], flags: {}}])),
          b: h(np.encode(["AbC123", {type: 2, data: ["file", Buffer.from([1, 2, 3])], nsp: "/"},
                          {rooms: ["room1"], except: [], flags: {}}])),
          c: h(np.encode({type: 9, requestId: "Rq9xYz", packet: "pong"})),
          d: h(np.encode(new Date(Date.UTC(2000, 5, 13, 0, 0, 0, 123)))),
          back: np.decode(Buffer.from(ARGS.ours, "hex")),
        });
        done();
        """,
        "",
        args={
            "ours": w.encode_broadcast(
                "AbC123", "/", ["x", 1.5, -7], [], ["s"], {"compress": False}
            ).hex()
        },
    )
    rec = records[0]
    assert bytes.fromhex(rec["a"]) == ROOM_EXCEPT
    assert bytes.fromhex(rec["b"]) == BINARY
    assert bytes.fromhex(rec["c"]) == BROADCAST_ACK
    assert w.unpack(bytes.fromhex(rec["d"])) == datetime(2000, 6, 13, 0, 0, 0, 123000, tzinfo=UTC)
    assert rec["back"] == [
        "AbC123",
        {"type": 2, "data": ["x", 1.5, -7], "nsp": "/"},
        {"rooms": [], "except": ["s"], "flags": {"compress": False}},
    ]
