"""How the Redis adapter answers the requests other nodes (and emitters) publish.

A mixin of :class:`gsocketio.adapters.redis.RedisAdapter`, split out to keep one concept per
module: Node's self-handling rules (SCALEOUT-PROTOCOL §2.5), then one branch per request type,
answering on the shared or the requester's response channel. Each node answers every request
type it can receive, or a requester would wait for its answer until the timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent

from gsocketio.adapters import redis_requests as rq
from gsocketio.adapters import redis_wire as wire
from gsocketio.adapters.base import EVERYONE, AdapterHost, BroadcastFlags, BroadcastOptions
from gsocketio.protocol.socketio import Packet, PacketType

if TYPE_CHECKING:
    from gsocketio.adapters.memory import MemoryAdapter
    from gsocketio.adapters.redis_link import Outbox

__all__ = ["RequestAnswers", "read_flags", "wire_flags"]

RT = rq.RequestType


def wire_flags(flags: BroadcastFlags, timeout_ms: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if flags.volatile:
        out["volatile"] = True
    if not flags.compress:
        out["compress"] = False
    if timeout_ms is not None:
        out["timeout"] = timeout_ms
    return out


def read_flags(raw: dict[str, Any]) -> BroadcastFlags:
    return BroadcastFlags(
        volatile=bool(raw.get("volatile")), compress=raw.get("compress") is not False
    )


class RequestAnswers:
    """The request-channel side of the Redis adapter (needs its attributes below)."""

    uid: str
    local: MemoryAdapter
    log: logging.Logger
    specific_responses: bool
    limits: wire.WireLimits
    _outbox: Outbox
    _pending: dict[str, Any]
    _acks: dict[str, Any]

    if TYPE_CHECKING:

        @property
        def host(self) -> AdapterHost: ...

    def _respond(self, ch: wire.Channels, requester: str | None, payload: bytes) -> None:
        if self.specific_responses and requester:
            self._outbox.put(ch.specific_response(requester), payload)
        else:
            self._outbox.put(ch.response, payload)

    def _on_request(self, ch: wire.Channels, payload: bytes) -> None:
        req = rq.decode_request(payload, self.limits)
        nsp, rtype, rid = ch.nsp, req.type, req.request_id
        if rtype in (RT.SOCKETS, RT.ALL_ROOMS, RT.REMOTE_FETCH) and rid in self._pending:
            return
        if rtype is RT.BROADCAST and rid in self._acks:
            return
        if req.uid == self.uid and rtype in (
            RT.SERVER_SIDE_EMIT, RT.REMOTE_JOIN, RT.REMOTE_LEAVE, RT.REMOTE_DISCONNECT,
        ):  # fmt: skip
            return  # our own: applied locally when sent
        sel = req.selection
        opts = BroadcastOptions(sel.rooms, sel.except_rooms) if sel is not None else EVERYONE
        local = self.local
        if rtype is RT.SOCKETS:
            sids = local.sockets(nsp, BroadcastOptions(rooms=frozenset(req.rooms)))
            self._respond(ch, req.uid, rq.encode_sockets_response(rid or "", sorted(sids)))
        elif rtype is RT.ALL_ROOMS:
            rooms = local.all_rooms(nsp) | local.sockets(nsp)
            self._respond(ch, req.uid, rq.encode_all_rooms_response(rid or "", sorted(rooms)))
        elif rtype in (RT.REMOTE_JOIN, RT.REMOTE_LEAVE) and sel is None:
            self._legacy_room(ch, req)
        elif rtype is RT.REMOTE_JOIN:
            local.add_sockets(nsp, opts, req.rooms)
        elif rtype is RT.REMOTE_LEAVE:
            local.del_sockets(nsp, opts, req.rooms)
        elif rtype is RT.REMOTE_DISCONNECT:
            if sel is None:
                if req.sid is not None and local.has_members(nsp, req.sid):
                    gevent.spawn(self.host.disconnect_local, nsp, [req.sid], req.close)
                    if rid:
                        self._respond(ch, req.uid, rq.encode_legacy_ack(rid))
            else:
                # disconnect handlers run here: never in the subscriber greenlet
                gevent.spawn(local.disconnect_sockets, nsp, opts, req.close)
        elif rtype is RT.REMOTE_FETCH:
            described = local.fetch_sockets(nsp, opts, 0)
            self._respond(ch, req.uid, rq.encode_fetch_response(rid or "", described))
        elif rtype is RT.SERVER_SIDE_EMIT:
            reply = None
            if rid is not None:
                reply = self._sse_replier(ch, rid)
            self.host.server_side_event(nsp, req.data, reply)
        elif rtype is RT.BROADCAST:
            self._on_broadcast_request(ch, req, opts)

    def _legacy_room(self, ch: wire.Channels, req: rq.Request) -> None:
        sid, room = req.sid, req.room
        if sid is None or room is None or not self.local.has_members(ch.nsp, sid):
            return
        if req.type is RT.REMOTE_JOIN:
            self.local.enter_room(ch.nsp, sid, room)
        else:
            self.local.leave_room(ch.nsp, sid, room)
        if req.request_id:
            self._respond(ch, req.uid, rq.encode_legacy_ack(req.request_id))

    def _sse_replier(self, ch: wire.Channels, request_id: str) -> Callable[[Any], None]:
        answered = False

        def reply(result: Any) -> None:
            nonlocal answered
            if not answered:  # one answer per server, as Node takes
                answered = True
                payload = rq.encode_server_side_emit_response(request_id, result)
                self._outbox.put(ch.response, payload)  # always the shared channel (Node)

        return reply

    def _on_broadcast_request(
        self, ch: wire.Channels, req: rq.Request, opts: BroadcastOptions
    ) -> None:
        rid = req.request_id or ""
        sel = req.selection
        flags = read_flags(sel.flags) if sel is not None else BroadcastFlags()
        opts = BroadcastOptions(opts.rooms, opts.except_rooms, flags)
        sids = list(self.local.sockets(ch.nsp, opts))

        def on_ack(value: Any) -> None:
            self._respond(ch, req.uid, rq.encode_broadcast_ack(rid, value))

        # The count is what was actually sent (sockets still connecting get nothing). Neither
        # the sends nor the queueing yield, so the count is queued before any ack can be.
        sent = self.host.emit_with_ack_local(
            Packet(PacketType.EVENT, ch.nsp, req.data), sids, on_ack
        )
        self._respond(ch, req.uid, rq.encode_client_count(rid, sent))
