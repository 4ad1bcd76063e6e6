"""The seed virtual socket's client queue: where a socket with no protocol layer sends.

gevent-socketio's ``Socket`` encoded every outgoing packet (``send_packet``) to the 0.9 wire
form and put it on ``client_queue``, which the transports drained. Its own tests, and apps'
tests written the same way, build ``Socket(server, {})`` with no transport, drive a namespace
over it (``emit``, ``send``, ``error``, ``process_packet``) and look at the queue.
:class:`ClientQueue` keeps that: a :class:`~gsocketio.compat.virtsocket.VirtualSocket` that no
protocol layer serves queues each packet as the seed did (``put_client_msg``,
``get_client_msg``, ``get_multiple_client_msgs``, ``client_queue``). A served socket transmits
directly and never fills the queue; a raw string given to its ``put_client_msg`` is decoded and
sent as a packet (with a ``DeprecationWarning``: use ``send_packet(dict)``). The queue keeps
the newest :data:`MAX_CLIENT_QUEUE` messages.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

from gevent.queue import Empty, Full, Queue

from gsocketio._logging import get_logger
from gsocketio.protocol.legacy import Packet, decode_packet, encode_packet

__all__ = ["MAX_CLIENT_QUEUE", "ClientQueue"]

log = get_logger("gsocketio.compat")

MAX_CLIENT_QUEUE: Final = 1024
"""Messages a standalone socket keeps for inspection; the oldest is dropped past it."""


class ClientQueue:
    """The seed's client-side queue of encoded 0.9 packets (see the module docstring)."""

    sessid: str
    json_dumps: Callable[[Any], str]
    json_loads: Callable[[str], Any]
    hits = 0
    """The seed counted the transport requests of a socket here; only ``incr_hits`` adds."""
    _client_queue: Queue[str] | None = None

    @property
    def client_queue(self) -> Queue[str]:
        """Encoded packets sent by a socket that no protocol layer serves (created on use)."""
        if self._client_queue is None:
            self._client_queue = Queue(maxsize=MAX_CLIENT_QUEUE)
        return self._client_queue

    def _served(self) -> bool:
        """Whether a protocol layer transmits this socket's packets (it overrides _transmit)."""
        return type(self)._transmit is not ClientQueue._transmit

    def _transmit(self, pkt: Mapping[str, Any]) -> None:
        """No protocol layer: encode as the seed did and queue it (``client_queue``)."""
        self._queue(encode_packet(Packet.from_seed_dict(pkt), dumps=self.json_dumps))

    def _queue(self, msg: str) -> None:
        queue = self.client_queue
        try:
            queue.put_nowait(msg)
        except Full:
            dropped = queue.get_nowait()
            log.warning("%s: client queue full, dropped %r", self.sessid, dropped[:40])
            queue.put_nowait(msg)

    def put_client_msg(self, msg: str) -> None:
        """Send one encoded 0.9 packet: queued here when no protocol layer serves the socket,
        else decoded and sent (deprecated there: use ``send_packet(dict)``)."""
        if not self._served():
            self._queue(msg)
            return
        warnings.warn(
            "put_client_msg(str) on a served socket: use send_packet() with a packet dict",
            DeprecationWarning,
            stacklevel=2,
        )
        self._transmit(decode_packet(msg, loads=self.json_loads).to_seed_dict())

    def get_client_msg(self, **kwargs: Any) -> str:
        """The next queued message (``block``/``timeout`` as ``Queue.get``)."""
        msg: str = self.client_queue.get(**kwargs)
        return msg

    def get_multiple_client_msgs(self, **kwargs: Any) -> list[str]:
        """The next message (waiting as ``Queue.get``) and every one queued behind it."""
        queue = self.client_queue
        msgs = [queue.get(**kwargs)]
        while True:
            try:
                msgs.append(queue.get_nowait())
            except Empty:
                return msgs

    def heartbeat(self) -> None:
        """Deprecated no-op: the seed's transports reset the heartbeat timeout through it;
        heartbeats (Engine.IO ping/pong, 0.9 ``2::``) are the protocol layers' now."""
        warnings.warn(
            "Socket.heartbeat() does nothing: heartbeats are handled by the protocol layers",
            DeprecationWarning,
            stacklevel=2,
        )

    def incr_hits(self) -> None:
        """The seed's request counter (``hits``); nothing reads it any more."""
        self.hits += 1
