"""``--workers N``: a master that binds one listening socket, forks N workers serving it
(each loads the application after the fork and starts its node listener), restarts a worker
that dies, and stops them all on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gevent import socket as gsocket

from gsocketio._logging import get_logger

__all__ = ["serve_prefork"]

log = get_logger("gsocketio.prefork")

_RESTARTS_MAX = 100  # a worker that keeps dying (a broken app) does not loop forever


def _listen(host: str, port: int) -> Any:
    sock = gsocket.socket(gsocket.AF_INET6 if ":" in host else gsocket.AF_INET)
    sock.setsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(load: Callable[[], Any], sock: Any, node_dir: Path) -> None:
    """The child: serve until SIGTERM; never returns."""
    from gsocketio.nodes import start_node
    from gsocketio.serve import SocketIOServer

    code = 0
    try:
        server = SocketIOServer(sock, load(), log=None)
        node = start_node(server.application, node_dir)
        signal.signal(signal.SIGTERM, lambda *_: server.stop(timeout=1))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.serve_forever()
        node.stop()
    except Exception:  # a worker that cannot start reports it and exits 3
        log.exception("worker %d failed", os.getpid())
        code = 3
    sys.stdout.flush()
    os._exit(code)


def serve_prefork(
    load: Callable[[], Any],
    host: str,
    port: int,
    workers: int,
    what: str,
    node_dir: Path | None = None,
) -> int:
    try:
        sock = _listen(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        return 1
    own_dir = node_dir is None
    directory = node_dir or Path(tempfile.mkdtemp(prefix="gsocketio-nodes-"))
    children: set[int] = set()
    stopping = [False]

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            _worker(load, sock, directory)
        children.add(pid)

    def stop(*_: Any) -> None:
        stopping[0] = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                children.discard(pid)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        spawn()
    log.info(
        "serving %s on http://%s:%s/ with %d workers (Ctrl-C stops)",
        what,
        host,
        sock.getsockname()[1],
        workers,
    )
    restarts = 0
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        children.discard(pid)
        if not stopping[0]:
            restarts += 1
            log.warning("worker %d exited (status %d); starting another", pid, status)
            if restarts > _RESTARTS_MAX:
                log.error("workers keep dying; stopping")
                stop()
            else:
                spawn()
    sock.close()
    if own_dir:
        shutil.rmtree(directory, ignore_errors=True)
    return 0
