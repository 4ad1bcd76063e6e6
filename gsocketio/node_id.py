"""This process's node identity for forwarding: the id its sids carry and the directory where
the nodes of one host listen (``<dir>/<node>.sock``). Unset, sids carry no owner."""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from gsocketio.exceptions import SessionError
from gsocketio.protocol.forward import NODE_ID_LENGTH, sid_with_owner

__all__ = ["LocalIdentity", "current", "new_node_id", "new_session_id", "set_current"]

_ALPHABET = string.ascii_lowercase + string.digits
_ATTEMPTS = 100


@dataclass(frozen=True)
class LocalIdentity:
    """The node this process is, where its peers listen, and the pid that set it (a forked
    child that inherited it is not that node)."""

    node: str
    directory: Path
    pid: int

    def socket_path(self, node: str) -> Path:
        return self.directory / f"{node}.sock"


_current: list[LocalIdentity] = []


def new_node_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(NODE_ID_LENGTH))


def set_current(identity: LocalIdentity | None) -> None:
    _current.clear()
    if identity is not None:
        _current.append(identity)


def current() -> LocalIdentity | None:
    """The identity set in this very process, or None."""
    if _current and _current[0].pid == os.getpid():
        return _current[0]
    return None


def new_session_id(taken: Container[str] = ()) -> str:
    """A fresh sid (120 random bits), prefixed with this node's id when one is set."""
    identity = current()
    for _ in range(_ATTEMPTS):
        token = secrets.token_urlsafe(15)
        sid = sid_with_owner(identity.node, token) if identity is not None else token
        if sid not in taken:
            return sid
    raise SessionError("no free sid after 100 attempts (is the random source broken?)")
