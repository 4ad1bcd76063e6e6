"""The Redis Streams adapter, wire compatible with ``@socket.io/redis-streams-adapter`` 0.3.x:
broadcasts and room/disconnect operations through a stream per namespace hash (one stream by
default, ``stream_count`` as Node's ``streamCount``; XADD ``MAXLEN ~``, read with XREAD),
requests and responses over pub/sub (msgpack), and connection state recovery on any
node: sessions are ``SET <prefix><pid>`` with a TTL, missed packets are read back from the
stream, and an entry id is the offset every node appends alike.

Unlike Node, this node's own stream broadcasts reach its local sockets through its reader, in
stream order, so "every entry up to the reader's position was delivered here" holds exactly;
that is what lets a restore hand over from the XRANGE replay to live delivery with no gap and
no duplicate. docs/recovery.md, SCALEOUT-PROTOCOL.md §5.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import gevent
import redis
from gevent.event import Event
from gevent.lock import Semaphore

from gsocketio.adapters import cluster_wire as cw
from gsocketio.adapters import redis_wire as wire
from gsocketio.adapters import streams_wire as sw
from gsocketio.adapters.base import EVERYONE, BroadcastOptions, Recipient
from gsocketio.adapters.recovery import RecoveryOptions
from gsocketio.adapters.redis_answers import wire_flags
from gsocketio.adapters.redis_base import RedisAdapterBase
from gsocketio.adapters.redis_link import LINK_ERRORS
from gsocketio.adapters.redis_sharded import RedisShardedAdapter
from gsocketio.adapters.streams_sessions import LiveSessions
from gsocketio.exceptions import AdapterMessageError, ClusterUnavailableError
from gsocketio.protocol.recovery import Restored, Session, matches
from gsocketio.protocol.socketio import Packet, PacketType

__all__ = ["RedisStreamsAdapter"]

MT = cw.MessageType
CATCH_UP_WAIT: Final = 2.0
"""Seconds a restore waits for this node's reader to reach the client's offset."""


class RedisStreamsAdapter(RedisShardedAdapter):
    """``gsocketio.Server(adapter=RedisStreamsAdapter(url, stream="socket.io"))``; the options
    are Node's (``streamCount``, ``maxLen``, ``readCount``, ``blockTimeInMs`` in seconds,
    ``sessionKeyPrefix``)."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        stream: str = "socket.io",
        *,
        stream_count: int = 1,
        channel_prefix: str = "socket.io",
        max_len: int = 10_000,
        read_count: int = 100,
        block_time: float = 5.0,
        session_key_prefix: str = "sio:session:",
        live_sessions: bool = True,
        requests_timeout: float = 5.0,
        outbox_size: int = 10_000,
        limits: wire.WireLimits = wire.DEFAULT_WIRE_LIMITS,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if stream_count < 1:
            raise ValueError("stream_count must be >= 1")
        self.stream = stream
        self.stream_count = stream_count
        self.streams = sw.read_streams(stream, stream_count)
        self.max_len = max_len
        self.read_count = read_count
        self.block_time = block_time
        self.session_key_prefix = session_key_prefix
        self.live_sessions = live_sessions
        self._live: LiveSessions | None = None
        self.mode = "static"
        self._known: set[str] = set()
        self._by_channel: dict[bytes, tuple[str, str]] = {}
        self._session_ttl_ms = 0
        self._max_missed = 0
        # per stream: every entry up to this id has been handled here
        self._positions = dict.fromkeys(self.streams, "0-0")
        self._moved = Event()
        self._dispatch = Semaphore()  # held by the reader while it hands entries out
        self.ready = Event()  # set once the reader knows where the stream ends
        RedisAdapterBase.__init__(
            self, url, channel_prefix, cw.new_uid(), requests_timeout=requests_timeout,
            outbox_size=outbox_size, limits=limits, redis_options=redis_options, logger=logger,
            sharded=False,
        )  # fmt: skip
        read_options = {
            "socket_connect_timeout": 2.0,
            "socket_timeout": block_time + 5.0,
            "protocol": 2,
            **(redis_options or {}),
        }
        read_options.pop("pool_timeout", None)  # the command client's blocking pool only
        self._reader_client = redis.Redis.from_url(
            url, client_name=f"gsio:{stream}:{self.uid}:xread", **read_options
        )
        self._locate()  # before any broadcast of ours, so the reader sees them all
        self._reader = gevent.spawn(self._read_loop)
        self._namespace("/")

    # --- publishing ----------------------------------------------------------------------

    def stream_of(self, nsp: str) -> str:
        """The stream of a namespace's entries (Node's ``computeStreamName``)."""
        return sw.stream_name(self.stream, self.stream_count, nsp)

    def _xadd(self, nsp: str, mtype: MT, data: Any) -> str | None:
        fields = sw.encode_entry(self.uid, nsp, mtype, data)
        stream = self.stream_of(nsp)
        try:
            entry_id = self._client.xadd(stream, fields, maxlen=self.max_len, approximate=True)  # type: ignore[arg-type]
        except LINK_ERRORS as exc:
            self.log.warning("XADD to %s failed (%s): message dropped", stream, exc)
            return None
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def _publish(self, nsp: str, mtype: MT, data: dict[str, Any], channel: str | None = None,
                 volatile: bool = False) -> None:  # fmt: skip
        if mtype in sw.STREAM_TYPES and not (mtype is MT.BROADCAST and "requestId" in data):
            self._xadd(nsp, mtype, data)
            return
        payload = sw.pack_envelope(mtype, data, self.uid, nsp)
        self._outbox.put(self._main(nsp), payload, volatile=volatile)

    def _publish_response(self, nsp: str, requester: str, mtype: MT, data: dict[str, Any]) -> None:
        payload = sw.pack_envelope(mtype, data, self.uid, nsp)
        self._outbox.put(f"{self._main(nsp)}{requester}#", payload)

    def server_count(self, namespace: str) -> int:
        main = self._ready(namespace)
        try:
            counts = self._client.pubsub_numsub(main)
        except LINK_ERRORS as exc:
            raise ClusterUnavailableError(f"Redis at {self.url} is unreachable: {exc}") from None
        return max(1, int(counts[0][1])) if counts else 1

    def broadcast(self, packet: Packet, opts: BroadcastOptions = EVERYONE) -> None:
        """To the stream; local sockets get it from the reader (with the entry id as offset
        when recovery is on). Local-only broadcasts and acks are delivered at once."""
        if opts.flags.local or packet.id is not None:
            self.local.broadcast(packet, opts)
            return
        self._namespace(packet.namespace)
        data = cw.broadcast_data(
            packet.data, sorted(opts.rooms), sorted(opts.except_rooms), wire_flags(opts.flags)
        )
        if self._xadd(packet.namespace, MT.BROADCAST, data) is None:
            self.local.broadcast(packet, opts)  # Redis is down: this node's sockets still get it

    # --- reading the stream --------------------------------------------------------------

    def _read_loop(self) -> None:
        client = self._reader_client
        while True:
            try:
                if not self.ready.is_set():
                    self._locate()
                    if not self.ready.is_set():
                        gevent.sleep(0.5)
                        continue
                streams: dict[Any, Any] = dict(self._positions)
                reply: Any = client.xread(
                    streams,
                    count=self.read_count,
                    block=int(self.block_time * 1000),
                )
            except LINK_ERRORS as exc:
                self.log.debug("XREAD on %s failed (%s); retrying", self.stream, exc)
                gevent.sleep(0.5)
                continue
            with self._dispatch:  # a restore's last replay step holds the positions still
                for raw_stream, entries in reply or ():
                    stream = raw_stream.decode() if isinstance(raw_stream, bytes) else raw_stream
                    for raw_id, fields in entries:
                        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                        self._on_entry(entry_id, fields)
                        self._positions[stream] = entry_id
            moved, self._moved = self._moved, Event()
            moved.set()

    def _locate(self) -> None:
        """Start reading after each stream's current last entry (Node starts at ``$``)."""
        pipe = self._reader_client.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xrevrange(stream, count=1)
        try:
            lasts: Any = pipe.execute()
        except LINK_ERRORS:
            return  # the reader retries
        for stream, last in zip(self.streams, lasts, strict=True):
            self._positions[stream] = last[0][0].decode() if last else "0-0"
        self.ready.set()

    def _on_entry(self, entry_id: str, fields: dict[Any, Any]) -> None:
        try:
            msg = sw.decode_entry(fields, self.limits)
            if msg.type is MT.BROADCAST:
                packet, opts = self._broadcast_of(msg)
                if self.recovers and packet.id is None and not opts.flags.volatile:
                    packet.data = [*packet.data, entry_id]
                self.local.broadcast(packet, opts)
            elif msg.uid != self.uid:
                self._on_request(msg.nsp, msg)
        except AdapterMessageError as exc:
            self._reject("stream entry", exc)
        except Exception:
            self.log.exception("error handling a stream entry (dropped)")

    def _broadcast_of(self, msg: cw.ClusterMessage) -> tuple[Packet, BroadcastOptions]:
        packet = msg.data.get("packet")
        if not isinstance(packet, dict):
            raise AdapterMessageError("a broadcast needs a packet object")
        args = wire.event_data(packet.get("data"))
        opts, _sel = self._selection(msg.data)
        return Packet(PacketType.EVENT, msg.nsp, args), opts

    # --- connection state recovery -------------------------------------------------------

    def enable_recovery(self, options: RecoveryOptions) -> None:
        self._session_ttl_ms = max(1, int(options.max_disconnection_duration * 1000))
        self._max_missed = options.max_missed
        self.recovers = True
        if self.live_sessions and self._live is None:
            self._live = LiveSessions(
                self._client, self.session_key_prefix, self._session_ttl_ms,
                self.local.rooms_of, self.log,
            )  # fmt: skip

    # live sessions: every change marks the socket dirty (streams_sessions.py)

    def add_socket(self, namespace: str, sid: str, recipient: Recipient) -> None:
        super().add_socket(namespace, sid, recipient)
        if self._live is not None:
            self._live.track(namespace, sid, recipient)

    def remove_socket(self, namespace: str, sid: str) -> None:
        if self._live is not None:
            self._live.untrack(namespace, sid)
        super().remove_socket(namespace, sid)

    def enter_room(self, namespace: str, sid: str, room: str) -> None:
        super().enter_room(namespace, sid, room)
        self.touch_session(namespace, sid)

    def leave_room(self, namespace: str, sid: str, room: str) -> None:
        super().leave_room(namespace, sid, room)
        self.touch_session(namespace, sid)

    def _join_local(self, nsp: str, opts: BroadcastOptions, rooms: list[str], leave: bool) -> None:
        live = self._live
        sids = self.local.sockets(nsp, opts) if live is not None else ()
        super()._join_local(nsp, opts, rooms, leave)
        if live is not None:
            for sid in sids:
                live.touch(nsp, sid)

    def touch_session(self, namespace: str, sid: str) -> None:
        if self._live is not None:
            self._live.touch(namespace, sid)

    def forget_session(self, pid: str) -> None:
        try:
            self._client.delete(self.session_key_prefix + pid)
        except LINK_ERRORS as exc:
            self.log.warning("could not delete session key (%s)", exc)

    def persist_session(self, session: Session) -> None:
        value = sw.encode_session(
            session.sid, session.pid, session.rooms, session.data or {}, session.session
        )
        try:
            self._client.set(self.session_key_prefix + session.pid, value, px=self._session_ttl_ms)
        except LINK_ERRORS as exc:
            self.log.warning("could not persist session %s (%s)", session.sid, exc)

    def restore_session(self, auth: Any, namespace: str) -> Restored | None:
        """Node's restore (single-use session, unless live sessions keep it; the offset must
        still be in the stream), then the replay up to this node's reader position; returns
        without yielding after the last read, so the caller registers the socket before the
        reader moves on."""
        if not self.recovers or not isinstance(auth, dict):
            return None
        pid, offset = auth.get("pid"), auth.get("offset")
        if not isinstance(pid, str) or not sw.is_offset(offset):
            return None
        assert isinstance(offset, str)
        try:
            return self._restore(pid, offset, namespace)
        except LINK_ERRORS as exc:
            self.log.warning("could not restore session (%s): a fresh one", exc)
        except AdapterMessageError as exc:
            self._reject("session", exc)
        return None

    def _restore(self, pid: str, offset: str, namespace: str) -> Restored | None:
        stream = self.stream_of(namespace)
        key = self.session_key_prefix + pid
        pipe = self._client.pipeline(transaction=True)
        pipe.get(key)
        if self._live is None:
            pipe.delete(key)  # Node's single use
        else:  # kept until the live writer rewrites it: a SIGKILL in between loses nothing
            pipe.pexpire(key, self._session_ttl_ms)
        raw, _ = pipe.execute()
        if raw is None:
            self.log.debug("restore of %s: no session (expired or used)", pid)
            return None
        if not self._client.xrange(stream, offset, offset):
            self.log.debug("restore of %s: offset %s not in %s", pid, offset, stream)
            return None
        found = sw.decode_session(raw, self.limits)
        target = sw.entry_key(offset)
        positions = self._positions
        with gevent.Timeout(CATCH_UP_WAIT, False):
            while sw.entry_key(positions[stream]) < target:
                self._moved.wait()
        if sw.entry_key(positions[stream]) < target:
            # the reader lags too far: a replay could not hand over exactly
            self.log.debug("restore of %s: reader at %s, behind %s", pid, positions[stream], offset)
            return None
        replay = _Replay(self, stream, namespace, set(found["rooms"]), sw.next_offset(offset))
        # Catch up with the moving reader without holding it (the bulk of a long history),
        # then hold it still for the last stretch: up to its position, nothing was delivered
        # to this socket; after it, everything will be, once the caller has registered it.
        if not replay.run(stop_early=True):
            return None
        with self._dispatch:
            if not replay.run(stop_early=False):
                return None
        data = found.get("data")
        session = Session(found["sid"], found["pid"], namespace, found["rooms"], data,
                          session=found.get(sw.SESSION_FIELD))  # fmt: skip
        return Restored(session, replay.missed)  # no yield since the last read

    def close(self, flush_timeout: float = 1.0) -> None:
        if self.closed:
            return
        if self._live is not None:
            self._live.close()
        self._reader.kill(block=True, timeout=1.0)
        self._reader_client.close()
        super().close(flush_timeout)


