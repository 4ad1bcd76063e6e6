"""Acknowledgements the server waits for: ids out, callbacks in, bounded per socket.

A socket's table is created on its first ack-requesting emit, so sockets that never ask for
acks pay nothing. The table holds at most ``limit`` callbacks: past that the oldest is evicted
(a client that never acks cannot grow server memory). Evicted and still-pending entries of a
socket that goes away are dropped; :class:`CallWaiter` entries (``Server.call``) are woken with
:class:`gsocketio.CallAbortedError` instead of sleeping until their timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from gevent.event import AsyncResult

from gsocketio._logging import get_logger
from gsocketio.exceptions import CallAbortedError
from gsocketio.protocol.socketio import MAX_ACK_ID

__all__ = ["DEFAULT_ACK_LIMIT", "AckTable", "CallWaiter"]

log = get_logger("gsocketio.server")

DEFAULT_ACK_LIMIT = 1024
"""Pending acks per socket; the oldest beyond it is evicted."""

AckCallback = Callable[..., object]


class CallWaiter:
    """The ack callback of ``Server.call``: hands the ack's arguments to the waiting greenlet."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: AsyncResult = AsyncResult()

    def __call__(self, *args: Any) -> None:
        self.result.set(args)

    def abort(self, reason: str) -> None:
        """Wake the waiter with an error: no ack will ever come."""
        if not self.result.ready():
            self.result.set_exception(CallAbortedError(reason))


class AckTable:
    """Pending ack callbacks of one socket, keyed by the ack id sent to the client."""

    __slots__ = ("_evicted", "_limit", "_next_id", "_pending")

    def __init__(
        self, limit: int = DEFAULT_ACK_LIMIT, evicted: Callable[[], object] | None = None
    ) -> None:
        self._limit = limit
        self._evicted = evicted  # told when the limit drops the oldest (metrics)
        self._next_id = 0
        self._pending: dict[Any, AckCallback] = {}

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def pending(self) -> Mapping[Any, AckCallback]:
        """The pending callbacks by ack id, oldest first (read-only)."""
        return MappingProxyType(self._pending)

    def add(self, callback: AckCallback) -> int:
        """Store ``callback`` and return the ack id to put in the outgoing packet."""
        pending = self._pending
        if len(pending) >= self._limit:
            self._evict()
        ack_id = self._next_id
        # Ids stay in the range both peers count exactly; wrapping is safe once the old
        # holder of an id is long gone, which the size limit guarantees.
        self._next_id = 0 if ack_id >= MAX_ACK_ID else ack_id + 1
        pending[ack_id] = callback
        return ack_id

    def put(self, ack_id: Any, callback: AckCallback) -> bool:
        """Store ``callback`` under an id the caller chose (gevent-socketio's message ids);
        False if the id is taken. The same bound applies as for :meth:`add`."""
        pending = self._pending
        if ack_id in pending:
            return False
        if len(pending) >= self._limit:
            self._evict()
        pending[ack_id] = callback
        return True

    def _evict(self) -> None:
        pending = self._pending
        oldest = next(iter(pending))
        evicted = pending.pop(oldest)
        log.warning("pending ack limit (%d) reached: dropped ack %s", self._limit, oldest)
        if self._evicted is not None:
            self._evicted()
        if isinstance(evicted, CallWaiter):
            evicted.abort("too many pending acks")

    def pop(self, ack_id: Any) -> AckCallback | None:
        """Take the callback for an incoming ACK; None for an unknown (or evicted) id."""
        return self._pending.pop(ack_id, None)

    def discard(self, ack_id: int) -> None:
        """Forget an id whose waiter gave up (call timeout)."""
        self._pending.pop(ack_id, None)

    def abort_all(self, reason: str) -> None:
        """Drop every pending callback; wake call() waiters with an error."""
        pending = self._pending
        self._pending = {}
        for callback in pending.values():
            if isinstance(callback, CallWaiter):
                callback.abort(reason)


def unwrap_call_result(args: Sequence[Any]) -> Any:
    """``call()``'s return value from the ack's arguments, as python-socketio returns it:
    None for no argument, the argument itself for one, the tuple for several."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)
