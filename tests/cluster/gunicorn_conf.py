"""gunicorn settings of the three-node suite's gunicorn mode: docs/deployment.md's
``worker_exit`` hook, which closes the worker's server (and so its Redis adapter) on a
graceful stop, logging a line the test counts."""

from __future__ import annotations

from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    from tests.cluster.gunicorn_cluster_app import adapter, sio

    sio.close()
    server.log.info("worker %s: adapter closed=%s", worker.pid, adapter.closed)
