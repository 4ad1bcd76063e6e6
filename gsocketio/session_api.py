"""Per-socket helpers of :class:`gsocketio.Server`: its session dict, recovery state, greenlets.

A mixin, so the server module stays one concept (registration, connections, emit/call);
these need only the server's socket lookup and handler layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import gevent

if TYPE_CHECKING:
    from gsocketio.adapters.base import Adapter
    from gsocketio.registry import HandlerLayer
    from gsocketio.socket import Socket

__all__ = ["SessionAPI"]


class SessionAPI:
    """Mixed into :class:`gsocketio.Server`; needs its ``_socket`` lookup, ``handlers`` and
    ``adapter``."""

    adapter: Adapter
    handlers: HandlerLayer
    _socket: Callable[[str, str | None], Socket]

    def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """The socket's session dict (kept in this process, like python-socketio's; with
        connection state recovery it travels with the recovered socket, docs/recovery.md)."""
        sock = self._socket(sid, namespace)
        if sock.session is None:
            sock.session = {}
        if self.adapter.recovers:
            self.adapter.touch_session(sock.namespace, sock.sid)  # the caller may change it now
        return sock.session

    def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        sock = self._socket(sid, namespace)
        self.handlers.save_session(sock, session)
        if self.adapter.recovers:
            self.adapter.touch_session(sock.namespace, sock.sid)

    @contextmanager
    def session(self, sid: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """``with sio.session(sid) as session: session["user"] = ...`` — saved on exit."""
        session = self.get_session(sid, namespace)
        yield session
        self.save_session(sid, session, namespace)

    def is_recovered(self, sid: str, namespace: str | None = None) -> bool:
        """Whether the socket was restored by connection state recovery (``socket.recovered``)."""
        return self._socket(sid, namespace).recovered

    @staticmethod
    def sleep(seconds: float = 0) -> None:
        gevent.sleep(seconds)

    @staticmethod
    def start_background_task(target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``target`` in a new greenlet; returns the ``gevent.Greenlet``."""
        return gevent.spawn(target, *args, **kwargs)
