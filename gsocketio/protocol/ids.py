"""Session ids: one generator for every layer (Engine.IO, 0.9 and Socket.IO sockets)."""

from __future__ import annotations

import secrets
from collections.abc import Container

from gsocketio.exceptions import SessionError

__all__ = ["new_sid"]

_ATTEMPTS = 100


def new_sid(taken: Container[str] = ()) -> str:
    """A fresh random sid of 20 URL-safe characters (120 bits, as the reference server's),
    not in ``taken``. A collision is astronomically unlikely; the loop is bounded anyway."""
    for _ in range(_ATTEMPTS):
        sid = secrets.token_urlsafe(15)
        if sid not in taken:
            return sid
    raise SessionError("no free sid after 100 attempts (is the random source broken?)")
