"""Connection state recovery bookkeeping: the packet log with its offsets and the sessions kept
for disconnected sockets, bounded and expired by a clock the caller passes in (sans-I/O).

It is the memory adapter's half of socket.io's ``connectionStateRecovery``: every stored packet
(a non-volatile EVENT without ack id, binary included) gets a monotonically increasing offset,
appended by the caller as its last argument; a socket whose transport died leaves a
:class:`Session` ``{sid, pid, rooms, data}``; :meth:`RecoveryStore.restore` answers a
reconnect's ``{pid, offset}`` with that session and every packet after the offset addressed to
it, in order, or ``None`` (then the client gets a fresh session), never a partial history.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_MAX_DISCONNECTION",
    "DEFAULT_MAX_MISSED",
    "DEFAULT_MAX_PACKETS",
    "DEFAULT_MAX_SESSIONS",
    "RecoveryStore",
    "Restored",
    "Session",
    "matches",
]

DEFAULT_MAX_DISCONNECTION: Final = 120.0
"""Seconds a disconnected session (and the packets it may miss) is kept: Node's default."""
DEFAULT_MAX_PACKETS: Final = 10_000
"""Stored packets in all; the oldest go first (Node's log is unbounded)."""
DEFAULT_MAX_MISSED: Final = 1_000
"""Missed packets one restore may replay; a session that missed more starts fresh."""
DEFAULT_MAX_SESSIONS: Final = 10_000
"""Disconnected sessions kept; the oldest are forgotten first."""


@dataclass(slots=True)
class Session:
    """What a disconnected socket leaves behind (Node's ``SessionToPersist``)."""

    sid: str
    pid: str
    namespace: str
    rooms: list[str]
    data: Any
    disconnected_at: float = 0.0
    session: Any = None  # gsocketio's get_session() dict (Node has no such thing)


@dataclass(frozen=True, slots=True)
class Restored:
    """A successful restore: the session and the missed packets' data (offset included)."""

    session: Session
    missed: list[list[Any]]


@dataclass(frozen=True, slots=True)
class _Stored:
    counter: int
    emitted_at: float
    namespace: str
    data: list[Any]
    rooms: frozenset[str]
    except_rooms: frozenset[str]


def matches(rooms: Iterable[str], opts_rooms: frozenset[str], except_rooms: frozenset[str]) -> bool:
    """Whether a socket in ``rooms`` was addressed by a broadcast to ``opts_rooms`` (everyone
    when empty) minus ``except_rooms``: Node's rule for missed packets."""
    room_set = rooms if isinstance(rooms, (set, frozenset)) else set(rooms)
    if opts_rooms and room_set.isdisjoint(opts_rooms):
        return False
    return room_set.isdisjoint(except_rooms)


class RecoveryStore:
    """The packet log and the disconnected sessions of one server process.

    Offsets are ``"<epoch>-<counter>"``: the epoch (any string without ``-``, e.g. random)
    keeps offsets from an earlier process from being mistaken for this one's.
    """

    def __init__(
        self,
        epoch: str,
        *,
        max_disconnection: float = DEFAULT_MAX_DISCONNECTION,
        max_packets: int = DEFAULT_MAX_PACKETS,
        max_missed: int = DEFAULT_MAX_MISSED,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
    ) -> None:
        if "-" in epoch:
            raise ValueError("the epoch must not contain '-'")
        self.epoch = epoch
        self.max_disconnection = max_disconnection
        self.max_packets = max_packets
        self.max_missed = max_missed
        self.max_sessions = max_sessions
        self._counter = 0
        self._packets: deque[_Stored] = deque()
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # pid -> session, oldest first

    def __len__(self) -> int:
        return len(self._packets)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def record(
        self,
        now: float,
        namespace: str,
        data: list[Any],
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
    ) -> str:
        """Store a packet's data (without the offset) and return its new offset."""
        self._counter += 1
        packets = self._packets
        packets.append(_Stored(self._counter, now, namespace, data, rooms, except_rooms))
        if len(packets) > self.max_packets:
            packets.popleft()
        return f"{self.epoch}-{self._counter}"

    def persist(self, now: float, session: Session) -> None:
        """Keep ``session`` for a reconnect until ``now + max_disconnection``."""
        session.disconnected_at = now
        sessions = self._sessions
        sessions.pop(session.pid, None)
        sessions[session.pid] = session
        while len(sessions) > self.max_sessions:
            sessions.popitem(last=False)

    def discard(self, pid: str) -> None:
        self._sessions.pop(pid, None)

    def restore(self, now: float, pid: Any, offset: Any, namespace: str) -> Restored | None:
        """The session of ``pid`` and the packets after ``offset`` it missed, or ``None`` when
        the session is unknown or expired or the offset is not (any more) in the log. The
        session is used up (one restore per disconnection)."""
        if not isinstance(pid, str) or not isinstance(offset, str):
            return None
        session = self._sessions.get(pid)
        if session is None or session.namespace != namespace:
            return None
        del self._sessions[pid]
        if session.disconnected_at + self.max_disconnection < now:
            return None
        counter = self._parse(offset)
        packets = self._packets
        if counter is None or not packets or counter < packets[0].counter:
            return None
        start = counter - packets[0].counter + 1  # counters are consecutive in the log
        rooms = set(session.rooms)
        missed: list[list[Any]] = []
        for index in range(start, len(packets)):
            stored = packets[index]
            if stored.namespace != namespace or not matches(
                rooms, stored.rooms, stored.except_rooms
            ):
                continue
            if len(missed) >= self.max_missed:
                return None
            missed.append([*stored.data, f"{self.epoch}-{stored.counter}"])
        return Restored(session, missed)

    def sweep(self, now: float) -> None:
        """Forget expired sessions and packets older than the window (Node's 60 s sweep)."""
        limit = now - self.max_disconnection
        sessions = self._sessions
        for pid in [pid for pid, s in sessions.items() if s.disconnected_at < limit]:
            del sessions[pid]
        packets = self._packets
        while packets and packets[0].emitted_at < limit:
            packets.popleft()

    def _parse(self, offset: str) -> int | None:
        epoch, sep, counter = offset.rpartition("-")
        if not sep or epoch != self.epoch or not counter.isdigit():
            return None
        value = int(counter)
        return value if value <= self._counter else None
