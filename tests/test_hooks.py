"""The optional hooks cost nothing unless registered: decided at registration, not per event."""

from __future__ import annotations

import re
from typing import Any

import gsocketio
from gsocketio.default_handlers import RegistryHandlers
from gsocketio.dynamic import adopt, forget_child
from gsocketio.hooks import wants_ack
from gsocketio.registry import ARGS, MANUAL_ACK


def _layer(sio: gsocketio.Server) -> RegistryHandlers:
    assert isinstance(sio.handlers, RegistryHandlers)
    return sio.handlers


def test_event_path_switches_only_while_hooks_exist() -> None:
    sio = gsocketio.Server()
    layer = _layer(sio)
    assert "on_event" not in vars(layer)  # the plain class method: decode -> lookup -> spawn

    def listener(event: str, sid: str, *args: Any) -> None:
        return None

    sio.on_any(listener)
    assert vars(layer)["on_event"] == layer._on_event_hooked
    sio.off_any(listener)
    assert "on_event" not in vars(layer)
    sio.on_any_outgoing(listener)  # outgoing listeners never touch the incoming path
    assert "on_event" not in vars(layer)
    sio.use_packet(lambda sid, packet, namespace: None)
    assert "on_event" in vars(layer)


def test_manual_ack_is_a_registration_time_convention() -> None:
    sio = gsocketio.Server()

    def plain(sid: str, x: int) -> int:
        return x

    def manual(sid: str, x: int, *, ack: Any) -> None:
        return None

    def positional_named_callback(sid: str, callback: Any) -> None:  # not an opt-in
        return None

    sio.on("plain", plain)
    sio.on("manual", manual)
    sio.on("cb", positional_named_callback)
    events = sio._registry.get("/").events
    assert events["plain"] == (plain, ARGS)
    assert events["manual"] == (manual, ARGS + MANUAL_ACK)
    assert events["cb"] == (positional_named_callback, ARGS)
    assert wants_ack(lambda sid, ack=None: None) and not wants_ack(len)


def test_dynamic_child_shares_the_parents_dispatch() -> None:
    sio = gsocketio.Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(re.compile(r"^/team-\w+$"))
    parent.on("ping", lambda sid: "pong")
    registry = sio._registry
    assert not registry.known("/team-a")
    assert adopt(sio.dynamic_parents, registry, "/team-a", {})
    assert not adopt(sio.dynamic_parents, registry, "/other", {})
    assert registry.get("/team-a") is registry.get(parent.key)
    parent.on("late", lambda sid: "registered after the child existed")
    assert "late" in registry.get("/team-a").events
    forget_child(sio.dynamic_parents, registry, "/team-a")
    assert not registry.known("/team-a") and parent.children == set()


def test_socket_listeners_switch_the_path_only_while_such_a_socket_is_open() -> None:
    import gevent
    import pytest

    from tests.helpers.sio_fakes import FakeConn

    sio = gsocketio.Server()
    layer = _layer(sio)
    hooks = sio._hooks
    conns = [FakeConn(sid=f"EIO{n}") for n in range(2)]
    for conn in conns:
        sio.engine_connect(conn)
        sio.engine_message(conn, "0")
    with gevent.Timeout(2):
        while len(sio.sockets()) < 2:
            gevent.sleep(0.01)
    first = sio._clients["EIO0"].sockets["/"].sid
    s = sio.socket(first)
    assert (s.sid, s.namespace, s.connected) == (first, "/", True)
    assert repr(s) == f"<SocketListeners {first} />"
    with pytest.raises(ValueError, match="connect"):
        s.on("connect", lambda sid: None)

    s.on("disconnect", lambda sid, reason: None)  # lifecycle only: the event path is unchanged
    assert "on_event" not in vars(layer) and hooks.local_inbound == 0

    def listener(event: str, sid: str, *args: Any) -> None:
        return None

    s.prepend_any(listener)
    assert vars(layer)["on_event"] == layer._on_event_hooked and hooks.local_inbound == 1
    s.on_any(listener)
    assert hooks.local_inbound == 1  # counted once per socket
    s.off_any()
    assert "on_event" not in vars(layer) and hooks.local_inbound == 0
    s.prepend_any_outgoing(listener)
    s.on_any_outgoing(listener)
    assert hooks.sending and hooks.local_outgoing == 1 and "on_event" not in vars(layer)
    s.off_any_outgoing(listener)
    assert not hooks.sending and hooks.local_outgoing == 0
    s.on("x", listener)
    s.on_any_outgoing(listener)
    assert (hooks.local_inbound, hooks.local_outgoing, hooks.sending) == (1, 1, True)

    sio.engine_disconnect(conns[0], "transport close")  # the socket goes: so do its counts
    assert (hooks.local_inbound, hooks.local_outgoing, hooks.sending) == (0, 0, False)
    assert "on_event" not in vars(layer) and not s.connected
    s.on("y", listener)  # ignored on a closed socket
    s.use_packet(lambda sid, packet, namespace: None)
    s.off("x")
    assert hooks.local_inbound == 0 and "on_event" not in vars(layer)
    sio.engine_disconnect(conns[1], "transport close")
