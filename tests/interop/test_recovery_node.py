"""Connection state recovery on the memory adapter with the real socket.io-client 4.x.

The client keeps reconnection off and reconnects on command, so what happens in between is
deterministic: the transport is dropped (by the client, or by the server closing the engine
connection without a namespace disconnect), the server emits to the socket's room and to its
sid while it is away, then the client reconnects and must get ``recovered``, its id, rooms and
data, and the missed events in order, exactly once, before the live ones.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest
from gevent.event import Event

import gsocketio
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.drain import drain_on_sigterm
from gsocketio.protocol.reasons import DisconnectReason
from tests.helpers.node import NodeClient

SCRIPT = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ARGS.transports, reconnection: false });
s.on("connect", () => out({ connected: s.id, recovered: s.recovered }));
s.on("disconnect", (reason) => out({ disconnected: reason }));
s.on("ev", (...args) => out({ ev: args }));
onLine((cmd) => {
  if (cmd.drop) s.io.engine.close();
  if (cmd.connect) s.connect();
  if (cmd.quit) { s.close(); done(); }
});
"""


@dataclass
class Recorder:
    connects: list[tuple[str, bool, list[str], dict[str, Any]]] = field(default_factory=list)
    connected: Event = field(default_factory=Event)
    disconnected: Event = field(default_factory=Event)
    reasons: list[str] = field(default_factory=list)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def recovering(
    serve: Callable[..., str],
) -> Iterator[Callable[..., tuple[str, gsocketio.Server, Recorder, FakeClock]]]:
    def _start(window: float = 60.0) -> tuple[str, gsocketio.Server, Recorder, FakeClock]:
        sio = gsocketio.Server(
            cors_allowed_origins="*",
            connection_state_recovery={"max_disconnection_duration": window},
        )
        clock = FakeClock()
        adapter = sio.adapter
        assert isinstance(adapter, MemoryAdapter) and adapter._recovery is not None
        adapter._recovery._clock = clock
        rec = Recorder()

        @sio.on("connect")
        def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            recovered = sio.is_recovered(sid)
            data = sio.get_data(sid)
            if not recovered:
                sio.enter_room(sid, "garden")
                data["user"] = "ada"
            rec.connects.append((sid, recovered, sorted(sio.rooms(sid)), dict(data)))
            rec.connected.set()

        @sio.on("disconnect")
        def disconnect(sid: str, reason: str) -> None:
            rec.reasons.append(reason)
            rec.disconnected.set()

        return serve(sio.wsgi_app()), sio, rec, clock

    yield _start


def _wait(event: Event) -> None:
    assert event.wait(10), "timed out"
    event.clear()


def _events(client: NodeClient, count: int) -> list[list[Any]]:
    return [client.expect("ev")["ev"] for _ in range(count)]


def _drop(client: NodeClient, sio: gsocketio.Server, by: str) -> None:
    if by == "client":
        client.send({"drop": True})
    else:  # the server kills the transport, no namespace disconnect
        for engine_client in list(sio._clients.values()):
            sio.close_client(engine_client, DisconnectReason.FORCED_CLOSE)


@pytest.mark.parametrize("by", ["client", "server"])
@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_recovers_id_rooms_data_and_missed_events(
    recovering: Callable[..., tuple[str, gsocketio.Server, Recorder, FakeClock]],
    transport: str,
    by: str,
) -> None:
    url, sio, rec, _clock = recovering()
    client = NodeClient(SCRIPT, url, args={"transports": [transport]})
    try:
        first = client.expect("connected")
        assert first["recovered"] is False
        _wait(rec.connected)
        sid = rec.connects[0][0]
        assert first["connected"] == sid
        sio.emit("ev", 1, to="garden")
        sio.emit("ev", 2, to=sid)
        live = _events(client, 2)
        assert [e[0] for e in live] == [1, 2]
        assert all(isinstance(e[-1], str) for e in live)  # the offset, as Node appends it

        _drop(client, sio, by)
        _wait(rec.disconnected)
        assert client.expect("disconnected")
        sio.emit("ev", 3, to="garden")
        sio.emit("ev", 4, to=sid)
        sio.emit("ev", "bin", b"\x01\x02", to="garden")
        sio.emit("ev", "elsewhere", to="other-room")  # not addressed to it
        client.send({"connect": True})
        again = client.expect("connected")
        assert again == {"connected": sid, "recovered": True}
        _wait(rec.connected)
        assert rec.connects[1] == (sid, True, sorted([sid, "garden"]), {"user": "ada"})
        sio.emit("ev", 5, to="garden")
        missed = _events(client, 4)
        assert [e[0] for e in missed] == [3, 4, "bin", 5]
        assert missed[2][1] == {"type": "Buffer", "data": [1, 2]}  # binary is stored too
        offsets = [e[-1] for e in live + missed]
        assert len(set(offsets)) == len(offsets)
        client.send({"quit": True})
        client.expect("disconnected")
    finally:
        client.close()


