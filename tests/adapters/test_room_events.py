"""``watch_rooms``: a MemoryAdapter instance reporting its room changes (the Admin UI's
``room_joined``/``room_left``), and only the changes that really happened."""

from __future__ import annotations

from typing import Any

import pytest

from gsocketio.adapters.base import BroadcastOptions
from gsocketio.adapters.memory import MemoryAdapter
from gsocketio.adapters.room_events import watch_rooms


class _Recipient:
    wire: Any = None

    def deliver(self, items: Any) -> None:
        pass


def test_room_wrappers_report_real_changes_only() -> None:
    local = MemoryAdapter()
    seen: list[tuple[str, str, str, bool]] = []
    watch_rooms(local, lambda *event: seen.append(event))
    for sid in ("a", "b"):
        local.add_socket("/", sid, _Recipient())
    local.enter_room("/", "a", "r1")
    local.enter_room("/", "a", "r1")  # already in it: nothing to report
    local.add_sockets("/", BroadcastOptions(), ["r2"])
    local.del_sockets("/", BroadcastOptions(frozenset({"b"})), ["r2"])
    local.close_room("/", "r1")
    local.leave_room("/", "a", "nowhere")
    local.remove_socket("/", "a")
    with pytest.raises(KeyError):
        local.enter_room("/", "ghost", "r3")
    assert seen == [
        ("/", "r1", "a", True),
        ("/", "r2", "a", True),
        ("/", "r2", "b", True),
        ("/", "r2", "b", False),
        ("/", "r1", "a", False),
        ("/", "r2", "a", False),
    ]


def test_other_instances_are_untouched() -> None:
    watched, plain = MemoryAdapter(), MemoryAdapter()
    watch_rooms(watched, lambda *event: None)
    assert "enter_room" in vars(watched) and "enter_room" not in vars(plain)
