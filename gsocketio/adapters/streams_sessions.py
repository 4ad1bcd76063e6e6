"""Live sessions in Redis: the streams adapter keeps every connected socket's recovery session
(``{sid, pid, rooms, data}`` and the ``get_session`` dict) current under its session key, so a
client whose node dies without persisting anything (SIGKILL, power loss) still recovers on
another node.

Cost is bounded: changes (connect, joins, leaves, ``get_data``, ``get_session``,
``save_session``) only mark a socket dirty; one pipelined batch of SETs per ``flush_interval``
writes the dirty ones, and every ``refresh_interval`` every live session is rewritten (keeping
its TTL and catching in-place changes to ``socket.data`` or the session dict). Each key carries
the recovery window as TTL, so a dead node's sessions vanish on their own. docs/recovery.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import gevent

from gsocketio.adapters import streams_wire as sw
from gsocketio.adapters.redis_link import LINK_ERRORS

__all__ = ["LiveSessions"]

FLUSH_INTERVAL: Final = 0.05
MAX_BATCH: Final = 1000
"""SETs per pipeline; a larger dirty set is written over several ticks."""

Key = tuple[str, str]  # (namespace, sid)


class LiveSessions:
    """Dirty tracking and the writer greenlet of the live session keys."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        ttl_ms: int,
        rooms_of: Callable[[str, str], set[str]],
        log: logging.Logger,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = ttl_ms
        self._rooms_of = rooms_of
        self._log = log
        self._sockets: dict[Key, Any] = {}  # recipients with a pid (gsocketio.socket.Socket)
        self._dirty: dict[Key, None] = {}  # insertion-ordered set
        self.refresh_interval = max(FLUSH_INTERVAL, ttl_ms / 3000)
        self._writer = gevent.spawn(self._run)

    def track(self, nsp: str, sid: str, recipient: Any) -> None:
        if getattr(recipient, "pid", None) is not None:
            self._sockets[(nsp, sid)] = recipient
            self._dirty[(nsp, sid)] = None

    def touch(self, nsp: str, sid: str) -> None:
        if (nsp, sid) in self._sockets:
            self._dirty[(nsp, sid)] = None

    def untrack(self, nsp: str, sid: str) -> None:
        self._sockets.pop((nsp, sid), None)
        self._dirty.pop((nsp, sid), None)

    def __len__(self) -> int:
        return len(self._sockets)

    def _run(self) -> None:
        elapsed = 0.0
        while True:
            gevent.sleep(FLUSH_INTERVAL)
            elapsed += FLUSH_INTERVAL
            if elapsed >= self.refresh_interval:
                elapsed = 0.0
                for key in self._sockets:
                    self._dirty[key] = None
            if self._dirty:
                self.flush()

    def flush(self) -> None:
        """Write up to :data:`MAX_BATCH` dirty sessions in one pipeline."""
        batch: list[tuple[str, str]] = []
        while self._dirty and len(batch) < MAX_BATCH:
            key = next(iter(self._dirty))
            del self._dirty[key]
            sock = self._sockets.get(key)
            if sock is None:
                continue
            try:
                rooms = sorted(self._rooms_of(*key))
            except KeyError:
                continue
            try:
                value = sw.encode_session(key[1], sock.pid, rooms, sock.data or {}, sock.session)
            except TypeError as exc:  # socket.data that msgpack cannot encode
                self._log.warning("session of %s not written: %s", key[1], exc)
                continue
            batch.append((self._prefix + sock.pid, value))
        if not batch:
            return
        pipe = self._client.pipeline(transaction=False)
        for name, value in batch:
            pipe.set(name, value, px=self._ttl_ms)
        try:
            pipe.execute()
        except LINK_ERRORS as exc:
            self._log.warning("could not write %d live sessions (%s)", len(batch), exc)

    def close(self) -> None:
        self._writer.kill(block=False)
