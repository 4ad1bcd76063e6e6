"""Session ids: one generator for every layer (Engine.IO, 0.9 and Socket.IO sockets)."""

from __future__ import annotations

import secrets
from collections.abc import Container

from gsocketio.exceptions import SessionError
from gsocketio.protocol.forward import sid_with_owner

__all__ = ["new_sid"]

_ATTEMPTS = 100


def new_sid(taken: Container[str] = (), owner: str | None = None) -> str:
    """A fresh random sid of 20 URL-safe characters (120 bits, as the reference server's),
    not in ``taken``; with ``owner`` (a node id) it names that node: ``<owner>.<20 chars>``
    (see :mod:`gsocketio.protocol.forward`). A collision is astronomically unlikely; the loop
    is bounded anyway."""
    for _ in range(_ATTEMPTS):
        sid = secrets.token_urlsafe(15)
        if owner is not None:
            sid = sid_with_owner(owner, sid)
        if sid not in taken:
            return sid
    raise SessionError("no free sid after 100 attempts (is the random source broken?)")
