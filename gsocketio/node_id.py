"""This process's node identity for forwarding: the id its sids carry and the directory where
the nodes of one host listen (``<dir>/<node>.sock``). Unset, sids carry no owner."""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gsocketio.protocol.forward import NODE_ID_LENGTH
from gsocketio.protocol.ids import new_sid

__all__ = ["LocalIdentity", "current", "new_node_id", "new_session_id", "set_current"]

_ALPHABET = string.ascii_lowercase + string.digits


class NodeLookup(Protocol):
    """Where a node of another host listens (gsocketio.node_registry.RedisNodeRegistry)."""

    def lookup(self, node: str) -> tuple[str, int] | None: ...


@dataclass(frozen=True)
class LocalIdentity:
    """The node this process is, where its peers listen (the host's directory; other hosts
    through ``registry``), and the pid that set it (a forked child is not that node)."""

    node: str
    directory: Path
    pid: int
    registry: NodeLookup | None = None

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
    """A fresh Engine.IO or 0.9 sid, naming this node when one is set."""
    identity = current()
    return new_sid(taken, identity.node if identity is not None else None)