class _Replay:
    """The XRANGE replay of one restore: the missed broadcasts of ``nsp`` from ``start`` on
    that ``rooms`` select, each with its entry id appended (Node's ``restoreSession`` loop)."""

    def __init__(
        self, adapter: RedisStreamsAdapter, stream: str, nsp: str, rooms: set[str], start: str
    ) -> None:
        self.adapter = adapter
        self.stream = stream
        self.nsp = nsp
        self.rooms = rooms
        self.start = start
        self.missed: list[list[Any]] = []

    def run(self, *, stop_early: bool) -> bool:
        """Read up to the reader's position (it may move between reads unless the caller
        holds the dispatch lock); ``stop_early``: stop once a read comes back short, the
        reader then being at most one read ahead. False: give up (history too long, or the
        stream grows faster than it can be read)."""
        a = self.adapter
        count = max(1, a.read_count)
        for _ in range(a.max_len // count + 10):
            end = a._positions[self.stream]
            if sw.entry_key(self.start) > sw.entry_key(end):
                return True
            batch: Any = a._client.xrange(self.stream, self.start, end, count=count)
            for raw_id, fields in batch:
                entry_id = raw_id.decode()
                self.start = sw.next_offset(entry_id)
                self._keep(entry_id, fields)
                if len(self.missed) > a._max_missed:
                    a.log.debug("restore: over %d missed packets", a._max_missed)
                    return False
            if len(batch) < count:
                self.start = sw.next_offset(end)
                if stop_early:
                    return True
        a.log.debug("restore: %s grows faster than the replay reads it", self.stream)
        return False

    def _keep(self, entry_id: str, fields: Any) -> None:
        a = self.adapter
        try:
            msg = sw.decode_entry(fields, a.limits)
            if msg.nsp != self.nsp or msg.type is not MT.BROADCAST:
                return
            packet, opts = a._broadcast_of(msg)
        except AdapterMessageError:
            return
        if not opts.flags.volatile and matches(self.rooms, opts.rooms, opts.except_rooms):
            self.missed.append([*packet.data, entry_id])
