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
