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

__all__ = [
    "NODE_ADDRESS_ENV",
    "NODE_DIR_ENV",
    "NODE_PREFIX_ENV",
    "NODE_REDIS_ENV",
    "NodeListener",
    "default_node_dir",
    "start_node",
]

log = get_logger("gsocketio.nodes")

NODE_DIR_ENV = "GSOCKETIO_NODE_DIR"
NODE_ADDRESS_ENV = "GSOCKETIO_NODE_ADDRESS"  # host[:port] other hosts reach this node at
NODE_REDIS_ENV = "GSOCKETIO_NODE_REDIS"  # the Redis URL of the node registry
NODE_PREFIX_ENV = "GSOCKETIO_NODE_PREFIX"  # its key prefix (default gsocketio-node)
_ATTEMPTS = 20


def default_node_dir(group: int | None = None) -> Path:
    """``$GSOCKETIO_NODE_DIR``, else a directory named after the process group's parent
    (gunicorn's arbiter, the ``--workers`` master) in the temporary directory."""
    env = os.environ.get(NODE_DIR_ENV)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"gsocketio-nodes-{group or os.getppid()}"


class NodeListener:
    """Listens on ``<directory>/<node>.sock`` and serves ``application`` there; with
    ``address`` (``(host, port)``, port 0 for any) and ``registry`` also on TCP for other
    hosts, registered under the node id. Bind the address to a private network only."""

    def __init__(
        self,
        application: Any,
        directory: Path,
        *,
        address: tuple[str, int] | None = None,
        registry: Any = None,
    ) -> None:
        self.application = application
        self.directory = directory
        self.address = address
        self.registry = registry
        self.identity: LocalIdentity | None = None
        self.server: WSGIServer | None = None
        self.tcp_server: WSGIServer | None = None

    def start(self) -> LocalIdentity:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for _ in range(_ATTEMPTS):
            identity = LocalIdentity(new_node_id(), self.directory, os.getpid(), self.registry)
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
            if self.address is not None and self.registry is not None:
                self._listen_tcp(identity.node, self.address)
            set_current(identity)
            log.info("node %s listens on %s", identity.node, path)
            return identity
        raise OSError(f"no free node socket in {self.directory}")

    def _listen_tcp(self, node: str, address: tuple[str, int]) -> None:
        tcp = WSGIServer(address, self.application, log=None)
        tcp.init_socket()
        tcp.start()
        self.tcp_server = tcp
        public = (address[0], tcp.server_port)
        self.registry.register(node, public)
        log.info("node %s listens on %s:%s for other hosts", node, *public)

    def stop(self) -> None:
        """Stop listening and remove the socket: peers then treat this node as gone."""
        if self.server is not None:
            self.server.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
            if self.identity is not None:
                self.registry.unregister(self.identity.node)
        if self.identity is not None:
            with contextlib.suppress(OSError):
                self.identity.socket_path(self.identity.node).unlink()
            if current() is self.identity:
                set_current(None)


def start_node(
    application: Any,
    directory: Path | None = None,
    *,
    address: str | None = None,
    redis_url: str | None = None,
) -> NodeListener:
    """Start this process's node listener (once per process: a second call returns the
    listener already running). ``address`` (``host`` or ``host:port``; default
    ``$GSOCKETIO_NODE_ADDRESS``) and ``redis_url`` (default ``$GSOCKETIO_NODE_REDIS``) make
    the node reachable from other hosts."""
    running = _running.get(os.getpid())
    if running is not None:
        return running
    address = address or os.environ.get(NODE_ADDRESS_ENV) or None
    redis_url = redis_url or os.environ.get(NODE_REDIS_ENV) or None
    tcp: tuple[str, int] | None = None
    registry: Any = None
    if address and redis_url:
        from gsocketio.node_registry import RedisNodeRegistry, parse_address

        tcp = parse_address(address) if ":" in address.lstrip("[").split("]")[-1] else (address, 0)
        registry = RedisNodeRegistry(redis_url, os.environ.get(NODE_PREFIX_ENV) or "gsocketio-node")
    listener = NodeListener(
        application, directory or default_node_dir(), address=tcp, registry=registry
    )
    listener.start()
    atexit.register(listener.stop)  # a worker that exits cleanly leaves no socket behind
    _running.clear()
    _running[os.getpid()] = listener
    return listener


_running: dict[int, NodeListener] = {}
