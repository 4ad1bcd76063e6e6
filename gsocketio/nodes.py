"""A process's node listener: a unix socket in the host's node directory where the other
processes forward the requests of this process's sessions; it serves the same application
through the same HTTP front door. Starting it sets the identity that sids carry."""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from gevent import socket as gsocket

from gsocketio._logging import get_logger
from gsocketio.http.server import WSGIServer
from gsocketio.node_id import LocalIdentity, current, new_node_id, set_current

__all__ = ["NODE_DIR_ENV", "NodeListener", "default_node_dir", "start_node"]

log = get_logger("gsocketio.nodes")

NODE_DIR_ENV = "GSOCKETIO_NODE_DIR"
_ATTEMPTS = 20


def default_node_dir(group: int | None = None) -> Path:
    """``$GSOCKETIO_NODE_DIR``, else a directory named after the process group's parent
    (gunicorn's arbiter, the ``--workers`` master) in the temporary directory."""
    env = os.environ.get(NODE_DIR_ENV)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"gsocketio-nodes-{group or os.getppid()}"


class NodeListener:
    """Listens on ``<directory>/<node>.sock`` and serves ``application`` there."""

    def __init__(self, application: Any, directory: Path) -> None:
        self.application = application
        self.directory = directory
        self.identity: LocalIdentity | None = None
        self.server: WSGIServer | None = None

    def start(self) -> LocalIdentity:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for _ in range(_ATTEMPTS):
            identity = LocalIdentity(new_node_id(), self.directory, os.getpid())
            path = identity.socket_path(identity.node)
            sock = gsocket.socket(gsocket.AF_UNIX, gsocket.SOCK_STREAM)
            try:
                sock.bind(str(path))  # fails if a node of that id exists (alive or not)
            except OSError:
                sock.close()
                continue
            sock.listen(1024)
            server = WSGIServer(sock, self.application, log=None)
            server.start()
            self.identity, self.server = identity, server
            set_current(identity)
            log.info("node %s listens on %s", identity.node, path)
            return identity
        raise OSError(f"no free node socket in {self.directory}")

    def stop(self) -> None:
        """Stop listening and remove the socket: peers then treat this node as gone."""
        if self.server is not None:
            self.server.close()
        if self.identity is not None:
            with contextlib.suppress(OSError):
                self.identity.socket_path(self.identity.node).unlink()
            if current() is self.identity:
                set_current(None)


def start_node(application: Any, directory: Path | None = None) -> NodeListener:
    """Start this process's node listener (once per process: a second call returns the
    listener already running)."""
    running = _running.get(os.getpid())
    if running is not None:
        return running
    listener = NodeListener(application, directory or default_node_dir())
    listener.start()
    atexit.register(listener.stop)  # a worker that exits cleanly leaves no socket behind
    _running.clear()
    _running[os.getpid()] = listener
    return listener


_running: dict[int, NodeListener] = {}
