"""gsocketio.Server against fake Engine.IO connections (no sockets, no engine).

Expected wire strings come from the socket.io-protocol spec (v5 README tables and sample
session, the v4 test suite), written without the Engine.IO ``4`` message prefix since the
fake connection sees Socket.IO packets. Synchronisation is by events with bounded timeouts.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import gevent
import pytest
from gevent.event import Event

import gsocketio
import gsocketio.adapters.base
import gsocketio.client
from gsocketio.server import Server
from tests.helpers.sio_fakes import WAIT, FakeConn


def wait_event(event: Event, what: str = "event") -> None:
    assert event.wait(WAIT), f"timed out waiting for {what}"


def connect_v5(sio: Server, conn: FakeConn, namespace: str = "/", auth: str = "") -> str:
    """Open the engine connection and the namespace; return the socket sid."""
    if conn.sid not in sio._clients:
        sio.engine_connect(conn)
    sio.engine_message(conn, "0" + ("" if namespace == "/" else namespace + ",") + auth)
    reply = conn.next()
    assert isinstance(reply, str)
    prefix = "0" if namespace == "/" else f"0{namespace},"
    assert reply.startswith(prefix + "{"), reply
    return str(json.loads(reply[len(prefix) :])["sid"])


@pytest.fixture
def sio() -> Server:
    return Server()


# --- connect, v5 -----------------------------------------------------------------------------


def test_v5_connect_main_namespace(sio: Server) -> None:
    seen: list[tuple[str, Any, Any]] = []

    @sio.event
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        seen.append((sid, environ, auth))

    conn = FakeConn()
    sio.engine_connect(conn)
    assert conn.sent == []  # v5: nothing until the client's CONNECT
    sio.engine_message(conn, "0")
    reply = conn.next()
    assert isinstance(reply, str)
    assert re.fullmatch(r'0\{"sid":"[A-Za-z0-9_-]{20}"\}', reply), reply
    sid = json.loads(reply[1:])["sid"]
    assert sid != conn.sid  # never the engine sid
    assert seen == [(sid, conn.environ, None)]
    assert sio.sockets() == [sid]


def test_v5_auth_payload_reaches_the_handler(sio: Server) -> None:
    auths: list[Any] = []
    sio.on("connect", lambda sid, environ, auth: auths.append(auth))
    conn = FakeConn()
    connect_v5(sio, conn, auth='{"token":"123"}')
    assert auths == [{"token": "123"}]


def test_v5_custom_namespace_gets_its_own_sid(sio: Server) -> None:
    sio.on("connect", lambda sid: None, namespace="/admin")  # fewer parameters are fine
    conn = FakeConn()
    main_sid = connect_v5(sio, conn)
    admin_sid = connect_v5(sio, conn, "/admin", '{"token":"abc"}')
    assert admin_sid != main_sid
    assert sio.sockets("/admin") == [admin_sid]


def test_v5_refusals(sio: Server) -> None:
    @sio.event
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool | None:
        token = (auth or {}).get("token")
        if token == "raise":
            raise gsocketio.ConnectionRefusedError("Not authorized")
        if token == "data":
            raise gsocketio.ConnectionRefusedError("Not authorized", {"code": 7})
        if token == "false":
            return False
        return None

    replies = []
    for i, token in enumerate(("raise", "data", "false")):
        conn = FakeConn(sid=f"E{i}")
        sio.engine_connect(conn)
        sio.engine_message(conn, "0" + json.dumps({"token": token}, separators=(",", ":")))
        replies.append(conn.next())
        assert not conn.closed
    assert replies == [
        '4{"message":"Not authorized"}',  # the spec's example
        '4{"message":"Not authorized","data":{"code":7}}',
        '4{"message":"Connection rejected by server"}',
    ]
    assert sio.sockets() == []


def test_v5_unknown_namespace_is_refused(sio: Server) -> None:
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0/random,")
    assert conn.next() == '4/random,{"message":"Invalid namespace"}'  # the test suite's answer


def test_middleware_runs_first_and_can_refuse(sio: Server) -> None:
    calls: list[str] = []

    @sio.use
    def check(sid: str, environ: dict[str, Any], auth: Any, namespace: str) -> None:
        calls.append(f"mw {namespace} {auth}")
        if auth and auth.get("user") == "mallory":
            raise gsocketio.ConnectionRefusedError("go away")

    sio.on("connect", lambda sid, environ, auth: calls.append("handler"))
    connect_v5(sio, FakeConn("A"), auth='{"user":"alice"}')
    conn = FakeConn("B")
    sio.engine_connect(conn)
    sio.engine_message(conn, '0{"user":"mallory"}')
    assert conn.next() == '4{"message":"go away"}'
    assert calls == ["mw / {'user': 'alice'}", "handler", "mw / {'user': 'mallory'}"]


def test_first_packet_must_be_connect(sio: Server) -> None:
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, '2["hello"]')
    assert conn.closed


def test_invalid_packet_closes_the_connection(sio: Server) -> None:
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "4abc")  # from the test suite: invalid handshake
    assert conn.closed


def test_connect_timeout_closes_idle_connection() -> None:
    sio = Server(connect_timeout=0.05)
    conn = FakeConn()
    sio.engine_connect(conn)
    with gevent.Timeout(WAIT):
        while not conn.closed:
            conn._changed.clear()
            conn._changed.wait()
    assert conn.sid not in sio._clients


def test_emits_during_connect_are_sent_after_the_connect_reply(sio: Server) -> None:
    @sio.event
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        sio.enter_room(sid, "lobby")
        sio.emit("welcome", "hi", to=sid)
        sio.emit("lobby", "joined", to="lobby")

    conn = FakeConn()
    connect_v5(sio, conn)  # asserts the first message is the CONNECT reply
    assert conn.next() == '2["welcome","hi"]'
    assert conn.next() == '2["lobby","joined"]'


# --- connect, v4 (Engine.IO 3 clients) -------------------------------------------------------


def test_v4_server_connects_main_namespace_itself(sio: Server) -> None:
    seen: list[tuple[str, Any]] = []
    sio.on("connect", lambda sid, environ, auth: seen.append((sid, auth)))
    sio.on("connect", lambda sid, environ, auth: seen.append((sid, auth)), namespace="/chat")
    conn = FakeConn(sid="abc123", eio=3)
    sio.engine_connect(conn)
    assert conn.next() == "0"  # no sid payload in v4
    assert seen == [("abc123", None)]  # socket id = engine sid in "/"

    sio.engine_message(conn, "0/chat?token=abc,")
    assert conn.next() == "0/chat,"
    assert seen[1] == ("/chat#abc123", {"token": "abc"})
    assert sorted(sio.sockets("/chat")) == ["/chat#abc123"]


def test_v4_refusal_data_is_a_plain_value(sio: Server) -> None:
    @sio.on("connect", namespace="/a")
    def refuse_a(sid: str, environ: dict[str, Any], auth: Any) -> None:
        raise gsocketio.ConnectionRefusedError("Not authorized")

    @sio.on("connect", namespace="/b")
    def refuse_b(sid: str, environ: dict[str, Any], auth: Any) -> None:
        raise gsocketio.ConnectionRefusedError("Not authorized", {"code": 7})

    conn = FakeConn(eio=3)
    sio.engine_connect(conn)
    assert conn.next() == "0"
    sio.engine_message(conn, "0/a,")
    assert conn.next() == '4/a,"Not authorized"'
    sio.engine_message(conn, "0/b,")
    assert conn.next() == '4/b,{"code":7}'
    sio.engine_message(conn, "0/nope,")
    # An unknown namespace gets what Node sends v4 clients too: the object (issue 9)
    assert conn.next() == '4/nope,{"message":"Invalid namespace"}'


def test_v4_events_and_acks(sio: Server) -> None:
    sio.on("echo", lambda sid, *args: args)
    conn = FakeConn(eio=3)
    sio.engine_connect(conn)
    assert conn.next() == "0"
    sio.engine_message(conn, '21["echo","a",2]')
    assert conn.next() == '31["a",2]'


# --- events and acks -------------------------------------------------------------------------


def test_event_handler_gets_sid_and_args(sio: Server) -> None:
    got: list[Any] = []
    done = Event()

    @sio.on("message")
    def message(sid: str, *args: Any) -> None:
        got.append((sid, args))
        sio.emit("message-back", *args, to=sid)
        done.set()

    conn = FakeConn()
    sid = connect_v5(sio, conn)
    sio.engine_message(conn, '2["message",1,"2",{"3":[true]}]')
    wait_event(done)
    assert got == [(sid, (1, "2", {"3": [True]}))]
    assert conn.next() == '2["message-back",1,"2",{"3":[true]}]'  # the test suite's echo


def test_event_with_ack_replies_with_the_return_value(sio: Server) -> None:
    sio.on("foo", lambda sid: None)
    sio.on("bar", lambda sid: "bar")
    sio.on("many", lambda sid: (1, "two"))
    conn = FakeConn()
    connect_v5(sio, conn)
    sio.engine_message(conn, '212["foo"]')
    assert conn.next() == "312[]"  # the spec's example
    sio.engine_message(conn, '213["bar"]')
    assert conn.next() == '313["bar"]'
    sio.engine_message(conn, '214["many"]')
    assert conn.next() == '314[1,"two"]'


def test_ack_in_custom_namespace(sio: Server) -> None:
    sio.on("foo", lambda sid: "bar", namespace="/admin")
    conn = FakeConn()
    connect_v5(sio, conn, "/admin")
    sio.engine_message(conn, '2/admin,13["foo"]')
    assert conn.next() == '3/admin,13["bar"]'  # the spec's example


def test_catch_all_receives_the_event_name_first(sio: Server) -> None:
    got: list[Any] = []
    sio.on("known", lambda sid, x: got.append(("known", x)))

    def catch_all(event: str, sid: str, *args: Any) -> str:
        got.append((event, args))
        return "caught"

    sio.on("*", catch_all)
    conn = FakeConn()
    connect_v5(sio, conn)
    sio.engine_message(conn, '21["whatever",1,2]')
    assert conn.next() == '31["caught"]'
    sio.engine_message(conn, '22["known",3]')
    assert conn.next() == "32[]"
    assert got == [("whatever", (1, 2)), ("known", 3)]


def test_server_to_client_ack_callback(sio: Server) -> None:
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    got: list[Any] = []
    done = Event()

    def callback(*args: Any) -> None:
        got.append(args)
        done.set()

    sio.emit("foo", to=sid, callback=callback)
    assert conn.next() == '20["foo"]'
    sio.engine_message(conn, '30["bar",1]')
    wait_event(done, "ack callback")
    assert got == [("bar", 1)]


def test_call_returns_the_ack(sio: Server) -> None:
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    one = gevent.spawn(sio.call, "question", "q1", to=sid, timeout=WAIT)
    assert conn.next() == '20["question","q1"]'
    sio.engine_message(conn, '30["answer"]')
    assert one.get(timeout=WAIT) == "answer"

    several = gevent.spawn(sio.call, "q", to=sid, timeout=WAIT)
    assert conn.next() == '21["q"]'
    sio.engine_message(conn, "31[1,2]")
    assert several.get(timeout=WAIT) == (1, 2)

    none = gevent.spawn(sio.call, "q", to=sid, timeout=WAIT)
    assert conn.next() == '22["q"]'
    sio.engine_message(conn, "32[]")
    assert none.get(timeout=WAIT) is None


def test_call_times_out(sio: Server) -> None:
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    with pytest.raises(gsocketio.CallTimeoutError):
        sio.call("never_acked", to=sid, timeout=0.05)
    sock = sio._socket(sid, "/")
    assert sock.acks is not None and len(sock.acks) == 0  # the late ack will be ignored
    sio.engine_message(conn, "30[]")  # a late ack is harmless
    assert not conn.closed


def test_call_is_aborted_when_the_socket_goes(sio: Server) -> None:
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    pending = gevent.spawn(sio.call, "q", to=sid, timeout=WAIT * 5)
    conn.next()
    sio.engine_disconnect(conn, "transport close")
    with pytest.raises(gsocketio.CallTimeoutError):  # CallAbortedError, without the wait
        pending.get(timeout=WAIT)
    assert isinstance(pending.exception, gsocketio.exceptions.CallAbortedError)


def test_call_to_unknown_sid_raises(sio: Server) -> None:
    with pytest.raises(gsocketio.exceptions.UnknownSocketError):
        sio.call("q", to="nobody", timeout=0.01)


def test_pending_acks_are_bounded(sio: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gsocketio.acks, "DEFAULT_ACK_LIMIT", 3)
    monkeypatch.setattr(gsocketio.socket, "DEFAULT_ACK_LIMIT", 3)
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    for _ in range(10):
        sio.emit("e", to=sid, callback=lambda *a: None)
    sock = sio._socket(sid, "/")
    assert sock.acks is not None and len(sock.acks) == 3


def test_binary_in_and_out(sio: Server) -> None:
    got: list[Any] = []

    @sio.on("baz")
    def baz(sid: str, blob: bytes, meta: Any) -> Any:
        got.append((blob, meta))
        return "bar", blob[::-1]

    conn = FakeConn()
    sid = connect_v5(sio, conn)
    sio.engine_message(conn, '51-14["baz",{"_placeholder":true,"num":0},{"m":1}]')
    sio.engine_message(conn, b"\x01\x02\x03\x04")
    assert conn.next() == '61-14["bar",{"_placeholder":true,"num":0}]'
    assert conn.next() == b"\x04\x03\x02\x01"
    assert got == [(b"\x01\x02\x03\x04", {"m": 1})]

    sio.emit("baz", b"\x01\x02\x03\x04", to=sid)
    assert conn.next() == '51-["baz",{"_placeholder":true,"num":0}]'  # the spec's example
    assert conn.next() == b"\x01\x02\x03\x04"

    # a binary ack from the client to a server emit
    acked: list[Any] = []
    done = Event()

    def on_ack(*a: Any) -> None:
        acked.append(a)
        done.set()

    sio.emit("foo", to=sid, callback=on_ack)
    assert conn.next() == '20["foo"]'
    sio.engine_message(conn, '61-0["bar",{"_placeholder":true,"num":0}]')
    sio.engine_message(conn, b"\x05")
    wait_event(done)
    assert acked == [("bar", b"\x05")]


def test_slow_handler_does_not_block_the_reader(sio: Server) -> None:
    release = Event()
    sio.on("slow", lambda sid: release.wait(WAIT) and "slow done")
    sio.on("fast", lambda sid: "fast done")
    conn = FakeConn()
    connect_v5(sio, conn)
    sio.engine_message(conn, '21["slow"]')
    sio.engine_message(conn, '22["fast"]')
    assert conn.next() == '32["fast done"]'
    release.set()
    assert conn.next() == '31["slow done"]'


def test_handler_greenlets_per_connection_are_bounded(sio: Server) -> None:
    # the real bound (a Final: code compiled by mypyc does not see it patched)
    bound = gsocketio.client.MAX_HANDLERS_PER_CLIENT
    release = Event()
    sio.on("slow", lambda sid, n: release.wait(WAIT) and n)
    conn = FakeConn()
    connect_v5(sio, conn)

    def read() -> None:
        for n in range(bound + 1):
            sio.engine_message(conn, f'2{n}["slow",{n}]')

    reader = gevent.spawn(read)
    gevent.sleep(0)  # let the reader run until it blocks
    assert not reader.ready()  # the last event waits for a free slot: backpressure
    release.set()
    reader.join(WAIT)
    assert reader.successful()
    expected = sorted(f"3{n}[{n}]" for n in range(bound + 1))
    assert sorted(conn.wait_sent(bound + 2)[1:]) == expected


def test_send_emits_message(sio: Server) -> None:
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    sio.send({"text": "hi"}, to=sid)
    assert conn.next() == '2["message",{"text":"hi"}]'


def test_handler_exception_is_logged_and_socket_stays(
    sio: Server, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(sid: str) -> None:
        raise RuntimeError("on purpose")

    sio.on("boom", boom)
    sio.on("ping", lambda sid: "pong")
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    with caplog.at_level(logging.ERROR, logger="gsocketio"):
        sio.engine_message(conn, '21["boom"]')
        sio.engine_message(conn, '22["ping"]')
        assert conn.next() == '32["pong"]'
    record = next(r for r in caplog.records if "boom" in r.getMessage())
    assert sid in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert not conn.closed and sio.sockets() == [sid]


def test_emitting_a_reserved_event_is_refused(sio: Server) -> None:
    with pytest.raises(ValueError):
        sio.emit("connect")


# --- class-based and dynamic namespaces ------------------------------------------------------


def test_class_based_namespace(sio: Server) -> None:
    log: list[Any] = []
    gone = Event()

    class Chat(gsocketio.Namespace):
        def on_connect(self, sid: str, environ: dict[str, Any]) -> None:
            log.append(("connect", sid))
            self.enter_room(sid, "room1")

        def on_message(self, sid: str, data: Any) -> Any:
            self.emit("message", data, to="room1", skip_sid=sid)
            return {"ok": data}

        def on_disconnect(self, sid: str, reason: str) -> None:
            log.append(("disconnect", sid, reason))
            gone.set()

    sio.register_namespace(Chat("/chat"))
    alice, bob = FakeConn("A"), FakeConn("B")
    alice_sid = connect_v5(sio, alice, "/chat")
    bob_sid = connect_v5(sio, bob, "/chat")
    assert sorted(sio.rooms(alice_sid, namespace="/chat")) == sorted([alice_sid, "room1"])
    sio.engine_message(alice, '2/chat,1["message","hi"]')
    assert alice.next() == '3/chat,1[{"ok":"hi"}]'
    assert bob.next() == '2/chat,["message","hi"]'
    sio.engine_message(bob, "1/chat,")
    wait_event(gone)
    assert log == [
        ("connect", alice_sid),
        ("connect", bob_sid),
        ("disconnect", bob_sid, "client namespace disconnect"),
    ]


def test_namespace_trigger_event_override_sees_everything(sio: Server) -> None:
    seen: list[Any] = []

    class Audited(gsocketio.Namespace):
        def trigger_event(self, event: str, *args: Any) -> Any:
            seen.append(event)
            return super().trigger_event(event, *args)

        def on_hello(self, sid: str) -> str:
            return "hello!"

    sio.register_namespace(Audited("/audit"))
    conn = FakeConn()
    connect_v5(sio, conn, "/audit")
    sio.engine_message(conn, '2/audit,1["hello"]')
    assert conn.next() == '3/audit,1["hello!"]'
    assert seen == ["connect", "hello"]


def test_dynamic_namespaces_with_a_callable() -> None:
    sio = Server(namespaces=lambda nsp, environ: nsp.startswith("/room-"))
    seen: list[Any] = []
    sio.on("connect", lambda nsp, sid, environ, auth: seen.append(nsp), namespace="*")
    sio.on("where", lambda nsp, sid: nsp, namespace="*")
    conn = FakeConn()
    connect_v5(sio, conn, "/room-42")
    sio.engine_message(conn, '2/room-42,1["where"]')
    assert conn.next() == '3/room-42,1["/room-42"]'
    sio.engine_message(conn, "0/other,")
    assert conn.next() == '4/other,{"message":"Invalid namespace"}'
    assert seen == ["/room-42"]


def test_any_namespace_with_star() -> None:
    sio = Server(namespaces="*")
    conn = FakeConn()
    sid = connect_v5(sio, conn, "/anything")
    assert sio.sockets("/anything") == [sid]


# --- rooms and broadcasts --------------------------------------------------------------------


def test_rooms_and_broadcast_with_skip_sid(sio: Server) -> None:
    conns = [FakeConn(f"E{i}") for i in range(4)]
    sids = [connect_v5(sio, c) for c in conns]
    for sid in sids[:3]:
        sio.enter_room(sid, "red")
    sio.emit("shout", "hi", to="red", skip_sid=sids[0])
    sio.emit("all", 1)
    sio.emit("pair", to=[sids[0], sids[3]])
    sio.leave_room(sids[1], "red")
    sio.emit("after-leave", to="red")
    sio.close_room("red")
    sio.emit("after-close", to="red")
    received = [[m for m in c.sent[1:]] for c in conns]
    assert received == [
        ['2["all",1]', '2["pair"]', '2["after-leave"]'],
        ['2["shout","hi"]', '2["all",1]'],
        ['2["shout","hi"]', '2["all",1]', '2["after-leave"]'],
        ['2["all",1]', '2["pair"]'],
    ]


def test_broadcast_encodes_once() -> None:
    # counted by the serializer (one call per encode): code compiled by mypyc calls the
    # protocol's encode directly, so a patched module attribute would not see it
    calls: list[Any] = []

    class CountingJSON:
        @staticmethod
        def dumps(obj: Any, **kw: Any) -> str:
            calls.append(obj)
            return json.dumps(obj, separators=(",", ":"), **kw)

        loads = staticmethod(json.loads)

    sio = Server(json=CountingJSON)
    conns = [FakeConn(f"E{i}") for i in range(5)]
    sids = [connect_v5(sio, c) for c in conns]
    for sid in sids:
        sio.enter_room(sid, "room")
    calls.clear()  # the CONNECT replies
    sio.emit("news", {"x": 1}, to="room", skip_sid=sids[0])
    sio.emit("everyone", b"\x00")
    assert len(calls) == 2
    assert [c.sent[-1] for c in conns[1:]] == [b"\x00"] * 4
    assert all(c.sent[-3] == '2["news",{"x":1}]' for c in conns[1:])


def test_enter_room_of_unknown_sid_raises(sio: Server) -> None:
    with pytest.raises(gsocketio.exceptions.UnknownSocketError):
        sio.enter_room("nobody", "room")


# --- disconnects -----------------------------------------------------------------------------


def _disconnect_recorder(sio: Server, namespace: str = "/") -> tuple[list[Any], Event]:
    log: list[Any] = []
    done = Event()

    def on_disconnect(sid: str, reason: str) -> None:
        log.append((sid, reason))
        done.set()

    sio.on("disconnect", on_disconnect, namespace=namespace)
    return log, done


def test_client_disconnects_a_namespace(sio: Server) -> None:
    log, done = _disconnect_recorder(sio, "/admin")
    conn = FakeConn()
    main_sid = connect_v5(sio, conn)
    admin_sid = connect_v5(sio, conn, "/admin")
    sio.engine_message(conn, "1/admin,")
    wait_event(done)
    assert log == [(admin_sid, "client namespace disconnect")]
    assert sio.sockets("/admin") == [] and sio.sockets() == [main_sid]
    assert not conn.closed


def test_server_disconnects_a_socket(sio: Server) -> None:
    log, _ = _disconnect_recorder(sio, "/admin")
    sio.on("x", lambda sid: None, namespace="/admin")
    conn = FakeConn()
    connect_v5(sio, conn)
    admin_sid = connect_v5(sio, conn, "/admin")
    sio.disconnect(admin_sid, namespace="/admin")
    assert conn.next() == "1/admin,"  # the spec's encoding
    assert log == [(admin_sid, "server namespace disconnect")]  # ran before disconnect() returned
    sio.disconnect(admin_sid, namespace="/admin")  # again: no-op
    sio.engine_message(conn, '2/admin,["x"]')  # racing event after the disconnect: ignored
    assert not conn.closed and len(conn.sent) == 3


def test_engine_close_disconnects_every_namespace(sio: Server) -> None:
    log, done = _disconnect_recorder(sio)
    log_admin, done_admin = _disconnect_recorder(sio, "/admin")
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    sio.enter_room(sid, "room")
    admin_sid = connect_v5(sio, conn, "/admin")
    sio.engine_disconnect(conn, "transport close")
    wait_event(done)
    wait_event(done_admin)
    assert log == [(sid, "transport close")] and log_admin == [(admin_sid, "transport close")]
    assert sio.sockets() == [] and sio._clients == {}
    assert sio.adapter.sockets("/", gsocketio.adapters.base.BroadcastOptions()) == set()


def test_disconnect_handler_with_only_sid(sio: Server) -> None:
    done = Event()
    sio.on("disconnect", lambda sid: done.set())
    conn = FakeConn()
    connect_v5(sio, conn)
    sio.engine_message(conn, "1")
    wait_event(done)


def test_client_leaving_during_connect_still_pairs_connect_and_disconnect(sio: Server) -> None:
    release = Event()
    log, done = _disconnect_recorder(sio)
    sio.on("connect", lambda sid, environ, auth: release.wait(WAIT))
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    sio.engine_disconnect(conn, "transport close")
    release.set()
    wait_event(done)
    assert log[0][1] == "transport close"
    assert conn.sent == []


# --- session ---------------------------------------------------------------------------------


def test_session(sio: Server) -> None:
    conn = FakeConn()
    sid = connect_v5(sio, conn)
    with sio.session(sid) as session:
        session["user"] = "alice"
    assert sio.get_session(sid) == {"user": "alice"}
    sio.save_session(sid, {"user": "bob"})
    with sio.session(sid) as session:
        assert session == {"user": "bob"}
    with pytest.raises(gsocketio.exceptions.UnknownSocketError):
        sio.get_session("nobody")


def test_background_task_and_sleep(sio: Server) -> None:
    results: list[int] = []
    task = sio.start_background_task(lambda a, b=0: results.append(a + b), 1, b=2)
    task.join(WAIT)
    sio.sleep(0)
    assert results == [3]


def test_always_connect_sends_connect_first_then_disconnect_on_refusal() -> None:
    sio = Server(always_connect=True)
    sio.on("connect", lambda sid, environ, auth: False)
    conn = FakeConn()
    sio.engine_connect(conn)
    sio.engine_message(conn, "0")
    assert str(conn.next()).startswith('0{"sid":')
    assert conn.next() == "1"


# --- bounds and failures the log must show (issues 9, 15) -------------------------------------


def test_long_namespace_name_is_refused_without_reflecting_it(
    sio: Server, caplog: pytest.LogCaptureFixture
) -> None:
    sio.namespaces = "*"
    conn = FakeConn()
    connect_v5(sio, conn)
    name = "/" + "n" * 900_000
    with caplog.at_level(logging.DEBUG, logger="gsocketio"):
        sio.engine_message(conn, f"0{name},")
    reply = conn.next()
    assert isinstance(reply, str) and reply.endswith(',{"message":"Invalid namespace"}')
    assert len(reply) < 400
    assert "n" * 300 not in caplog.text and len(caplog.text) < 2000
    assert name not in sio._sockets and not conn.closed


def test_unencodable_ack_reply_is_logged_with_the_event(
    sio: Server, caplog: pytest.LogCaptureFixture
) -> None:
    done = Event()

    @sio.on("odd")
    def odd(sid: str) -> object:
        done.set()
        return object()  # no JSON for it

    conn = FakeConn()
    connect_v5(sio, conn)
    with caplog.at_level(logging.ERROR, logger="gsocketio"):
        sio.engine_message(conn, '21["odd"]')
        wait_event(done, "handler")
        with gevent.Timeout(WAIT):
            while "cannot be encoded" not in caplog.text:
                gevent.sleep(0.01)
    assert "'odd'" in caplog.text
    assert not conn.closed  # the connection is still served


def test_shut_down_drains_and_closes_every_server_of_the_process() -> None:
    from gsocketio.drain import shut_down

    servers = [Server(), Server()]
    conns = [FakeConn(), FakeConn()]
    for s, conn in zip(servers, conns, strict=True):
        connect_v5(s, conn)
    assert shut_down(batch_size=1, interval=0) >= 2  # (other tests' servers may be alive too)
    for s, conn in zip(servers, conns, strict=True):
        assert s.sockets() == [] and conn.closed
