"""LegacyConnection between a real gsocketio.Server and a fake endpoint (no sockets): 0.9
packets reach the Socket.IO layer as packets, and the server's intent for ``/`` arrives as
calls (``close_namespace``, ``refuse``), not as wire strings to recognise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import pytest
from gevent.event import Event

import gsocketio
from gsocketio.client import own_wire
from gsocketio.legacy.connection import LegacyConnection
from gsocketio.protocol.legacy_bridge import LegacyWire
from gsocketio.protocol.legacy_session import LegacyConfig, LegacySession
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.server import Server

WAIT = 2.0


class FakeReaper:
    def schedule(self, deadline: float, conn: Any) -> None:
        pass


class FakeEndpoint:
    """What a LegacyConnection uses of its LegacyServer."""

    def __init__(self, handler: Server) -> None:
        self.handler = handler
        self.wire = LegacyWire()
        self.reaper = FakeReaper()
        self.forgotten: list[LegacyConnection] = []

    def opened(self, conn: LegacyConnection) -> None:
        pass

    def forget(self, conn: LegacyConnection) -> None:
        self.forgotten.append(conn)


def open_connection(sio: Server, sid: str = "legacy1") -> LegacyConnection:
    endpoint = FakeEndpoint(sio)
    session = LegacySession(sid, LegacyConfig(), time.monotonic())
    conn = LegacyConnection(endpoint, session, {"QUERY_STRING": ""})  # type: ignore[arg-type]
    conn.open("xhr-polling")
    return conn


def drain(conn: LegacyConnection, until: Callable[[list[str]], bool]) -> list[str]:
    """Poll the connection as an xhr-polling client would, until ``until(all received)``."""
    received: list[str] = []
    with gevent.Timeout(WAIT, AssertionError(f"timed out; got {received}")):
        while not until(received):
            receiver = conn.attach()
            received.extend(conn.wait(receiver, 0.05))
            conn.detach(receiver)
    return received


def test_a_legacy_connection_is_a_connection_with_its_own_wire() -> None:
    conn = open_connection(Server())
    assert own_wire(conn) is conn


def test_events_cross_as_packets_and_acks_come_back_in_09_form() -> None:
    sio = Server()
    sio.on("echo", lambda sid, *args: args)
    conn = open_connection(sio)
    assert "1::" in drain(conn, lambda got: "1::" in got)
    assert conn.receive_text('5:7+::{"name":"echo","args":[1,"two"]}')
    assert drain(conn, lambda got: any(t.startswith("6:::") for t in got)) == ['6:::7+[1,"two"]']


def test_server_disconnect_of_root_boots_the_client() -> None:
    sio = Server()
    gone = Event()
    reasons: list[str] = []

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        reasons.append(reason)
        gone.set()

    conn = open_connection(sio)
    drain(conn, lambda got: "1::" in got)
    sio.disconnect(conn.sid)
    assert drain(conn, lambda got: "0::" in got)[-1] == "0::"
    assert conn.closed and conn.session.close_reason == DisconnectReason.SERVER_DISCONNECT
    assert gone.wait(WAIT) and reasons == ["server namespace disconnect"]


def test_refused_root_gets_connect_failed_then_the_farewell() -> None:
    sio = Server()

    @sio.event
    def connect(sid: str, environ: dict[str, Any]) -> None:
        raise gsocketio.ConnectionRefusedError("no")

    conn = open_connection(sio)
    assert drain(conn, lambda got: "0::" in got) == ["7:::2", "0::"]
    assert conn.closed and conn.session.close_reason == DisconnectReason.FORCED_CLOSE


def test_other_namespaces_leave_the_connection_open() -> None:
    sio = Server(namespaces="*")
    conn = open_connection(sio)
    drain(conn, lambda got: "1::" in got)
    assert conn.receive_text("1::/chat")
    drain(conn, lambda got: "1::/chat" in got)
    sio.disconnect("/chat#" + conn.sid, namespace="/chat")
    assert "0::/chat" in drain(conn, lambda got: "0::/chat" in got)
    assert not conn.closed


def test_binary_output_is_dropped_loudly(caplog: pytest.LogCaptureFixture) -> None:
    conn = open_connection(Server())
    conn.send_many([b"\x00"])
    assert "binary message for a 0.9 client dropped" in caplog.text