def test_expired_window_gives_a_fresh_session(
    recovering: Callable[..., tuple[str, gsocketio.Server, Recorder, FakeClock]],
) -> None:
    url, sio, rec, clock = recovering(window=5.0)
    client = NodeClient(SCRIPT, url, args={"transports": ["websocket"]})
    try:
        client.expect("connected")
        _wait(rec.connected)
        sid = rec.connects[0][0]
        sio.emit("ev", 1, to=sid)
        client.expect("ev")
        client.send({"drop": True})
        _wait(rec.disconnected)
        clock.now += 6.0
        sio.emit("ev", 2, to="garden")
        client.send({"connect": True})
        again = client.expect("connected")
        assert again["recovered"] is False and again["connected"] != sid
        _wait(rec.connected)
        assert rec.connects[1][1] is False
        sio.emit("ev", 3, to=again["connected"])
        assert client.expect("ev")["ev"][0] == 3  # 2 was never replayed
        client.send({"quit": True})
        client.expect("disconnected")
    finally:
        client.close()


def test_explicit_disconnect_is_not_recovered(
    recovering: Callable[..., tuple[str, gsocketio.Server, Recorder, FakeClock]],
) -> None:
    url, sio, rec, _clock = recovering()
    client = NodeClient(
        SCRIPT.replace("if (cmd.drop) s.io.engine.close();", "if (cmd.drop) s.disconnect();"),
        url,
        args={"transports": ["websocket"]},
    )
    try:
        client.expect("connected")
        _wait(rec.connected)
        sid = rec.connects[0][0]
        sio.emit("ev", 1, to=sid)
        client.expect("ev")
        client.send({"drop": True})
        _wait(rec.disconnected)
        assert rec.reasons == [DisconnectReason.CLIENT_DISCONNECT]
        client.send({"connect": True})
        again = client.expect("connected")
        assert again["recovered"] is False and again["connected"] != sid
        gevent.sleep(0)
        client.send({"quit": True})
        client.expect("disconnected")
    finally:
        client.close()


def test_drain_closes_in_batches_and_every_client_recovers(
    recovering: Callable[..., tuple[str, gsocketio.Server, Recorder, FakeClock]],
) -> None:
    url, sio, rec, _clock = recovering()
    clients = [NodeClient(SCRIPT, url, args={"transports": ["websocket"]}) for _ in range(3)]
    try:
        ids = []
        for client in clients:
            ids.append(client.expect("connected")["connected"])
        with gevent.Timeout(10, AssertionError("connect handlers did not run")):
            while len(rec.connects) < 3:
                rec.connected.wait()
                rec.connected.clear()
        sio.emit("ev", 1, to="garden")
        for client in clients:
            client.expect("ev")
        done = Event()
        handle = drain_on_sigterm(sio, done.set, batch_size=1, interval=0.1)
        try:
            started = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)
            assert done.wait(10), "drain did not finish"
            elapsed = time.monotonic() - started
        finally:
            handle.cancel()
        assert elapsed >= 0.2  # 3 batches of 1, 0.1 s apart
        assert rec.reasons == [DisconnectReason.SERVER_SHUTTING_DOWN] * 3
        sio.emit("ev", 2, to="garden")  # missed by all three
        sio.draining = False  # the node is back (a restarted process, here the same one)
        for client, sid in zip(clients, ids, strict=True):
            client.expect("disconnected")
            client.send({"connect": True})
            assert client.expect("connected") == {"connected": sid, "recovered": True}
            assert client.expect("ev")["ev"][0] == 2
        for client in clients:
            client.send({"quit": True})
            client.expect("disconnected")
    finally:
        for client in clients:
            client.close()


def test_a_draining_server_refuses_new_connections(
    recovering: Callable[..., tuple[str, gsocketio.Server, Recorder, FakeClock]],
) -> None:
    url, sio, rec, _clock = recovering()
    assert sio.drain() == 0
    client = NodeClient(SCRIPT, url, args={"transports": ["websocket"]})
    try:
        assert client.expect("disconnected")  # the transport opened, then closed at once
        assert rec.connects == []
    finally:
        client.close()
