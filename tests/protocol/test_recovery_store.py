"""The recovery store without sockets: offsets, room matching, bounds and expiry."""

from __future__ import annotations

import pytest

from gsocketio.protocol.recovery import RecoveryStore, Session, matches


def _session(pid: str = "p1", rooms: list[str] | None = None) -> Session:
    return Session(sid="s1", pid=pid, namespace="/", rooms=rooms or ["s1"], data={"k": 1})


def test_missed_packets_in_order_with_offsets() -> None:
    store = RecoveryStore("e")
    first = store.record(0.0, "/", ["a"], frozenset({"s1"}))
    store.persist(1.0, _session(rooms=["s1", "room"]))
    second = store.record(2.0, "/", ["b", 1], frozenset({"room"}))
    store.record(2.0, "/", ["other"], frozenset({"elsewhere"}))
    store.record(2.0, "/chat", ["c"])
    third = store.record(3.0, "/", ["d"])
    restored = store.restore(4.0, "p1", first, "/")
    assert restored is not None
    assert restored.session.sid == "s1"
    assert restored.session.data == {"k": 1}
    assert restored.missed == [["b", 1, second], ["d", third]]
    assert store.restore(4.0, "p1", first, "/") is None  # used up


def test_except_rooms_exclude() -> None:
    store = RecoveryStore("e")
    offset = store.record(0.0, "/", ["x"])
    store.persist(0.0, _session(rooms=["s1", "r"]))
    store.record(0.0, "/", ["y"], frozenset(), frozenset({"r"}))
    restored = store.restore(0.0, "p1", offset, "/")
    assert restored is not None and restored.missed == []


def test_expired_session_and_swept_offset() -> None:
    store = RecoveryStore("e", max_disconnection=10)
    offset = store.record(0.0, "/", ["x"])
    store.persist(1.0, _session())
    assert store.restore(12.0, "p1", offset, "/") is None
    store.persist(1.0, _session())
    store.sweep(11.5)
    assert store.session_count == 0 and len(store) == 0


def test_unknown_or_foreign_offsets_refused() -> None:
    store = RecoveryStore("e")
    store.record(0.0, "/", ["x"])
    for bad in ("other-1", "e-99", "e-x", "nonsense", 5, None):
        store.persist(0.0, _session())
        assert store.restore(0.0, "p1", bad, "/") is None
    store.persist(0.0, _session())
    assert store.restore(0.0, "p1", "e-1", "/chat") is None


def test_bounds() -> None:
    store = RecoveryStore("e", max_packets=3, max_missed=2, max_sessions=2)
    offsets = [store.record(0.0, "/", [i]) for i in range(5)]
    assert len(store) == 3
    store.persist(0.0, _session())
    assert store.restore(0.0, "p1", offsets[0], "/") is None  # evicted: no partial history
    store.persist(0.0, _session())
    assert store.restore(0.0, "p1", offsets[1], "/") is None  # would miss 3 > 2
    store.persist(0.0, _session())
    restored = store.restore(0.0, "p1", offsets[2], "/")
    assert restored is not None and [m[0] for m in restored.missed] == [3, 4]
    for pid in ("a", "b", "c"):
        store.persist(0.0, _session(pid))
    assert store.session_count == 2


def test_matches() -> None:
    assert matches(["a"], frozenset(), frozenset())
    assert not matches(["a"], frozenset({"b"}), frozenset())
    assert not matches(["a", "b"], frozenset({"b"}), frozenset({"a"}))


def test_epoch_validated() -> None:
    with pytest.raises(ValueError):
        RecoveryStore("a-b")
