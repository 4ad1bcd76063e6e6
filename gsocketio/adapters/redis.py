"""The Redis adapter: rooms and broadcasts across processes, wire-compatible with Node's
``@socket.io/redis-adapter`` 8.x (classic pub/sub) and ``@socket.io/redis-emitter`` 5.x.

It wraps a :class:`MemoryAdapter` for the local sockets and publishes what must reach the other
nodes; the subscriber greenlet receives their broadcasts and requests and acts on local sockets.
Channels, encodings and the request rules are Node's (docs/cluster.md). Beyond Node: an
ordered bounded outbox while Redis is away, reconnection with backoff, :meth:`RedisAdapter.health`,
and every malformed message logged (rate-limited), counted and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from gsocketio.adapters import redis_requests as rq
from gsocketio.adapters import redis_wire as wire
from gsocketio.adapters.base import (
    EVERYONE,
    BroadcastOptions,
)
from gsocketio.adapters.redis_answers import RequestAnswers, read_flags, wire_flags
from gsocketio.adapters.redis_base import AdapterHealth, RedisAdapterBase
from gsocketio.adapters.redis_link import LINK_ERRORS
from gsocketio.exceptions import AdapterMessageError, ClusterUnavailableError
from gsocketio.protocol.socketio import Packet, PacketType

__all__ = ["AdapterHealth", "RedisAdapter"]  # AdapterHealth: re-exported

RT = rq.RequestType


class RedisAdapter(RequestAnswers, RedisAdapterBase):
    """``gsocketio.Server(adapter=RedisAdapter("redis://127.0.0.1:6379/0"))``.

    ``key``: the channel prefix shared with every Node and Python peer. ``requests_timeout``:
    the default wait of cluster requests. ``publish_on_specific_response_channel``: answer on
    ``<key>-response#<nsp>#<uid>#`` (Node's option). ``outbox_size``: messages kept while Redis
    is unreachable. ``redis_options`` go to ``redis.Redis`` / its connection pool.
    Needs gevent's monkey patching of ``socket`` (redis-py does its own I/O).
    """

    _fetch_kind = RT.REMOTE_FETCH
    _sse_kind = RT.SERVER_SIDE_EMIT
    _fetch_counts_self = True  # numsub answers, the requester's own local part included

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        key: str = "socket.io",
        *,
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
        outbox_size: int = 10_000,
        limits: wire.WireLimits = wire.DEFAULT_WIRE_LIMITS,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.specific_responses = publish_on_specific_response_channel
        self._channels: dict[str, wire.Channels] = {}  # nsp -> channels
        self._by_channel: dict[bytes, tuple[str, wire.Channels]] = {}  # channel -> (kind, ch)
        self._by_pattern: dict[bytes, wire.Channels] = {}
        super().__init__(
            url, key, wire.new_uid(), requests_timeout=requests_timeout, outbox_size=outbox_size,
            limits=limits, redis_options=redis_options, logger=logger, sharded=False,
        )  # fmt: skip
        self._namespace("/")

    # --- channels --------------------------------------------------------------------------

    def _namespace(self, nsp: str) -> wire.Channels:
        ch = self._channels.get(nsp)
        if ch is None:
            ch = self._channels[nsp] = wire.Channels(self.key, nsp)
            self._by_pattern[ch.pattern.encode()] = ch
            for kind, name in (
                ("request", ch.request),
                ("response", ch.response),
                ("response", ch.specific_response(self.uid)),
            ):
                self._by_channel[name.encode()] = (kind, ch)
            self._subscriber.add(
                [ch.request, ch.response, ch.specific_response(self.uid)], [ch.pattern]
            )
        return ch

    def _ready(self, nsp: str) -> wire.Channels:
        """The namespace's channels, confirmed subscribed, before a request is published."""
        ch = self._namespace(nsp)
        if not self.connected or not self._subscriber.wait_confirmed(ch.request, 2.0):
            raise ClusterUnavailableError(f"Redis at {self.url} is unreachable")
        return ch

    def _server_count(self, ch: wire.Channels) -> int:
        try:
            counts = self._client.pubsub_numsub(ch.request)
        except LINK_ERRORS as exc:
            raise ClusterUnavailableError(f"Redis at {self.url} is unreachable: {exc}") from None
        return max(1, int(counts[0][1])) if counts else 1

    def server_count(self, namespace: str) -> int:
        return self._server_count(self._ready(namespace))

    # --- operations that reach the other nodes ---------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions = EVERYONE) -> None:
        if not opts.flags.local and packet.id is None:
            ch = self._namespace(packet.namespace)
            rooms = sorted(opts.rooms)
            payload = wire.encode_broadcast(
                self.uid, packet.namespace, packet.data, rooms, sorted(opts.except_rooms),
                wire_flags(opts.flags),
            )  # fmt: skip
            self._outbox.put(ch.broadcast(rooms), payload, volatile=opts.flags.volatile)
        self.local.broadcast(packet, opts)

    def add_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = sorted(rooms)
        self.local.add_sockets(namespace, opts, rooms)
        if not opts.flags.local:
            payload = rq.encode_join_request(
                self.uid, sorted(opts.rooms), sorted(opts.except_rooms), rooms
            )
            self._outbox.put(self._namespace(namespace).request, payload)

    def del_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = sorted(rooms)
        self.local.del_sockets(namespace, opts, rooms)
        if not opts.flags.local:
            payload = rq.encode_join_request(
                self.uid, sorted(opts.rooms), sorted(opts.except_rooms), rooms, leave=True
            )
            self._outbox.put(self._namespace(namespace).request, payload)

    def close_room(self, namespace: str, room: str) -> None:
        self.del_sockets(namespace, BroadcastOptions(rooms=frozenset((room,))), (room,))

    def disconnect_sockets(self, namespace: str, opts: BroadcastOptions, close: bool) -> None:
        if not opts.flags.local:
            payload = rq.encode_disconnect_request(
                self.uid, sorted(opts.rooms), sorted(opts.except_rooms), close
            )
            self._outbox.put(self._namespace(namespace).request, payload)
        self.local.disconnect_sockets(namespace, opts, close)

    def _publish_fetch(self, namespace: str, opts: BroadcastOptions, request_id: str) -> None:
        payload = rq.encode_fetch_request(
            self.uid, request_id, sorted(opts.rooms), sorted(opts.except_rooms)
        )
        self._outbox.put(self._namespace(namespace).request, payload)

    def cluster_rooms(self, namespace: str, timeout: float) -> set[str]:
        local = super().cluster_rooms(namespace, timeout)
        ch = self._ready(namespace)
        servers = self._server_count(ch)
        if servers <= 1:
            return local
        found = self._request(
            lambda rid: self._outbox.put(ch.request, rq.encode_all_rooms_request(self.uid, rid)),
            RT.ALL_ROOMS, True, servers, list(local), timeout, "allRooms",
        )  # fmt: skip
        return {str(r) for r in found}

    def _publish_server_side(self, namespace: str, data: list[Any], request_id: str | None) -> None:
        ch = self._namespace(namespace)
        self._outbox.put(ch.request, rq.encode_server_side_emit(self.uid, data, request_id))

    def _publish_broadcast_ack(
        self, packet: Packet, opts: BroadcastOptions, request_id: str, timeout: float
    ) -> None:
        payload = rq.encode_broadcast_request(
            self.uid, request_id, packet.namespace, packet.data, sorted(opts.rooms),
            sorted(opts.except_rooms), wire_flags(opts.flags, int(timeout * 1000)),
        )  # fmt: skip
        self._outbox.put(self._namespace(packet.namespace).request, payload)

    # --- incoming --------------------------------------------------------------------------

    def _on_message(self, reply: list[Any]) -> None:
        """Called by the subscriber greenlet for each message; never raises."""
        try:
            if reply[0] == b"pmessage":
                ch = self._by_pattern.get(reply[1])
                if ch is not None:
                    self._on_broadcast(ch, reply[2], reply[3])
                return
            found = self._by_channel.get(reply[1])
            if found is None:
                return
            kind, ch = found
            if kind == "request":
                self._on_request(ch, reply[2])
            else:
                self._on_response(reply[2])
        except AdapterMessageError as exc:
            self._reject("message", exc)
        except Exception:
            self.log.exception("error handling a message from Redis (dropped)")

    def _on_broadcast(self, ch: wire.Channels, channel: bytes, payload: bytes) -> None:
        try:
            room = ch.room_of(channel.decode())
        except UnicodeDecodeError:
            return
        if room is None or (room and not self.local.has_members(ch.nsp, room)):
            return  # a room this node has no member of: skipped before decoding, as Node does
        msg = wire.decode_broadcast(payload, self.limits)
        if msg.uid == self.uid or msg.nsp != ch.nsp:
            return
        sel = msg.selection
        opts = BroadcastOptions(sel.rooms, sel.except_rooms, read_flags(sel.flags))
        self.local.broadcast(Packet(PacketType.EVENT, ch.nsp, msg.data), opts)

    def _on_response(self, payload: bytes) -> None:
        resp = rq.decode_response(payload, self.limits)
        rid, body = resp.request_id, resp.body
        if resp.type in (RT.BROADCAST_CLIENT_COUNT, RT.BROADCAST_ACK):
            self._on_ack_response(rid, resp.type == RT.BROADCAST_CLIENT_COUNT, body)
            return
        pending = self._pending.get(rid)
        if pending is None or pending.done.is_set():
            return
        if pending.kind is RT.SERVER_SIDE_EMIT:
            pending.results.append(body.get("data"))
        else:
            field_name = "sockets" if pending.kind is RT.REMOTE_FETCH else "rooms"
            items = body.get(field_name)
            if isinstance(items, list):
                if pending.kind is RT.REMOTE_FETCH:
                    pending.results.extend(i for i in items if isinstance(i, dict) and "id" in i)
                else:
                    pending.results.extend(items)
        self._answered(pending)
