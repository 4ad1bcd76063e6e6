"""gevent-socketio's ``socketio.policyserver`` path: ``FlashPolicyServer``.

The server is :class:`gsocketio.legacy.policy.FlashPolicyServer`; this one only takes the seed's
constructor, ``FlashPolicyServer(listener=None, backlog=None)`` (``None``: ``0.0.0.0:10843``).
``SocketIOServer`` starts one by itself in seed mode (``policy_server=True``).
"""

from __future__ import annotations

from typing import Any

from gsocketio.legacy import policy
from gsocketio.legacy.policy import DEFAULT_POLICY_PORT

__all__ = ["DEFAULT_POLICY_PORT", "FlashPolicyServer"]


class FlashPolicyServer(policy.FlashPolicyServer):
    """The Flash policy server with the seed's signature; keywords as the parent's."""

    def __init__(self, listener: Any = None, backlog: int | None = None, **kwargs: Any) -> None:
        if listener is None:
            listener = ("0.0.0.0", DEFAULT_POLICY_PORT)
        if backlog is not None:
            kwargs["backlog"] = backlog
        super().__init__(listener, **kwargs)
