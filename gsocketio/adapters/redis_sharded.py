"""The sharded Redis adapter: Redis 7 ``SPUBLISH``/``SSUBSCRIBE``, compatible with Node's
``createShardedAdapter`` from ``@socket.io/redis-adapter`` 8.2+ (socket.io-adapter's
ClusterAdapter messages), for Redis Cluster where classic pub/sub floods every node.

Channels: ``<prefix>#<nsp>#`` (main), ``<prefix>#<nsp>#<uid>#`` (this node's responses) and,
in the ``dynamic`` modes, ``<prefix>#<nsp>#<room>#`` for each room with local members
(subscribed when the room appears here, unsubscribed when it empties). Senders publish first
and apply locally; receivers skip their own uid. The server count is ``PUBSUB SHARDNUMSUB``
of the main channel. There is no allRooms request in this protocol (``all_rooms`` is local)
and Node's redis-emitter does not speak it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

import gevent

from gsocketio.adapters import cluster_wire as cw
from gsocketio.adapters import redis_wire as wire
from gsocketio.adapters.base import EVERYONE, BroadcastOptions, Recipient
from gsocketio.adapters.redis_answers import read_flags, wire_flags
from gsocketio.adapters.redis_base import RedisAdapterBase
from gsocketio.adapters.redis_link import LINK_ERRORS
from gsocketio.exceptions import AdapterMessageError, ClusterUnavailableError
from gsocketio.protocol.socketio import Packet, PacketType

__all__ = ["RedisShardedAdapter"]

MT = cw.MessageType
Mode = Literal["static", "dynamic", "dynamic-private"]


class RedisShardedAdapter(RedisAdapterBase):
    """``gsocketio.Server(adapter=RedisShardedAdapter(url, channel_prefix="socket.io"))``;
    ``subscription_mode`` as Node's (``dynamic`` by default)."""

    _fetch_kind = MT.FETCH_SOCKETS
    _sse_kind = MT.SERVER_SIDE_EMIT
    _fetch_counts_self = False  # SHARDNUMSUB minus the requester answer
    _new_ack_id = staticmethod(cw.new_uid)

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        channel_prefix: str = "socket.io",
        *,
        subscription_mode: Mode = "dynamic",
        requests_timeout: float = 5.0,
        outbox_size: int = 10_000,
        limits: wire.WireLimits = wire.DEFAULT_WIRE_LIMITS,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.mode = subscription_mode
        self._known: set[str] = set()
        self._by_channel: dict[bytes, tuple[str, str]] = {}  # channel -> (kind, nsp)
        super().__init__(
            url, channel_prefix, cw.new_uid(), requests_timeout=requests_timeout,
            outbox_size=outbox_size, limits=limits, redis_options=redis_options, logger=logger,
            sharded=True,
        )  # fmt: skip
        self._namespace("/")

    # --- channels ------------------------------------------------------------------------

    def _main(self, nsp: str) -> str:
        return f"{self.key}#{nsp}#"

    def _sub(self, channel: str, kind: str, nsp: str) -> None:
        self._by_channel[channel.encode()] = (kind, nsp)
        self._subscriber.add([channel], [])

    def _namespace(self, nsp: str) -> str:
        main = self._main(nsp)
        if nsp not in self._known:
            self._known.add(nsp)
            self._sub(main, "main", nsp)
            self._sub(f"{main}{self.uid}#", "response", nsp)
        return main

    def _separate(self, nsp: str, room: str) -> bool:
        if self.mode == "dynamic-private":
            return True
        return self.mode == "dynamic" and not self._is_local_sid(nsp, room)

    def _is_local_sid(self, nsp: str, room: str) -> bool:
        return self.local.has_members(nsp, room) and not self.local.room_exists(nsp, room)

    def _tracked(self, nsp: str, rooms: Iterable[str], change: Callable[[], None]) -> None:
        """Apply ``change`` and (un)subscribe the room channels of rooms it created/emptied."""
        if self.mode == "static":
            change()
            return
        rooms = [r for r in rooms]
        before = {r for r in rooms if self.local.room_exists(nsp, r)}
        change()
        for room in rooms:
            now = self.local.room_exists(nsp, room)
            if now and room not in before and self._separate(nsp, room):
                self._sub(f"{self._main(nsp)}{room}#", "room", nsp)
            elif not now and room in before:
                channel = f"{self._main(nsp)}{room}#"
                if self._by_channel.pop(channel.encode(), None) is not None:
                    self._subscriber.remove([channel])

    def _publish(self, nsp: str, mtype: MT, data: dict[str, Any], channel: str | None = None,
                 volatile: bool = False) -> None:  # fmt: skip
        payload = cw.encode_message(mtype, data, self.uid, nsp)
        self._outbox.put(channel or self._main(nsp), payload, volatile=volatile)

    def _publish_response(self, nsp: str, requester: str, mtype: MT, data: dict[str, Any]) -> None:
        payload = cw.encode_message(mtype, data, self.uid, nsp)
        self._outbox.put(f"{self._main(nsp)}{requester}#", payload)

    def _ready(self, nsp: str) -> str:
        main = self._namespace(nsp)
        if not self.connected or not self._subscriber.wait_confirmed(main, 2.0):
            raise ClusterUnavailableError(f"Redis at {self.url} is unreachable")
        return main

    def server_count(self, namespace: str) -> int:
        main = self._ready(namespace)
        try:
            counts = self._client.pubsub_shardnumsub(main)
        except LINK_ERRORS as exc:
            raise ClusterUnavailableError(f"Redis at {self.url} is unreachable: {exc}") from None
        return max(1, int(counts[0][1])) if counts else 1

    # --- local bookkeeping with room-channel tracking -------------------------------------

    def enter_room(self, namespace: str, sid: str, room: str) -> None:
        self._tracked(namespace, (room,), lambda: self.local.enter_room(namespace, sid, room))

    def leave_room(self, namespace: str, sid: str, room: str) -> None:
        self._tracked(namespace, (room,), lambda: self.local.leave_room(namespace, sid, room))

    def _sid_channel(self, nsp: str, sid: str) -> str | None:
        """The channel senders publish a broadcast to ``sid`` alone on, when it is not the
        main one (Node's rule: always in ``dynamic-private``; in ``dynamic`` when the id is not
        20 characters long, as a socket.io 2 client's ``/nsp#<engine sid>``)."""
        if self.mode == "dynamic-private" or (self.mode == "dynamic" and len(sid) != 20):
            return f"{self._main(nsp)}{sid}#"
        return None

    def add_socket(self, namespace: str, sid: str, recipient: Recipient) -> None:
        super().add_socket(namespace, sid, recipient)
        channel = self._sid_channel(namespace, sid)
        if channel is not None:
            self._sub(channel, "room", namespace)

    def remove_socket(self, namespace: str, sid: str) -> None:
        try:
            rooms = self.local.rooms_of(namespace, sid) - {sid}
        except KeyError:
            return
        self._tracked(namespace, rooms, lambda: self.local.remove_socket(namespace, sid))
        channel = self._sid_channel(namespace, sid)
        if channel is not None and self._by_channel.pop(channel.encode(), None) is not None:
            self._subscriber.remove([channel])

    def _join_local(self, nsp: str, opts: BroadcastOptions, rooms: list[str], leave: bool) -> None:
        fn = self.local.del_sockets if leave else self.local.add_sockets
        self._tracked(nsp, rooms, lambda: fn(nsp, opts, rooms))

    # --- operations ----------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions = EVERYONE) -> None:
        nsp = packet.namespace
        if not opts.flags.local and packet.id is None:
            main = self._namespace(nsp)
            rooms = sorted(opts.rooms)
            data = cw.broadcast_data(
                packet.data, rooms, sorted(opts.except_rooms), wire_flags(opts.flags)
            )
            channel = main
            if len(rooms) == 1 and (
                self.mode == "dynamic-private" or (self.mode == "dynamic" and len(rooms[0]) != 20)
            ):  # Node's rule: a 20-character room looks like a socket id, its own channel
                channel = f"{main}{rooms[0]}#"
            self._publish(nsp, MT.BROADCAST, data, channel, opts.flags.volatile)
        self.local.broadcast(packet, opts)

    def _sel(self, opts: BroadcastOptions) -> dict[str, Any]:
        return wire.wire_opts(sorted(opts.rooms), sorted(opts.except_rooms), {})

    def add_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = sorted(rooms)
        if not opts.flags.local:
            self._namespace(namespace)
            self._publish(namespace, MT.SOCKETS_JOIN, {"opts": self._sel(opts), "rooms": rooms})
        self._join_local(namespace, opts, rooms, leave=False)

    def del_sockets(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = sorted(rooms)
        if not opts.flags.local:
            self._namespace(namespace)
            self._publish(namespace, MT.SOCKETS_LEAVE, {"opts": self._sel(opts), "rooms": rooms})
        self._join_local(namespace, opts, rooms, leave=True)

    def close_room(self, namespace: str, room: str) -> None:
        self.del_sockets(namespace, BroadcastOptions(rooms=frozenset((room,))), (room,))

    def disconnect_sockets(self, namespace: str, opts: BroadcastOptions, close: bool) -> None:
        if not opts.flags.local:
            self._namespace(namespace)
            self._publish(
                namespace, MT.DISCONNECT_SOCKETS, {"opts": self._sel(opts), "close": close}
            )
        self.local.disconnect_sockets(namespace, opts, close)

    def _publish_fetch(self, namespace: str, opts: BroadcastOptions, request_id: str) -> None:
        self._publish(
            namespace, MT.FETCH_SOCKETS, {"opts": self._sel(opts), "requestId": request_id}
        )

    def _publish_server_side(self, namespace: str, data: list[Any], request_id: str | None) -> None:
        self._namespace(namespace)
        body: dict[str, Any] = {"packet": data} if request_id is None else {
            "requestId": request_id, "packet": data
        }  # fmt: skip
        self._publish(namespace, MT.SERVER_SIDE_EMIT, body)

    def _publish_broadcast_ack(
        self, packet: Packet, opts: BroadcastOptions, request_id: str, timeout: float
    ) -> None:
        data = cw.broadcast_data(
            packet.data, sorted(opts.rooms), sorted(opts.except_rooms),
            wire_flags(opts.flags, int(timeout * 1000)), request_id,
        )  # fmt: skip
        self._publish(packet.namespace, MT.BROADCAST, data)

    # --- incoming ------------------------------------------------------------------------

    def _on_message(self, reply: list[Any]) -> None:
        try:
            found = self._by_channel.get(reply[1])
            if found is None:
                return
            kind, nsp = found
            msg = cw.decode_message(reply[2], self.limits)
            if msg.uid == self.uid or msg.nsp != nsp:
                return
            if kind == "response" or msg.type in cw.RESPONSES:
                self._on_response(msg)
            else:
                self._on_request(nsp, msg)
        except AdapterMessageError as exc:
            self._reject("message", exc)
        except Exception:
            self.log.exception("error handling a message from Redis (dropped)")

    def _selection(self, data: dict[str, Any]) -> tuple[BroadcastOptions, Any]:
        sel = wire.selection(data.get("opts"), self.limits)
        return BroadcastOptions(sel.rooms, sel.except_rooms, read_flags(sel.flags)), sel

    def _on_request(self, nsp: str, msg: cw.ClusterMessage) -> None:
        data, mtype = msg.data, msg.type
        rid = wire.opt_str(data, "requestId")
        if mtype is MT.BROADCAST:
            packet = data.get("packet")
            if not isinstance(packet, dict):
                raise AdapterMessageError("a broadcast needs a packet object")
            args = wire.event_data(packet.get("data"))
            opts, _sel = self._selection(data)
            if rid is None:
                self.local.broadcast(Packet(PacketType.EVENT, nsp, args), opts)
                return
            sids = list(self.local.sockets(nsp, opts))

            def on_ack(value: Any) -> None:
                ack = {"requestId": rid, "packet": value}
                self._publish_response(nsp, msg.uid, MT.BROADCAST_ACK, ack)

            # sends and queueing never yield: the count is queued before any ack
            sent = self.host.emit_with_ack_local(Packet(PacketType.EVENT, nsp, args), sids, on_ack)
            count = {"requestId": rid, "clientCount": sent}
            self._publish_response(nsp, msg.uid, MT.BROADCAST_CLIENT_COUNT, count)
        elif mtype in (MT.SOCKETS_JOIN, MT.SOCKETS_LEAVE):
            opts, _sel = self._selection(data)
            rooms = list(wire.room_list(data.get("rooms"), self.limits, "rooms"))
            self._join_local(nsp, opts, rooms, leave=mtype is MT.SOCKETS_LEAVE)
        elif mtype is MT.DISCONNECT_SOCKETS:
            opts, _sel = self._selection(data)
            gevent.spawn(self.local.disconnect_sockets, nsp, opts, bool(data.get("close")))
        elif mtype is MT.FETCH_SOCKETS:
            if rid is None:
                raise AdapterMessageError("FETCH_SOCKETS needs a requestId")
            opts, _sel = self._selection(data)
            sockets = self.local.fetch_sockets(nsp, opts, 0)
            body = {"requestId": rid, "sockets": sockets}
            self._publish_response(nsp, msg.uid, MT.FETCH_SOCKETS_RESPONSE, body)
        elif mtype is MT.SERVER_SIDE_EMIT:
            args = wire.event_data(data.get("packet"))
            reply = self._sse_replier(nsp, msg.uid, rid) if rid is not None else None
            self.host.server_side_event(nsp, args, reply)
        # heartbeats and ADAPTER_CLOSE belong to the heartbeat variants: nothing to do

    def _sse_replier(self, nsp: str, requester: str, rid: str) -> Callable[[Any], None]:
        answered = False

        def reply(result: Any) -> None:
            nonlocal answered
            if not answered:
                answered = True
                body = {"requestId": rid, "packet": result}
                self._publish_response(nsp, requester, MT.SERVER_SIDE_EMIT_RESPONSE, body)

        return reply

    def _on_response(self, msg: cw.ClusterMessage) -> None:
        data = msg.data
        rid = data.get("requestId")
        if not isinstance(rid, str):
            raise AdapterMessageError("a response needs a string requestId")
        if msg.type in (MT.BROADCAST_CLIENT_COUNT, MT.BROADCAST_ACK):
            self._on_ack_response(rid, msg.type is MT.BROADCAST_CLIENT_COUNT, data)
            return
        pending = self._pending.get(rid)
        if pending is None or pending.done.is_set():
            return
        if msg.type is MT.FETCH_SOCKETS_RESPONSE:
            items = data.get("sockets")
            if isinstance(items, list):
                pending.results.extend(i for i in items if isinstance(i, dict) and "id" in i)
        elif msg.type is MT.SERVER_SIDE_EMIT_RESPONSE:
            pending.results.append(data.get("packet"))
        else:
            return
        self._answered(pending)
