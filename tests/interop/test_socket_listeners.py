"""One socket's own listeners (``sio.socket(sid)``), through real socket.io-client 4.8 clients:
``on``/``off``, ``use_packet``, ``on_any``/``off_any``, ``on_any_outgoing``, ``error``,
``disconnecting``/``disconnect`` reach the socket that registered them and no other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import pytest

import gsocketio
from gsocketio.default_handlers import RegistryHandlers
from gsocketio.exceptions import UnknownSocketError
from gsocketio.hooks import PacketRefusedError
from tests.helpers.node import run_node

Serve = Callable[..., str]

# Two clients: "own" gets listeners of its own in the connect handler, "plain" does not. Each
# runs the same script, so every difference in the records comes from the server's listeners.
CLIENTS = """
const { io } = require("socket.io-client");
const run = (name) => new Promise((resolve) => {
  const s = io(URL, { reconnection: false, forceNew: true, auth: { name } });
  const rec = (o) => out({ name, ...o });
  const tryAck = async (event, ...args) => {
    try { return await s.timeout(400).emitWithAck(event, ...args); }
    catch (e) { return e.message; }
  };
  s.on("news", (n) => rec({ news: n }));
  s.on("connect", async () => {
    rec({ private: await tryAck("private", 1) });
    rec({ shared: String(await tryAck("shared", 2)) });
    rec({ manual: await tryAck("manual", 3) });
    rec({ blocked: String(await tryAck("blocked")) });
    rec({ done_any: await tryAck("stop_listening") });
    rec({ private: await tryAck("private", 4) });
    s.emit("unheard", 5);
    rec({ broadcast: await tryAck("broadcast") });
    s.disconnect();
    resolve();
  });
});
run("own").then(() => run("plain")).then(() => done());
"""


def test_a_sockets_own_listeners_reach_only_that_socket(serve: Serve) -> None:
    sio = gsocketio.Server()
    seen: list[tuple[Any, ...]] = []
    sids: dict[str, str] = {}
    finished = gevent.event.Event()

    def private(sid: str, x: int) -> str:
        return f"private {x}"

    def own_any(event: str, sid: str, *args: Any) -> None:
        seen.append(("any", event, *args))

    @sio.on("connect")
    def connect(sid: str, environ: dict[str, Any], auth: dict[str, str]) -> None:
        sids[auth["name"]] = sid
        sio.enter_room(sid, "lobby")
        if auth["name"] != "own":
            return
        s = sio.socket(sid)
        s.on("private", private)
        s.on("shared", lambda sid, x: f"own {x}")  # after the namespace's handler below

        @s.on("manual")
        def manual(sid: str, x: int, *, ack: Callable[..., None]) -> None:
            gevent.spawn_later(0.02, ack, x * 10)

        @s.use_packet
        def gate(sid: str, packet: list[Any], namespace: str) -> None:
            if packet[0] == "blocked":
                raise PacketRefusedError("not for you")

        s.on("error", lambda sid, exc: seen.append(("error", str(exc))))
        s.on_any(own_any)
        s.on_any_outgoing(lambda event, sid, *args: seen.append(("out", event, *args)))
        s.on(
            "disconnecting",
            lambda sid, reason: seen.append(("disconnecting", reason, sorted(sio.rooms(sid)))),
        )
        s.on("disconnect", lambda sid, reason: seen.append(("disconnect", reason)))

    @sio.on("shared")
    def shared(sid: str, x: int) -> None:
        seen.append(("namespace shared", x))  # runs for both; returns nothing

    @sio.on("blocked")
    def blocked(sid: str) -> str:
        return "namespace blocked"

    @sio.on("stop_listening")
    def stop_listening(sid: str) -> str:
        s = sio.socket(sid)
        s.off_any(own_any)
        s.off("private", private)
        return "ok"

    @sio.on("broadcast")
    def broadcast(sid: str) -> str:
        sio.emit("news", "to all", room="lobby")
        return "sent"

    @sio.on("disconnect")
    def disconnect(sid: str, reason: str) -> None:
        if sid == sids.get("plain"):
            finished.set()

    records = run_node(CLIENTS, serve(sio.wsgi_app()))
    assert finished.wait(5)
    timed_out = "operation has timed out"
    by_client = {name: [r for r in records if r.get("name") == name] for name in ("own", "plain")}
    assert [{k: v for k, v in r.items() if k != "name"} for r in by_client["own"]] == [
        {"private": "private 1"},
        {"shared": "own 2"},  # the namespace's handler returned None: the socket's answered
        {"manual": 30},
        {"blocked": timed_out},  # refused by the socket's middleware: nothing sent
        {"done_any": "ok"},
        {"private": timed_out},  # its listener was removed
        {"news": "to all"},
        {"broadcast": "sent"},
    ]
    assert [{k: v for k, v in r.items() if k != "name"} for r in by_client["plain"]] == [
        {"private": timed_out},  # no such handler for this socket
        {"shared": "undefined"},  # the namespace's handler: an empty ack
        {"manual": timed_out},
        {"blocked": "namespace blocked"},
        {"done_any": "ok"},
        {"private": timed_out},
        {"news": "to all"},
        {"broadcast": "sent"},
    ]
    own = sids["own"]
    assert seen[:9] == [
        ("any", "private", 1),
        ("any", "shared", 2),
        ("namespace shared", 2),
        ("any", "manual", 3),
        ("any", "blocked"),
        ("error", "not for you"),
        ("any", "stop_listening"),
        # off_any: "private", "unheard" and "broadcast" are not seen; the outgoing one stays
        ("out", "news", "to all"),
        ("disconnecting", "client namespace disconnect", sorted([own, "lobby"])),
    ]
    assert seen[9:] == [
        ("disconnect", "client namespace disconnect"),
        ("namespace shared", 2),  # the plain client: only the namespace's handler
    ]
    layer = sio.handlers
    assert isinstance(layer, RegistryHandlers)
    # Both sockets gone: the plain event path is back and no emit tells any listener.
    assert (sio._hooks.local_inbound, sio._hooks.local_outgoing, sio._hooks.sending) == (
        0,
        0,
        False,
    )
    assert "on_event" not in vars(layer)


def test_socket_listeners_need_a_connected_sid() -> None:
    sio = gsocketio.Server()
    with pytest.raises(UnknownSocketError):
        sio.socket("nope")
