"""Every Socket.IO per-connection rule, on the sans-I/O SocketIOSession (no gevent, no sockets).

Wire strings follow the socket.io-protocol spec (v5 README, v4 test suite) without the Engine.IO
``4`` message prefix.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsocketio.protocol import socketio as sio
from gsocketio.protocol.socketio import Decoder, Packet, PacketType
from gsocketio.protocol.socketio_session import (
    MAX_NAMESPACE_LENGTH,
    MAX_NAMESPACES_PER_CLIENT,
    Ack,
    Connect,
    Disconnect,
    Event,
    Refused,
    SocketIOSession,
    Violation,
    connect_error_data,
)

T = PacketType
ENGINE_SID = "lv_VI97HAXpY6yYWAAAC"


def v5() -> SocketIOSession:
    return SocketIOSession(eio=4, decoder=Decoder(), sid=ENGINE_SID)


def v4() -> SocketIOSession:
    return SocketIOSession(eio=3, decoder=Decoder(), sid=ENGINE_SID)


def wire(packet: Packet) -> str:
    encoded = sio.encode(packet)
    assert len(encoded) == 1 and isinstance(encoded[0], str)
    return encoded[0]


def joined(session: SocketIOSession, namespace: str = "/") -> SocketIOSession:
    (event,) = session.receive("0" if namespace == "/" else f"0{namespace},")
    assert isinstance(event, Connect)
    session.accept(namespace, session.socket_id(namespace))
    return session


def test_importing_the_core_loads_no_gevent() -> None:
    code = (
        "import sys, gsocketio.protocol.socketio_session; "
        "sys.exit(any(m.split('.')[0] in ('gevent', 'greenlet') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


# --- opening --------------------------------------------------------------------------------


def test_v5_waits_for_connect_and_v4_is_in_root_at_once() -> None:
    assert v5().start() == []
    assert v4().start() == [Connect("/", None, None)]


def test_v5_connect_gives_the_auth_payload() -> None:
    session = v5()
    assert session.receive('0{"token":"123"}') == [Connect("/", {"token": "123"}, None)]
    assert "/" in session and not session.joined("/")
    reply = session.accept("/", "abc")
    assert wire(reply) == '0{"sid":"abc"}'
    assert session.joined("/")


def test_v5_namespace_connect_reply() -> None:
    session = v5()
    assert session.receive("0/admin,") == [Connect("/admin", None, None)]
    assert wire(session.accept("/admin", "xyz")) == '0/admin,{"sid":"xyz"}'


def test_v4_auth_is_the_connect_query() -> None:
    session = v4()
    session.start()
    assert session.receive("0/chat?token=abc&x=1,") == [
        Connect("/chat", {"token": "abc", "x": "1"}, "token=abc&x=1")
    ]
    assert wire(session.accept("/chat", "/chat#" + ENGINE_SID)) == "0/chat,"


def test_socket_ids() -> None:
    assert v4().socket_id("/") == ENGINE_SID
    assert v4().socket_id("/chat") == "/chat#" + ENGINE_SID
    session = v5()
    first, second = session.socket_id("/"), session.socket_id("/")
    assert first != second and ENGINE_SID not in (first, second)
    assert len(first) == 20


# --- events, acks, disconnects ----------------------------------------------------------------


def test_events_and_acks_of_a_joined_namespace() -> None:
    session = joined(v5())
    assert session.receive('2["hello",1]') == [Event("/", ["hello", 1], None)]
    assert session.receive('212["hello"]') == [Event("/", ["hello"], 12)]
    assert session.receive("30[1,2]") == [Ack("/", [1, 2], 0)]


def test_binary_event_is_reassembled() -> None:
    session = joined(v5())
    assert session.receive('51-["up",{"_placeholder":true,"num":0}]') == []
    assert session.receive(b"\x01\x02") == [Event("/", ["up", b"\x01\x02"], None)]


def test_ack_while_joining_is_delivered_event_is_not() -> None:
    session = joined(v5())
    session.receive("0/slow,")  # connect handler still running
    assert session.receive('2/slow,["early"]') == []
    assert session.receive("3/slow,3[1]") == [Ack("/slow", [1], 3)]


@pytest.mark.parametrize("message", ['2["hello"]', "30[]"])
def test_packets_before_any_connect_break_the_protocol(message: str) -> None:
    (event,) = v5().receive(message)
    assert isinstance(event, Violation) and "before any CONNECT" in event.why


def test_packets_for_a_namespace_left_are_ignored() -> None:
    session = joined(v5())
    assert session.receive('2/gone,["x"]') == []
    assert session.receive("3/gone,1[]") == []


def test_second_connect_is_a_violation() -> None:
    session = joined(v5())
    (event,) = session.receive("0")
    assert isinstance(event, Violation) and "second CONNECT" in event.why
    pending = v5()
    pending.receive("0/a,")
    assert isinstance(pending.receive("0/a,")[0], Violation)


def test_client_disconnect() -> None:
    session = joined(v5())
    session.receive("0/a,")
    assert session.receive("1/a,") == [Disconnect("/a")]
    assert "/a" not in session
    assert session.receive("1/a,") == []  # not in it any more
    assert session.receive("1/never,") == []


def test_client_never_sends_connect_error() -> None:
    session = joined(v5())
    (event,) = session.receive('4{"message":"x"}')
    assert isinstance(event, Violation) and "CONNECT_ERROR" in event.why


def test_undecodable_input_is_a_violation() -> None:
    (event,) = joined(v5()).receive("4abc")
    assert isinstance(event, Violation) and event.why.startswith("bad packet")


def test_receive_packet_for_decoded_packets() -> None:
    session = v4()
    assert session.receive_packet(Packet(T.CONNECT, "/")) == [Connect("/", None, None)]
    session.accept("/", ENGINE_SID)
    assert session.receive_packet(Packet(T.EVENT, "/", ["a"], 1)) == [Event("/", ["a"], 1)]


# --- refusals ---------------------------------------------------------------------------------


def test_refusal_shapes_v5_and_v4() -> None:
    session = v5()
    session.receive("0/a,")
    assert wire(session.refuse("/a")) == '4/a,{"message":"Connection rejected by server"}'
    assert "/a" not in session
    assert wire(session.refuse("/a", {"message": "nope", "data": {"code": 1}})) == (
        '4/a,{"message":"nope","data":{"code":1}}'
    )
    old = v4()
    assert wire(old.refuse("/a", "Not authorized")) == '4/a,"Not authorized"'
    assert wire(old.refuse("/a", {"message": "m", "data": {"code": 7}})) == '4/a,{"code":7}'


def test_connect_error_data() -> None:
    assert connect_error_data(4, "x") == {"message": "Connection rejected by server", "data": "x"}
    assert connect_error_data(3, {"message": "m"}) == "m"


@pytest.mark.parametrize("make", [v4, v5])
def test_unknown_namespace_gets_nodes_object_for_both_revisions(
    make: Callable[[], SocketIOSession],
) -> None:
    session = make()
    session.receive("0/nope,")
    assert wire(session.refuse_unknown("/nope")) == '4/nope,{"message":"Invalid namespace"}'
    assert "/nope" not in session


def test_namespace_bound() -> None:
    session = SocketIOSession(eio=4, decoder=Decoder(), max_namespaces=3)
    for name in ("/a", "/b", "/c"):
        assert isinstance(session.receive(f"0{name},")[0], Connect)
    (event,) = session.receive("0/d,")
    assert isinstance(event, Refused) and event.why == "too many namespaces"
    assert wire(event.packet) == '4/d,{"message":"Too many namespaces"}'
    session.receive("1/a,")  # leaving one makes room
    assert isinstance(session.receive("0/d,")[0], Connect)
    assert MAX_NAMESPACES_PER_CLIENT == 256


def test_long_namespace_names_are_refused_without_reflecting_them() -> None:
    session = joined(v5())
    name = "/" + "x" * 900_000
    (event,) = session.receive(f"0{name},")
    assert isinstance(event, Refused)
    assert len(event.packet.namespace) == MAX_NAMESPACE_LENGTH
    assert len(event.why) < 100 and "x" * 50 not in event.why
    assert wire(event.packet).endswith(',{"message":"Invalid namespace"}')
    assert name not in session and len(session) == 1
    ok = "/" + "y" * (MAX_NAMESPACE_LENGTH - 1)
    assert session.receive(f"0{ok},") == [Connect(ok, None, None)]


def test_leave_is_idempotent_and_frees_the_namespace() -> None:
    session = joined(v5())
    session.leave("/")
    session.leave("/")
    assert "/" not in session
    assert session.receive("0") == [Connect("/", None, None)]


@given(st.lists(st.sampled_from(["0", "0/a,", "1/a,", "1", '2["e"]', '2/a,["e"]', "30[]"])))
def test_state_stays_consistent(messages: list[str]) -> None:
    """Whatever a client sends, every Event is for a joined namespace and every Connect for a
    namespace that was not joined (the server auto-accepts here)."""
    session = v5()
    for message in messages:
        for event in session.receive(message):
            if isinstance(event, Connect):
                session.accept(event.namespace, "sid")
            elif isinstance(event, Event):
                assert session.joined(event.namespace)
            elif isinstance(event, Violation):
                return
        assert len(session) <= 2
