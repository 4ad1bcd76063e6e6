"""The streams adapter codec without Redis: entries, sessions, offsets."""

from __future__ import annotations

import base64

import pytest

from gsocketio.adapters import cluster_wire as cw
from gsocketio.adapters import streams_wire as sw
from gsocketio.adapters.redis_wire import pack, unpack
from gsocketio.exceptions import AdapterMessageError

MT = cw.MessageType


def test_entry_json_and_binary_round_trip() -> None:
    data = {"packet": {"type": 2, "data": ["ev", 1]}, "opts": {"rooms": ["r"], "except": []}}
    fields = sw.encode_entry("abc", "/", MT.BROADCAST, data)
    assert fields["type"] == "3" and fields["data"].startswith("{")
    msg = sw.decode_entry({k.encode(): v.encode() for k, v in fields.items()})
    assert (msg.type, msg.uid, msg.nsp, msg.data) == (MT.BROADCAST, "abc", "/", data)
    binary = {"packet": {"type": 2, "data": ["ev", b"\x00\xff"]}, "opts": {}}
    fields = sw.encode_entry("abc", "/", MT.BROADCAST, binary)
    assert not fields["data"].startswith("{")
    assert sw.decode_entry(fields).data == binary
    assert "data" not in sw.encode_entry("abc", "/", MT.SOCKETS_JOIN, None)


@pytest.mark.parametrize(
    "fields",
    [
        {"uid": "a", "type": "3"},
        {"uid": "a", "nsp": "/", "type": "99"},
        {"uid": "a", "nsp": "/", "type": "3", "data": "{nope"},
        {"uid": "a", "nsp": "/", "type": "3", "data": "!!!"},
        {"uid": "a", "nsp": "/", "type": "3", "data": "[1]"},
    ],
)
def test_bad_entries_rejected(fields: dict[str, str]) -> None:
    with pytest.raises(AdapterMessageError):
        sw.decode_entry(fields)


def test_session_round_trip_and_checks() -> None:
    raw = sw.encode_session("s", "p", ["s", "r"], {"k": 1})
    assert unpack(base64.b64decode(raw)) == {
        "sid": "s",
        "pid": "p",
        "rooms": ["s", "r"],
        "data": {"k": 1},
    }
    assert sw.decode_session(raw)["rooms"] == ["s", "r"]
    with pytest.raises(AdapterMessageError):
        sw.decode_session(base64.b64encode(b"\x01"))


def test_session_carries_the_get_session_dict_as_an_extra_key() -> None:
    raw = sw.encode_session("s", "p", ["s"], {}, {"user": "ada"})
    assert unpack(base64.b64decode(raw)) == {
        "sid": "s", "pid": "p", "rooms": ["s"], "data": {}, sw.SESSION_FIELD: {"user": "ada"},
    }  # fmt: skip
    assert sw.decode_session(raw)[sw.SESSION_FIELD] == {"user": "ada"}
    assert sw.SESSION_FIELD not in sw.decode_session(sw.encode_session("s", "p", [], {}))
    bad = base64.b64encode(
        pack({"sid": "s", "pid": "p", "rooms": [], "data": {}, sw.SESSION_FIELD: [1]})
    )
    with pytest.raises(AdapterMessageError, match="get_session"):
        sw.decode_session(bad)


def test_offsets() -> None:
    assert sw.is_offset("1-0") and not sw.is_offset("1") and not sw.is_offset(3)
    assert sw.next_offset("17-4") == "17-5"
    assert sw.entry_key("2-1") > sw.entry_key("1-9")


def test_envelope_is_msgpack() -> None:
    assert unpack(sw.pack_envelope(MT.FETCH_SOCKETS, {"a": 1}, "u", "/")) == {
        "type": 7, "data": {"a": 1}, "uid": "u", "nsp": "/",
    }  # fmt: skip
