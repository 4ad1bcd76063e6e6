"""ClusterAdapter (sharded Redis adapter) messages against SCALEOUT-PROTOCOL.md §12.2-12.4."""

from __future__ import annotations

import pytest

from gsocketio.adapters import cluster_wire as cw
from gsocketio.exceptions import AdapterMessageError

UID = "9f86d081884c7d65"
MT = cw.MessageType

BINARY_BROADCAST = bytes.fromhex(
    "84 a4 74 79 70 65 03 a4 64 61 74 61 82 a6 70 61 63 6b 65 74 82 a4 74 79 70 65 02 a4 64 61"
    " 74 61 92 a4 66 69 6c 65 c4 03 01 02 03 a4 6f 70 74 73 83 a5 72 6f 6f 6d 73 91 a5 72 6f 6f"
    " 6d 31 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 80 a3 75 69 64 b0 39 66 38 36 64 30 38 31"
    " 38 38 34 63 37 64 36 35 a3 6e 73 70 a1 2f"
)


def test_broadcast_json_and_binary() -> None:
    data = cw.broadcast_data(["hello", "world", 42], ["room1"], ["room2"], {})
    assert cw.encode_message(MT.BROADCAST, data, UID, "/") == (
        b'{"type":3,"data":{"packet":{"type":2,"data":["hello","world",42]},"opts":{"rooms":'
        b'["room1"],"except":["room2"],"flags":{}}},"uid":"9f86d081884c7d65","nsp":"/"}'
    )
    data = cw.broadcast_data(["file", b"\x01\x02\x03"], ["room1"], [], {})
    out = cw.encode_message(MT.BROADCAST, data, UID, "/")
    assert out == BINARY_BROADCAST and len(out) == 104
    msg = cw.decode_message(out)
    assert msg.type is MT.BROADCAST and msg.uid == UID and msg.nsp == "/"
    assert msg.data["packet"]["data"] == ["file", b"\x01\x02\x03"]


def test_server_side_emit_and_fetch() -> None:
    assert cw.encode_message(MT.SERVER_SIDE_EMIT, {"packet": ["hello", "world"]}, UID, "/") == (
        b'{"type":9,"data":{"packet":["hello","world"]},"uid":"9f86d081884c7d65","nsp":"/"}'
    )
    body: dict[str, object] = {"requestId": "0a1b2c3d4e5f6071", "packet": ["ping"]}
    assert cw.encode_message(MT.SERVER_SIDE_EMIT, body, UID, "/") == (
        b'{"type":9,"data":{"requestId":"0a1b2c3d4e5f6071","packet":["ping"]},'
        b'"uid":"9f86d081884c7d65","nsp":"/"}'
    )
    body = {
        "opts": {"rooms": ["room1"], "except": [], "flags": {}},
        "requestId": "a1b2c3d4e5f60718",
    }
    assert cw.encode_message(MT.FETCH_SOCKETS, body, UID, "/") == (
        b'{"type":7,"data":{"opts":{"rooms":["room1"],"except":[],"flags":{}},"requestId":'
        b'"a1b2c3d4e5f60718"},"uid":"9f86d081884c7d65","nsp":"/"}'
    )
    assert len(cw.new_uid()) == 16 and int(cw.new_uid(), 16) >= 0


@pytest.mark.parametrize(
    "payload",
    [b"{", b'{"type":99,"uid":"u","nsp":"/"}', b'{"type":3,"uid":1,"nsp":"/"}',
     b'{"type":3,"uid":"u","nsp":"/","data":[]}', b"\xc1", b"[]"],
)  # fmt: skip
def test_hostile(payload: bytes) -> None:
    with pytest.raises(AdapterMessageError):
        cw.decode_message(payload)
